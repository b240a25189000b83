"""Paired significance tests between record sets, with a multiple-comparison correction.

A *record set* is every seed of one cell (suite, dataset, split, model, strategy, corpus): a
record file, a record folder, or a folder of records. Two sets are compared on one metric by
pairing the per-user scores of ``per_user.npz`` on ``(seed, user)``: the same test user under
the same seed. Sets are comparable only when they were evaluated on the very same test users:
one split fingerprint, the same seeds, the same user arrays, the same history exclusion;
anything else is refused (:class:`IncomparableError`), never silently trimmed.

Tests are ranx's (``ranx.statistical_tests``): the two-sided paired Student t-test, and
Fisher's randomization test. ranx's randomization test returns the share of permutations at
least as extreme as the observed difference, which can be 0; we report ``(count + 1) /
(permutations + 1)`` instead (Phipson & Smyth 2010), so a p-value is never exactly 0.

When several pairs are tested (each later set against the first, the control, or every pair
with ``all_pairs``), p-values are adjusted with Holm–Bonferroni (:func:`holm`). The
leaderboard's gain p-values use the same functions (:func:`pair_scores`, :func:`paired_test`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.records import Record, cell_key, load_record, per_user_scores

StatTest = Literal["student", "fisher"]
TESTS: tuple[str, ...] = ("student", "fisher")
DEFAULT_METRIC = "ndcg@10"
DEFAULT_ALPHA = 0.05
DEFAULT_PERMUTATIONS = 1000
DEFAULT_TEST_SEED = 42

# users and scores of one seed: (users [n], scores [n])
SeedScores = tuple[np.ndarray, np.ndarray]


class IncomparableError(RecordError):
    """Two record sets cannot be paired: different test users, seeds, splits or settings."""


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def pair_scores(control: Mapping[int, SeedScores], treatment: Mapping[int, SeedScores],
                seeds: Sequence[int] | None = None, *, names: tuple[str, str] = ("control", "treatment"),
                ) -> tuple[np.ndarray, np.ndarray]:
    """Scores of both sides aligned on ``(seed, user)``, concatenated over ``seeds``.

    :param control: seed -> (users, scores) of the control.
    :param treatment: the same for the treatment.
    :param seeds: seeds to pool (default: those of ``control``; each must be on both sides).
    :param names: how the two sides are named in errors.
    :raises IncomparableError: when a seed is missing on one side, or a seed's users differ.
    """
    seeds = sorted(control) if seeds is None else list(seeds)
    xs, ys = [], []
    for seed in seeds:
        if seed not in control or seed not in treatment:
            side = names[0] if seed not in control else names[1]
            raise IncomparableError(f"{side} has no record for seed {seed}")
        (cu, cs), (tu, ts) = control[seed], treatment[seed]
        c_order, t_order = np.argsort(cu, kind="stable"), np.argsort(tu, kind="stable")
        if len(cu) != len(tu) or not np.array_equal(cu[c_order], tu[t_order]):
            only_c = np.setdiff1d(cu, tu)
            only_t = np.setdiff1d(tu, cu)
            raise IncomparableError(
                f"seed {seed}: the test users differ ({len(cu)} vs {len(tu)} users; "
                f"{len(only_c)} only in {names[0]}, {len(only_t)} only in {names[1]})")
        xs.append(np.asarray(cs, dtype=np.float64)[c_order])
        ys.append(np.asarray(ts, dtype=np.float64)[t_order])
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def paired_test(control: np.ndarray, treatment: np.ndarray, test: StatTest = "student", *,
                n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_TEST_SEED) -> float:
    """Two-sided p-value of a paired test (ranx) that ``control`` and ``treatment`` have equal means.

    Identical scores (or fewer than two pairs) give 1.0; scores that differ by the same
    non-zero amount for every pair give 0.0 under the t-test.
    """
    x = np.ascontiguousarray(control, dtype=np.float64)
    y = np.ascontiguousarray(treatment, dtype=np.float64)
    if x.shape != y.shape:
        raise IncomparableError(f"paired test needs equally many scores, got {len(x)} and {len(y)}")
    diff = y - x
    if len(x) < 2 or not diff.any():
        return 1.0
    if test == "student":
        from ranx.statistical_tests import paired_student_t_test

        if np.all(diff == diff[0]):  # zero variance: scipy's t is ±inf or undefined
            return 0.0
        p, _ = paired_student_t_test(x, y)
        return float(p) if np.isfinite(p) else 1.0
    if test == "fisher":
        from ranx.statistical_tests import fisher_randomization_test

        if n_permutations < 1:
            raise ValueError("n_permutations must be at least 1")
        share, _ = fisher_randomization_test(x, y, n_permutations, 0.0, seed)
        count = round(float(share) * n_permutations)
        return (count + 1) / (n_permutations + 1)
    raise ValueError(f"unknown test {test!r}; expected one of {list(TESTS)}")


@dataclass
class RecordSet:
    """Every seed of one cell, read from one path."""

    source: str
    records: list[tuple[Path, Record]]  # sorted by seed
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.default_label

    @property
    def first(self) -> Record:
        return self.records[0][1]

    @property
    def default_label(self) -> str:
        r = self.first
        corpus = f"←{r.strategy.corpus}" if r.strategy.corpus else ""
        return f"{r.model.name}/{r.strategy.name}{corpus}"

    @property
    def seeds(self) -> list[int]:
        return [r.seed for _, r in self.records]

    def scores(self, metric: str) -> dict[int, SeedScores]:
        """seed -> (users, per-user scores of ``metric``)."""
        out: dict[int, SeedScores] = {}
        for path, record in self.records:
            arrays = per_user_scores(path, record)
            if metric not in arrays or "users" not in arrays:
                raise RecordError(f"{path}: per-user scores hold no {metric!r} "
                                  f"(available: {sorted(k for k in arrays if k != 'users')})")
            out[record.seed] = (arrays["users"], arrays[metric])
        return out


def load_set(path: Path | str, label: str | None = None) -> RecordSet:
    """The record set at ``path`` (a record file, a record folder or a folder of records).

    :raises RecordError: no records there, several cells mixed, or a seed twice.
    """
    from flm_bench.results.publish import find_record_files

    files = find_record_files(path)
    records = sorted(((f, load_record(f)) for f in files), key=lambda pr: pr[1].seed)
    cells = {cell_key(r) for _, r in records}
    if len(cells) > 1:
        names = sorted({f"{c[3]}/{c[4]}" + (f"←{c[5]}" if c[5] else "") + f" on {c[1]}" for c in cells})
        raise RecordError(f"{path}: holds records of {len(cells)} different cells ({', '.join(names)}); "
                          "a record set is the seeds of one cell, so pass one folder or record per cell")
    seeds = [r.seed for _, r in records]
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise RecordError(f"{path}: holds several records for seed(s) {dup} of one cell")
    return RecordSet(str(path), records, label or "")


def check_comparable(sets: Sequence[RecordSet], metric: str) -> None:
    """Refuse sets that were not evaluated on the same test users in the same way."""
    first = sets[0]
    for other in sets[1:]:
        a, b = first.first, other.first
        where = f"{first.source!r} and {other.source!r}"
        if a.split.fingerprint != b.split.fingerprint:
            raise IncomparableError(
                f"{where} were evaluated on different test users: split fingerprints "
                f"{a.split.fingerprint[:12]}… ({a.dataset.name}, {a.split.protocol}) and "
                f"{b.split.fingerprint[:12]}… ({b.dataset.name}, {b.split.protocol}) differ")
        if a.evaluation.exclude_history != b.evaluation.exclude_history:
            raise IncomparableError(f"{where} differ in exclude_history "
                                    f"({a.evaluation.exclude_history} vs {b.evaluation.exclude_history})")
        if first.seeds != other.seeds:
            raise IncomparableError(f"{where} hold different seeds ({first.seeds} vs {other.seeds}); "
                                    "pairs are (seed, user), so both sets need the same seeds")
    for s in sets:
        for path, record in s.records:
            if metric not in record.metrics:
                raise RecordError(f"{path}: no metric {metric!r} (available: {sorted(record.metrics)})")


@dataclass
class SetSummary:
    """One record set as shown in a comparison."""

    label: str
    source: str
    dataset: str
    split_fingerprint: str
    model: str
    strategy: str
    corpus: str | None
    seeds: list[int]
    pairs: int  # (seed, user) pairs
    mean: float


@dataclass
class Comparison:
    """One tested pair: treatment against control."""

    control: str
    treatment: str
    mean_control: float
    mean_treatment: float
    difference: float  # treatment − control
    p_value: float
    p_adjusted: float
    significant: bool


@dataclass
class CompareResult:
    """Everything ``flm-bench compare`` reports."""

    metric: str
    test: str
    alpha: float
    correction: str  # "holm" or "none" (a single pair)
    all_pairs: bool
    sets: list[SetSummary]
    comparisons: list[Comparison] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _unique_labels(sets: Sequence[RecordSet]) -> list[str]:
    """Each set's label; the paths when labels repeat, numbered when the paths repeat too."""
    labels = [s.label for s in sets]
    if len(set(labels)) != len(labels):
        labels = [s.source for s in sets]
    if len(set(labels)) != len(labels):
        labels = [f"#{i + 1} {s.source}" for i, s in enumerate(sets)]
    return labels


