"""``compare``: paired significance tests between record sets, Holm-adjusted when several pairs.

A *record set* is every seed of one cell: a record file, a record folder, or a folder of
records (:func:`~flm_bench.results.records.find_records`). Sets are comparable only when they
were evaluated on the very same test users: one split fingerprint, the same seeds, the same
user arrays, the same history exclusion; anything else is refused
(:class:`~flm_bench.errors.IncomparableError`), never silently trimmed. Each later set is
tested against the first (the control), or every pair with ``all_pairs``; the tests are those
of :mod:`flm_bench.results.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from flm_bench.errors import IncomparableError, RecordError
from flm_bench.results.records import CellKey, Record, load_records, per_user_scores
from flm_bench.results.stats import (
    ALPHA,
    DEFAULT_PERMUTATIONS,
    DEFAULT_TEST_SEED,
    TESTS,
    SeedScores,
    StatTest,
    holm,
    pair_scores,
    paired_test,
)
from flm_bench.results.summary import Row, summarize

DEFAULT_METRIC = "ndcg@10"


@dataclass
class RecordSet:
    """Every seed of one cell, read from one path."""

    source: str
    records: list[tuple[Path, Record]]  # sorted by seed
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = CellKey.of(self.first).label()

    @property
    def first(self) -> Record:
        return self.records[0][1]

    @property
    def seeds(self) -> list[int]:
        return [r.seed for _, r in self.records]

    def scores(self, metric: str) -> dict[int, SeedScores]:
        """seed -> (users, per-user scores of ``metric``)."""
        out: dict[int, SeedScores] = {}
        for path, record in self.records:
            arrays = per_user_scores(path, record)
            if metric not in arrays or "users" not in arrays:
                raise RecordError(
                    f"{path}: per-user scores hold no {metric!r} "
                    f"(available: {sorted(k for k in arrays if k != 'users')})"
                )
            out[record.seed] = (arrays["users"], arrays[metric])
        return out


def load_set(path: Path | str, label: str | None = None) -> RecordSet:
    """The record set at ``path`` (a record file, a record folder or a folder of records).

    :raises RecordError: no records there, several cells mixed, or a seed twice.
    """
    records = sorted(load_records(path), key=lambda pr: pr[1].seed)
    cells = {CellKey.of(r) for _, r in records}
    if len(cells) > 1:
        names = sorted(f"{c.label()} on {c.dataset}" for c in cells)
        raise RecordError(
            f"{path}: holds records of {len(cells)} different cells ({', '.join(names)}); "
            "a record set is the seeds of one cell, so pass one folder or record per cell"
        )
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
                f"{b.split.fingerprint[:12]}… ({b.dataset.name}, {b.split.protocol}) differ"
            )
        if a.evaluation.exclude_history != b.evaluation.exclude_history:
            raise IncomparableError(
                f"{where} differ in exclude_history ({a.evaluation.exclude_history} vs {b.evaluation.exclude_history})"
            )
        if first.seeds != other.seeds:
            raise IncomparableError(
                f"{where} hold different seeds ({first.seeds} vs {other.seeds}); "
                "pairs are (seed, user), so both sets need the same seeds"
            )
    for s in sets:
        for path, record in s.records:
            if metric not in record.metrics:
                raise RecordError(f"{path}: no metric {metric!r} (available: {sorted(record.metrics)})")


@dataclass
class SetSummary:
    """One record set as shown in a comparison: its board row, and the pooled mean it was tested on."""

    label: str
    source: str
    row: Row
    pairs: int  # (seed, user) pairs
    mean: float

    @property
    def seeds(self) -> list[int]:
        return self.row.seeds

    def to_json(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in ("label", "source", "pairs", "mean")}, "row": self.row.to_json()}


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
        settings = {k: getattr(self, k) for k in ("metric", "test", "alpha", "correction", "all_pairs")}
        return {
            **settings,
            "sets": [s.to_json() for s in self.sets],
            "comparisons": [vars(c) for c in self.comparisons],
        }


def _unique_labels(sets: Sequence[RecordSet]) -> list[str]:
    """Each set's label; the paths when labels repeat, numbered when the paths repeat too."""
    labels = [s.label for s in sets]
    if len(set(labels)) != len(labels):
        labels = [s.source for s in sets]
    if len(set(labels)) != len(labels):
        labels = [f"#{i + 1} {s.source}" for i, s in enumerate(sets)]
    return labels


def compare(
    given: Sequence[RecordSet | Path | str],
    *,
    metric: str = DEFAULT_METRIC,
    test: StatTest = "student",
    all_pairs: bool = False,
    alpha: float = ALPHA,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_TEST_SEED,
) -> CompareResult:
    """Compare each later record set against the first, the control (or every pair with
    ``all_pairs``); p-values are Holm-adjusted when several pairs are tested.

    :param given: record sets, or paths of record files, record folders or folders holding the
        seeds of one cell (:func:`load_set`).
    :param metric: ranx metric name present in every record's per-user scores.
    :param test: ``"student"`` (paired t-test) or ``"fisher"`` (randomization test).
    :param alpha: a pair is significant when its adjusted p-value is below it.
    :param n_permutations: permutations of the randomization test; ``seed``: its random seed.
    """
    sets = [s if isinstance(s, RecordSet) else load_set(s) for s in given]
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
        (row,) = summarize(s.records, [metric])
        summaries.append(
            SetSummary(label, s.source, row, len(pooled), float(pooled.mean()) if len(pooled) else float("nan"))
        )
    pairs = list(combinations(range(len(sets)), 2)) if all_pairs else [(0, j) for j in range(1, len(sets))]
    raw: list[tuple[int, int, float]] = []
    for i, j in pairs:
        x, y = pair_scores(scores[i], scores[j], sets[i].seeds, names=(labels[i], labels[j]))
        raw.append((i, j, paired_test(x, y, test, n_permutations=n_permutations, seed=seed)))
    adjusted = holm([p for _, _, p in raw]) if len(raw) > 1 else [p for _, _, p in raw]
    result = CompareResult(metric, test, alpha, "holm" if len(raw) > 1 else "none", all_pairs, summaries)
    for (i, j, p), p_adj in zip(raw, adjusted):
        a, b = summaries[i], summaries[j]
        result.comparisons.append(
            Comparison(a.label, b.label, a.mean, b.mean, b.mean - a.mean, p, p_adj, bool(p_adj < alpha))
        )
    return result
