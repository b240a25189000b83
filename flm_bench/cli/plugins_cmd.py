"""``flm-bench plugins``: what is loaded, what failed; ``plugins new`` writes a plugin package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from flm_bench.cli.common import out, plugins, print_json
from flm_bench.cli.examples import epilog
from flm_bench.cli.options import deprecated, renamed

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Show loaded and failed plugins, or write a new plugin package.",
    epilog=epilog("plugins"),
    rich_markup_mode=None,
)


@app.callback()
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array on stdout.")] = False,
) -> None:
    """List plugins: distribution, version and hooks of loaded ones; the error of failed ones."""
    if ctx.invoked_subcommand is not None:
        return
    infos = plugins().infos
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "hooks": p.hooks,
            "status": "failed" if p.error else "loaded",
            "error": p.error,
        }
        for p in infos
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="plugins")
    for col in ("name", "distribution", "version", "hooks", "status"):
        table.add_column(col)
    for r in rows:
        status = Text(f"failed: {r['error']}", style="red") if r["error"] else "loaded"
        table.add_row(r["name"], r["distribution"], r["version"], ", ".join(r["hooks"]), status)
    out.print(table)


@app.command("new", epilog=epilog("plugins new"))
def new(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Distribution name of the new plugin, e.g. flm-bench-mydata.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="DIR", help="Folder the package folder is created in (default: .)."),
    ] = None,
    old_dir: Annotated[Path | None, deprecated("--dir", "--output")] = None,
) -> None:
    """Write a ready-to-edit plugin package (entry point, one dataset, one model, one test)."""
    from flm_bench.scaffold import write_plugin

    path = write_plugin(name, renamed(output, old_dir, new="--output", old="--dir", default=Path(".")))
    out.print(f"wrote {path}\nnext: pip install -e {path} && flm-bench list datasets")
