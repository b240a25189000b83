"""Command-line options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SuiteFile = Annotated[Path | None, typer.Option("--suite", help="Suite TOML file (default: the built-in quickstart).")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Folder for records and checkpoints.")]
DEFAULT_OUTPUT = Path("flm-bench-runs")
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Local folder laid out like the mirror (sets FLM_BENCH_DATA_DIR).")
]
Mirror = Annotated[str | None, typer.Option("--mirror", help="Mirror base URL (sets FLM_BENCH_MIRROR).")]
Csv = Annotated[
    list[str] | None,
    typer.Option(
        "--csv",
        metavar="NAME=PATH",
        help="Add a dataset read from your own CSV file (columns user,item,timestamp); run it with --dataset NAME.",
    ),
]
Param = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="MODEL.FIELD=VALUE",
        help="Override a model parameter, e.g. sasrec.dim=128 (repeatable; see `flm-bench list models --json`).",
    ),
]
