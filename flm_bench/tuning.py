"""Tuning on validation with Optuna (``flm-bench tune``; the ``tune`` extra).

One study per tuning cell (dataset × model × strategy × corpus, on the suite's first seed and its
largest target fraction; the tuned parameters apply at every fraction):
TPE draws the parameters, a median pruner stops trials whose per-epoch validation value
(``[training] valid_metric``) falls behind, and a trial's objective is its fit's best validation
value. The test split is never evaluated here (:meth:`Runner.adapt` stops before it).
Every study of a suite gets the same number of trials, counted over every worker sharing its
storage. The best parameters become ``[[tuned]]`` entries of a suite overlay (:mod:`flm_bench.suite`).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flm_bench.data.table import fingerprint
from flm_bench.errors import ConfigError
from flm_bench.params import Search
from flm_bench.plan import Cell, plan
from flm_bench.runner import Adapted, Runner
from flm_bench.suite import TrainConfig, TrialCounts, TunedCell, Tuning

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

MISSING_OPTUNA = "flm-bench tune needs optuna: pip install 'flm-bench[tune]'"
#: What adaptation and scratch alike tune in ``[training]``.
TRAINING_SPACE: dict[str, Search] = {
    "learning_rate": Search(low=1e-4, high=1e-2, log=True),
    "weight_decay": Search(choices=(0.0, 1e-4, 1e-3, 1e-2)),
}
MODEL, TRAINING = "model.", "training."
SURPLUS = "surplus"  # user attribute of a trial numbered past the budget (workers raced): not run
ERROR = "error"  # user attribute: why a trial failed
#: a worker's trials beat every ``HEARTBEAT`` seconds; one silent for ``GRACE`` seconds is failed
HEARTBEAT, GRACE = 20, 120


def require_optuna() -> Any:
    """The ``optuna`` module, or a :class:`ConfigError` naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(MISSING_OPTUNA) from None
    return optuna


@dataclass(frozen=True)
class Space:
    """A cell's search space: model parameters (empty when a checkpoint fixes them) and training."""

    model: dict[str, Search]
    training: dict[str, Search]

    def digest(self) -> str:
        """A sha256 prefix naming the space (a study refuses workers with another space)."""
        dims = {MODEL + k: v for k, v in self.model.items()} | {TRAINING + k: v for k, v in self.training.items()}
        return fingerprint({k: vars(v) for k, v in sorted(dims.items())})[:16]

    def __bool__(self) -> bool:
        return bool(self.model or self.training)


def tuning_cells(runner: Runner) -> list[Cell]:
    """One cell per (dataset, model, strategy, corpus) of the suite, on its first seed and largest target fraction."""
    first, largest = runner.suite.seeds[0], max(runner.suite.protocol.target_fractions)
    return [c for c in plan(runner.suite, runner.plugins) if c.seed == first and c.fraction == largest]


def space_for(runner: Runner, cell: Cell) -> Space:
    """``scratch`` and other cells without a checkpoint tune the model's declared search space;
    a cell adapting a checkpoint keeps its architecture. Models trained by the harness loop
    (pretrainable ones) also tune ``learning_rate`` and ``weight_decay``."""
    spec = runner.plugins.models.get(cell.model)
    model = {} if cell.corpus else spec.params.search_space()
    return Space(model, dict(TRAINING_SPACE) if spec.pretrainable else {})


def study_name(prefix: str, cell: Cell) -> str:
    corpus = f"/{cell.corpus}" if cell.corpus else ""
    return f"{prefix}:{cell.dataset}/{cell.model}/{cell.strategy}{corpus}"


def _suggest(trial: optuna.Trial, prefix: str, space: dict[str, Search], types: dict[str, Any]) -> dict[str, Any]:
    """Values for ``space`` drawn by ``trial`` (integer fields as integers)."""
    out: dict[str, Any] = {}
    for name, s in space.items():
        key = prefix + name
        if s.choices is not None:
            out[name] = trial.suggest_categorical(key, list(s.choices))
        elif types.get(name) is int:
            out[name] = trial.suggest_int(key, int(s.low or 0), int(s.high or 0), log=s.log)
        else:
            out[name] = trial.suggest_float(key, float(s.low or 0), float(s.high or 0), log=s.log)
    return out


def validation_value(runner: Runner, cell: Cell, done: Adapted, training: TrainConfig) -> float:
    """The objective: the fit's best validation value; for a model fitted in one call, its
    ``valid_metric`` on the same validation users the loop would score (never the test split)."""
    if done.result.fit is not None:
        return float(done.result.fit.best_valid)
    from flm_bench.evaluation import evaluate
    from flm_bench.train.loop import subsample

    valid = subsample(done.split.valid, training.max_valid_users, cell.seed)
    rule = runner.suite.evaluation.exclude_history  # the loop validates under the suite's rule too
    _, scores = evaluate(done.result.model.score, valid, [training.valid_metric], exclude_history=rule)
    return float(scores[training.valid_metric].mean())


def evaluate_config(
    runner: Runner,
    cell: Cell,
    model_params: dict[str, Any],
    training: dict[str, Any],
    on_epoch: Callable[[int, float], None] | None = None,
) -> float:
    """Validation value of ``cell`` adapted with these overrides of the suite's parameters: the
    path of every trial (and of the default configuration, with no overrides)."""
    params = runner.params(cell.model, model_params)
    cfg = TrainConfig.model_validate({**runner.suite.training.model_dump(), **training})
    return validation_value(runner, cell, runner.adapt(cell, params, cfg, on_epoch), cfg)


