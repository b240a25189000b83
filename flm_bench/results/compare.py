"""``compare``: paired significance tests between record sets, Holm-adjusted when several pairs.

A *record set* is every seed of one cell: a record file, a record folder, or a folder of
records (:func:`~flm_bench.results.records.find_records`). Sets are comparable only when they
were evaluated on the very same test users: one split fingerprint, the same user arrays, the
same history exclusion; anything else is refused (:class:`~flm_bench.errors.IncomparableError`),
never silently trimmed; so are sets of different target fractions (a strategy is measured against
its control at the same fraction). Each later set is tested against the first (the control), or every pair
with ``all_pairs``, by the rules of the board (:func:`~flm_bench.results.stats.measure_gain`):
each user's score averaged over a set's seeds (the sets' seeds need not match), a paired test
across users, a bootstrap CI, and per-seed gains for the seeds both sets have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from flm_bench.errors import IncomparableError, RecordError
from flm_bench.results.records import CONTROL, CellKey, Record, load_records, per_user_scores
from flm_bench.results.seeds import check_seeds
from flm_bench.results.slices import SLICE_PREFIX
from flm_bench.results.stats import (
    ALPHA,
    DEFAULT_PERMUTATIONS,
    DEFAULT_TEST_SEED,
    TESTS,
    Gain,
    SeedScores,
    StatTest,
    holm,
    measure_gain,
    user_average,
)
from flm_bench.results.summary import FORMAT, Row, gain_json, summarize

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
                    f"(available: {sorted(k for k in arrays if k != 'users' and not k.startswith(SLICE_PREFIX))})"
                )
            out[record.seed] = (arrays["users"], arrays[metric])
        return out


def load_set(path: Path | str, label: str | None = None) -> RecordSet:
    """The record set at ``path`` (a record file, a record folder or a folder of records).

    :raises RecordError: no records there, several cells mixed, or a seed twice.
    """
    records = load_records(path)
    cells = {CellKey.of(r) for _, r in records}
    if len(cells) > 1:
        names = sorted(f"{c.label()} on {c.dataset}" for c in cells)
        raise RecordError(
            f"{path}: holds records of {len(cells)} different cells ({', '.join(names)}); "
            "a record set is the seeds of one cell, so pass one folder or record per cell, "
            "or a records folder with --dataset, --model, --strategy or --corpus"
        )
    return _seed_set(str(path), records, label or "")


def _seed_set(source: str, records: list[tuple[Path, Record]], label: str) -> RecordSet:
    """The records of one cell as a set, sorted by seed; a seed twice is refused."""
    check_seeds([r for _, r in records], source)
    return RecordSet(source, sorted(records, key=lambda pr: pr[1].seed), label)


#: What :func:`select_sets` can select cells by: selector name -> the cell's field.
SELECTORS = {"dataset": "dataset", "model": "model", "strategy": "strategy", "corpus": "corpus", "fraction": "fraction"}


def _text(value: str | float | None) -> str | None:
    """A cell's field as a selector names it (a target fraction as ``0.05``)."""
    return f"{value:g}" if isinstance(value, float) else value


def select_sets(paths: Sequence[Path | str], selection: Mapping[str, Sequence[str]]) -> list[RecordSet]:
    """One record set per cell among the records at ``paths`` (each a records folder, a run's output
    or a record) that matches ``selection`` (selector of :data:`SELECTORS` -> allowed names; an empty
    or missing selector allows any). The controls (strategy ``scratch``) come first, then the cells in
    the order of the names given.

    :raises RecordError: no record matches.
    """
    cells: dict[CellKey, list[tuple[Path, Record]]] = {}
    for path in paths:
        for path_record in load_records(path):
            key = CellKey.of(path_record[1])
            if all(not names or _text(getattr(key, SELECTORS[s])) in names for s, names in selection.items()):
                cells.setdefault(key, []).append(path_record)
    if not cells:
        asked = ", ".join(f"--{s} {' '.join(names)}" for s, names in selection.items() if names)
        raise RecordError(f"no record in {', '.join(map(str, paths))} matches {asked}")

    def order(key: CellKey) -> tuple[Any, ...]:
        given = [list(selection.get(s) or ()) for s in SELECTORS]
        values = [_text(getattr(key, field)) for field in SELECTORS.values()]
        rank = [names.index(v) if v in names else len(names) for names, v in zip(given, values)]
        return (key.strategy != CONTROL, *rank, *(v or "" for v in values), key.suite)

    return [_seed_set(key.describe(), cells[key], "") for key in sorted(cells, key=order)]


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
        if a.fraction != b.fraction:
            raise IncomparableError(
                f"{where} were trained on different target fractions ({a.fraction:g} and {b.fraction:g}); "
                "compare cells at one fraction (e.g. with --fraction)"
            )
        if a.evaluation.exclude_history != b.evaluation.exclude_history:
            raise IncomparableError(
                f"{where} differ in exclude_history ({a.evaluation.exclude_history} vs {b.evaluation.exclude_history})"
            )
    for s in sets:
        for path, record in s.records:
            if metric not in record.metrics:
                raise RecordError(f"{path}: no metric {metric!r} (available: {sorted(record.metrics)})")


