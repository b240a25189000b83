"""The board's answer in words: per domain, what helps, by how much, at what cost, and the tally
of significant wins and losses. Plain text (every format escapes it its own way)."""

from __future__ import annotations

from flm_bench.results.levels import SATURATED_AT
from flm_bench.results.render.base import (
    SAT_MARK,
    Board,
    fmt_ci,
    fmt_cost,
    fmt_holm,
    fmt_relative,
)
from flm_bench.results.render.domains import gains_by_suite
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row


def _p(row: Row, metric: str) -> str:
    p = fmt_holm(row, metric)
    return f"p {p}" if p.startswith("<") else f"p = {p}"


def _count(rows: list[Row], metric: str) -> tuple[int, int]:
    return len(rows), sum(bool(r.saturated(metric)) for r in rows)


def tally(rows: list[Row], metric: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Significant wins and losses among ``rows``' gains in ``metric``, each as (all, on saturated rows)."""
    sig = [r for r in rows if metric in r.gain and r.significant(metric)]
    return _count([r for r in sig if r.gain[metric].mean > 0], metric), _count(
        [r for r in sig if r.gain[metric].mean < 0], metric
    )


def _saturated_share(count: tuple[int, int]) -> str:
    """How many of a tally entry (all, on saturated rows) are saturated: "" or " (both saturated: ...)"."""
    n, sat = count
    if not sat:
        return ""
    share = {1: "", 2: "both "}.get(n, "all ") if sat == n else f"{sat} "
    return f" ({share}saturated: popularity already takes ≥ {SATURATED_AT:.0%} of the headroom)"


def _counted(count: tuple[int, int], noun: str, plural: str) -> str:
    return f"{count[0]} significant {noun if count[0] == 1 else plural}{_saturated_share(count)}"


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


def domain_sentences(board: Board, domain: str) -> list[str]:
    """The domain's answer: one sentence, or one per suite when several suites measured gains there
    (their budgets differ, so their gains are never pooled)."""
    groups = gains_by_suite(board, domain)
    if len(groups) <= 1:
        return [_sentence(board, domain, next(iter(groups.values()), []))]
    return [_sentence(board, f"{domain} · suite {suite}", rows) for suite, rows in groups.items()]


def _sentence(board: Board, label: str, rows: list[Row]) -> str:
    """One sentence: the best transfer among ``rows`` (absolute and %, CI, p, cost) and their tally."""
    hl = board.headline or ""
    synthetic = " (SYNTHETIC data)" if any(r.synthetic for r in rows) else ""
    if not rows:
        return f"{label}{synthetic}: no transfer gain measured yet (no pretrained strategy beside its control)."
    best = max(rows, key=lambda r: r.gain[hl].mean)
    g = best.gain[hl]
    numbers = f"{g.mean:+.4f} {hl} ({fmt_relative(best, hl) or 'n/a'}, 95% CI {fmt_ci(g.ci)}, {_p(best, hl)})"
    wins, losses = tally(rows, hl)
    count = f"{_counted(wins, 'win', 'wins')} and {_counted(losses, 'loss', 'losses')}"
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
    return f"{label}{synthetic}: {lead}, at {_cost(board, best)}; {counted}."


def board_sentence(board: Board) -> str:
    """The whole board's tally, in one sentence."""
    hl = board.headline or ""
    rows = [r for r in board.rows if hl in r.gain]
    wins, losses = tally(rows, hl)
    return (
        f"Across {len(board.domains)} domain{'s' * (len(board.domains) != 1)}, {wins[0]} of {len(rows)} transfer "
        f"gains in {hl} are significant wins{_saturated_share(wins)} and {_counted(losses, 'loss', 'losses')} "
        f"(Holm-adjusted p < {ALPHA})."
    )
