"""Leaderboard rows from records: mean ± std over seeds, transfer gain over scratch, p-value.

A strategy's transfer gain is metric(strategy) − metric(scratch) for the same dataset, split,
model and seeds. Its p-value comes from a paired two-sided Student t-test (ranx's
``paired_student_t_test``) over per-user scores, pairing each user under each seed; p-values
of all gains on one board are adjusted with Holm–Bonferroni. The pairing, the test and the
correction are those of ``flm-bench compare`` (:mod:`flm_bench.compare`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flm_bench.compare import holm, pair_scores, paired_test
from flm_bench.records import Record, per_user_scores

__all__ = ["CONTROL", "Row", "holm", "summarize"]

CONTROL = "scratch"


@dataclass
class Row:
    """One (dataset, model, strategy, corpus) line of a board."""

    dataset: str
    domain: str
    split: str
    model: str
    strategy: str
    corpus: str | None
    seeds: list[int]
    metrics: dict[str, tuple[float, float]]  # name -> (mean, std over seeds)
    gain: dict[str, float] = field(default_factory=dict)  # name -> mean gain over scratch
    p_value: dict[str, float] = field(default_factory=dict)  # name -> Holm-adjusted p
    adapt_seconds: float = 0.0
    pretrain_seconds: float = 0.0
    trainable_parameters: int = 0
    synthetic: bool = False


def summarize(records: list[tuple[Path, Record]], metrics: list[str] | None = None) -> list[Row]:
    """Board rows for ``records``; gains and p-values for each metric in ``metrics`` (default: all)."""
    groups: dict[tuple, list[tuple[Path, Record]]] = defaultdict(list)
    for path, rec in records:
        key = (rec.dataset.name, rec.split.fingerprint, rec.model.name, rec.strategy.name, rec.strategy.corpus)
        groups[key].append((path, rec))
    rows: dict[tuple, Row] = {}
    for key, members in groups.items():
        members.sort(key=lambda m: m[1].seed)
        recs = [r for _, r in members]
        names = metrics or list(recs[0].metrics)
        first = recs[0]
        rows[key] = Row(
            dataset=first.dataset.name, domain=first.dataset.domain, split=first.split.protocol,
            model=first.model.name, strategy=first.strategy.name, corpus=first.strategy.corpus,
            seeds=[r.seed for r in recs],
            metrics={n: (float(np.mean([r.metrics[n] for r in recs])),
                         float(np.std([r.metrics[n] for r in recs]))) for n in names if n in first.metrics},
            adapt_seconds=float(np.mean([r.cost.adapt_seconds for r in recs])),
            pretrain_seconds=float(np.mean([r.cost.pretrain_seconds for r in recs])),
            trainable_parameters=first.cost.trainable_parameters,
            synthetic=first.dataset.synthetic,
        )
    raw: list[tuple[Row, str, float]] = []
    for key, row in rows.items():
        if row.strategy == CONTROL:
            continue
        control_key = (key[0], key[1], key[2], CONTROL, None)
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
            row.gain[name] = float(np.mean([treated[s][1].metrics[name] - control[s][1].metrics[name] for s in seeds]))
            x, y = pair_scores({s: (c["users"], c[name]) for s, c in c_scores.items()},
                               {s: (t["users"], t[name]) for s, t in t_scores.items()}, seeds,
                               names=(f"{key[2]}/{CONTROL}", f"{key[2]}/{key[3]}"))
            raw.append((row, name, paired_test(x, y, "student")))
    for (row, name, _), adjusted in zip(raw, holm([p for _, _, p in raw])):
        row.p_value[name] = adjusted
    return sorted(rows.values(), key=lambda r: (r.domain, r.dataset, r.model, r.strategy != CONTROL, r.strategy))
