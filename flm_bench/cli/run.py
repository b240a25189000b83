"""``flm-bench run``: run a suite (the built-in quickstart by default) and print its board."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flm_bench.cli.common import err, out, plugins, print_json

if TYPE_CHECKING:
    from flm_bench.results.summary import Row, Stat
    from flm_bench.results.records import Record
    from flm_bench.runner import Cell


class _RichProgress:
    """Draws the runner's progress on stderr."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=None)

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        corpus = f" ← {cell.corpus}" if cell.corpus else ""
        self.bar.update(self.task, total=total, completed=index,
                        description=f"{cell.dataset} · {cell.model} · {cell.strategy}{corpus} · seed {cell.seed}")

    def cell_finished(self, cell: Cell, record: Record | None) -> None:
        self.bar.advance(self.task)
        if record is None:
            self.bar.console.print(f"[dim]skipped (already complete): {cell.dataset} {cell.model} {cell.strategy}[/]")

    def message(self, text: str) -> None:
        self.bar.update(self.task, description=text)


def _fmt(stat: Stat, n: int) -> str:
    return f"{stat.mean:.4f}" + (f" ± {stat.std:.4f}" if n > 1 else "")


def board_table(rows: list[Row], metrics: list[str], headline: str) -> Table:
    """The leaderboard as a rich table."""
    synthetic = any(r.synthetic for r in rows)
    table = Table(title="leaderboard" + (" — SYNTHETIC data" if synthetic else ""),
                  caption=f"gain = {headline}(strategy) − {headline}(scratch), same split and seeds; "
                          "p: paired t-test over users, Holm-adjusted")
    for col in ("dataset", "model", "strategy", "corpus", "seeds", *metrics, f"gain {headline}", "p",
                "adapt s", "pretrain s", "trainable"):
        table.add_column(col, justify="left" if col in ("dataset", "model", "strategy", "corpus") else "right",
                         no_wrap=True)
    previous = None
    for r in rows:
        if previous is not None and r.dataset != previous:
            table.add_section()
        previous = r.dataset
        gain = f"{r.gain[headline].mean:+.4f}" if headline in r.gain else ""
        p = f"{r.p_value[headline]:.2g}" if headline in r.p_value else ""
        table.add_row(r.dataset, r.model, r.strategy, r.corpus or "", str(len(r.seeds)),
                      *(_fmt(r.metrics[m], len(r.seeds)) if m in r.metrics else "" for m in metrics),
                      gain, p, f"{r.adapt_seconds:.1f}", f"{r.pretrain_seconds:.1f}",
                      f"{r.trainable_parameters:,}")
    return table


def run_command(
    suite_file: Annotated[Optional[Path], typer.Option("--suite", help="Suite TOML file (default: the built-in quickstart).")] = None,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", help="Target dataset(s); replaces the suite's targets.")] = None,
    corpus: Annotated[Optional[list[str]], typer.Option("--corpus", help="Pretraining corpus (or corpora).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Model(s).")] = None,
    strategy: Annotated[Optional[list[str]], typer.Option("--strategy", help="Strategy (or strategies).")] = None,
    seed: Annotated[Optional[list[int]], typer.Option("--seed", help="Seed(s).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for records and checkpoints.")] = Path("flm-bench-runs"),
    split: Annotated[Optional[str], typer.Option("--split", help="Split protocol (replaces the suite's split).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N or auto (overrides the suite).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Local dataset folder (sets FLM_BENCH_DATA_DIR).")] = None,
    csv: Annotated[Optional[list[str]], typer.Option(
        "--csv", metavar="NAME=PATH",
        help="Add a dataset read from your own CSV file (columns user,item,timestamp); run it with --dataset NAME.",
    )] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", metavar="MODEL.FIELD=VALUE",
        help="Override a model parameter, e.g. sasrec.dim=128 (repeatable; see `flm-bench list models --json`).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the board as JSON on stdout (format flm-bench.board/1).")] = False,
) -> None:
    """Run a suite: pretrain, adapt, evaluate, write one record per cell, print the board.

    Completed cells (records already in --output) are skipped, so an interrupted run resumes.
    """
    from flm_bench.cli.data_cmd import use_locations
    from flm_bench.results.records import load_record
    from flm_bench.results.render.base import build_board
    from flm_bench.results.render.json import board_json
    from flm_bench.runner import Runner, add_csv_datasets, plan
    from flm_bench.suite import builtin_suite, load_suite, single_cell, with_csv, with_params

    use_locations(data_dir)
    suite = load_suite(suite_file) if suite_file else builtin_suite()
    suite = single_cell(suite, targets=dataset, corpora=corpus, models=model, strategies=strategy, seeds=seed,
                        split=split)
    suite = with_params(with_csv(suite, csv or []), param or [])
    loaded = plugins()
    add_csv_datasets(suite, loaded)
    plan(suite, loaded)  # every name and parameter is checked before the progress display starts
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        result = Runner(suite, loaded, output, device=device, progress=_RichProgress(bar)).run()
    err.print(f"{len(result.written)} record(s) written, {len(result.skipped)} already complete, in {output / 'records'}")
    board = build_board([(p, load_record(p)) for p in result.records])
    if as_json:
        print_json(board_json(board))
        return
    rows = board.rows
    smallest = min(suite.evaluation.cutoffs)
    metrics = [f"{m}@{smallest}" for m in suite.evaluation.metrics]
    out.print(board_table(rows, metrics, metrics[0]))
