"""The board on the terminal: summary rows as a rich table (``run`` and ``publish`` print it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from flm_bench.results.summary import Row


def board_table(rows: list[Row], metrics: list[str], headline: str) -> Table:
    """The leaderboard as a rich table."""
    from flm_bench.results.render.base import fmt_gain, fmt_p, fmt_stat

    synthetic = any(r.synthetic for r in rows)
    table = Table(
        title="leaderboard" + (" — SYNTHETIC data" if synthetic else ""),
        caption=f"gain = {headline}(strategy) − {headline}(scratch), the test user as the unit (scores averaged "
        "over seeds), (% of scratch), [95% bootstrap CI]; p: paired t-test across users, Holm-adjusted; "
        "seeds: per-seed gains agreeing in sign",
    )
    for col in (
        "dataset",
        "model",
        "strategy",
        "corpus",
        "seeds",
        *metrics,
        f"gain {headline} (%) [95% CI]",
        "p · seeds",
        "adapt s",
        "pretrain s",
        "trainable",
    ):
        table.add_column(
            col, justify="left" if col in ("dataset", "model", "strategy", "corpus") else "right", no_wrap=True
        )
    previous = None
    for r in rows:
        if previous is not None and r.key.dataset != previous:
            table.add_section()
        previous = r.key.dataset
        table.add_row(
            r.key.dataset,
            r.key.model,
            r.key.strategy,
            r.key.corpus or "",
            str(len(r.seeds)),
            *(fmt_stat(r.metrics[m]) if m in r.metrics else "" for m in metrics),
            Text(fmt_gain(r, headline)),  # Text: the CI's brackets are not rich markup
            fmt_p(r, headline),
            f"{r.adapt_seconds:.1f}",
            f"{r.pretrain_seconds:.1f}",
            f"{r.trainable_parameters:,}",
        )
    return table


def headline_metrics(rows: list[Row]) -> list[str]:
    """The metrics at the smallest cutoff the rows share (the first is the headline)."""
    from flm_bench.results.render.base import metric_key

    names = sorted({m for r in rows for m in r.metrics}, key=metric_key)
    cutoffs = sorted({int(m.split("@")[1]) for m in names if "@" in m})
    return [m for m in names if cutoffs and m.endswith(f"@{cutoffs[0]}")] or names
