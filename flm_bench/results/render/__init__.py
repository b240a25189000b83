"""Render the leaderboard from records: Markdown boards, versioned JSON and a static HTML page.

``render(records_dir, out_dir)`` writes, into ``out_dir``:

- ``<domain>.md``: one board per domain, one table per dataset (and split protocol);
- ``overall.md``: every row, with a per-domain summary of transfer gains;
- ``leaderboard.json``: the same rows, machine-readable (``"format": "flm-bench.board/2"``);
- ``index.html``: a self-contained page (inline CSS, JS and SVG plots; nothing is fetched): the
  answer in a sentence per domain, sortable and filterable tables (headline columns first, the
  other metrics behind a column chooser), transfer gain per domain, gain vs cost per dataset, gain
  by target fraction for a domain with rows at several fractions, the records' provenance and a
  link to every record.

Every file is a pure function of the records (and of the optional ``references.json``): the
same inputs give byte-identical files, so ``check(records_dir, out_dir)`` can tell whether the
published files are up to date. Rows come from :func:`flm_bench.results.summary.summarize`, computed
once over all records, so one Holm–Bonferroni correction covers every gain on every board.

Strings from records or references (names, plugins, citations, protocols, notes) are data,
never markup: they are escaped for Markdown, HTML (also inside SVG text) and for JSON embedded
in a ``<script>`` element, and the page's Content-Security-Policy only runs its own script.

Reference rows (published results from papers) come from ``references.json`` beside the
records folder: a list of ``{dataset, model, metrics, citation, protocol}`` objects
(optionally ``domain``, ``strategy``, ``notes``). They are shown apart, marked "external",
and never enter the measured statistics.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from flm_bench.errors import RecordError
from flm_bench.results.records import RECORDS_DIR, Record, load_records
from flm_bench.results.render.base import (
    HTML_FILE,
    JSON_FILE,
    MARKER,
    OVERALL,
    REFERENCES_FILE,
    Board,
    build_board,
    read_references,
)
from flm_bench.results.render.export import export
from flm_bench.results.render.fractions import fraction_plot
from flm_bench.results.render.html import Plots, page_html
from flm_bench.results.render.json import board_json, dumps_json, script_json
from flm_bench.results.render.markdown import domain_markdown, overall_markdown
from flm_bench.results.render.origin import origin
from flm_bench.results.render.plots import cost_plots, gain_plot

__all__ = ["check", "default_references", "export_board", "read_records", "render", "render_files"]


def read_records(records_dir: Path) -> list[tuple[Path, Record]]:
    """Every complete record in ``records_dir`` (a folder of record folders; it may be empty)."""
    if not Path(records_dir).is_dir():
        raise RecordError(f"no records folder at {str(records_dir)!r} (publish records there, or pass --from)")
    return load_records(records_dir, allow_empty=True)


def _page(board: Board, data: dict, records: list[tuple[Path, Record]], records_dir: Path) -> str:
    """``index.html``: the page around the board, its plots and its data (the same as ``leaderboard.json``).

    Each row links its record files as ``records/<path in the records folder>``: where ``flm-bench publish``
    puts them beside the page. The link never depends on where the files are rendered, so the page stays a
    pure function of the records (and ``--check`` passes on a copy of the boards)."""
    gains, fractions = {}, {}
    if board.headline:
        gains = {d: svg for d in board.domains if (svg := gain_plot(board, d)) is not None}
        fractions = {d: svg for d in board.domains if (svg := fraction_plot(board, d)) is not None}
    files = {rec.record_id: quote(f"{RECORDS_DIR}/{path.relative_to(records_dir).as_posix()}") for path, rec in records}
    plots = Plots(gains, cost_plots(board), fractions)
    return page_html(board, script_json(data), plots, origin(records), files)


def default_references(records_dir: Path) -> Path:
    """Where the references file is looked for: ``references.json`` beside the records folder."""
    return Path(records_dir).parent / REFERENCES_FILE


def export_board(records_dir: Path, fmt: str) -> str:
    """The board's measured rows in ``fmt`` (csv, latex or json: see :mod:`.export`)."""
    return export(build_board(read_records(records_dir)), fmt)


def render_files(records_dir: Path, references: Path | None = None) -> dict[str, bytes]:
    """File name (relative to the output folder) -> exact bytes, for the records in ``records_dir``."""
    records = read_records(records_dir)
    refs = read_references(default_references(records_dir) if references is None else references)
    board = build_board(records, refs)
    data = board_json(board)
    files = {f"{board.slugs[d]}.md": domain_markdown(board, d) for d in board.domains}
    files[OVERALL] = overall_markdown(board)
    files[JSON_FILE] = dumps_json(data)
    files[HTML_FILE] = _page(board, data, records, Path(records_dir))
    return {name: text.encode("utf-8") for name, text in sorted(files.items())}


def _obsolete(out_dir: Path, produced: dict[str, bytes]) -> list[Path]:
    """Boards an earlier render wrote (they carry the marker) that the records no longer produce."""
    found = []
    for path in sorted(Path(out_dir).glob("*.md")):
        if path.name in produced:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                first = f.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if MARKER in first:
            found.append(path)
    return found


def render(records_dir: Path, out_dir: Path, *, references: Path | None = None) -> list[Path]:
    """Render every board into ``out_dir``; return the paths of the rendered files.

    Files whose bytes are already right are left untouched; boards of an earlier render that the
    records no longer produce (a domain that disappeared) are removed.
    """
    files = render_files(records_dir, references)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in _obsolete(out_dir, files):
        stale.unlink()
    paths = []
    for name, content in files.items():
        path = out_dir / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        paths.append(path)
    return paths


def check(records_dir: Path, out_dir: Path, *, references: Path | None = None) -> list[str]:
    """Problems with the rendered files in ``out_dir``, one ``"<path>: <reason>"`` each; empty when up to date.

    Reasons: ``missing``, ``stale`` (differs from what the records produce) and ``obsolete``
    (a generated board the records no longer produce).
    """
    files = render_files(records_dir, references)
    out_dir = Path(out_dir)
    problems = []
    for name, content in files.items():
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != content:
            problems.append(f"{path}: stale")
    problems += [f"{path}: obsolete" for path in _obsolete(out_dir, files)]
    return problems
