"""Data efficiency: the headline gain over scratch by target fraction, per domain.

A *line* is every row of one cell but its fraction (same suite, dataset, split, model, strategy,
corpus and tuning); each of its points is the row's gain over scratch at that fraction (its own
control, docs/transfer.md). A domain has a data-efficiency table and plot only when its gains span
at least two fractions; the Markdown boards show the table, the page the plot (:func:`fraction_plot`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flm_bench.results.records import CellKey, fraction_text
from flm_bench.results.render.base import Board
from flm_bench.results.render.plots import figure, gain_limits, gain_point, hover, legend, plot_text, strategy_styles
from flm_bench.results.summary import Row

Line = tuple[CellKey, dict[float, Row]]  # the key at fraction 1.0, and fraction -> row


def fraction_lines(board: Board, domain: str) -> list[Line]:
    """The domain's lines, in board order; empty unless its headline gains span ≥ 2 fractions."""
    hl = board.headline or ""
    rows = [r for r in board.rows if r.domain == domain and hl in r.gain]
    if len({r.key.fraction for r in rows}) < 2:
        return []
    lines: dict[CellKey, dict[float, Row]] = {}
    for r in rows:
        lines.setdefault(dataclasses.replace(r.key, fraction=1.0), {})[r.key.fraction] = r
    return list(lines.items())


def fractions_of(lines: list[Line]) -> list[float]:
    """Every fraction the lines have, ascending."""
    return sorted({f for _, points in lines for f in points})


def line_labels(lines: list[Line]) -> list[str]:
    """Each line's name: model · strategy (← corpus), after its dataset (and suite) when the lines have several."""
    datasets, suites = (len({getattr(key, f) for key, _ in lines}) > 1 for f in ("dataset", "suite"))
    return [
        (f"{key.dataset} · " if datasets else "")
        + (f"{key.suite} · " if suites else "")
        + f"{key.model}{' (tuned)' if key.tuned else ''} · {key.strategy}"
        + (f" ← {key.corpus}" if key.corpus else "")
        for key, _ in lines
    ]


def fraction_plot(board: Board, domain: str) -> str | None:
    """Lines of the headline gain over scratch (y, with 95% CI bars) against the target fraction (x,
    log scale), one per line of :func:`fraction_lines`; None for a domain with fewer than 2 fractions."""
    lines = fraction_lines(board, domain)
    if not lines:
        return None
    hl, styles, slug = board.headline or "", strategy_styles(board), board.slugs[domain]
    xs = fractions_of(lines)
    models = sorted({key.model for key, _ in lines})
    dashes: dict[str, Any] = {m: ["-", "--", ":", "-."][i % 4] for i, m in enumerate(models)}  # line style = model

    def draw(ax: Any, titles: dict[str, str]) -> None:
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FixedLocator, NullLocator

        for n, (key, points) in enumerate(lines):
            colour, marker = styles[key.strategy]
            fs = sorted(points)
            ys = [points[f].gain[hl].mean for f in fs]
            ax.plot(fs, ys, color=colour, linewidth=1.2, linestyle=dashes[key.model])
            for i, f in enumerate(fs):
                row = points[f]
                dot = gain_point(ax, f, row, hl, colour, marker)
                dot.set_gid(gid := f"flm-fraction-{slug}-{n}-{i}")
                titles[gid] = f"{fraction_text(f)} of the target's training users\n{hover(board, row)}"
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([fraction_text(f) for f in xs])
        ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
        ax.set_ylim(*gain_limits(board))
        ax.axhline(0, color="#57606a", linewidth=0.8)
        ax.set_xlabel("share of the target's training users (log scale)")
        ax.set_ylabel(f"gain in {hl} over scratch")
        synthetic = " (SYNTHETIC data)" if all(r.synthetic for _, p in lines for r in p.values()) else ""
        ax.set_title(plot_text(f"{domain}{synthetic}: gain by target fraction"), loc="left")
        models_shown = [
            Line2D([], [], color="#57606a", linewidth=1.2, linestyle=style, label=plot_text(m, 24))
            for m, style in dashes.items()
        ]
        legend(ax, styles, {key.strategy for key, _ in lines}, models_shown)

    return figure(draw, (7.2, 3.6), f"flm-fraction-{slug}")
