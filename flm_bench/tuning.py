"""Tuning on validation with Optuna (``flm-bench tune``; the ``tune`` extra).

One study per tuning cell (dataset × model × strategy × corpus, on the suite's first seed and its
largest target fraction; the tuned parameters apply at every fraction):
TPE draws the parameters, a median pruner stops trials whose per-epoch validation value
(``[training] valid_metric``) falls behind, and a trial's objective is its fit's best validation
value. The test split is never evaluated here (:meth:`Runner.adapt` stops before it).
Every study of a suite gets the same number of trials, counted over every worker sharing its
storage; the trials run here one after another, or elsewhere (:mod:`flm_bench.ray_tuning`: as Ray
tasks). The best parameters become ``[[tuned]]`` entries of a suite overlay (:mod:`flm_bench.suite`).
This module keeps the studies; a trial's body is :mod:`flm_bench.tuning_trial`.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flm_bench.errors import ConfigError
from flm_bench.plan import Cell, plan
from flm_bench.runner import Runner
from flm_bench.tuned import TrialCounts, TunedCell, Tuning
from flm_bench.tuning_trial import (
    MODEL,
    STRATEGY,
    SURPLUS,
    TRAINING,
    Objective,
    Space,
    default_values,
    require_optuna,
    space_for,
)

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

#: a worker's trials beat every ``HEARTBEAT`` seconds; one silent for ``GRACE`` seconds is failed
HEARTBEAT, GRACE = 20, 120


def tuning_cells(runner: Runner) -> list[Cell]:
    """One cell per (dataset, model, strategy, corpus) of the suite, on its first seed and largest
    target fraction; none for a strategy that does not train on the target (``zero-shot``)."""
    first, largest = runner.suite.seeds[0], max(runner.suite.protocol.target_fractions)
    strategies = runner.plugins.strategies
    return [
        c
        for c in plan(runner.suite, runner.plugins)
        if c.seed == first and c.fraction == largest and strategies.get(c.strategy).trains
    ]


def study_name(prefix: str, cell: Cell) -> str:
    corpus = f"/{cell.corpus}" if cell.corpus else ""
    return f"{prefix}:{cell.dataset}/{cell.model}/{cell.strategy}{corpus}"


def _storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """The RDB storage at ``url``; workers starting together on a fresh database race to create its
    tables, and the losers retry once the winner's tables exist."""
    import random
    import time

    from sqlalchemy.exc import SQLAlchemyError

    optuna = require_optuna()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT, grace_period=GRACE
            )
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            if attempt == attempts:
                raise
            log.info("storage not ready (%s); retrying", type(exc).__name__)
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def open_study(url: str, name: str, space: Space, seed: int) -> optuna.Study:
    """Create the study, or join it when another worker created it; a study made over another
    search space is an error."""
    optuna = require_optuna()
    kwargs = {
        "storage": _storage(url),
        "study_name": name,
        "sampler": optuna.samplers.TPESampler(seed=seed),
        "pruner": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    }
    try:
        study = optuna.create_study(direction="maximize", **kwargs)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**kwargs)
        theirs = study.user_attrs.get("search_space")
        if theirs not in (None, space.digest()):
            raise ConfigError(
                f"study {name!r} in {url} searched another space ({theirs}, now {space.digest()}): "
                "pass another --study name"
            ) from None
        return study
    study.set_user_attr("search_space", space.digest())
    return study


@dataclass(frozen=True)
class Opened:
    """A tuning cell's study, created or joined in its storage, and the objective its trials run."""

    study: optuna.Study
    objective: Objective


#: Runs the trials of every opened study until each holds its budget (here, or as Ray tasks).
RunTrials = Callable[[list[Opened]], None]


def open_cell(
    runner: Runner, cell: Cell, *, budget: int, url: str, prefix: str, say: Callable[[str], None]
) -> Opened | None:
    """``cell``'s study in ``url`` and its objective; None (and said) when the cell has nothing to tune."""
    name = study_name(prefix, cell)
    space = space_for(runner, cell)
    if not space:
        say(f"{name}: nothing to tune (no search space declared, not trained by the harness loop)")
        return None
    first, outside = default_values(runner, cell, space)
    if outside:
        say(f"{name}: the default of {outside} lies outside the search space; the first trial uses the rest")
    study = open_study(url, name, space, cell.seed)
    return Opened(study, Objective(runner, cell, space, budget, cell.seed, lambda text: say(f"{name}: {text}"), first))


def run_here(opened: list[Opened]) -> None:
    """Each study's trials in this process, one after another, until it holds its budget (over all workers)."""
    optuna = require_optuna()
    for one in opened:
        budget = one.objective.budget
        if len(one.study.get_trials(deepcopy=False)) < budget:
            stop = optuna.study.MaxTrialsCallback(budget, states=None)  # all states: running ones count too
            one.study.optimize(one.objective, n_trials=budget, catch=(Exception,), callbacks=[stop])


