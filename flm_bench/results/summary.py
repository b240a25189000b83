"""Leaderboard rows from records: mean ± std over seeds, transfer gain over scratch, p-value.

A strategy's transfer gain is metric(strategy) − metric(scratch) for the same suite, dataset,
split, model and seeds (records of different suites never share a row: their budgets
differ). Its p-value comes from a paired two-sided Student t-test (ranx's
``paired_student_t_test``) over per-user scores, pairing each user under each seed; p-values
of all gains on one board are adjusted with Holm–Bonferroni. The pairing, the test and the
correction are those of ``flm-bench compare`` (:mod:`flm_bench.results.compare`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flm_bench.results.compare import holm, pair_scores, paired_test
from flm_bench.errors import RecordError
from flm_bench.results.records import Record, cell_key, per_user_scores

__all__ = ["CONTROL", "Row", "holm", "summarize"]

CONTROL = "scratch"


@dataclass
class Row:
    """One (suite, dataset, split, model, strategy, corpus) line of a board."""

    suite: str
    dataset: str
    domain: str
    split: str
    split_fingerprint: str
    model: str
    strategy: str
    corpus: str | None
    seeds: list[int]
    metrics: dict[str, tuple[float, float]]  # name -> (mean, std over seeds)
    gain: dict[str, float] = field(default_factory=dict)  # name -> mean gain over scratch
    gain_std: dict[str, float] = field(default_factory=dict)  # name -> std of the per-seed gains
    p_value: dict[str, float] = field(default_factory=dict)  # name -> Holm-adjusted p
    adapt_seconds: float = 0.0
    pretrain_seconds: float = 0.0
    trainable_parameters: int = 0
    synthetic: bool = False
    records: list[tuple[Path, Record]] = field(default_factory=list)  # the row's records, by seed


def summarize(records: list[tuple[Path, Record]], metrics: list[str] | None = None) -> list[Row]:
    """Board rows for ``records``; gains and p-values for each metric in ``metrics`` (default: all)."""
    groups: dict[tuple, list[tuple[Path, Record]]] = defaultdict(list)
    for path, rec in records:
        groups[cell_key(rec)].append((path, rec))  # one row per cell: its records are the seeds
    rows: dict[tuple, Row] = {}
    for key, members in groups.items():
        members.sort(key=lambda m: (m[1].seed, m[1].record_id))
        recs = [r for _, r in members]
        for a, b in zip(recs, recs[1:]):
            if a.seed == b.seed:
                raise RecordError(f"records {a.record_id} and {b.record_id} are the same cell (seed {a.seed}) "
                                  "with different configurations; keep one of them")
        names = metrics or list(recs[0].metrics)
        first = recs[0]
        rows[key] = Row(
            suite=first.suite, dataset=first.dataset.name, domain=first.dataset.domain, split=first.split.protocol,
            split_fingerprint=first.split.fingerprint, model=first.model.name, strategy=first.strategy.name,
            corpus=first.strategy.corpus, seeds=[r.seed for r in recs],
            metrics={n: (float(np.mean([r.metrics[n] for r in recs])),
                         float(np.std([r.metrics[n] for r in recs]))) for n in names if n in first.metrics},
            adapt_seconds=float(np.mean([r.cost.adapt_seconds for r in recs])),
            pretrain_seconds=float(np.mean([r.cost.pretrain_seconds for r in recs])),
            trainable_parameters=first.cost.trainable_parameters,
            synthetic=first.dataset.synthetic, records=members,
        )
    raw: list[tuple[Row, str, float]] = []
    for key, row in rows.items():
        if row.strategy == CONTROL:
            continue
        control_key = (*key[:4], CONTROL, None)  # cell_key with the strategy and corpus of scratch
        if control_key not in groups:
            continue
        treated = {r.seed: (p, r) for p, r in groups[key]}
        control = {r.seed: (p, r) for p, r in groups[control_key]}
        seeds = sorted(set(treated) & set(control))
        if not seeds:
            continue
        t_scores = {s: per_user_scores(*treated[s]) for s in seeds}
        c_scores = {s: per_user_scores(*control[s]) for s in seeds}
        for name in row.metrics:
            diffs = [treated[s][1].metrics[name] - control[s][1].metrics[name] for s in seeds]
            row.gain[name], row.gain_std[name] = float(np.mean(diffs)), float(np.std(diffs))
            x, y = pair_scores({s: (c["users"], c[name]) for s, c in c_scores.items()},
                               {s: (t["users"], t[name]) for s, t in t_scores.items()}, seeds,
                               names=(f"{row.model}/{CONTROL}", f"{row.model}/{row.strategy}"))
            raw.append((row, name, paired_test(x, y, "student")))
    for (row, name, _), adjusted in zip(raw, holm([p for _, _, p in raw])):
        row.p_value[name] = adjusted
    return sorted(rows.values(), key=lambda r: (r.domain, r.dataset, r.split, r.split_fingerprint, r.suite, r.model,
                                                r.strategy != CONTROL, r.strategy, r.corpus or ""))