@dataclass
class Objective:
    """One trial of a cell's study: draw, adapt, return the validation value; prune on the way."""

    runner: Runner
    cell: Cell
    space: Space
    budget: int
    seed: int
    say: Callable[[str], None]
    first: dict[str, Any] = field(default_factory=dict)  # trial 0's values: the suite's configuration

    def __call__(self, trial: optuna.Trial) -> float:
        optuna = require_optuna()
        if trial.number >= self.budget:  # another worker took the last trial while this one asked
            trial.set_user_attr(SURPLUS, True)
            trial.study.stop()
            raise optuna.TrialPruned()
        # TPE drawing from a per-trial seed: reproducible, and workers do not repeat each other's draws;
        # trial 0 holds the suite's own values (fixed here: a queued trial can be taken by two SQLite workers)
        tpe = optuna.samplers.TPESampler(seed=int(fingerprint(self.seed, trial.number)[:8], 16))
        fixed = trial.number == 0 and self.first
        trial.study.sampler = optuna.samplers.PartialFixedSampler(self.first, tpe) if fixed else tpe
        fields = self.runner.plugins.models.get(self.cell.model).params.model_fields
        types = {k: f.annotation for k, f in fields.items()}
        model_params = _suggest(trial, MODEL, self.space.model, types)
        training = _suggest(trial, TRAINING, self.space.training, {})

        def report(epoch: int, value: float) -> None:
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {value:.4f} below the median")

        try:
            value = evaluate_config(self.runner, self.cell, model_params, training, report)
        except optuna.TrialPruned:
            self.say(f"trial {trial.number}: pruned")
            raise
        except Exception as exc:  # recorded as failed (optimize catches it); the study goes on
            self._failed(trial, " ".join(f"{type(exc).__name__}: {exc}".split()))
            raise
        if not math.isfinite(value):
            self._failed(trial, f"validation value {value}")  # optuna records a NaN objective as failed
        else:
            self.say(f"trial {trial.number}: {value:.4f}")
        return value

    def _failed(self, trial: optuna.Trial, why: str) -> None:
        trial.set_user_attr(ERROR, why[:500])
        self.say(f"trial {trial.number}: failed: {why}")


def default_values(runner: Runner, cell: Cell, space: Space) -> tuple[dict[str, Any], list[str]]:
    """The suite's own configuration as trial parameters (the study's first trial), and the
    dimensions whose default lies outside the space (that trial cannot hold them)."""
    values = {MODEL: runner.params(cell.model).model_dump(), TRAINING: runner.suite.training.model_dump()}
    out, outside = {}, []
    for prefix, dims in ((MODEL, space.model), (TRAINING, space.training)):
        for name, s in dims.items():
            v = values[prefix][name]
            inside = v in s.choices if s.choices is not None else float(s.low or 0) <= v <= float(s.high or 0)
            if inside:
                out[prefix + name] = v
            else:
                outside.append(prefix + name)
    return out, outside


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


def tune_cell(runner: Runner, cell: Cell, *, budget: int, url: str, prefix: str, say: Callable[[str], None]) -> Study:
    """Run ``cell``'s study until it holds ``budget`` trials (over all workers), wait for the other
    workers' trials of it, and return what it found."""
    optuna = require_optuna()
    name = study_name(prefix, cell)
    space = space_for(runner, cell)
    if not space:
        say(f"{name}: nothing to tune (no search space declared, not trained by the harness loop)")
        return Study(name, None, TrialCounts(run=0, complete=0, pruned=0, failed=0), searched=False)
    first, outside = default_values(runner, cell, space)
    if outside:
        say(f"{name}: the default of {outside} lies outside the search space; the first trial uses the rest")
    study = open_study(url, name, space, cell.seed)
    objective = Objective(runner, cell, space, budget, cell.seed, lambda text: say(f"{name}: {text}"), first)
    if len(study.get_trials(deepcopy=False)) < budget:
        stop = optuna.study.MaxTrialsCallback(budget, states=None)  # all states: running ones count too
        study.optimize(objective, n_trials=budget, catch=(Exception,), callbacks=[stop])
    _wait_for_workers(study, budget, lambda text: say(f"{name}: {text}"))
    return _summary(runner, cell, study, space, budget)


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
        study=study.study_name,
        best_trial=best.number,
        best_value=float(best.value or 0.0),
        valid_metric=runner.suite.training.valid_metric,
        search_space=space.digest(),
        trials=counts,
    )
    return Study(study.study_name, entry, counts)


def tune(runner: Runner, *, budget: int, url: str, prefix: str, say: Callable[[str], None]) -> list[Study]:
    """Every tuning cell's study, with ``budget`` trials each (the same for scratch and every strategy)."""
    if budget < 1:
        raise ConfigError(f"--trials {budget}: at least one trial per study")
    require_optuna().logging.set_verbosity(logging.INFO if log.isEnabledFor(logging.INFO) else logging.ERROR)
    return [tune_cell(runner, cell, budget=budget, url=url, prefix=prefix, say=say) for cell in tuning_cells(runner)]


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
