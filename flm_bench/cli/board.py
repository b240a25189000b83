"""The board on the terminal: summary rows as a rich table (``run`` and ``publish`` print it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from flm_bench.results.summary import Row


_LEFT = ("dataset", "model", "strategy", "corpus")


def board_table(rows: list[Row], metrics: list[str], headline: str, width: int | None = None) -> Table:
    """The leaderboard as a rich table; with ``width`` (the terminal's), the columns that do not
    fit are left out, least important first (costs, corpus, seeds, other metrics), so that the
    headline metric, its gain and p are never cut to ``0.…``."""
    columns = _columns(rows, metrics, headline, short=False)
    if width is not None and _need(columns, list(columns)[:6]) > width:  # too narrow: the gain without its CI
        columns = _columns(rows, metrics, headline, short=True)
    shown = _fitting(columns, width)
    synthetic = any(r.synthetic for r in rows)
    table = Table(
        title="leaderboard" + (" — SYNTHETIC data" if synthetic else ""),
        caption=f"gain = {headline}(strategy) − {headline}(scratch), the test user as the unit (scores averaged "
        "over seeds), (% of scratch), [95% bootstrap CI]; p: paired t-test across users, Holm-adjusted; "
        "seeds: per-seed gains agreeing in sign"
        + (
            f"; left out for the terminal's width: {', '.join(c for c in columns if c not in shown)}"
            if len(shown) < len(columns)
            else ""
        ),
    )
    gain, p = list(columns)[4:6]
    display = (
        "dataset",
        "model",
        "strategy",
        "corpus",
        "seeds",
        *metrics,
        gain,
        p,
        "adapt s",
        "pretrain s",
        "trainable",
    )
    order = [c for c in display if c in shown]
    for col in order:  # names fold onto more lines before a number is ever cut
        left = col in _LEFT
        table.add_column(col, justify="left" if left else "right", no_wrap=not left, overflow="fold")
    previous = None
    for i, r in enumerate(rows):
        if previous is not None and r.key.dataset != previous:
            table.add_section()
        previous = r.key.dataset
        table.add_row(*(Text(columns[c][i]) for c in order))  # Text: names and brackets are never rich markup
    return table


def _columns(rows: list[Row], metrics: list[str], headline: str, *, short: bool) -> dict[str, list[str]]:
    """Header -> cells, most important first: names, headline metric, gain (``short``: without its
    CI), p and seeds agreeing, then corpus, seeds, the other metrics and the costs."""
    from flm_bench.results.render.base import fmt_gain, fmt_model, fmt_p, fmt_stat

    def stats(m: str) -> list[str]:
        return [fmt_stat(r.metrics[m]) if m in r.metrics else "" for r in rows]

    gain = f"gain {headline} (%)" if short else f"gain {headline} (%) [95% CI]"
    return {
        "dataset": [r.key.dataset for r in rows],
        "model": [fmt_model(r) for r in rows],
        "strategy": [r.key.strategy for r in rows],
        metrics[0]: stats(metrics[0]),
        gain: [(_short_gain if short else fmt_gain)(r, headline) for r in rows],
        "p · seeds": [fmt_p(r, headline) for r in rows],
        "corpus": [r.key.corpus or "" for r in rows],
        "seeds": [str(len(r.seeds)) for r in rows],
        **{m: stats(m) for m in metrics[1:]},
        "adapt s": [f"{r.adapt_seconds:.1f}" for r in rows],
        "pretrain s": [f"{r.pretrain_seconds:.1f}" for r in rows],
        "trainable": [f"{r.trainable_parameters:,}" for r in rows],
    }


def _need(columns: dict[str, list[str]], names: list[str]) -> int:
    """Characters the ``names`` columns take unwrapped: widest cell, padding and a separator each."""
    return 4 + sum(max(len(n), *(len(c) for c in columns[n])) + 3 for n in names)


def _fitting(columns: dict[str, list[str]], width: int | None) -> set[str]:
    """The first columns (in priority order) that fit in ``width`` characters (all when None); the
    first six (names, headline metric, gain and p) always stay, their names folding if need be."""
    shown: list[str] = []
    for name in columns:
        if width is None or len(shown) < 6 or _need(columns, [*shown, name]) <= width:
            shown.append(name)
    return set(shown)


def _short_gain(row: Row, metric: str) -> str:
    """The gain and its relative size with the significance mark, without the CI (narrow terminals)."""
    from flm_bench.results.render.base import SIG_MARK

    g = row.gain.get(metric)
    if g is None:
        return ""
    relative = f" ({g.relative:+.1f}%)" if g.relative is not None else ""
    return f"{g.mean:+.4f}{relative}" + (f" {SIG_MARK}" if row.significant(metric) else "")


def headline_metrics(rows: list[Row]) -> list[str]:
    """The metrics at the smallest cutoff the rows share (the first is the headline)."""
    from flm_bench.results.render.base import metric_key

    names = sorted({m for r in rows for m in r.metrics}, key=metric_key)
    cutoffs = sorted({int(m.split("@")[1]) for m in names if "@" in m})
    return [m for m in names if cutoffs and m.endswith(f"@{cutoffs[0]}")] or names
