"""``flm-bench publish``: validate records and merge them into a leaderboard folder or git repository."""

from __future__ import annotations

from typing import Annotated

import typer

from flm_bench.cli.board import board_table, headline_metrics
from flm_bench.cli.common import err, plugins, print_json
from flm_bench.cli.options import DataDir, Mirror, deprecated, renamed

Paths = Annotated[
    list[str],
    typer.Argument(
        metavar="RECORD_OR_DIR", help="Record files, record folders or folders of records (e.g. a run's output)."
    ),
]
DEFAULT_TARGET = "leaderboards"
Target = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR|REMOTE",
        help=f"Leaderboard folder (default: {DEFAULT_TARGET}; committed when inside a git work tree), or a git "
        "remote (URL, user@host:path or bare repository) to clone, commit to and push.",
    ),
]
Commit = Annotated[
    bool | None,
    typer.Option(
        "--commit/--no-commit",
        help="Commit to git (default: when --output is inside a git work tree).",
        show_default=False,
    ),
]
Subdir = Annotated[
    str,
    typer.Option("--subdir", metavar="DIR", help="For a git remote: the leaderboard folder inside the repository."),
]
Message = Annotated[
    str | None,
    typer.Option("--message", "-m", metavar="TEXT", help="Commit message (default: one naming every record)."),
]


def publish_command(
    paths: Paths,
    output: Target = None,
    replace: Annotated[bool, typer.Option(help="Replace already published records of the same cells.")] = False,
    commit: Commit = None,
    subdir: Subdir = "leaderboards",
    message: Message = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was published as JSON on stdout.")] = False,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    old_to: Annotated[str | None, deprecated("--to", "--output")] = None,
) -> None:
    """Validate records and publish them into the leaderboard, all or none.

    Each record must match the record schema and carry full provenance.

    ranx must recompute its metrics from its run and qrels, and its per-user scores must agree.

    The installed plugins must reproduce its dataset and split fingerprints and its random and popularity levels.

    A cell already published is rejected unless --replace. If one record is rejected, nothing is published.
    """
    from flm_bench.cli.data_cmd import use_locations
    from flm_bench.results.publish import publish
    from flm_bench.results.records import load_records
    from flm_bench.results.summary import summarize

    use_locations(data_dir, mirror)
    to = renamed(output, old_to, new="--output", old="--to", default=DEFAULT_TARGET)
    report = publish(paths, to, replace=replace, plugins=plugins(), commit=commit, subdir=subdir, message=message)
    rows = summarize([r for p in paths for r in load_records(p)]) if report.published else []
    if as_json:
        print_json(
            {
                "target": report.target,
                "published": [str(p) for p in report.published],
                "replaced": report.replaced,
                "commit": report.commit,
                "rows": [r.to_json() for r in rows],
            }
        )
        return
    for path in report.published:
        print(path)
    if rows:
        metrics = headline_metrics(rows)
        err.print(board_table(rows, metrics, metrics[0], width=err.width))
    replaced = f", replacing {len(report.replaced)}" if report.replaced else ""
    commit_text = f"; commit {report.commit[:12]}" if report.commit else ""
    err.print(f"published {len(report.published)} record(s) into {report.target}{replaced}{commit_text}")
