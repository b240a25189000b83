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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from flm_bench.data.table import InteractionData, fingerprint
from flm_bench.errors import DataError

Protocol = Literal["leave-one-out", "temporal", "cold-start", "random-holdout", "predefined"]
PROTOCOLS: tuple[str, ...] = ("leave-one-out", "temporal", "cold-start", "random-holdout", "predefined")


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
    params: dict[str, Any]
    dataset_fingerprint: str
    n_items: int
    train: Sequences
    valid: EvalSet
    test: EvalSet
    fingerprint: str = field(default="")


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
        history = Sequences(
            target_users, np.concatenate([[0], np.cumsum(counts)]), history.items, history.rows
        )
    tmask = in_target
    return EvalSet(history, _csr(user[tmask], item[tmask], rows[tmask]))


def _require_order(data: InteractionData, protocol: str) -> None:
    if not data.ordered:
        raise DataError(f"dataset {data.name!r} has no interaction order, so the {protocol} split "
                        "is meaningless; use the random-holdout protocol")


def _last_two_out(protocol: str, params: dict[str, Any], data: InteractionData,
                  user: np.ndarray, item: np.ndarray, rows: np.ndarray) -> Split:
    """Per user (arrays grouped by user, in sequence order): last is test, second last valid."""
    uniq, starts, counts = np.unique(user, return_index=True, return_counts=True)
    pos = np.arange(len(user)) - np.repeat(starts, counts)  # position in the user's sequence
    n = np.repeat(counts, counts)
    evaluated = n >= 3
    is_test = evaluated & (pos == n - 1)
    is_valid = evaluated & (pos == n - 2)
    is_train = ~(is_test | is_valid)
    return _finish(
        protocol,
        params,
        data,
        train=_csr(user[is_train], item[is_train], rows[is_train]),
        valid=_eval_set(user, item, rows, is_train, is_valid),
        test=_eval_set(user, item, rows, is_train | is_valid, is_test),
    )


def leave_one_out(data: InteractionData) -> Split:
    """Last interaction per user is test, second last validation; see the module doc."""
    _require_order(data, "leave-one-out")
    user, item, _, rows = _sorted(data)
    return _last_two_out("leave-one-out", {}, data, user, item, rows)


def random_holdout(data: InteractionData, seed: int = 0) -> Split:
    """One seeded random interaction per user is test, another validation; see the module doc."""
    user, item, _, rows = _sorted(data)
    shuffled = np.lexsort((np.random.default_rng(seed).random(len(user)), user))
    return _last_two_out("random-holdout", {"seed": seed}, data, user[shuffled], item[shuffled], rows[shuffled])


def predefined(data: InteractionData) -> Split:
    """The dataset's own split, from its ``fold`` column (0 train, 1 valid, 2 test)."""
    if not data.has_column("fold"):
        raise DataError(f"dataset {data.name!r} has no published split (no 'fold' column)")
    user, item, _, rows = _sorted(data)
    fold = np.asarray(data.column("fold"))[rows]
    if not np.isin(fold, (0, 1, 2)).all():
        raise DataError(f"dataset {data.name!r}: fold values must be 0 (train), 1 (valid) or 2 (test)")
    return _finish(
        "predefined",
        {},
        data,
        train=_csr(user[fold == 0], item[fold == 0], rows[fold == 0]),
        valid=_eval_set(user, item, rows, fold == 0, fold == 1),
        test=_eval_set(user, item, rows, fold <= 1, fold == 2),
    )


def temporal(data: InteractionData, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """Global time cutoffs at the given trailing fractions of interactions."""
    if not data.timestamped:
        raise DataError(f"dataset {data.name!r} has no timestamps; the temporal split needs them")
    if not (0 < valid_fraction and 0 < test_fraction and valid_fraction + test_fraction < 1):
        raise DataError("temporal split: valid_fraction and test_fraction must be > 0 and sum < 1")
    user, item, order, rows = _sorted(data)
    t_valid = int(np.quantile(order, 1 - valid_fraction - test_fraction, method="higher"))
    t_test = int(np.quantile(order, 1 - test_fraction, method="higher"))
    if not t_valid < t_test:
        raise DataError(f"dataset {data.name!r}: too few distinct times for a temporal split")
    before_valid, before_test = order < t_valid, order < t_test
    # a user is evaluated only if they have history before the cutoff
    has_train = np.isin(user, np.unique(user[before_valid]))
    has_pre_test = np.isin(user, np.unique(user[before_test]))
    return _finish(
        "temporal",
        {"valid_fraction": valid_fraction, "test_fraction": test_fraction,
         "valid_cutoff": t_valid, "test_cutoff": t_test},
        data,
        train=_csr(user[before_valid], item[before_valid], rows[before_valid]),
        valid=_eval_set(user, item, rows, before_valid, ~before_valid & before_test & has_train),
        test=_eval_set(user, item, rows, before_test, ~before_test & has_pre_test),
    )


def cold_start(
    data: InteractionData,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    context: int = 1,
    seed: int = 0,
) -> Split:
    """Held-out users reveal their first ``context`` interactions; the rest are targets."""
    _require_order(data, "cold-start")
    if context < 0:
        raise DataError("cold-start split: context must be >= 0")
    user, item, _, rows = _sorted(data)
    uniq, starts, counts = np.unique(user, return_index=True, return_counts=True)
    eligible = uniq[counts > context]
    shuffled = np.random.default_rng(seed).permutation(eligible)
    n_valid = int(round(valid_fraction * len(uniq)))
    n_test = int(round(test_fraction * len(uniq)))
    valid_users = shuffled[:n_valid]
    test_users = shuffled[n_valid : n_valid + n_test]
    pos = np.arange(len(user)) - np.repeat(starts, counts)
    in_valid, in_test = np.isin(user, valid_users), np.isin(user, test_users)
    train = ~(in_valid | in_test)
    ctx = pos < context
    return _finish(
        "cold-start",
        {"valid_fraction": valid_fraction, "test_fraction": test_fraction,
         "context": context, "seed": seed},
        data,
        train=_csr(user[train], item[train], rows[train]),
        valid=_eval_set(user, item, rows, in_valid & ctx, in_valid & ~ctx),
        test=_eval_set(user, item, rows, in_test & ctx, in_test & ~ctx),
    )


def _finish(protocol: str, params: dict[str, Any], data: InteractionData, **parts: Any) -> Split:
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    if len(test) == 0:
        raise DataError(f"dataset {data.name!r}: the {protocol} split has no test users")
    digest = fingerprint(
        protocol, params, data.fingerprint, train.rows, valid.targets.rows, test.targets.rows
    )
    return Split(protocol, params, data.fingerprint, data.n_items, train, valid, test, digest)


def make_split(data: InteractionData, protocol: str, **params: Any) -> Split:
    """Split ``data`` with the named protocol and its parameters."""
    makers = {"leave-one-out": leave_one_out, "temporal": temporal, "cold-start": cold_start,
              "random-holdout": random_holdout, "predefined": predefined}
    if protocol not in makers:
        raise DataError(f"unknown split protocol {protocol!r}; expected one of {list(makers)}")
    try:
        return makers[protocol](data, **params)
    except TypeError as exc:
        raise DataError(f"split {protocol!r}: bad parameters {params}: {exc}") from exc
