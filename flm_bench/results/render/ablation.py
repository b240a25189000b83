"""A row's gain over its model's ablation (:mod:`flm_bench.results.ablation`), as every format shows it."""

from __future__ import annotations

from typing import Any

from flm_bench.results.render.base import CAP_MARK, SIG_MARK, Board, fmt_ci, fmt_pvalue, holm_family
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row


def has_ablations(rows: list[Row]) -> bool:
    """Whether some row of ``rows`` has a gain over its ablation."""
    return any(r.ablation for r in rows)


def n_ablation_gains(board: Board) -> int:
    """How many ablation gains (rows × metrics) share one Holm correction."""
    return sum(len(r.ablation.p_value) for r in board.rows if r.ablation)


def fmt_ablation(row: Row, metric: str | None, ci_below: bool = False) -> str:
    """``vs lightgcn (without the social graph): +0.0001 [lo, hi] † · p 0.94`` (with ``ci_below`` the CI
    on a second line), ⚠cap where a side did not converge; empty where the row has no such gain."""
    a = row.ablation
    gain = a.gain.get(metric or "") if a else None
    if a is None or gain is None or metric is None:
        return ""
    mark = f" {SIG_MARK}" if a.significant(metric) else ""
    cap = f" {CAP_MARK}" if a.capped else ""
    text = f"vs {a.model} (without {a.removes}): {gain.mean:+.4f}"
    p = f" · p {fmt_pvalue(a.p_value[metric])}{cap}"
    return f"{text}{mark}{p}\n{fmt_ci(gain.ci)}" if ci_below else f"{text} {fmt_ci(gain.ci)}{mark}{p}"


def ablation_value(row: Row, metric: str | None) -> float | None:
    """The gain over the ablation, for sorting a page's column (None where there is none)."""
    gain = row.ablation.gain.get(metric or "") if row.ablation else None
    return gain.mean if gain else None


def ablation_note(board: Board) -> str:
    """The legend of the ablation gains; empty when no row has one."""
    if not has_ablations(board.rows):
        return ""
    return (
        f"Gain over its ablation: the row's {board.headline} minus that of the same model without one ingredient "
        "(its plugin names the ablation: e.g. lightgcn is sociallgn without the social graph), same suite, split, "
        "strategy and seeds, the test user as the unit, [95% CI]; p: Holm-adjusted in a family of its own, the "
        f"{n_ablation_gains(board)} ablation gains (rows × metrics); {SIG_MARK} p < {ALPHA}, never where {CAP_MARK}: "
        "a budget ended either side's training on some seed."
    )


def ablation_significance(board: Board) -> dict[str, Any]:
    """How ``leaderboard.json``'s ablation gains (``rows[].ablation``) are tested; nothing when there are none."""
    if not has_ablations(board.rows):
        return {}
    return {
        "ablation_gains": holm_family(
            "test user, as for the transfer gains: the row's model minus its ablation's",
            "all ablation gains on this leaderboard, a family apart from the transfer and slice gains",
            n_ablation_gains(board),
        )
    }
