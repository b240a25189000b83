"""``flm-bench leaderboard render``: Markdown boards, JSON and a static HTML page from records."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from flm_bench.cli.common import alert, err
from flm_bench.cli.examples import epilog
from flm_bench.cli.options import deprecated, renamed

app = typer.Typer(
    no_args_is_help=True,
    help="Render the leaderboard boards from published records.",
    epilog=epilog("leaderboard"),
    rich_markup_mode=None,
)


@app.command("render", epilog=epilog("leaderboard render"))
def render_command(
    records: Annotated[
        Path, typer.Option("--from", metavar="DIR", help="Records folder (one <record_id>/record.json per record).")
    ] = Path("leaderboards/records"),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="DIR", help="Folder the boards are written to (default: leaderboards)."),
    ] = None,
    references: Annotated[
        Path | None,
        typer.Option(
            "--references",
            metavar="FILE",
            help="Published (external) results, JSON (default: references.json beside the records folder).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 and list the files that are missing or differ from what the records produce.",
        ),
    ] = False,
    old_to: Annotated[Path | None, deprecated("--to", "--output")] = None,
) -> None:
    """Render <domain>.md, overall.md, leaderboard.json and index.html from the records.

    The output is a pure function of the records (and references): rendering twice gives the
    same bytes, so --check can tell whether the published boards are up to date. A publish into
    the records' board that was interrupted is finished or undone first, and none runs meanwhile.
    """
    target = renamed(output, old_to, new="--output", old="--to", default=Path("leaderboards"))
    with _settled(records):
        _render(records, target, references, check=check)


def _settled(records: Path) -> Any:
    """A publish into the records' board that was interrupted is finished or undone first, and none runs meanwhile."""
    from flm_bench.results.publish import settled
    from flm_bench.results.records import RECORDS_DIR

    return settled(records.parent if records.name == RECORDS_DIR else records)


def _render(records: Path, target: Path, references: Path | None, *, check: bool) -> None:
    from flm_bench.results import render

    if check:
        problems = render.check(records, target, references=references)
        for line in problems:
            print(line)  # plain lines on stdout (never wrapped): a script may read them
        if problems:
            alert.print(
                f"{len(problems)} file(s) out of date; run `flm-bench leaderboard render` "
                f"--from {records} --output {target}",
            )
            raise typer.Exit(1)
        err.print(f"{target}: up to date with {records}", markup=False)
        return
    paths = render.render(records, target, references=references)
    for path in paths:
        print(path)
    err.print(f"{len(paths)} file(s) rendered in {target}", markup=False)


class Format(StrEnum):
    csv = "csv"
    latex = "latex"
    json = "json"


@app.command("export", epilog=epilog("leaderboard export"))
def export_command(
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="csv (every number), latex (headline table) or json (the board).",
        ),
    ],
    records: Annotated[
        Path,
        typer.Option("--from", metavar="DIR", help="Records folder (one <record_id>/record.json per record)."),
    ] = Path("leaderboards/records"),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="File to write (default: standard output)."),
    ] = None,
) -> None:
    """Export the board's rows for a paper: the same rows, gains and p-values as the rendered boards."""
    from flm_bench.results import render

    with _settled(records):
        text = render.export_board(records, fmt.value)
    if output is None:
        print(text, end="")
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"{len(text.splitlines())} lines of {fmt.value} written to {output}", markup=False)
