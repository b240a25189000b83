"""The gain on the cold-start-item slice of the test users, as every format shows it.

A row's cold-start gain is its gain over scratch on the slice's users only, measured like the full
gain (:mod:`flm_bench.results.slices`) with its p-values Holm-adjusted in a family of their own.
"""

from __future__ import annotations

from typing import Any

from flm_bench.data.transfer import COLD_START_ITEMS
from flm_bench.results.render.base import SIG_MARK, Board, fmt_ci, fmt_pvalue, fmt_signed, fmt_slice
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row

NOT_MEASURED = "n/a"


def has_cold_slices(rows: list[Row]) -> bool:
    """Whether some row of ``rows`` has the cold-start-item slice (records of schema 5 on)."""
    return any(COLD_START_ITEMS in r.slices for r in rows)


def has_cold_gains(rows: list[Row]) -> bool:
    """Whether some row of ``rows`` has a gain on the cold-start-item slice."""
    return any(COLD_START_ITEMS in r.slice_gain for r in rows)


def n_cold_gains(board: Board) -> int:
    """How many cold-start gains (rows × metrics) share one Holm correction."""
    return sum(len(r.slice_p.get(COLD_START_ITEMS, {})) for r in board.rows)


def fmt_cold(row: Row, metric: str | None) -> str:
    """The row's ``metric`` on its cold-start-item users and how many (:func:`fmt_slice`)."""
    return fmt_slice(row, COLD_START_ITEMS, metric)


def fmt_cold_gain(row: Row, metric: str | None, ci_below: bool = False) -> str:
    """The row's cold-start gain: ``+0.0123 [lo, hi] † · p 0.0068`` (p Holm-adjusted among the slice
    gains; with ``ci_below`` the CI on a second line), ``n/a`` where the slice's users are not
    listed or differ from the control's, and nothing where the row has no such gain (a control, or
    an empty slice)."""
    gain = row.slice_gain.get(COLD_START_ITEMS, {}).get(metric or "")
    if gain is None or metric is None:
        return NOT_MEASURED if COLD_START_ITEMS in row.slice_skipped else ""
    mark = f" {SIG_MARK}" if row.slice_significant(COLD_START_ITEMS, metric) else ""
    p = f" · p {fmt_pvalue(row.slice_p[COLD_START_ITEMS][metric])}"
    if ci_below:
        return f"{gain.mean:+.4f}{mark}{p}\n{fmt_ci(gain.ci)}"
    return f"{gain.mean:+.4f} {fmt_ci(gain.ci)}{mark}{p}"


def cold_note(board: Board) -> str:
    """The legend of the cold-start gain; empty when no row has one."""
    if not has_cold_gains(board.rows):
        return ""
    return (
        f"Cold-start gain: the gain in {board.headline} over scratch on the row's cold-start-item users only "
        "(test users all of whose targets are absent from training; the same users on both sides), measured like "
        f"the full gain, [95% CI]; p: Holm-adjusted in a family of its own, the {n_cold_gains(board)} cold-start "
        f"gains (rows × metrics), apart from the full gains; {SIG_MARK} p < {ALPHA}. {NOT_MEASURED}: the records do "
        "not mark the slice's users (made before they were stored) or the users differ from the control's "
        "(leaderboard.json says which)."
    )


def fmt_cold_summary(tally: dict[str, Any] | None) -> str:
    """A line of the overall board's cold-start gains (``domain_summaries``' ``cold_start_gains``):
    ``3 tested · 1 † better · 0 † worse · mean +0.0012 · best +0.0030``; ``n/a`` when no row of the
    line has one."""
    if tally is None:
        return NOT_MEASURED
    return (
        f"{tally['gains']} tested · {tally['significant_positive']} {SIG_MARK} better · "
        f"{tally['significant_negative']} {SIG_MARK} worse · mean {fmt_signed(tally['mean_gain'])} · "
        f"best {fmt_signed(tally['best_gain'])}"
    )


def cold_summary_note(board: Board) -> str:
    """The legend of the overall board's cold-start gains column."""
    family = (
        f"; {SIG_MARK}: Holm-adjusted p < {ALPHA} among the {n_cold_gains(board)} cold-start gains, a family apart "
        "from the full gains"
        if has_cold_gains(board.rows)
        else ""
    )
    return (
        f"Cold-start gains: each row's gain in {board.headline} over scratch on its cold-start-item users only (a "
        f"domain's board lists them){family}; mean and best of the line's gains; {NOT_MEASURED}: no row of the line "
        "has one (records made before the slice or its users were stored, an empty slice, or slice users that "
        "differ from the control's)."
    )
