"""Adaptation strategies: how a (possibly pretrained) encoder meets the target domain.

A strategy decides *what* is loaded and *what* is trained; the harness (this module's
:class:`AdaptContext`) owns *how*: building the model, the training loop, seeds, device,
early stopping on validation and the record of what transferred.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flm_bench.errors import ConfigError
from flm_bench.train.model import FittableRecommender, Recommender
from flm_bench.suite import EvalConfig

if TYPE_CHECKING:
    import torch

    from flm_bench.data.table import InteractionData
    from flm_bench.train.online import StreamResult
    from flm_bench.train.pretraining import Checkpoint
    from flm_bench.specs import ModelSpec
    from flm_bench.data.splits import Split
    from flm_bench.suite import TrainConfig
    from flm_bench.train.loop import FitResult, Progress


class Strategy(Protocol):
    """Turns a checkpoint (or none) and the target's training data into a ranking model."""

    def adapt(self, ctx: AdaptContext) -> Recommender:
        """Build, load and fit a model through ``ctx``; return it ready to score."""
        ...


@dataclass
class AdaptContext:
    """Everything a strategy may use, and the harness services it must go through."""

    spec: ModelSpec
    params: dict[str, Any]
    data: InteractionData
    split: Split
    checkpoint: Checkpoint | None
    train_cfg: TrainConfig
    seed: int
    device: str
    progress: Progress | None = None
    transfer: dict[str, list[str]] = field(default_factory=dict)
    fit_result: FitResult | None = None
    trainable_parameters: int = 0
    #: the suite's evaluation metrics (ranx names) and history rule, for strategies that
    #: measure as they adapt (``online``); the defaults are those of a suite's ``[evaluation]``
    metrics: list[str] = field(default_factory=lambda: EvalConfig().names)
    exclude_history: bool = True
    #: what a prequential strategy measured on its stream (:class:`flm_bench.train.online.StreamResult`)
    stream: StreamResult | None = None

    def build(self) -> Recommender:
        """A fresh, seeded model for the target catalogue."""
        import torch

        torch.manual_seed(self.seed)
        model = self.spec.build(n_items=self.data.n_items, item_features=self.data.item_features,
                                params=self.params, side=self.data.side)
        if hasattr(model, "to"):
            model.to(self.device)
        return model

    def load_pretrained(self, model: torch.nn.Module, skip: tuple[str, ...] = ()) -> None:
        """Copy the checkpoint's transferable weights into ``model``, except names starting
        with a prefix in ``skip`` (e.g. ``("head.",)`` for a fresh head).

        Item-ID parameters never transfer (the corpus never shares the target's catalogue);
        what was loaded and what stayed freshly initialised is recorded in ``transfer``.
        """
        if self.checkpoint is None:
            raise ConfigError("this strategy needs a pretraining corpus, but the cell has none")
        state = self.checkpoint.state()
        own = model.state_dict()
        loaded = [k for k, v in state.items()
                  if k in own and own[k].shape == v.shape and not k.startswith(skip)]
        model.load_state_dict({k: state[k] for k in loaded}, strict=False)
        self.transfer = {"loaded": sorted(loaded), "reinitialised": sorted(set(own) - set(loaded))}

    def fit(self, model: Recommender, parameters: Iterable[torch.nn.Parameter] | None = None) -> Recommender:
        """Train ``parameters`` (default: all) with the harness loop, or fit a non-neural model."""
        from flm_bench.train.neural import NeuralRecommender
        from flm_bench.train.loop import fit

        if isinstance(model, NeuralRecommender):
            params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
            self.trainable_parameters = sum(p.numel() for p in params)
            self.fit_result = fit(model, params, self.split.train, self.split.valid, self.train_cfg,
                                  seed=self.seed, progress=self.progress)
        elif isinstance(model, FittableRecommender):
            model.fit(self.split.train)
        else:
            raise ConfigError(f"model {self.spec.name!r} is neither neural nor fittable")
        return model
