"""Tuning with trials as Ray tasks (``flm-bench tune --executor ray``; the ``tune`` and ``ray`` extras).

The driver opens every study in the storage (workers only join them) and submits, per study, one
task for each trial the study lacks of its budget, so several trials of one study run at once; each
task reserves its cell's ``[resources]`` and is spread over the nodes, as ``run --executor ray``
cells are. A worker joins the study and runs one trial of it through the local tuner's objective:
a trial that raises or gives NaN is failed and the study goes on, and every epoch's validation value
goes to the shared storage, where the pruner of every other trial sees it. A task whose worker
dies (killed, out of memory) is not retried: the driver fails its trial (found by the task's tag),
so the study still holds exactly its budget. A task that dies before its trial begins is replaced,
at most ``MAX_RETRIES`` times per study.

Every worker must reach the storage: the default SQLite file in the output folder serves the
workers of one machine (SQLite locks the file for each write, and a worker waits for the lock);
a cluster of several machines needs a database server's URL, and a SQLite storage is refused there.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from flm_bench.errors import ConfigError, FlmBenchError
from flm_bench.plan import Cell
from flm_bench.ray_executor import (
    MAX_RETRIES,
    Job,
    check_feasible,
    connected,
    failure_reason,
    import_ray,
    pretrain_task,
    task_options,
    worker_runner,
)
from flm_bench.runner import Runner
from flm_bench.tuning import Opened, Study, open_cell, tune, tuning_cells
from flm_bench.tuning_trial import ERROR, require_optuna

if TYPE_CHECKING:
    from collections.abc import Callable

    import optuna

#: User attributes of a trial run as a Ray task: the task's tag, and the Ray node that ran it.
TASK, NODE = "ray_task", "ray_node"


def trial_task(
    job: Job, cell: Cell, cpus: float, budget: int, url: str, prefix: str, tag: str, checkpoint: object
) -> list[str]:
    """Ray task: join ``cell``'s study and run one trial of it, tagged ``tag``; return what its objective
    said (``checkpoint``, the pretraining task's result, is only waited for: the trial finds the
    checkpoint in the output folder)."""
    import ray

    runner = worker_runner(job, cpus)
    opened = open_cell(runner, cell, budget=budget, url=url, prefix=prefix, say=lambda _: None)
    assert opened is not None, "the driver submits trials of searched cells only"
    name, lines = opened.study.study_name, []
    objective = replace(opened.objective, say=lambda text: lines.append(f"{name}: {text}"))
    node = ray.get_runtime_context().get_node_id()

    def tagged(trial: optuna.Trial) -> float:
        trial.set_user_attr(TASK, tag)
        trial.set_user_attr(NODE, node)
        return objective(trial)

    opened.study.optimize(tagged, n_trials=1, catch=(Exception,))
    return lines


def tune_on_ray(
    runner: Runner,
    *,
    budget: int,
    url: str,
    prefix: str,
    say: Callable[[str], None],
    device: str | None = None,
    address: str | None = None,
) -> list[Study]:
    """:func:`flm_bench.tuning.tune` with every trial a Ray task, on a local Ray instance (``address``
    None) or a running cluster; ``device`` as the user gave it (each worker resolves it)."""
    ray = import_ray()
    with connected(ray, address):
        check_storage(ray, url, address)
        check_feasible(ray, runner.suite, {cell.model for cell in tuning_cells(runner)})
        job = ray.put(Job(runner.suite, runner.output.resolve(), device, runner.location))
        run = partial(_run_trials, ray, runner, job, url, prefix, say)
        return tune(runner, budget=budget, url=url, prefix=prefix, say=say, run_trials=run)


def check_storage(ray: Any, url: str, address: str | None) -> None:
    """A :class:`ConfigError` when the storage is a SQLite file, on this machine, that some worker
    cannot reach or must not share: a Ray client connection, or a cluster on several machines."""
    if not url.startswith("sqlite"):
        return
    hosts = {n.get("NodeManagerAddress") for n in ray.nodes() if n.get("Alive")}
    client = (address or "").startswith("ray://")
    if len(hosts) > 1 or client:
        where = "is reached as a Ray client" if client else f"spans {len(hosts)} machines"
        raise ConfigError(
            f"--storage {url}: a SQLite file serves the workers of one machine, but the Ray cluster at {address} "
            f"{where}; pass --storage a database server's URL that every node reaches (postgresql://..., mysql://...)"
        )


def _run_trials(
    ray: Any, runner: Runner, job: Any, url: str, prefix: str, say: Callable[[str], None], opened: list[Opened]
) -> None:
    """Submit the trials every study lacks of its budget; collect them as they finish, saying what
    each trial said, failing the trial of a task whose worker died, replacing a task that died first."""
    remote, pretrain = ray.remote(trial_task), ray.remote(pretrain_task)
    checkpoints: dict[tuple[str, str, int], Any] = {}
    pending: dict[Any, tuple[Opened, str]] = {}
    spare = {one.study.study_name: MAX_RETRIES for one in opened}

    def submit(one: Opened) -> None:
        cell, budget = one.objective.cell, one.objective.budget
        cpus, options = task_options(runner.suite, cell.model, max_retries=0)  # see the module's text
        key, ckpt = runner.checkpoint_key(cell), None
        if key is not None:
            if key not in checkpoints:
                checkpoints[key] = pretrain.options(**{**options, "max_retries": MAX_RETRIES}).remote(job, cell, cpus)
            ckpt = checkpoints[key]
        tag = uuid.uuid4().hex
        ref = remote.options(**options).remote(job, cell, cpus, budget, url, prefix, tag, ckpt)
        pending[ref] = (one, tag)

    for one in opened:
        for _ in range(one.objective.budget - len(one.study.get_trials(deepcopy=False))):
            submit(one)
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        one, tag = pending.pop(ref)
        try:
            for line in ray.get(ref):
                say(line)
        except ray.exceptions.RayError as exc:
            name, why = one.study.study_name, failure_reason(exc)
            if _fail_tagged(one.study, tag, why):
                say(f"{name}: trial task failed: {why}")
            elif spare[name] > 0 and not isinstance(exc, ray.exceptions.RayTaskError):
                spare[name] -= 1
                submit(one)
            else:
                for other in pending:
                    ray.cancel(other, force=True)
                raise FlmBenchError(f"{name}: a trial task failed before its trial began: {why}") from None


def _fail_tagged(study: optuna.Study, tag: str, why: str) -> bool:
    """Fail the running trial tagged ``tag`` (its worker died), noting ``why``; False when there is none."""
    state = require_optuna().trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        if trial.user_attrs.get(TASK) == tag:
            study._storage.set_trial_user_attr(trial._trial_id, ERROR, why[:500])
            study._storage.set_trial_state_values(trial._trial_id, state.FAIL)
            return True
    return False