def compare_sets(sets: Sequence[RecordSet], *, metric: str = DEFAULT_METRIC, test: StatTest = "student",
                 all_pairs: bool = False, alpha: float = DEFAULT_ALPHA,
                 n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_TEST_SEED) -> CompareResult:
    """Compare each later set against the first (or every pair), Holm-adjusted when several."""
    if len(sets) < 2:
        raise RecordError("compare needs at least two record sets")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {list(TESTS)}")
    labels = _unique_labels(sets)
    check_comparable(sets, metric)
    scores = [s.scores(metric) for s in sets]
    summaries = []
    for s, sc, label in zip(sets, scores, labels):
        pooled = np.concatenate([sc[seed_][1] for seed_ in s.seeds])
        r = s.first
        summaries.append(SetSummary(label, s.source, r.dataset.name, r.split.fingerprint, r.model.name,
                                    r.strategy.name, r.strategy.corpus, s.seeds, len(pooled),
                                    float(pooled.mean()) if len(pooled) else float("nan")))
    pairs = list(combinations(range(len(sets)), 2)) if all_pairs else [(0, j) for j in range(1, len(sets))]
    raw: list[tuple[int, int, float]] = []
    for i, j in pairs:
        x, y = pair_scores(scores[i], scores[j], sets[i].seeds, names=(labels[i], labels[j]))
        raw.append((i, j, paired_test(x, y, test, n_permutations=n_permutations, seed=seed)))
    adjusted = holm([p for _, _, p in raw]) if len(raw) > 1 else [p for _, _, p in raw]
    result = CompareResult(metric, test, alpha, "holm" if len(raw) > 1 else "none", all_pairs, summaries)
    for (i, j, p), p_adj in zip(raw, adjusted):
        a, b = summaries[i], summaries[j]
        result.comparisons.append(Comparison(a.label, b.label, a.mean, b.mean, b.mean - a.mean, p, p_adj,
                                             bool(p_adj < alpha)))
    return result


def compare(paths: Sequence[Path | str], *, metric: str = DEFAULT_METRIC, test: StatTest = "student",
            all_pairs: bool = False, alpha: float = DEFAULT_ALPHA,
            n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_TEST_SEED) -> CompareResult:
    """Load one record set per path and compare them (the first is the control).

    :param paths: record files, record folders or folders holding the seeds of one cell.
    :param metric: ranx metric name present in every record's per-user scores.
    :param test: ``"student"`` (paired t-test) or ``"fisher"`` (randomization test).
    :param all_pairs: test every pair instead of each set against the first.
    :param alpha: a pair is significant when its adjusted p-value is below it.
    :param n_permutations: permutations of the randomization test.
    :param seed: random seed of the randomization test.
    """
    return compare_sets([load_set(p) for p in paths], metric=metric, test=test, all_pairs=all_pairs,
                        alpha=alpha, n_permutations=n_permutations, seed=seed)
