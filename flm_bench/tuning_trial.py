"""A tuning trial (``flm-bench tune``; the ``tune`` extra): a cell's search space, the values a trial
draws from it, and the trial's body (adapt on those values, report each epoch's validation value to
the pruner, return the best). Studies, their storage and their bookkeeping are :mod:`flm_bench.tuning`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flm_bench.data.table import fingerprint
from flm_bench.errors import ConfigError
from flm_bench.params import Search
from flm_bench.plan import Cell
from flm_bench.runner import Adapted, Runner
from flm_bench.specs import ModelSpec
from flm_bench.suite import TrainConfig

if TYPE_CHECKING:
    import optuna

MISSING_OPTUNA = "flm-bench tune needs optuna: pip install 'flm-bench[tune]'"
#: What adaptation and scratch alike tune in ``[training]``.
TRAINING_SPACE: dict[str, Search] = {
    "learning_rate": Search(low=1e-4, high=1e-2, log=True),
    "weight_decay": Search(choices=(0.0, 1e-4, 1e-3, 1e-2)),
}
MODEL, TRAINING, STRATEGY = "model.", "training.", "strategy."
SURPLUS = "surplus"  # user attribute of a trial numbered past the budget (workers raced): not run
ERROR = "error"  # user attribute: why a trial failed


def require_optuna() -> Any:
    """The ``optuna`` module, or a :class:`ConfigError` naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(MISSING_OPTUNA) from None
    return optuna


@dataclass(frozen=True)
class Space:
    """A cell's search space: model parameters (empty when a checkpoint fixes them), training, and
    the strategy's parameters."""

    model: dict[str, Search]
    training: dict[str, Search]
    strategy: dict[str, Search] = field(default_factory=dict)

    def dimensions(self) -> dict[str, dict[str, Search]]:
        """Prefix (``model.``, ``training.``, ``strategy.``) -> that part of the space."""
        return {MODEL: self.model, TRAINING: self.training, STRATEGY: self.strategy}

    def digest(self) -> str:
        """A sha256 prefix naming the space (a study refuses workers with another space; a space
        without strategy dimensions keeps the digest it had before strategies had any)."""
        dims = {prefix + k: v for prefix, part in self.dimensions().items() for k, v in part.items()}
        return fingerprint({k: vars(v) for k, v in sorted(dims.items())})[:16]

    def __bool__(self) -> bool:
        return bool(self.model or self.training or self.strategy)


def _trained_by_loop(spec: ModelSpec, built: Callable[[], Any]) -> bool:
    """Whether the harness loop trains the model: a pretrainable (neural) one, or one whose
    build returns a :class:`~flm_bench.train.neural.SelfBatchingRecommender`."""
    from flm_bench.train.neural import SelfBatchingRecommender

    return spec.pretrainable or isinstance(built(), SelfBatchingRecommender)


def space_for(runner: Runner, cell: Cell) -> Space:
    """``scratch`` and other cells without a checkpoint tune the model's declared search space;
    a cell adapting a checkpoint keeps its architecture. Models trained by the harness loop
    also tune ``learning_rate`` and ``weight_decay``, and every cell its strategy's declared
    search space, capped by what the model allows (its ``bounds``). The cell's model is built
    (on the CPU) at most once, and only when a question needs it."""
    spec = runner.plugins.models.get(cell.model)
    model = {} if cell.corpus else spec.params.search_space()
    built = functools.cache(lambda: _built(runner, cell))
    training = dict(TRAINING_SPACE) if _trained_by_loop(spec, built) else {}
    return Space(model, training, _strategy_space(runner, cell, built))


def _strategy_space(runner: Runner, cell: Cell, built: Callable[[], Any]) -> dict[str, Search]:
    """The strategy's search space, each dimension capped by what the cell's model allows (its
    ``bounds``); a dimension left with no value is dropped."""
    params = runner.plugins.strategies.get(cell.strategy).params
    space = params.search_space()
    bounds = params.bounds(built()) if space else {}
    capped = {name: _capped(s, bounds.get(name)) for name, s in space.items()}
    return {name: s for name, s in capped.items() if s is not None}


def _capped(s: Search, most: int | None) -> Search | None:
    """``s`` without its values above ``most`` (None: no bound); None when none is left."""
    if most is None:
        return s
    if s.choices is not None:
        kept = tuple(c for c in s.choices if c <= most)
        return Search(choices=kept) if kept else None
    return replace(s, high=min(float(s.high or 0), most)) if float(s.low or 0) <= most else None


def _built(runner: Runner, cell: Cell) -> Any:
    """A model of ``cell`` as its strategy would build it (on the CPU; only to ask its bounds)."""
    from flm_bench.train.build import build_model

    spec = runner.plugins.models.get(cell.model)
    return build_model(spec, runner.cell_params(cell), runner.data(cell.dataset), seed=cell.seed, device="cpu")


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
    strategy_params: dict[str, Any] | None = None,
) -> float:
    """Validation value of ``cell`` adapted with these overrides of the suite's parameters: the
    path of every trial (and of the default configuration, with no overrides)."""
    params = runner.params(cell.model, model_params)
    cfg = TrainConfig.model_validate({**runner.suite.training_for(cell.model).model_dump(), **training})
    own = runner.strategy_params(cell, strategy_params or {})
    return validation_value(runner, cell, runner.adapt(cell, params, cfg, on_epoch, strategy_params=own), cfg)


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
        sfields = self.runner.plugins.strategies.get(self.cell.strategy).params.model_fields
        drawn = _suggest(trial, STRATEGY, self.space.strategy, {k: f.annotation for k, f in sfields.items()})

        def report(epoch: int, value: float) -> None:
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {value:.4f} below the median")

        try:
            value = evaluate_config(self.runner, self.cell, model_params, training, report, drawn)
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
    values = {
        MODEL: runner.params(cell.model).model_dump(),
        TRAINING: runner.suite.training_for(cell.model).model_dump(),
        STRATEGY: runner.strategy_params(cell, {}).model_dump(),
    }
    out, outside = {}, []
    for prefix, dims in space.dimensions().items():
        for name, s in dims.items():
            v = values[prefix][name]
            inside = v in s.choices if s.choices is not None else float(s.low or 0) <= v <= float(s.high or 0)
            if inside:
                out[prefix + name] = v
            else:
                outside.append(prefix + name)
    return out, outside
