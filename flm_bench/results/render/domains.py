"""Transfer per domain: one summary line per (domain, suite) of the overall board, its ``leaderboard.json``
``domains`` and the page, with the line's cold-start gains (:mod:`flm_bench.results.render.cold`) beside
its full gains."""

from __future__ import annotations

from typing import Any

import numpy as np

from flm_bench.data.transfer import COLD_START_ITEMS
from flm_bench.results.render.base import Board
from flm_bench.results.summary import Row, json_number


def domain_summaries(board: Board, domain: str) -> list[dict[str, Any]]:
    """Transfer in one domain, one summary per suite that measured gains there (suites have different
    budgets, so their gains are never pooled; ``suite`` is None when none did): the datasets with a
    gain (reproduction-only datasets have none), how many headline gains, how many significant either
    way, mean and best; and the same of the rows' cold-start gains (None when no row has one)."""
    rows = [r for r in board.rows if r.domain == domain]
    synthetic = bool(rows) and all(r.synthetic for r in rows)
    groups: list[tuple[str | None, list[Row]]] = [*gains_by_suite(board, domain).items()] or [(None, [])]
    return [_summary(domain, suite, gains, board.headline or "", synthetic) for suite, gains in groups]


def gains_by_suite(board: Board, domain: str) -> dict[str, list[Row]]:
    """The domain's rows with a headline gain, by suite (sorted): suites have different budgets, so
    their gains are read apart, never pooled."""
    hl = board.headline or ""
    rows = [r for r in board.rows if r.domain == domain and hl in r.gain]
    return {s: [r for r in rows if r.key.suite == s] for s in sorted({r.key.suite for r in rows})}


def _summary(domain: str, suite: str | None, gains: list[Row], hl: str, synthetic: bool) -> dict[str, Any]:
    cold = [
        (r.slice_gain[COLD_START_ITEMS][hl].mean, r.slice_significant(COLD_START_ITEMS, hl))
        for r in gains
        if hl in r.slice_gain.get(COLD_START_ITEMS, {})
    ]
    return {
        "domain": domain,
        "suite": suite,
        "datasets": len({r.key.dataset for r in gains}),
        "synthetic": synthetic,
        **_tally([(r.gain[hl].mean, r.significant(hl)) for r in gains]),
        "cold_start_gains": _tally(cold) if cold else None,
    }


def _tally(gains: list[tuple[float, bool]]) -> dict[str, Any]:
    """How many (gain, significant) pairs, how many significant either way, their mean and best."""
    means = [m for m, _ in gains]
    return {
        "gains": len(gains),
        "significant_positive": sum(s and m > 0 for m, s in gains),
        "significant_negative": sum(s and m < 0 for m, s in gains),
        "mean_gain": json_number(float(np.mean(means))) if means else None,
        "best_gain": json_number(max(means)) if means else None,
    }
