"""``flm-bench tune``: Optuna studies on validation, written as a suite overlay for ``run``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from flm_bench.cli.common import alert, err, out, plugins
from flm_bench.cli.options import (
    DEFAULT_OUTPUT,
    DataDir,
    Device,
    ExecutorOption,
    Mirror,
    Output,
    RayAddress,
    SuiteFile,
    check_executor,
)

if TYPE_CHECKING:
    from pathlib import Path

    from flm_bench.tuning import Study

OVERLAY = "tuned.toml"
STORAGE = "tuning.db"
Trials = Annotated[
    int,
    typer.Option(
        "--trials", metavar="N", min=1, help="Trials per study, in all (over every worker sharing --storage)."
    ),
]
Storage = Annotated[
    str | None,
    typer.Option(
        "--storage", metavar="URL", help=f"SQLAlchemy URL of the studies (default: sqlite in --output/{STORAGE})."
    ),
]
StudyName = Annotated[
    str | None, typer.Option("--study", metavar="NAME", help="Study name prefix (default: the suite's name).")
]


def tune_command(
    suite_file: SuiteFile = None,
    trials: Trials = 20,
    storage: Storage = None,
    study: StudyName = None,
    output: Output = None,
    device: Device = None,
    data_dir: DataDir = None,
    mirror: Mirror = None,
    executor: ExecutorOption = "local",
    ray_address: RayAddress = None,
) -> None:
    """Tune every cell of a suite on validation; write the best parameters to --output/tuned.toml.

    One Optuna study per dataset × model × strategy × corpus, on the suite's first seed: TPE draws,
    a median pruner stops trials behind on per-epoch validation (the suite's training.valid_metric), and a
    trial's value is its fit's best validation value. The test split is never evaluated. scratch tunes
    the model's search space, learning rate and weight decay; adaptation strategies keep the checkpoint's
    architecture and tune learning rate, weight decay and their own parameters (e.g. adapter.rank). Every
    study gets --trials trials, its first being the suite's own configuration. A trial that raises, yields
    NaN, runs out of memory or is killed is recorded as failed and the study goes on. Several workers
    (processes or machines) share the studies through one --storage; run them with flm-bench run
    --overlay. With --executor ray, the trials are Ray tasks, several of one study at once (each
    reserving the suite's [resources]), still --trials per study in all; on a cluster of several
    machines, --storage must be a database server every node reaches (see docs/cluster.md).
    """
    from flm_bench.cli.data_cmd import use_locations
    from flm_bench.suite import builtin_suite, load_suite
    from flm_bench.tuning import overlay_text, tune
    from flm_bench.tuning_trial import require_optuna

    require_optuna()
    check_executor(executor, ray_address)
    use_locations(data_dir, mirror)
    output = output or DEFAULT_OUTPUT
    suite = load_suite(suite_file) if suite_file else builtin_suite()
    output.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(output / STORAGE).resolve()}"
    from flm_bench.runner import MessagesOnly, Runner

    runner = Runner(suite, plugins(), output, device=device, progress=MessagesOnly(_say))
    prefix = study or suite.name
    if executor == "ray":
        from flm_bench.ray_tuning import tune_on_ray

        studies = tune_on_ray(
            runner, budget=trials, url=url, prefix=prefix, say=_say, device=device, address=ray_address
        )
    else:
        studies = tune(runner, budget=trials, url=url, prefix=prefix, say=_say)
    found = [s.best for s in studies if s.best is not None]
    path = output / OVERLAY
    note = f"written by flm-bench tune for suite {suite.name!r}: {trials} trial(s) per study, in {_public(url)}"
    _write(path, overlay_text(found, f"{note}\nflm-bench run --suite SUITE --overlay {path}"))
    out.print(_table(studies))
    err.print(f"{len(found)} tuned cell(s) in {path}; run them with: flm-bench run --suite SUITE --overlay {path}")
    empty = [s.name for s in studies if s.best is None and s.searched]
    if empty:
        alert.print(f"error: no trial completed in {', '.join(empty)} (see the failed trials above)")
        raise typer.Exit(1)


def _write(path: Path, text: str) -> None:
    """``text`` into ``path`` at once (written beside it, then renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def _say(text: str) -> None:
    err.print(text)


def _public(url: str) -> str:
    """``url`` without its password (the overlay may be shared)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.partition(':')[0]}{at}{host}" if at else url


def _table(studies: list[Study]) -> Table:
    table = Table(title="tuned on validation")
    for col in ("study", "trials", "complete", "pruned", "failed", "best", "trial", "parameters"):
        table.add_column(col, justify="left" if col in ("study", "parameters") else "right")
    for s in studies:
        b = s.best
        params = (
            {**b.model_params, **b.training, **{f"{b.strategy}.{k}": v for k, v in b.strategy_params.items()}}
            if b
            else {}
        )
        table.add_row(
            s.name,
            *(str(n) for n in (s.trials.run, s.trials.complete, s.trials.pruned, s.trials.failed)),
            f"{b.valid_metric} {b.best_value:.4f}" if b else "-",
            str(b.best_trial) if b else "-",
            ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()),
        )
    return table