@dataclass
class SetSummary:
    """One record set as shown in a comparison: its board row, and the mean it was tested on (of each
    user's score averaged over the set's seeds)."""

    label: str
    source: str
    row: Row
    users: int
    mean: float

    @property
    def seeds(self) -> list[int]:
        return self.row.seeds

    def to_json(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in ("label", "source", "users", "mean")}, "row": self.row.to_json()}


@dataclass
class Comparison:
    """One tested pair: treatment against control, and its gain (raw p-value in ``gain.p_value``).

    As on the board, a gain over a control whose training a budget ended on some seed (not
    converged, :func:`~flm_bench.results.summary.capped`) is never significant, and a significant
    gain where popularity saturates the metric (:func:`flm_bench.results.levels.saturated`) says so."""

    control: str
    treatment: str
    mean_control: float
    mean_treatment: float
    gain: Gain
    p_adjusted: float
    significant: bool
    control_capped_seeds: int = 0
    saturated: bool | None = None  # the control's popularity level saturates the metric; None: no levels

    def to_json(self) -> dict[str, Any]:
        names = ("control", "treatment", "mean_control", "mean_treatment", "control_capped_seeds", "saturated")
        return {
            **{k: getattr(self, k) for k in names},
            "p_value": self.gain.p_value,
            "gain": gain_json(self.gain, self.p_adjusted, self.significant, self.saturated),
        }


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
        """The comparison as JSON data; its rows and gains have the shape of format :data:`FORMAT`."""
        settings = {k: getattr(self, k) for k in ("metric", "test", "alpha", "correction", "all_pairs")}
        return {
            "format": FORMAT,
            **settings,
            "sets": [s.to_json() for s in self.sets],
            "comparisons": [c.to_json() for c in self.comparisons],
        }


def _unique_labels(sets: Sequence[RecordSet]) -> list[str]:
    """Each set's label; the paths when labels repeat, numbered when the paths repeat too."""
    labels = [s.label for s in sets]
    if len(set(labels)) != len(labels):
        labels = [s.source for s in sets]
    if len(set(labels)) != len(labels):
        labels = [f"#{i + 1} {s.source}" for i, s in enumerate(sets)]
    return labels


def _summary(s: RecordSet, scores: dict[int, SeedScores], label: str, metric: str) -> SetSummary:
    users, means = user_average(scores, label)
    (row,) = summarize(s.records, [metric])
    return SetSummary(label, s.source, row, len(users), float(means.mean()))


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
    :param test: ``"student"`` (paired t-test), ``"wilcoxon"`` (signed-rank test) or ``"fisher"``
        (randomization test), across users.
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
    pairs = list(combinations(range(len(sets)), 2)) if all_pairs else [(0, j) for j in range(1, len(sets))]
    options = {"n_permutations": n_permutations, "seed": seed}
    gains = [
        (i, j, measure_gain(scores[i], scores[j], test, names=(labels[i], labels[j]), **options)) for i, j in pairs
    ]
    summaries = [_summary(s, sc, label, metric) for s, sc, label in zip(sets, scores, labels)]
    raw = [g.p_value for _, _, g in gains]
    adjusted = holm(raw) if len(raw) > 1 else raw
    result = CompareResult(metric, test, alpha, "holm" if len(raw) > 1 else "none", all_pairs, summaries)
    for (i, j, gain), p_adj in zip(gains, adjusted):
        a, b = summaries[i], summaries[j]
        capped = a.row.capped_seeds
        significant = bool(p_adj < alpha) and not capped
        saturated = a.row.saturated(metric)
        result.comparisons.append(
            Comparison(a.label, b.label, a.mean, b.mean, gain, p_adj, significant, capped, saturated)
        )
    return result
