"""``index.html``: a self-contained page (inline CSS, JS and SVG; nothing is fetched).

The page is rendered from the Jinja2 templates in ``flm_bench/templates/board/`` with
autoescaping, so every string from a record is escaped as HTML text or attribute. Only values
that are already safe are marked so, here and nowhere else: the package's own CSS and script, the
board as JSON made safe for a ``<script>`` element, and the plots' SVG (checked to hold drawing
elements only). The page's Content-Security-Policy only runs its own script, by its hash.

The plots and the embedded JSON come ready-made from the package entry, so this module never
renders another format itself.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from flm_bench.data.transfer import COLD_START_ITEMS
from flm_bench.results.records import CONTROL
from flm_bench.results.render import base
from flm_bench.results.render.ablation import ablation_note, ablation_value, fmt_ablation, has_ablations
from flm_bench.results.render.base import Board, metric_key
from flm_bench.results.render.cold import (
    cold_note,
    cold_summary_note,
    fmt_cold,
    fmt_cold_gain,
    fmt_cold_summary,
    has_cold_gains,
    has_cold_slices,
)
from flm_bench.results.render.domains import domain_summaries
from flm_bench.results.render.origin import Origin, fmt_counted
from flm_bench.results.render.plots import hover
from flm_bench.results.render.story import board_sentence, domain_sentences
from flm_bench.results.render.strings import citation_parts
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import FORMAT, json_number, json_p
from flm_bench.text import printable_lines

#: template filter -> the shared formatter it is (``base.fmt_<name>``)
_FILTERS = (
    *("num", "stat", "gain", "p", "seed_gains", "seconds", "params", "signed", "model", "ci", "delta"),
    *("relative", "holm", "agreeing", "cost", "cost_detail", "levels"),
)
#: names the templates read
_GLOBALS = {
    "ALPHA": ALPHA,
    "CONTROL": CONTROL,
    "COLD": COLD_START_ITEMS,
    "cold_note": cold_note,
    "cold_summary_note": cold_summary_note,
    "ablation_note": ablation_note,
    "ablation_value": ablation_value,
    "FORMAT": FORMAT,
    **{
        n: getattr(base, n)
        for n in ("JSON_FILE", "MARKER", "REFERENCES_FILE", "SIG_MARK", "SAT_MARK", "gain_note", "levels_note")
    },
}


def _printable(value: Any) -> Any:
    """Every value a template writes: strings from records are made printable (safe markup is ours)."""
    return printable_lines(value) if isinstance(value, str) and not isinstance(value, Markup) else value


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flm_bench", "templates/board"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_printable,
    )
    env.filters.update({name: getattr(base, f"fmt_{name}") for name in _FILTERS})
    env.filters.update(json_number=json_number, json_p=json_p, counted=fmt_counted, citation=citation_parts)
    env.filters.update(cold=fmt_cold, cold_gain=fmt_cold_gain, cold_summary=fmt_cold_summary, ablation=fmt_ablation)
    env.globals.update(_GLOBALS)
    return env


def _static(name: str) -> str:
    """One of the page's own files (CSS, script), as text."""
    return resources.files("flm_bench").joinpath("templates", "board", name).read_text(encoding="utf-8")


def _reference_metrics(board: Board) -> list[str]:
    """The published metrics the page shows: the headline one when a reference has it (the protocol and
    citation stay in view), else all; every one is on the domain boards and in the JSON."""
    metrics = sorted({m for ref in board.references for m in ref.metrics}, key=metric_key)
    return [board.headline] if board.headline in metrics else metrics


def optional_columns(board: Board) -> list[tuple[str, str]]:
    """The results table's columns behind the chooser, hidden at first: (column id, label)."""
    metrics = [(f"m:{m}", m) for m in board.metrics if m != board.headline]
    levels = [("random", "random level"), ("popularity", "popularity level")] if has_levels(board) else []
    costs = [("pretrain", "pretrain s"), ("adapt", "adapt s"), ("params", "trainable params")]
    cold = (
        [("cold", f"cold-start {board.headline}"), ("cold_gain", "cold-start gain")]
        if has_cold_gains(board.rows)
        else []
    )
    return [("split", "split"), ("suite", "suite"), ("seeds", "seeds"), *metrics, *levels, *costs, *cold]


def has_levels(board: Board) -> bool:
    """Whether the results table has level columns: some row's records carry reference levels."""
    return bool(board.headline) and any(r.levels for r in board.rows)


@dataclass(frozen=True)
class Plots:
    """The page's plots (inline SVG): ``gains``, the gain plot of each domain that has one; ``costs``,
    the gain vs cost plot of each (domain, dataset · split); ``fractions``, the gain by target fraction
    of each domain with gains at several fractions."""

    gains: dict[str, str]
    costs: dict[tuple[str, str], str]
    fractions: dict[str, str]


def page_html(board: Board, data: str, plots: Plots, origin: Origin, records: dict[str, str]) -> str:
    """The page. ``data``: the board as script-safe JSON (``script_json``); ``plots``: its SVG plots;
    ``origin``: the records' provenance; ``records``: record id -> link to its file."""
    script = _static("board.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        _environment()
        .get_template("page.html")
        .render(
            board=board,
            summaries=[s for d in board.domains for s in domain_summaries(board, d)],
            reference_metrics=_reference_metrics(board),
            marker=base.MARKER.replace("--", "- -"),  # inside an HTML comment
            script_hash=f"sha256-{digest}",
            # Already safe, so not escaped: our own CSS and script, JSON escaped for a <script> element,
            # and SVG that _assert_inert (plots.py) checked.
            css=Markup(_static("board.css")),
            script=Markup(script),
            data=Markup(data),
            gains={domain: Markup(svg) for domain, svg in plots.gains.items()},
            costs={key: Markup(svg) for key, svg in plots.costs.items()},
            fractions={domain: Markup(svg) for domain, svg in plots.fractions.items()},
            origin=origin,
            records=records,
            sentences=[s for d in board.domains for s in domain_sentences(board, d)] if board.headline else [],
            overall=board_sentence(board) if board.headline and board.rows else None,
            hover=hover,
            optional=optional_columns(board),
            with_levels=has_levels(board),
            with_cold=bool(board.headline) and has_cold_gains(board.rows),
            with_ablation=bool(board.headline) and has_ablations(board.rows),
            with_cold_summary=has_cold_slices(board.rows),
        )
    )
