"""The board's answer in words: per domain, what helps, by how much, at what cost, and the tally
of significant wins and losses. Plain text (every format escapes it its own way)."""

from __future__ import annotations

from flm_bench.results.render.base import (
    SAT_MARK,
    Board,
    fmt_ci,
    fmt_cost,
    fmt_holm,
    fmt_relative,
)
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row


def _p(row: Row, metric: str) -> str:
    p = fmt_holm(row, metric)
    return f"p {p}" if p.startswith("<") else f"p = {p}"


def tally(rows: list[Row], metric: str) -> tuple[int, int]:
    """Significant wins and losses among ``rows``' gains in ``metric``."""
    wins = sum(r.significant(metric) and r.gain[metric].mean > 0 for r in rows if metric in r.gain)
    losses = sum(r.significant(metric) and r.gain[metric].mean < 0 for r in rows if metric in r.gain)
    return wins, losses


def _saturated(row: Row, metric: str) -> str:
    """What a gain on a saturated metric is next to (nothing when it is not saturated)."""
    if not row.saturated(metric):
        return ""
    random, popularity = row.levels[metric]
    return f" ({SAT_MARK} saturated: popularity alone scores {popularity:.4f}, random {random:.4f})"


def _config(row: Row) -> str:
    corpus = f" pretrained on {row.key.corpus}" if row.key.corpus else ""
    return f"{row.key.strategy} of {row.key.model}{corpus} on {row.key.dataset}"


def _cost(board: Board, row: Row) -> str:
    """The row's cost, and its control's when the board has it."""
    control = next((r for r in board.rows if r.key == row.key.control()), None)
    versus = f" vs {fmt_cost(control)} s for scratch" if control is not None else ""
    return f"{fmt_cost(row)} s to pretrain and adapt{versus}"


def domain_sentence(board: Board, domain: str) -> str:
    """One sentence: the domain's best transfer (absolute and %, CI, p, cost) and its tally."""
    hl = board.headline or ""
    rows = [r for r in board.rows if r.domain == domain and hl in r.gain]
    synthetic = " (SYNTHETIC data)" if any(r.synthetic for r in rows) else ""
    if not rows:
        return f"{domain}{synthetic}: no transfer gain measured yet (no pretrained strategy beside its control)."
    best = max(rows, key=lambda r: r.gain[hl].mean)
    g = best.gain[hl]
    numbers = f"{g.mean:+.4f} {hl} ({fmt_relative(best, hl) or 'n/a'}, 95% CI {fmt_ci(g.ci)}, {_p(best, hl)})"
    wins, losses = tally(rows, hl)
    count = f"{wins} significant win{'s' * (wins != 1)} and {losses} significant loss{'es' * (losses != 1)}"
    counted = f"{count} among {len(rows)} gain{'s' * (len(rows) != 1)} tested"
    if g.mean > 0 and best.significant(hl):
        lead = f"{_config(best)} helps most: {numbers}{_saturated(best, hl)}"
    elif g.mean > 0:
        n = best.control_capped_seeds
        capped = f" (not counted: its scratch control hit its budget (epoch cap or time) on {n} seed{'s' * (n != 1)})"
        reason = capped if best.control_capped_seeds else ""
        lead = f"nothing helps significantly; the largest gain, {_config(best)}, is {numbers}{reason}"
    else:
        lead = f"pretraining does not help; the best, {_config(best)}, is {numbers}"
    return f"{domain}{synthetic}: {lead}, at {_cost(board, best)}; {counted}."


def board_sentence(board: Board) -> str:
    """The whole board's tally, in one sentence."""
    hl = board.headline or ""
    rows = [r for r in board.rows if hl in r.gain]
    wins, losses = tally(rows, hl)
    return (
        f"Across {len(board.domains)} domain{'s' * (len(board.domains) != 1)}, {wins} of {len(rows)} transfer "
        f"gains in {hl} are significant wins and {losses} significant losses (Holm-adjusted p < {ALPHA})."
    )
