"""Runs a suite's cells as Ray tasks (``flm-bench run --executor ray``; the ``ray`` extra).

Each distinct pretraining checkpoint is one task; each cell is one task that takes its
checkpoint task's result as an argument, so Ray starts it only once the checkpoint exists.
Each task reserves the cell's ``[resources]`` of the suite.

**Workers write the records**, through the local executor's own code (:meth:`Runner.run_cell`:
the record's lock held, the folder written under a temporary name and renamed into place), and
return only the record to the driver, which reports it. So a record is written exactly as a
local run writes it, a retried task finds a record its killed predecessor completed, and a local
run or a second driver can share the folder. The cost: the output folder (records, locks and
checkpoints) must be one filesystem that every node sees under the same path (NFS or any
cluster filesystem with working ``flock``); object storage is not supported.

The driver computes every record id first (as the local executor does), skips complete cells
without a task, and never imports Ray unless this executor is chosen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flm_bench.data.sources import DataLocation
from flm_bench.errors import ConfigError
from flm_bench.plan import Cell
from flm_bench.plugins import Plugins
from flm_bench.results.claims import clean_partial
from flm_bench.results.records import is_complete, record_path
from flm_bench.runner import CellDone, MessagesOnly, Progress, Runner, RunResult
from flm_bench.suite import Suite

if TYPE_CHECKING:
    from flm_bench.train.pretraining import Checkpoint

log = logging.getLogger(__name__)

MISSING_EXTRA = "--executor ray needs Ray, which is not installed: pip install 'flm-bench[ray]'"
#: How often a task whose worker process died is started again (a task that raises is not retried).
MAX_RETRIES = 3
#: Environment variables the driver passes on to its workers (data location, cache, plugin selection).
FORWARDED_PREFIX = "FLM_BENCH_"


def import_ray() -> Any:
    """The ``ray`` module; a :class:`ConfigError` naming the extra when it is not installed."""
    try:
        import ray
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    return ray


@dataclass(frozen=True)
class Job:
    """What a worker needs to rebuild the driver's runner (its plugins it loads itself)."""

    suite: Suite
    output: Path
    device: str | None
    location: DataLocation

    def key(self) -> str:
        return f"{self.suite.model_dump_json()}|{self.output}|{self.device}|{self.location}"


@dataclass(frozen=True)
class Pretrained:
    """A pretraining task's result: the checkpoint, whether it was found rather than trained, and
    the Ray node id it ran on."""

    checkpoint: Checkpoint
    reused: bool
    node: str


@dataclass(frozen=True)
class Placed:
    """A cell settled by a worker, and where: the Ray node id and the worker's process id (and the
    node of the pretraining task it adapted from, if any)."""

    done: CellDone
    node: str
    pid: int
    pretrained_on: str | None = None


@dataclass
class RayRun:
    """A Ray run: what it did (as the local executor reports it) and which node settled each record id."""

    result: RunResult
    nodes: dict[str, str] = field(default_factory=dict)
    pretrained_on: dict[str, str] = field(default_factory=dict)  # record id -> node of its checkpoint's task


# ---------------------------------------------------------------- worker side

_RUNNERS: dict[str, Runner] = {}  # one per job and worker process: data and splits are loaded once


def worker_runner(job: Job, cpus: float) -> Runner:
    import torch

    torch.set_num_threads(max(1, int(cpus)))  # the cell's reserved cores, not the node's
    if job.key() not in _RUNNERS:
        from flm_bench.plugins import load_plugins

        _RUNNERS[job.key()] = Runner(job.suite, load_plugins(), job.output, device=job.device, location=job.location)
    return _RUNNERS[job.key()]


def pretrain_task(job: Job, cell: Cell, cpus: float) -> Pretrained:
    """Ray task: the checkpoint ``cell`` adapts from, trained now or found in the output folder."""
    import ray

    checkpoint, reused = worker_runner(job, cpus).checkpoint(cell)
    return Pretrained(checkpoint, reused, ray.get_runtime_context().get_node_id())


def cell_task(job: Job, cell: Cell, rid: str, cpus: float, pretrained: Pretrained | None, first: bool) -> Placed:
    """Ray task: settle one cell under its lock, as the local executor does. Only the ``first``
    cell of a checkpoint reports it as trained in this run; the others reuse it, as locally."""
    import ray

    ckpt = None if pretrained is None else (pretrained.checkpoint, pretrained.reused or not first)
    done = worker_runner(job, cpus).run_cell(cell, rid, wait=True, pretrained=ckpt)
    assert done is not None, "a waited-for claim is always held"
    node = ray.get_runtime_context().get_node_id()
    return Placed(done, node, os.getpid(), pretrained.node if pretrained else None)


# ---------------------------------------------------------------- driver side


@contextmanager
def connected(ray: Any, address: str | None) -> Iterator[None]:
    """Ray initialised for the block: a new local instance (``address`` None), or a running
    cluster (``auto``, ``HOST:PORT``, ``ray://…``); an instance already initialised is used as is."""
    if ray.is_initialized():
        yield
        return
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIX)}
    options: dict[str, Any] = {"include_dashboard": False} if address is None else {}
    ray.init(
        address=address,
        runtime_env={"env_vars": env},
        log_to_driver=False,
        logging_level=logging.WARNING,
        **options,
    )
    try:
        yield
    finally:
        ray.shutdown()


