"""Command-line options declared once: those shared by several commands, and the longer ones of ``run``.

Every option that takes a value names it with an upper-case metavar (``DIR``, ``NAME``); flags show none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from typer.models import OptionInfo

from flm_bench.cli.common import alert
from flm_bench.data.splits import PROTOCOLS
from flm_bench.errors import ConfigError

T = TypeVar("T")

SuiteFile = Annotated[
    Path | None,
    typer.Option("--suite", metavar="FILE", help="Suite TOML file (default: the built-in quickstart)."),
]
DEFAULT_OUTPUT = Path("flm-bench-runs")
ADHOC_OUTPUT = Path("flm-bench-adhoc")
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        help=f"Folder for records and checkpoints (default: {DEFAULT_OUTPUT}; for cells chosen on the "
        f"command line without --suite, suite 'adhoc': {ADHOC_OUTPUT}).",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Local folder laid out like the mirror, e.g. ../shared/datasets (sets FLM_BENCH_DATA_DIR).",
    ),
]
Mirror = Annotated[str | None, typer.Option("--mirror", metavar="URL", help="Mirror base URL (sets FLM_BENCH_MIRROR).")]


def _protocol(value: str | None) -> str | None:
    if value is not None and value not in PROTOCOLS:
        raise typer.BadParameter(f"{value!r} is not a split protocol; choose one of {', '.join(PROTOCOLS)}")
    return value


Split = Annotated[
    str | None,
    typer.Option(
        "--split",
        metavar="PROTOCOL",
        callback=_protocol,
        help=f"Split protocol, replacing the suite's: {', '.join(PROTOCOLS)}.",
    ),
]
Device = Annotated[
    str | None, typer.Option("--device", metavar="DEVICE", help="cpu, cuda, cuda:N or auto (overrides the suite).")
]
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
        metavar="NAME.FIELD=VALUE",
        help="Override a model or strategy parameter, e.g. sasrec.dim=128 or adapter.rank=16 (repeatable; see "
        "`flm-bench list models --json` and `flm-bench list strategies --json`).",
    ),
]

Executor = Literal["local", "ray"]
ExecutorOption = Annotated[
    Executor,
    typer.Option(
        "--executor",
        metavar="EXECUTOR",
        help="local: one after another in this process; ray: as Ray tasks, several at once (the ray extra).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="With --executor ray: a running cluster (auto, HOST:PORT, ray://HOST:PORT); "
        "default: start a local Ray instance sized to this machine.",
    ),
]


def check_executor(executor: Executor, ray_address: str | None) -> None:
    """:raises ConfigError: ``--ray-address`` without ``--executor ray``, or Ray not installed for it."""
    if ray_address is not None and executor != "ray":
        raise ConfigError("--ray-address needs --executor ray")
    if executor == "ray":
        from flm_bench.ray_executor import import_ray

        import_ray()  # the missing extra is one line, before any work


def deprecated(old: str, new: str) -> OptionInfo:
    """The hidden option ``old``, the former spelling of ``new`` (resolve it with :func:`renamed`)."""
    return typer.Option(old, hidden=True, help=f"Deprecated: use {new}.")


def renamed(value: T | None, old_value: T | None, *, new: str, old: str, default: T) -> T:
    """The value of option ``new``, else of its deprecated spelling ``old`` (saying so on stderr), else ``default``.

    :raises ConfigError: both spellings were given.
    """
    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise ConfigError(f"{old} is the deprecated name of {new}: pass {new} only")
    alert.print(f"warning: {old} is deprecated, use {new}")
    return old_value
