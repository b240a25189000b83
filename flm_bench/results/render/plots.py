"""The page's plots as inline SVG (matplotlib): transfer gain per domain, quality vs cost.

Every SVG is deterministic (fixed ids, no date) and checked by :func:`_assert_inert` before it is
embedded: drawing elements only, no event handlers, no links out of the figure. Labels come from
records; matplotlib escapes them as SVG text (``svg.fonttype = none``, no mathtext).
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.records import CONTROL
from flm_bench.results.render.base import SIG_MARK, Board, oneline
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import Row, Stat

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


def _plot_text(text: str, limit: int = 70) -> str:
    text = oneline(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(fig: Any, salt: str) -> str:
    """The figure as inline ``<svg>`` text: deterministic ids, no date, no comments."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)  # matplotlib echoes every text as a comment
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # RDF boilerplate
    text = re.sub(r"\n\s*\n", "\n", text)
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


def gain_plot(board: Board, domain: str) -> str | None:
    """Horizontal bars: headline gain over scratch per (dataset, model, strategy) of one domain, with its 95% CI."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    hl = board.headline or ""
    rows = [r for r in board.rows if r.domain == domain and hl in r.gain]
    if not rows:
        return None
    with rc_context(_plot_style()):
        fig = Figure(figsize=(6.4, 1.3 + 0.5 * len(rows)))
        ax = fig.add_subplot()
        y = np.arange(len(rows))
        means = [r.gain[hl].mean for r in rows]
        # whiskers from the mean to the CI's ends (a percentile interval need not be symmetric)
        below = [max(0.0, r.gain[hl].mean - r.gain[hl].ci[0]) for r in rows]
        above = [max(0.0, r.gain[hl].ci[1] - r.gain[hl].mean) for r in rows]
        colors = ["#1f6feb" if m >= 0 else "#d1242f" for m in means]
        ax.barh(
            y,
            means,
            xerr=[below, above],
            color=colors,
            alpha=0.85,
            height=0.6,
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#24292f"},
        )
        several_suites = len({r.key.suite for r in rows}) > 1
        labels = [
            _plot_text(
                r.key.dataset
                + (" [synthetic]" if r.synthetic else "")
                + (" · suite " + r.key.suite if several_suites else ""),
                50,
            )
            + "\n"
            + _plot_text(f"{r.key.model} · {r.key.strategy}{' ← ' + r.key.corpus if r.key.corpus else ''}", 50)
            + (f" {SIG_MARK}" if r.significant(hl) else "")
            for r in rows
        ]
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.axvline(0, color="#57606a", linewidth=0.8)
        ax.set_xlabel(f"gain in {hl} over scratch (mean, 95% CI over users); {SIG_MARK} p < {ALPHA}, Holm")
        synthetic = all(r.synthetic for r in rows)
        ax.set_title(_plot_text(f"{domain}{' (SYNTHETIC data)' if synthetic else ''}"), loc="left")
        ax.grid(axis="x", color="#eaeef2", linewidth=0.8)
        ax.set_axisbelow(True)
        return _svg(fig, f"flm-gain-{board.slugs[domain]}")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _cost_point(ax: Any, r: Row, s: Stat, marker: str, color: str) -> None:
    """One row of the quality-vs-cost scatter: mean ± std at pretrain + adapt seconds, labelled by model."""
    x = r.pretrain_seconds + r.adapt_seconds
    ax.errorbar(
        [x], [s.mean], yerr=[s.std or 0.0], fmt=marker, color=color, markersize=6, capsize=2, elinewidth=0.8, alpha=0.9
    )
    ax.annotate(
        _plot_text(r.key.model, 24), (x, s.mean), xytext=(4, 3), textcoords="offset points", fontsize=7, color="#57606a"
    )


def cost_plot(board: Board) -> str | None:
    """Scatter: headline metric (± std) against pretrain + adapt seconds, colour = domain, marker = strategy."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    hl = board.headline or ""
    rows = [r for r in board.rows if hl in r.metrics]
    if not rows:
        return None
    palette, markers = PALETTE, MARKERS
    domains = sorted({r.domain for r in rows})
    strategies = sorted({r.key.strategy for r in rows}, key=lambda s: (s != CONTROL, s))
    color = {d: palette[i % len(palette)] for i, d in enumerate(domains)}
    marker = {s: markers[i % len(markers)] for i, s in enumerate(strategies)}
    with rc_context(_plot_style()):
        fig = Figure(figsize=(7.2, 4.6))
        ax = fig.add_subplot()
        for r in rows:
            _cost_point(ax, r, r.metrics[hl], marker[r.key.strategy], color[r.domain])
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext: parse_math is off
        ax.set_xlabel("pretrain + adapt seconds (mean over seeds; symlog scale)")
        ax.set_ylabel(f"{hl} (mean ± std over seeds)")
        synthetic = " — includes SYNTHETIC data" if any(r.synthetic for r in rows) else ""
        ax.set_title(f"quality vs cost{synthetic}", loc="left")
        ax.grid(color="#eaeef2", linewidth=0.8)
        ax.set_axisbelow(True)
        handles = [Line2D([], [], color=color[d], marker="o", linestyle="", label=_plot_text(d, 30)) for d in domains]
        handles += [
            Line2D([], [], color="#57606a", marker=marker[s], linestyle="", label=_plot_text(s, 30)) for s in strategies
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        return _svg(fig, "flm-cost")
