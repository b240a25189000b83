"""Deterministic, leak-free split protocols.

Ordering and ties: a user's interactions are ordered by ``order`` and, where two share
the same ``order`` value, by their row position in the canonical table (stable sort). So
the same table always gives the same split, on any machine.

- ``leave-one-out``: per user, the last interaction is the test target, the second last
  the validation target, the rest is training. Validation sees the training prefix as
  history; test sees training + the validation interaction. Users with fewer than 3
  interactions are training-only and never evaluated.
- ``temporal``: one global cutoff for the whole dataset (quantiles of ``order``). Training
  holds everything before the validation cutoff; validation targets lie in
  [valid cutoff, test cutoff) and test targets at or after the test cutoff. Nothing at or
  after a cutoff is seen by the side it is hidden from, popularity included, because models
  are fitted on the training part only. Needs a timestamped dataset.
- ``cold-start``: a seeded random share of users is held out of training entirely; each
  held-out user reveals their first ``context`` interactions as history and the rest are
  targets.
- ``random-holdout``: for data without a meaningful order (ratings without time, product
  holdings): per user with at least 3 interactions, one seeded random interaction is the
  test target and another the validation target ("hold one owned item out").
- ``predefined``: the split published with the dataset, from its ``fold`` column
  (0 train, 1 valid, 2 test); histories are the user's earlier folds in order.

``leave-one-out`` and ``cold-start`` need an ordered dataset; ``temporal`` a timestamped one.

Every protocol is declared once, in :data:`PROTOCOLS`: its function, the pydantic model of its
input parameters (defaults and allowed ranges) and what it needs from the data.
:func:`prepare_split` is the one way a split is made (``flm-bench run`` and ``publish`` both
call it). A :class:`Split` keeps its inputs (``params``, defaults filled in) apart from the
values it derived from the data (``derived``, e.g. the temporal cutoffs); its fingerprint
hashes both together, as it always has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flm_bench.data.table import InteractionData, fingerprint
from flm_bench.errors import DataError
from flm_bench.validation import problem


@dataclass(frozen=True)
class Sequences:
    """Per-user item sequences in CSR form: ``items[indptr[i]:indptr[i+1]]`` for ``users[i]``.

    ``rows`` holds the canonical-table row of each item (to prove where it came from).
    """

    users: np.ndarray
    indptr: np.ndarray
    items: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def get(self, i: int) -> np.ndarray:
        return self.items[self.indptr[i] : self.indptr[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def take(self, positions: np.ndarray) -> list[np.ndarray]:
        return [self.get(int(i)) for i in positions]

    def select(self, positions: np.ndarray) -> Sequences:
        """The sequences at ``positions``, in that order (users, items and rows alike)."""
        pos = np.asarray(positions, dtype=np.int64)
        lengths = self.lengths()[pos]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.repeat(self.indptr[pos] - indptr[:-1], lengths) + np.arange(indptr[-1])
        return Sequences(self.users[pos], indptr, self.items[flat], self.rows[flat])


@dataclass(frozen=True)
class EvalSet:
    """Users to evaluate: what each may use as input (``history``) and what is relevant."""

    history: Sequences
    targets: Sequences

    @property
    def users(self) -> np.ndarray:
        return self.history.users

    def __len__(self) -> int:
        return len(self.history)


@dataclass(frozen=True)
class Split:
    """Training sequences plus validation and test sets of one dataset."""

    protocol: str
    params: dict[str, Any]  # the protocol's inputs, defaults filled in
    dataset_fingerprint: str
    n_items: int
    train: Sequences
    valid: EvalSet
    test: EvalSet
    fingerprint: str = field(default="")
    derived: dict[str, Any] = field(default_factory=dict)  # computed from the data, e.g. temporal cutoffs


@dataclass(frozen=True)
class _Parts:
    """What a protocol's function computes; :func:`prepare_split` makes the :class:`Split`."""

    train: Sequences
    valid: EvalSet
    test: EvalSet
    derived: dict[str, Any] = field(default_factory=dict)


