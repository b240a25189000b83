"""Board rows from records: one :class:`Row` per cell, with its transfer gain over the control.

A row is every seed of one cell (:class:`~flm_bench.results.records.CellKey`): mean ± std of
each metric over seeds. A strategy's transfer gain is metric(strategy) − metric(scratch) for
the same suite, dataset, split, model and seeds (records of different suites never share a
row: their budgets differ). Its p-value comes from a paired two-sided Student t-test over
per-user scores, pairing each user under each seed (:mod:`flm_bench.results.stats`); p-values
of all gains summarized together are adjusted with Holm–Bonferroni.

Every consumer (the terminal board of ``run``, ``compare``, ``publish``, the rendered boards)
reads these rows; :meth:`Row.to_json` is the one JSON shape of a row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.records import CONTROL, CellKey, Record, per_user_scores
from flm_bench.results.stats import ALPHA, holm, pair_scores, paired_test

RecordFile = tuple[Path, Record]


@dataclass(frozen=True)
class Stat:
    """Mean and (population) standard deviation over seeds."""

    mean: float
    std: float


def json_number(x: float, places: int = 6) -> float:
    """``x`` rounded for JSON output (``-0.0`` becomes ``0.0``)."""
    return float(round(x, places)) + 0.0


def json_p(p: float) -> float:
    """A p-value with four significant digits, for JSON output."""
    return float(f"{p:.4g}")


@dataclass
class Row:
    """One cell of a board: its key, what describes it, its metrics over seeds, its gain."""

    key: CellKey
    domain: str
    synthetic: bool
    split_protocol: str
    model_plugin: str
    strategy_plugin: str
    seeds: list[int]
    record_ids: list[str]
    exclude_history: bool
    metrics: dict[str, Stat]
    gain: dict[str, Stat] = field(default_factory=dict)  # over the control; std of the per-seed gains
    p_value: dict[str, float] = field(default_factory=dict)  # Holm-adjusted
    pretrain_seconds: float = 0.0  # means over seeds
    adapt_seconds: float = 0.0
    trainable_parameters: int = 0

    @property
    def is_control(self) -> bool:
        return self.key.strategy == CONTROL

    def significant(self, metric: str) -> bool:
        return metric in self.p_value and self.p_value[metric] < ALPHA

    def to_json(self) -> dict[str, Any]:
        """The row as JSON data: the shape of ``leaderboard.json``, ``run --json`` and ``compare --json``."""
        return {
            "kind": "measured",
            "domain": self.domain,
            "suite": self.key.suite,
            "dataset": self.key.dataset,
            "synthetic": self.synthetic,
            "split": self.split_protocol,
            "split_fingerprint": self.key.split,
            "model": self.key.model,
            "model_plugin": self.model_plugin,
            "strategy": self.key.strategy,
            "strategy_plugin": self.strategy_plugin,
            "corpus": self.key.corpus,
            "seeds": self.seeds,
            "exclude_history": self.exclude_history,
            "metrics": {
                m: {"mean": json_number(s.mean), "std": json_number(s.std)} for m, s in sorted(self.metrics.items())
            },
            "gain": {
                m: {
                    "mean": json_number(s.mean),
                    "std": json_number(s.std),
                    "p_holm": json_p(self.p_value[m]) if m in self.p_value else None,
                    "significant": self.significant(m),
                }
                for m, s in sorted(self.gain.items())
            },
            "cost": {
                "pretrain_seconds": json_number(self.pretrain_seconds, 3),
                "adapt_seconds": json_number(self.adapt_seconds, 3),
                "trainable_parameters": self.trainable_parameters,
            },
            "records": self.record_ids,
        }


def _mean(values: list[float]) -> Stat:
    return Stat(float(np.mean(values)), float(np.std(values)))


def _row(key: CellKey, recs: list[Record], names: list[str] | None) -> Row:
    for a, b in zip(recs, recs[1:]):
        if a.seed == b.seed:
            raise RecordError(
                f"records {a.record_id} and {b.record_id} are the same cell (seed {a.seed}) "
                "with different configurations; keep one of them"
            )
    first = recs[0]
    return Row(
        key=key,
        domain=first.dataset.domain,
        synthetic=first.dataset.synthetic,
        split_protocol=first.split.protocol,
        model_plugin=first.model.plugin,
        strategy_plugin=first.strategy.plugin,
        seeds=[r.seed for r in recs],
        record_ids=[r.record_id for r in recs],
        exclude_history=all(r.evaluation.exclude_history for r in recs),
        metrics={n: _mean([r.metrics[n] for r in recs]) for n in (names or list(first.metrics)) if n in first.metrics},
        pretrain_seconds=float(np.mean([r.cost.pretrain_seconds for r in recs])),
        adapt_seconds=float(np.mean([r.cost.adapt_seconds for r in recs])),
        trainable_parameters=first.cost.trainable_parameters,
    )


def _gains(row: Row, treated: list[RecordFile], control: list[RecordFile]) -> list[tuple[str, float]]:
    """Fill ``row.gain`` over ``control`` (the seeds both have); return (metric, raw p) pairs."""
    t_by_seed = {r.seed: (p, r) for p, r in treated}
    c_by_seed = {r.seed: (p, r) for p, r in control}
    seeds = sorted(set(t_by_seed) & set(c_by_seed))
    if not seeds:
        return []
    t_scores = {s: per_user_scores(*t_by_seed[s]) for s in seeds}
    c_scores = {s: per_user_scores(*c_by_seed[s]) for s in seeds}
    raw = []
    for name in row.metrics:
        row.gain[name] = _mean([t_by_seed[s][1].metrics[name] - c_by_seed[s][1].metrics[name] for s in seeds])
        x, y = pair_scores(
            {s: (c["users"], c[name]) for s, c in c_scores.items()},
            {s: (t["users"], t[name]) for s, t in t_scores.items()},
            seeds,
            names=(row.key.control().label(), row.key.label()),
        )
        raw.append((name, paired_test(x, y, "student")))
    return raw


def summarize(records: list[RecordFile], metrics: list[str] | None = None) -> list[Row]:
    """Board rows for ``records``; gains and p-values (one Holm correction over all of them) for
    each metric in ``metrics`` (default: all of each row's metrics)."""
    groups: dict[CellKey, list[RecordFile]] = defaultdict(list)
    for path, rec in records:
        groups[CellKey.of(rec)].append((path, rec))  # one row per cell: its records are the seeds
    rows: dict[CellKey, Row] = {}
    for key, members in groups.items():
        members.sort(key=lambda m: (m[1].seed, m[1].record_id))
        rows[key] = _row(key, [r for _, r in members], metrics)
    raw: list[tuple[Row, str, float]] = []
    for key, row in rows.items():
        if not row.is_control and key.control() in groups:
            raw += [(row, name, p) for name, p in _gains(row, groups[key], groups[key.control()])]
    for (row, name, _), adjusted in zip(raw, holm([p for _, _, p in raw])):
        row.p_value[name] = adjusted
    return sorted(
        rows.values(),
        key=lambda r: (
            r.domain,
            r.key.dataset,
            r.split_protocol,
            r.key.split,
            r.key.suite,
            r.key.model,
            not r.is_control,
            r.key.strategy,
            r.key.corpus or "",
        ),
    )
