"""``flm-bench pretrain``: only the pretraining phase of a suite, in one process or data-parallel
under ``torchrun``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from flm_bench.cli.common import err, out, plugins, print_json
from flm_bench.cli.options import DEFAULT_OUTPUT, DataDir, Mirror, Param, SuiteFile

if TYPE_CHECKING:
    from flm_bench.suite import Suite
    from flm_bench.train.distributed import Launch
    from flm_bench.train.pretraining import Checkpoint


def _table(done: list[tuple[Checkpoint, bool]]) -> Table:
    table = Table(title="checkpoints", caption=f"in {Path(done[0][0].path).parent}")
    for col in ("model", "corpus", "seed", "epochs", "best valid", "seconds", "processes", "reused", "key"):
        table.add_column(col, justify="left" if col in ("model", "corpus", "key") else "right", no_wrap=True)
    for ckpt, reused in done:
        table.add_row(
            ckpt.model,
            ckpt.corpus,
            str(ckpt.seed),
            str(ckpt.epochs),
            f"{ckpt.best_valid:.4f}",
            f"{ckpt.seconds:.1f}",
            str(ckpt.world_size),
            "yes" if reused else "no",
            ckpt.key,
        )
    return table


def pretrain_command(
    suite_file: SuiteFile = None,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="DIR", help="Folder whose checkpoints/ they go to (as for run)."),
    ] = DEFAULT_OUTPUT,
    device: Annotated[
        str | None,
        typer.Option(
            metavar="DEVICE",
            help="cpu, cuda, cuda:N or auto (overrides the suite); under torchrun, "
            "any cuda device means cuda:LOCAL_RANK.",
        ),
    ] = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    param: Param = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checkpoints as JSON on stdout.")] = False,
) -> None:
    """Pretrain the checkpoints a suite needs (model × corpus minus target × seed), nothing else.

    They go to --output/checkpoints under the keys run uses: a following run on the same output reuses them.

    Data-parallel: torchrun --standalone --nproc-per-node N $(which flm-bench) pretrain --suite FILE

    Under torchrun every process trains on its share of each batch (gloo on CPU; NCCL with --device cuda,
    one GPU per process) and the weights match one process's up to float rounding; only rank 0 writes and prints.
    """
    from flm_bench.cli.data_cmd import use_locations
    from flm_bench.suite import builtin_suite, load_suite, with_params
    from flm_bench.train import distributed

    use_locations(data_dir, mirror)
    suite = with_params(load_suite(suite_file) if suite_file else builtin_suite(), param or [])
    launch = distributed.Launch.from_env()
    done = _pretrain(suite, output, device, launch)
    if launch is not None and launch.rank != 0:
        return
    if not done:
        err.print(f"suite {suite.name!r} needs no pretraining (no strategy that pretrains, or no corpus)")
    else:
        err.print(
            f"{sum(not r for _, r in done)} checkpoint(s) trained on {launch.world_size if launch else 1} "
            f"process(es), {sum(r for _, r in done)} reused, in {output / 'checkpoints'}"
        )
    if as_json:
        print_json([{**asdict(ckpt), "reused": reused} for ckpt, reused in done])
    elif done:
        out.print(_table(done))


def _line(text: str) -> None:
    """A runner message as one line on stderr (readable in torchrun's interleaved logs)."""
    err.print(text)


def _pretrain(suite: Suite, output: Path, device: str | None, launch: Launch | None) -> list[tuple[Checkpoint, bool]]:
    """Every checkpoint ``suite`` needs, trained (on every process of ``launch``) or reused."""
    from flm_bench.plugins import default_plugins
    from flm_bench.runner import MessagesOnly, Runner
    from flm_bench.train import distributed
    from flm_bench.train.loop import resolve_device

    lead = launch is None or launch.rank == 0
    name = resolve_device(device or suite.training.device)
    if launch is not None:
        name = distributed.init(launch, name)
    try:
        loaded = plugins() if lead else default_plugins()
        runner = Runner(suite, loaded, output, device=name, progress=MessagesOnly(_line) if lead else None)
        cells = runner.pretraining_cells()
        if launch is not None:  # rank 0 fetches and caches the data first: no two ranks write one file
            if not lead:
                distributed.barrier()
            for cell in cells:
                for member in runner.pretraining_corpus(cell.corpus or "", cell.dataset).members:
                    runner.data(member)
            if lead:
                distributed.barrier()
        return [runner.checkpoint(cell) for cell in cells]
    finally:
        if launch is not None:
            distributed.shutdown()