def _csr(users: np.ndarray, items: np.ndarray, rows: np.ndarray) -> Sequences:
    """Group already-sorted (user-major) arrays into CSR."""
    uniq, starts = np.unique(users, return_index=True)
    indptr = np.append(starts, len(users)).astype(np.int64)
    return Sequences(uniq.astype(np.int64), indptr, items.astype(np.int64), rows.astype(np.int64))


def _sorted(data: InteractionData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    user = np.asarray(data.column("user"), dtype=np.int64)
    item = np.asarray(data.column("item"), dtype=np.int64)
    order = np.asarray(data.column("order"), dtype=np.int64)
    rows = np.arange(len(user), dtype=np.int64)
    perm = np.lexsort((rows, order, user))  # user, then order, then table row
    return user[perm], item[perm], order[perm], rows[perm]


def _eval_set(user, item, rows, in_history, in_target) -> EvalSet:
    """Evaluation users = those with at least one target; history may be empty."""
    target_users = np.unique(user[in_target])
    hist_mask = in_history & np.isin(user, target_users)
    history = _csr(user[hist_mask], item[hist_mask], rows[hist_mask])
    # users with an empty history still need a (zero-length) row
    if len(history.users) != len(target_users):
        counts = np.zeros(len(target_users), dtype=np.int64)
        pos = np.searchsorted(target_users, history.users)
        counts[pos] = history.lengths()
        history = Sequences(target_users, np.concatenate([[0], np.cumsum(counts)]), history.items, history.rows)
    tmask = in_target
    return EvalSet(history, _csr(user[tmask], item[tmask], rows[tmask]))


# --------------------------------------------------------------------------------------------
# input parameters


class SplitParams(BaseModel):
    """A protocol's input parameters: none here; unknown fields and loose types are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SeedParams(SplitParams):
    seed: int = Field(0, ge=0, description="seed of the random draw")


class FractionParams(SplitParams):
    valid_fraction: float = Field(0.1, gt=0, lt=1, description="share held out for validation")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="share held out for testing")

    @model_validator(mode="after")
    def _sum_below_one(self) -> FractionParams:
        if not self.valid_fraction + self.test_fraction < 1:
            raise ValueError(
                f"valid_fraction + test_fraction must be < 1, got {self.valid_fraction} + {self.test_fraction}"
            )
        return self


class TemporalParams(FractionParams):
    """Shares of interactions (by time) after the validation and test cutoffs."""


class ColdStartParams(FractionParams):
    """Shares of users held out, and how many interactions each reveals as history."""

    context: int = Field(1, ge=0, description="interactions a held-out user reveals as history")
    seed: int = Field(0, ge=0, description="seed of the random draw of users")


# --------------------------------------------------------------------------------------------
# the protocols


def _last_two_out(user: np.ndarray, item: np.ndarray, rows: np.ndarray) -> _Parts:
    """Per user (arrays grouped by user, in sequence order): last is test, second last valid."""
    uniq, starts, counts = np.unique(user, return_index=True, return_counts=True)
    pos = np.arange(len(user)) - np.repeat(starts, counts)  # position in the user's sequence
    n = np.repeat(counts, counts)
    evaluated = n >= 3
    is_test = evaluated & (pos == n - 1)
    is_valid = evaluated & (pos == n - 2)
    is_train = ~(is_test | is_valid)
    return _Parts(
        train=_csr(user[is_train], item[is_train], rows[is_train]),
        valid=_eval_set(user, item, rows, is_train, is_valid),
        test=_eval_set(user, item, rows, is_train | is_valid, is_test),
    )


def _leave_one_out(data: InteractionData, p: SplitParams) -> _Parts:
    user, item, _, rows = _sorted(data)
    return _last_two_out(user, item, rows)


def _random_holdout(data: InteractionData, p: SeedParams) -> _Parts:
    user, item, _, rows = _sorted(data)
    shuffled = np.lexsort((np.random.default_rng(p.seed).random(len(user)), user))
    return _last_two_out(user[shuffled], item[shuffled], rows[shuffled])


def _predefined(data: InteractionData, p: SplitParams) -> _Parts:
    user, item, _, rows = _sorted(data)
    fold = np.asarray(data.column("fold"))[rows]
    if not np.isin(fold, (0, 1, 2)).all():
        raise DataError(f"dataset {data.name!r}: fold values must be 0 (train), 1 (valid) or 2 (test)")
    return _Parts(
        train=_csr(user[fold == 0], item[fold == 0], rows[fold == 0]),
        valid=_eval_set(user, item, rows, fold == 0, fold == 1),
        test=_eval_set(user, item, rows, fold <= 1, fold == 2),
    )


def _temporal(data: InteractionData, p: TemporalParams) -> _Parts:
    user, item, order, rows = _sorted(data)
    t_valid = int(np.quantile(order, 1 - p.valid_fraction - p.test_fraction, method="higher"))
    t_test = int(np.quantile(order, 1 - p.test_fraction, method="higher"))
    if not t_valid < t_test:
        raise DataError(f"dataset {data.name!r}: too few distinct times for a temporal split")
    before_valid, before_test = order < t_valid, order < t_test
    # a user is evaluated only if they have history before the cutoff
    has_train = np.isin(user, np.unique(user[before_valid]))
    has_pre_test = np.isin(user, np.unique(user[before_test]))
    return _Parts(
        train=_csr(user[before_valid], item[before_valid], rows[before_valid]),
        valid=_eval_set(user, item, rows, before_valid, ~before_valid & before_test & has_train),
        test=_eval_set(user, item, rows, before_test, ~before_test & has_pre_test),
        derived={"valid_cutoff": t_valid, "test_cutoff": t_test},
    )


def _cold_start(data: InteractionData, p: ColdStartParams) -> _Parts:
    user, item, _, rows = _sorted(data)
    uniq, starts, counts = np.unique(user, return_index=True, return_counts=True)
    eligible = uniq[counts > p.context]
    shuffled = np.random.default_rng(p.seed).permutation(eligible)
    n_valid = int(round(p.valid_fraction * len(uniq)))
    n_test = int(round(p.test_fraction * len(uniq)))
    valid_users = shuffled[:n_valid]
    test_users = shuffled[n_valid : n_valid + n_test]
    pos = np.arange(len(user)) - np.repeat(starts, counts)
    in_valid, in_test = np.isin(user, valid_users), np.isin(user, test_users)
    train = ~(in_valid | in_test)
    ctx = pos < p.context
    return _Parts(
        train=_csr(user[train], item[train], rows[train]),
        valid=_eval_set(user, item, rows, in_valid & ctx, in_valid & ~ctx),
        test=_eval_set(user, item, rows, in_test & ctx, in_test & ~ctx),
    )


# --------------------------------------------------------------------------------------------
# the registry


#: What a protocol may need from the data: how to tell, and the error when it is missing.
NEEDS: dict[str, tuple[Callable[[InteractionData], bool], str]] = {
    "order": (
        lambda d: d.ordered,
        "dataset {name!r} has no interaction order, so the {protocol} split "
        "is meaningless; use the random-holdout protocol",
    ),
    "timestamps": (lambda d: d.timestamped, "dataset {name!r} has no timestamps; the {protocol} split needs them"),
    "fold": (lambda d: d.has_column("fold"), "dataset {name!r} has no published split (no 'fold' column)"),
}


@dataclass(frozen=True)
class SplitProtocol:
    """One split protocol: its function, its input parameters, what it needs from the data, and
    the names of the values it derives from the data (recorded apart from the inputs)."""

    name: str
    make: Callable[[InteractionData, Any], _Parts]
    params: type[SplitParams] = SplitParams
    needs: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()

    def inputs(self, params: Mapping[str, Any] | None = None) -> SplitParams:
        """``params`` validated (defaults filled in); a :class:`DataError` naming the field if not."""
        try:
            return self.params.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise DataError(problem(f"split {self.name!r}", self.params, exc)) from None

    def separate(self, recorded: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Recorded params as ``(inputs, derived)``: older records kept derived values in params."""
        return (
            {k: v for k, v in recorded.items() if k not in self.derived},
            {k: v for k, v in recorded.items() if k in self.derived},
        )

    def require(self, data: InteractionData) -> None:
        for need in self.needs:
            present, message = NEEDS[need]
            if not present(data):
                raise DataError(message.format(name=data.name, protocol=self.name))


#: Every split protocol, by name: the one list the suite, the runner and publish all use.
PROTOCOLS: dict[str, SplitProtocol] = {
    p.name: p
    for p in (
        SplitProtocol("leave-one-out", _leave_one_out, needs=("order",)),
        SplitProtocol(
            "temporal", _temporal, TemporalParams, needs=("timestamps",), derived=("valid_cutoff", "test_cutoff")
        ),
        SplitProtocol("cold-start", _cold_start, ColdStartParams, needs=("order",)),
        SplitProtocol("random-holdout", _random_holdout, SeedParams),
        SplitProtocol("predefined", _predefined, needs=("fold",)),
    )
}


def protocol(name: str) -> SplitProtocol:
    """The registered protocol called ``name``; a :class:`DataError` listing them if none is."""
    if name not in PROTOCOLS:
        raise DataError(f"unknown split protocol {name!r}; expected one of {list(PROTOCOLS)}")
    return PROTOCOLS[name]


def prepare_split(data: InteractionData, name: str, params: Mapping[str, Any] | None = None) -> Split:
    """Split ``data`` with the protocol ``name`` and its input ``params``: the one way to split."""
    spec = protocol(name)
    typed = spec.inputs(params)
    spec.require(data)
    parts = spec.make(data, typed)
    assert parts.derived.keys() == set(spec.derived), f"{spec.name} derives {spec.derived}"
    inputs = typed.model_dump()
    if len(parts.test) == 0:
        raise DataError(f"dataset {data.name!r}: the {spec.name} split has no test users")
    digest = fingerprint(
        spec.name,
        {**inputs, **parts.derived},
        data.fingerprint,
        parts.train.rows,
        parts.valid.targets.rows,
        parts.test.targets.rows,
    )
    return Split(
        spec.name, inputs, data.fingerprint, data.n_items, parts.train, parts.valid, parts.test, digest, parts.derived
    )


def make_split(data: InteractionData, name: str, **params: Any) -> Split:
    """:func:`prepare_split` with the parameters as keywords."""
    return prepare_split(data, name, params)


def leave_one_out(data: InteractionData) -> Split:
    """Last interaction per user is test, second last validation; see the module doc."""
    return prepare_split(data, "leave-one-out")


def random_holdout(data: InteractionData, **params: Any) -> Split:
    """One seeded random interaction per user is test, another validation (:class:`SeedParams`)."""
    return prepare_split(data, "random-holdout", params)


def predefined(data: InteractionData) -> Split:
    """The dataset's own split, from its ``fold`` column (0 train, 1 valid, 2 test)."""
    return prepare_split(data, "predefined")


def temporal(data: InteractionData, **params: Any) -> Split:
    """Global time cutoffs at trailing fractions of interactions (:class:`TemporalParams`)."""
    return prepare_split(data, "temporal", params)


def cold_start(data: InteractionData, **params: Any) -> Split:
    """Held-out users reveal their first ``context`` interactions (:class:`ColdStartParams`)."""
    return prepare_split(data, "cold-start", params)