def run_on_ray(
    suite: Suite,
    plugins: Plugins,
    output: Path,
    *,
    device: str | None = None,
    progress: Progress | None = None,
    address: str | None = None,
    location: DataLocation | None = None,
    max_retries: int = MAX_RETRIES,
) -> RayRun:
    """Run every cell of ``suite`` into ``output`` as Ray tasks; cells that raise are reported
    in ``result.failed`` and the others go on."""
    ray = import_ray()
    output = Path(output).resolve()
    progress = progress or MessagesOnly()
    runner = Runner(suite, plugins, output, device=device, progress=progress, location=location)
    cells = runner.prepare()
    run = RayRun(RunResult())
    pending = []
    for cell, rid in cells:
        if is_complete(output, rid):  # the worker checks again under the lock; this saves the task
            _report(progress, run, cell, CellDone(record_path(output, rid), None), len(cells))
        else:
            pending.append((cell, rid))
    if pending:
        with connected(ray, address):
            check_feasible(ray, suite, {cell.model for cell, _ in pending})
            job = Job(suite, output, device, runner.location)
            refs = _submit(ray, runner, ray.put(job), pending, max_retries)
            progress.message(f"{len(refs)} cell task(s) submitted to Ray")
            _gather(ray, refs, run, progress, len(cells))
    for stale in clean_partial(output):  # a worker killed while renaming leaves its temporary folder
        log.warning("removed partial record left by a killed worker: %s", stale)
    return run


def check_feasible(ray: Any, suite: Suite, models: set[str]) -> None:
    """A :class:`ConfigError` when some model's cells reserve more than any live node has (Ray
    would wait for such a node forever; a cluster that adds nodes on demand is not foreseen)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for model in sorted(models):
        need = suite.resources.for_model(model)
        if not any(need.cpus <= n.get("CPU", 0) and need.gpus <= n.get("GPU", 0) for n in nodes):
            most = max((n.get("CPU", 0), n.get("GPU", 0)) for n in nodes) if nodes else (0, 0)
            raise ConfigError(
                f"resources: cells of {model!r} need cpus = {need.cpus:g}, gpus = {need.gpus:g}, but no node "
                f"of the Ray cluster has that (the largest: {most[0]:g} CPUs, {most[1]:g} GPUs)"
            )


def _submit(ray: Any, runner: Runner, job: Any, pending: list[tuple[Cell, str]], max_retries: int) -> dict[Any, Cell]:
    """One task per checkpoint the pending cells need, one per pending cell (after its checkpoint)."""
    pretrain, settle = ray.remote(pretrain_task), ray.remote(cell_task)
    checkpoints: dict[tuple[str, str, int], Any] = {}
    refs = {}
    for cell, rid in pending:
        cpus, options = task_options(runner.suite, cell.model, max_retries)
        key = runner.checkpoint_key(cell)
        first = key is not None and key not in checkpoints
        if key is not None and first:
            checkpoints[key] = pretrain.options(**options).remote(job, cell, cpus)
        ckpt = checkpoints[key] if key is not None else None
        refs[settle.options(**options).remote(job, cell, rid, cpus, ckpt, first)] = cell
    return refs


def task_options(suite: Suite, model: str, max_retries: int) -> tuple[float, dict[str, Any]]:
    """The cores a task of ``model``'s cells reserves, and its Ray options: the suite's ``[resources]``
    for the model, and SPREAD scheduling (tasks go to the least busy nodes, not first to the node
    that submitted them)."""
    res = suite.resources.for_model(model)
    options = {"num_cpus": res.cpus, "num_gpus": res.gpus, "max_retries": max_retries, "scheduling_strategy": "SPREAD"}
    return res.cpus, options


def _gather(ray: Any, refs: dict[Any, Cell], run: RayRun, progress: Progress, total: int) -> None:
    """Collect the cell tasks as they finish, reporting each; a failed one is noted, not raised."""
    waiting = list(refs)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        for ref in ready:
            cell = refs[ref]
            try:
                placed = ray.get(ref)
            except ray.exceptions.RayError as exc:
                reason = failure_reason(exc)
                run.result.failed.append((cell, reason))
                progress.message(f"failed: {cell.dataset} · {cell.model} · {cell.strategy} · seed {cell.seed}")
                continue
            run.nodes[placed.done.path.parent.name] = placed.node
            if placed.pretrained_on is not None:
                run.pretrained_on[placed.done.path.parent.name] = placed.pretrained_on
            _report(progress, run, cell, placed.done, total)


def _report(progress: Progress, run: RayRun, cell: Cell, done: CellDone, total: int) -> None:
    """One cell settled: the aggregated display advances by one (cells finish in any order)."""
    settled = len(run.result.written) + len(run.result.skipped) + len(run.result.failed)
    progress.cell_started(cell, settled, total)
    run.result.add(done)
    progress.cell_finished(cell, done.record)


def failure_reason(exc: BaseException) -> str:
    """One line for a failed task: the cell's own exception, or why its worker is gone."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        exc = cause
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."
