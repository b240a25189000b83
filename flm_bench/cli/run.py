"""``flm-bench run``: run a suite (the built-in quickstart by default) and print its board."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from flm_bench.cli.board import board_table
from flm_bench.cli.common import err, out, plugins, print_json
from flm_bench.cli.options import (
    ADHOC_OUTPUT,
    DEFAULT_OUTPUT,
    Csv,
    DataDir,
    Device,
    Executor,
    ExecutorOption,
    Mirror,
    Output,
    Param,
    RayAddress,
    Split,
    SuiteFile,
    check_executor,
)

if TYPE_CHECKING:
    from flm_bench.plan import Cell
    from flm_bench.plugins import Plugins
    from flm_bench.results.records import Record
    from flm_bench.runner import Progress as RunProgress
    from flm_bench.runner import RunResult
    from flm_bench.suite import Suite

    Execute = Callable[[Suite, Plugins, Path, RunProgress], RunResult]


def cell_name(cell: Cell) -> str:
    from flm_bench.results.records import fraction_text

    corpus = f" ← {cell.corpus}" if cell.corpus else ""
    share = f" · {fraction_text(cell.fraction)} of training users" if cell.fraction != 1.0 else ""
    return f"{cell.dataset} · {cell.model} · {cell.strategy}{corpus}{share} · seed {cell.seed}"


class _RichProgress:
    """Draws the runner's progress on a terminal: the cell, its latest message, cells done, time left."""

    COLUMNS = (
        TextColumn("{task.description}"),
        TextColumn("{task.fields[status]}", style="dim", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=None, status="")
        self.cell_start = time.monotonic()

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        self.cell_start = time.monotonic()
        self.bar.update(self.task, total=total, completed=index, description=cell_name(cell), status="")

    def cell_finished(self, cell: Cell, record: Record | None) -> None:
        self.bar.advance(self.task)
        if record is None:
            self.bar.console.print(f"skipped (already complete): {cell_name(cell)}", style="dim")

    def message(self, text: str) -> None:
        self.bar.update(self.task, status=text + _cell_eta(text, self.cell_start))


class _LineProgress:
    """The runner's progress as plain timestamped lines on stderr, for logs and CI (no terminal to
    redraw): each cell with the suite's ETA, its epochs with the cell's (at most: patience may stop
    it sooner), and what it scored."""

    def __init__(self) -> None:
        self.start = self.cell_start = time.monotonic()
        self.index = self.total = 0

    def _say(self, text: str) -> None:
        err.print(f"{time.strftime('%H:%M:%S')} {text}", markup=False)

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        self.index, self.total, self.cell_start = index, total, time.monotonic()
        eta = f" (eta {_duration((self.cell_start - self.start) / index * (total - index))})" if index else ""
        self._say(f"[{index + 1}/{total}] {cell_name(cell)}{eta}")

    def cell_finished(self, cell: Cell, record: Record | None) -> None:
        if record is None:
            what = "skipped (already complete)"
        else:
            what = " ".join(f"{k}={v:.4f}" for k, v in list(record.metrics.items())[:3])
        self._say(f"[{self.index + 1}/{self.total}] done: {what}")

    def message(self, text: str) -> None:
        where = f"[{self.index + 1}/{self.total}]   " if self.total else ""  # before the first cell: loading
        self._say(where + text + _cell_eta(text, self.cell_start))


_EPOCH = re.compile(r"^epoch (\d+)/(\d+)\b")  # the training loop's per-epoch message


def _cell_eta(message: str, cell_start: float) -> str:
    """For an epoch message, `` (cell eta at most H:MM:SS)`` (patience may end the cell sooner); else ''."""
    epoch = _EPOCH.match(message)
    if not epoch:
        return ""
    done, cap = int(epoch[1]), int(epoch[2])
    return f" (cell eta at most {_duration((time.monotonic() - cell_start) / done * (cap - done))})"


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def run_command(
    suite_file: SuiteFile = None,
    dataset: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Target dataset(s); replaces the suite's targets.")
    ] = None,
    corpus: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Pretraining corpus (or corpora).")] = None,
    model: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Model(s).")] = None,
    strategy: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Strategy (or strategies).")] = None,
    seed: Annotated[list[int] | None, typer.Option(metavar="INT", help="Seed(s).")] = None,
    output: Output = None,
    split: Split = None,
    device: Device = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    csv: Csv = None,
    param: Param = None,
    overlay: Annotated[
        Path | None,
        typer.Option(
            "--overlay", metavar="FILE", help="Overlay of tuned parameters, as `flm-bench tune` writes it (tuned.toml)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the board as JSON on stdout (format flm-bench.board/2).")
    ] = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddress = None,
) -> None:
    """Run a suite: pretrain, adapt, evaluate, write one record per cell, print the board.

    Completed cells (records already in --output) are skipped, so an interrupted run resumes.
    Cells chosen on the command line without --suite are the suite 'adhoc', not the quickstart.
    With --executor ray, a cell that fails is reported and the others go on (exit code 1).
    """
    from flm_bench.cli.data_cmd import use_locations
    from flm_bench.suite import ADHOC, builtin_suite, load_suite, single_cell, with_csv, with_overlay, with_params

    check_executor(executor, ray_address)
    use_locations(data_dir, mirror)
    cells = {"targets": dataset, "corpora": corpus, "models": model, "strategies": strategy, "seeds": seed}
    adhoc = suite_file is None and any([*cells.values(), split, csv, param])
    suite = with_overlay(load_suite(suite_file) if suite_file else builtin_suite(), overlay)
    suite = single_cell(suite, name=ADHOC if adhoc else None, split=split, **cells)
    output = output or (ADHOC_OUTPUT if adhoc else DEFAULT_OUTPUT)
    run_suite = with_params(with_csv(suite, csv or []), param or [])
    _run(run_suite, output, as_json, _executor(executor, device, ray_address))


