"""Adaptation strategies: how a (possibly pretrained) encoder meets the target domain.

A strategy decides *what* is loaded and *what* is trained; the harness, through
:class:`AdaptContext`, owns *how*: building the model, the training loop, seeds, device,
early stopping on validation. A strategy returns a :class:`StrategyResult`: the model ready
to score, what training did, what transferred, and any metrics of its own (recorded as the
record's ``strategy_metrics``), so the harness needs to know nothing about any one strategy.

Importing this module does not import torch (plugins register strategies cheaply).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flm_bench.errors import CheckpointError, ConfigError
from flm_bench.params import ParamsT, StrategyParams
from flm_bench.recommender import CountsParameters, FittableRecommender, Recommender
from flm_bench.suite import EvalConfig

if TYPE_CHECKING:
    import torch

    from flm_bench.data.splits import Split
    from flm_bench.data.table import InteractionData
    from flm_bench.params import ModelParams
    from flm_bench.specs import ModelSpec
    from flm_bench.suite import TrainConfig
    from flm_bench.train.loop import EpochHook, FitResult, Progress
    from flm_bench.train.neural import NeuralRecommender
    from flm_bench.train.pretraining import Checkpoint

#: What a strategy may add to its record: name -> number or short text (e.g. "stream.ndcg@10").
StrategyMetrics = dict[str, float | int | str]


@dataclass
class StrategyResult:
    """What :meth:`Strategy.adapt` returns."""

    model: Recommender  # ready to score the test users
    fit: FitResult | None = None  # the training run (None for a model fitted in one call)
    trainable_parameters: int = 0
    transfer: dict[str, list[str]] = field(default_factory=dict)  # "loaded" / "reinitialised" weights
    metrics: StrategyMetrics = field(default_factory=dict)


class Strategy(Protocol):
    """Turns a checkpoint (or none) and the target's training data into a ranking model."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        """Build, load and fit a model through ``ctx``; return it with what happened."""
        ...


@dataclass(frozen=True)
class StrategySpec:
    """An adaptation strategy: how a (possibly pretrained) encoder meets the target.

    ``params``: its typed parameters (a :class:`~flm_bench.params.StrategyParams` subclass; fields
    declared with :func:`~flm_bench.params.tunable` are tuned), which the strategy reads as
    ``ctx.strategy_params``; the base class itself: none.
    """

    name: str
    build: Callable[[], Strategy]
    needs_pretraining: bool
    description: str = ""
    trains: bool = True  # whether it trains on the target: one that does not has nothing to tune
    params: type[StrategyParams] = StrategyParams

    @property
    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default."""
        return self.params().model_dump()


@dataclass
class AdaptContext:
    """What a strategy may use, and the harness services it goes through."""

    spec: ModelSpec
    params: ModelParams
    data: InteractionData
    split: Split
    checkpoint: Checkpoint | None
    train_cfg: TrainConfig
    seed: int
    device: str
    progress: Progress | None = None
    #: the suite's evaluation metrics (ranx names) and history rule, for strategies that
    #: measure as they adapt; the defaults are those of a suite's ``[evaluation]``
    metrics: list[str] = field(default_factory=lambda: EvalConfig().names)
    exclude_history: bool = True
    #: hears each epoch's validation value of :meth:`fit` (tuning prunes trials through it)
    on_epoch: EpochHook | None = None
    #: the strategy's name and validated parameters (``StrategySpec.params``; None: its defaults)
    strategy: str = ""
    strategy_params: StrategyParams | None = None

    def own_params(self, cls: type[ParamsT]) -> ParamsT:
        """The strategy's parameters as its params class ``cls`` (``cls()``, the defaults, when the
        context was made without any)."""
        params = cls() if self.strategy_params is None else self.strategy_params
        if not isinstance(params, cls):
            raise ConfigError(
                f"strategy {self.strategy!r}: got parameters of {type(params).__name__}, expected {cls.__name__}"
            )
        return params

    def build(self) -> Recommender:
        """A fresh, seeded model for the target catalogue (a neural one's contract is checked)."""
        from flm_bench.train.build import build_model

        return build_model(self.spec, self.params, self.data, seed=self.seed, device=self.device)

    def build_neural(self) -> NeuralRecommender:
        """:meth:`build`, for strategies that need a neural (pretrainable) model; the strategy's
        parameters are checked against the model's :meth:`~flm_bench.params.StrategyParams.bounds`."""
        from flm_bench.train.neural import NeuralRecommender

        model = self.build()
        if not isinstance(model, NeuralRecommender):
            raise ConfigError(f"model {self.spec.name!r} is not neural, so it cannot load a pretrained encoder")
        own = self.strategy_params
        for name, most in (own.bounds(model) if own is not None else {}).items():
            value = getattr(own, name)
            if value > most:
                raise ConfigError(
                    f"strategy {self.strategy!r}: parameter {name!r} = {value}, but model {self.spec.name!r} "
                    f"allows at most {most}"
                )
        return model

    def load_pretrained(self, model: torch.nn.Module, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
        """Copy the checkpoint's transferable weights into ``model``, except names starting
        with a prefix in ``skip`` (e.g. ``("head.",)`` for a fresh head); return what was
        ``loaded`` and what stayed freshly ``reinitialised``.

        Item-ID parameters never transfer (the corpus never shares the target's catalogue).
        """
        if self.checkpoint is None:
            raise ConfigError("this strategy needs a pretraining corpus, but the cell has none")
        state = self.checkpoint.state()
        own = model.state_dict()
        loaded = [k for k in state if k in own and not k.startswith(skip)]
        wrong = next((k for k in loaded if own[k].shape != state[k].shape), None)
        if wrong is not None:
            raise CheckpointError(
                f"checkpoint {self.checkpoint.path}: {wrong} has shape {tuple(state[wrong].shape)}, but model "
                f"{self.spec.name!r} has {tuple(own[wrong].shape)}: it was made with other model parameters"
            )
        if not loaded:
            raise CheckpointError(
                f"checkpoint {self.checkpoint.path} matches none of the parameters of model {self.spec.name!r}: "
                "it was made for another model"
            )
        model.load_state_dict({k: state[k] for k in loaded}, strict=False)
        return {"loaded": sorted(loaded), "reinitialised": sorted(set(own) - set(loaded))}

    def fit(
        self,
        model: Recommender,
        parameters: Iterable[torch.nn.Parameter] | None = None,
        *,
        transfer: dict[str, list[str]] | None = None,
    ) -> StrategyResult:
        """Train ``parameters`` (default: all trainable ones) of a torch model with the harness loop
        (a neural or a self-batching one), or fit any other model in one call; ``transfer`` is
        passed through to the result."""
        from flm_bench.train.loop import fit
        from flm_bench.train.neural import NeuralRecommender, SelfBatchingRecommender

        if isinstance(model, (NeuralRecommender, SelfBatchingRecommender)):
            params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
            result = fit(
                model,
                params,
                self.split.train,
                self.split.valid,
                self.train_cfg,
                seed=self.seed,
                progress=self.progress,
                exclude_history=self.exclude_history,
                on_epoch=self.on_epoch,
            )
            return StrategyResult(model, result, sum(p.numel() for p in params), transfer or {})
        if isinstance(model, FittableRecommender):
            model.fit(self.split.train)
            count = model.parameter_count() if isinstance(model, CountsParameters) else 0
            return StrategyResult(model, None, int(count), transfer or {})
        raise ConfigError(f"model {self.spec.name!r} is neither neural nor fittable")
