"""The page's plots as inline SVG (matplotlib): transfer gain per domain, gain vs cost per dataset.

One encoding everywhere: colour and marker = strategy (a colour-blind-safe palette with no red or
blue, which the tables use for worse and better), filled = significant (Holm), hollow = not. All
gain axes of a metric share one scale, so bars and points compare across domains and datasets.
Each bar or point carries an SVG ``<title>`` (hover: values, CI, p, cost, record ids).

Every SVG is deterministic (fixed ids, no date) and checked by :func:`_assert_inert` before it is
embedded: drawing elements only, no event handlers, no links out of the figure. Labels come from
records; matplotlib escapes them as SVG text (``svg.fonttype = none``, no mathtext).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from typing import Any
from xml.sax.saxutils import escape

from flm_bench.errors import RecordError
from flm_bench.results.render.base import (
    Board,
    fmt_ci,
    fmt_cost_detail,
    fmt_holm,
    fmt_relative,
    fmt_stat,
)
from flm_bench.results.render.strings import oneline
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row
from flm_bench.text import printable_lines

_SVG_ELEMENTS = {
    "svg",
    "defs",
    "style",
    "g",
    "path",
    "use",
    "clipPath",
    "rect",
    "line",
    "polyline",
    "polygon",
    "circle",
    "ellipse",
    "text",
    "tspan",
    "title",
    "desc",
}


def plot_text(text: str, limit: int = 70) -> str:
    text = oneline(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(fig: Any, salt: str, titles: dict[str, str] | None = None) -> str:
    """The figure as inline ``<svg>`` text: deterministic ids, no date, no comments; ``titles``: the
    hover text of the artists whose gid is the key."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)  # matplotlib echoes every text as a comment
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # RDF boilerplate
    text = re.sub(r"\n\s*\n", "\n", text)
    for gid, title in (titles or {}).items():
        text = text.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{escape(printable_lines(title))}</title>', 1)
    _assert_inert(text)
    return text.strip() + "\n"


def _assert_inert(svg: str) -> None:
    """Refuse SVG with anything but drawing elements, event handlers or links outside the figure."""
    import xml.etree.ElementTree as ET

    for element in ET.fromstring(svg).iter():
        tag = element.tag.rpartition("}")[2]
        names = {name.rpartition("}")[2].lower(): value for name, value in element.attrib.items()}
        bad = tag not in _SVG_ELEMENTS or any(
            name.startswith("on") or (name == "href" and not value.startswith("#")) for name, value in names.items()
        )
        if bad:
            raise RecordError(f"a plot's SVG has an unexpected <{tag}> element or attribute; refusing to embed it")


def _plot_style() -> Any:  # matplotlib types rcParams keys as Literals
    return {
        "svg.fonttype": "none",
        "text.parse_math": False,
        "text.usetex": False,
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 72,
    }


#: strategy colours (Okabe–Ito, without its red and blue: the tables use those for worse and better)
PALETTE = ["#009E73", "#CC79A7", "#E69F00", "#000000", "#999999", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def strategy_styles(board: Board) -> dict[str, tuple[str, str]]:
    """Strategy -> (colour, marker), the same in every plot of the page."""
    names = sorted({r.key.strategy for r in board.rows if not r.is_control})
    return {s: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]) for i, s in enumerate(names)}


def _gained(board: Board) -> list[Row]:
    hl = board.headline or ""
    return [r for r in board.rows if hl in r.gain]


def gain_limits(board: Board) -> tuple[float, float]:
    """One gain axis for every plot: every CI fits, and 0 is inside."""
    hl = board.headline or ""
    rows = _gained(board)
    low = min([0.0, *(r.gain[hl].ci[0] for r in rows)])
    high = max([0.0, *(r.gain[hl].ci[1] for r in rows)])
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad


def hover(board: Board, row: Row) -> str:
    """What a bar or a point says on hover: the row, its metric, gain, CI, p, cost and records."""
    hl = board.headline or ""
    g = row.gain[hl]
    corpus = f" ← {row.key.corpus}" if row.key.corpus else ""
    return (
        f"{row.key.dataset} · {row.key.model} · {row.key.strategy}{corpus}\n"
        f"{hl} {fmt_stat(row.metrics[hl])} vs scratch {g.control:.4f}\n"
        f"gain {g.mean:+.4f} ({fmt_relative(row, hl)}), 95% CI {fmt_ci(g.ci)}, p (Holm) {fmt_holm(row, hl)}\n"
        f"{fmt_cost_detail(row)}\nrecords: {', '.join(row.record_ids)}"
    )


def face(row: Row, metric: str, colour: str) -> str:
    """Filled when significant, hollow (white) when not."""
    return colour if row.significant(metric) else "white"


def gain_point(ax: Any, x: float, row: Row, metric: str, colour: str, marker: str) -> Any:
    """``row``'s gain in ``metric`` at ``x``: its 95% CI as a bar and a marker, filled when significant
    (returns the marker, to name it for its hover text)."""
    g = row.gain[metric]
    ax.plot([x, x], list(g.ci), color=colour, linewidth=0.8)
    (dot,) = ax.plot(
        [x],
        [g.mean],
        marker=marker,
        color=colour,
        markerfacecolor=face(row, metric, colour),
        markeredgewidth=1.5,
        markersize=7,
        linestyle="",
    )
    return dot