def finish_cell(runner: Runner, cell: Cell, opened: Opened | None, *, prefix: str, say: Callable[[str], None]) -> Study:
    """Wait for the trials of ``cell``'s study that other workers run, and return what it found."""
    if opened is None:
        return Study(study_name(prefix, cell), None, TrialCounts(run=0, complete=0, pruned=0, failed=0), searched=False)
    study, budget = opened.study, opened.objective.budget
    _wait_for_workers(study, budget, lambda text: say(f"{study.study_name}: {text}"))
    return _summary(runner, cell, study, opened.objective.space, budget)


@dataclass(frozen=True)
class Study:
    """What a cell's study found: its best entry (None when no trial completed), and its trials."""

    name: str
    best: TunedCell | None
    trials: TrialCounts
    searched: bool = True  # False: the cell has nothing to tune


def _wait_for_workers(study: optuna.Study, budget: int, say: Callable[[str], None]) -> None:
    """Until no trial within the budget is running (a dead worker's trial fails after ``GRACE`` s)."""
    import time

    optuna = require_optuna()
    running = optuna.trial.TrialState.RUNNING
    said = False
    while any(t.state == running and t.number < budget for t in study.get_trials(deepcopy=False)):
        if not said:
            say("waiting for the trials other workers are running")
            said = True
        optuna.storages.fail_stale_trials(study)
        time.sleep(1.0)


def _summary(runner: Runner, cell: Cell, study: optuna.Study, space: Space, budget: int) -> Study:
    optuna = require_optuna()
    state = optuna.trial.TrialState
    trials = [t for t in study.get_trials(deepcopy=False) if t.number < budget and not t.user_attrs.get(SURPLUS)]
    count = {s: sum(t.state == s for t in trials) for s in (state.COMPLETE, state.PRUNED, state.FAIL)}
    counts = TrialCounts(
        run=sum(count.values()), complete=count[state.COMPLETE], pruned=count[state.PRUNED], failed=count[state.FAIL]
    )
    complete = [t for t in trials if t.state == state.COMPLETE and t.value is not None]
    if not complete:
        return Study(study.study_name, None, counts)
    best = max(complete, key=lambda t: (t.value, -t.number))
    entry = TunedCell(
        dataset=cell.dataset,
        model=cell.model,
        strategy=cell.strategy,
        corpus=cell.corpus or "",
        model_params={k.removeprefix(MODEL): v for k, v in best.params.items() if k.startswith(MODEL)},
        training={k.removeprefix(TRAINING): v for k, v in best.params.items() if k.startswith(TRAINING)},
        strategy_params={k.removeprefix(STRATEGY): v for k, v in best.params.items() if k.startswith(STRATEGY)},
        study=study.study_name,
        best_trial=best.number,
        best_value=float(best.value or 0.0),
        valid_metric=runner.suite.training_for(cell.model).valid_metric,
        search_space=space.digest(),
        trials=counts,
    )
    return Study(study.study_name, entry, counts)


def tune(
    runner: Runner,
    *,
    budget: int,
    url: str,
    prefix: str,
    say: Callable[[str], None],
    run_trials: RunTrials = run_here,
) -> list[Study]:
    """Every tuning cell's study, with ``budget`` trials each (the same for scratch and every strategy),
    run by ``run_trials``."""
    if budget < 1:
        raise ConfigError(f"--trials {budget}: at least one trial per study")
    require_optuna().logging.set_verbosity(logging.INFO if log.isEnabledFor(logging.INFO) else logging.ERROR)
    cells = tuning_cells(runner)
    opened = [open_cell(runner, cell, budget=budget, url=url, prefix=prefix, say=say) for cell in cells]
    run_trials([one for one in opened if one is not None])
    return [finish_cell(runner, cell, one, prefix=prefix, say=say) for cell, one in zip(cells, opened, strict=True)]


def overlay_text(entries: list[TunedCell], note: str) -> str:
    """A suite overlay of ``[[tuned]]`` entries (``flm-bench run --overlay FILE``), as TOML."""
    lines = [f"# {line}" for line in note.splitlines()]
    for e in entries:
        lines += ["", "[[tuned]]"]
        data = e.model_dump()
        for key in ("dataset", "model", "strategy", "corpus", *Tuning.model_fields):
            lines.append(f"{key} = {_toml(data[key])}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """``value`` as a TOML value (strings, numbers, booleans, and tables of them inline)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else f"{value:+}")
    if isinstance(value, (int, str)):
        return json.dumps(value)
    raise TypeError(f"no TOML form for {value!r}")