def _executor(name: Executor, device: str | None, address: str | None) -> Execute:
    """Runs a suite into an output folder with a progress display: one executor or the other."""
    if name == "ray":
        from flm_bench.ray_executor import run_on_ray

        def on_ray(suite: Suite, loaded: Plugins, output: Path, progress: RunProgress) -> RunResult:
            return run_on_ray(suite, loaded, output, device=device, progress=progress, address=address).result

        return on_ray

    def local(suite: Suite, loaded: Plugins, output: Path, progress: RunProgress) -> RunResult:
        from flm_bench.runner import Runner

        return Runner(suite, loaded, output, device=device, progress=progress).run()

    return local


def _run(suite: Suite, output: Path, as_json: bool, execute: Execute) -> None:
    """Run ``suite`` with a progress display on stderr; print its board on stdout; exit 1 after
    one line per failed cell, if any."""
    from flm_bench.plan import add_csv_datasets, plan

    loaded = plugins()
    add_csv_datasets(suite, loaded)
    plan(suite, loaded)  # every name and parameter is checked before the progress display starts
    if err.is_terminal:
        with Progress(*_RichProgress.COLUMNS, console=err, transient=True) as bar:
            result = execute(suite, loaded, output, _RichProgress(bar))
    else:
        result = execute(suite, loaded, output, _LineProgress())
    err.print(
        f"{len(result.written)} record(s) written, {len(result.skipped)} already complete, in {output / 'records'}"
    )
    _print_board(suite, result, as_json)
    for cell, reason in result.failed:
        err.print(f"error: cell {cell_name(cell)} failed: {reason}", markup=False)
    if result.failed:
        raise typer.Exit(1)


def _print_board(suite: Suite, result: RunResult, as_json: bool) -> None:
    """The board of the run's records: a table, or JSON with ``as_json``."""
    from flm_bench.results.records import load_record
    from flm_bench.results.render.base import build_board
    from flm_bench.results.render.json import board_json

    board = build_board([(p, load_record(p)) for p in result.records])
    if as_json:
        print_json(board_json(board))
        return
    smallest = min(suite.evaluation.cutoffs)
    if board.rows and all(3 in r.scaled_cutoffs for r in board.rows):  # small catalogues only: @3 leads
        smallest = min(smallest, 3)
    metrics = [f"{m}@{smallest}" for m in suite.evaluation.metrics]
    out.print(board_table(board.rows, metrics, metrics[0], width=out.width))