def legend(ax: Any, styles: dict[str, tuple[str, str]], shown: set[str], extra: Sequence[Any] = ()) -> None:
    """The strategies ``shown`` (colour and marker), ``extra`` handles, then what filled and hollow mean."""
    from matplotlib.lines import Line2D

    grey: Any = {"color": "#57606a", "marker": "o", "linestyle": ""}
    handles = [
        Line2D([], [], color=c, marker=m, linestyle="", label=plot_text(s, 24))
        for s, (c, m) in styles.items()
        if s in shown
    ]
    handles += [
        *extra,
        Line2D([], [], **grey, label=f"filled: p < {ALPHA} (Holm)"),
        Line2D([], [], **grey, markerfacecolor="white", label="hollow: not significant"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def figure(draw: Callable[[Any, dict[str, str]], None], size: tuple[float, float], salt: str) -> str:
    """A one-axes figure drawn by ``draw(ax, titles)``, as inline SVG with its hover titles."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(_plot_style()):
        fig = Figure(figsize=size)
        ax = fig.add_subplot()
        ax.grid(color="#eaeef2", linewidth=0.8)
        ax.set_axisbelow(True)
        titles: dict[str, str] = {}
        draw(ax, titles)
        return _svg(fig, salt, titles)


def gain_plot(board: Board, domain: str) -> str | None:
    """Horizontal bars: headline gain over scratch per (dataset, model, strategy) of one domain, with
    its 95% CI, on the axis every domain shares."""
    hl = board.headline or ""
    rows = [r for r in _gained(board) if r.domain == domain]
    if not rows:
        return None
    styles, slug = strategy_styles(board), board.slugs[domain]

    def draw(ax: Any, titles: dict[str, str]) -> None:
        for y, r in enumerate(rows):
            g, colour = r.gain[hl], styles[r.key.strategy][0]
            bar = ax.barh([y], [g.mean], height=0.6, color=face(r, hl, colour), edgecolor=colour, linewidth=1.5)
            ax.errorbar(
                [g.mean],
                [y],
                xerr=[[max(0.0, g.mean - g.ci[0])], [max(0.0, g.ci[1] - g.mean)]],
                fmt="none",
                ecolor="#24292f",
                elinewidth=1,
                capsize=3,
            )
            bar.patches[0].set_gid(gid := f"flm-gain-{slug}-{y}")
            titles[gid] = hover(board, r)
        several = len({r.key.suite for r in rows}) > 1
        ax.set_yticks(
            range(len(rows)),
            [
                plot_text(r.key.dataset + (f" · {r.key.suite}" if several else ""), 40)
                + "\n"
                + plot_text(f"{r.key.model} · {r.key.strategy}", 40)
                for r in rows
            ],
        )
        ax.invert_yaxis()
        ax.set_xlim(*gain_limits(board))
        ax.axvline(0, color="#57606a", linewidth=0.8)
        ax.set_xlabel(f"gain in {hl} over scratch (mean over users, 95% CI); same scale in every domain")
        synthetic = " (SYNTHETIC data)" if all(r.synthetic for r in rows) else ""
        ax.set_title(plot_text(f"{domain}{synthetic}"), loc="left")
        legend(ax, styles, {r.key.strategy for r in rows})

    return figure(draw, (7.2, 1.3 + 0.45 * len(rows)), f"flm-gain-{slug}")


def cost_plots(board: Board) -> dict[tuple[str, str], str]:
    """Per dataset (and split): gain over scratch against pretrain + adapt seconds, one point per row,
    the gain axis shared by every plot. Key: (domain, dataset · split protocol)."""
    hl = board.headline or ""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for r in _gained(board):
        groups.setdefault((r.domain, r.key.dataset, r.split_protocol), []).append(r)
    styles = strategy_styles(board)
    plots = {}
    for n, ((domain, dataset, split), rows) in enumerate(sorted(groups.items())):

        def draw(ax: Any, titles: dict[str, str], rows: list[Row] = rows, n: int = n, name: str = "") -> None:
            from matplotlib.ticker import FuncFormatter

            for i, r in enumerate(rows):
                colour, marker = styles[r.key.strategy]
                x = r.pretrain_seconds + r.adapt_seconds
                line = gain_point(ax, x, r, hl, colour, marker)
                line.set_gid(gid := f"flm-cost-{n}-{i}")
                titles[gid] = hover(board, r)
            costs = [r.pretrain_seconds + r.adapt_seconds for r in rows]
            if min(costs) > 0:  # a log axis spreads the points; symlog keeps a zero cost on it
                ax.set_xscale("log")
                ax.set_xlim(min(costs) / 1.5, max(costs) * 1.5)
            else:
                ax.set_xscale("symlog", linthresh=1.0)
                ax.set_xlim(left=0)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext: parse_math is off
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.set_ylim(*gain_limits(board))
            ax.axhline(0, color="#57606a", linewidth=0.8)
            ax.set_xlabel("pretrain + adapt seconds (mean over seeds; log scale)")
            ax.set_ylabel(f"gain in {hl} over scratch")
            synthetic = " (SYNTHETIC)" if all(r.synthetic for r in rows) else ""
            ax.set_title(plot_text(name.replace(" · ", f"{synthetic} · ", 1), 60), loc="left")
            legend(ax, styles, {r.key.strategy for r in rows})

        name = f"{dataset} · {split}"
        plots[(domain, name)] = figure(functools.partial(draw, name=name), (6.4, 3.4), f"flm-cost-{n}")
    return plots
