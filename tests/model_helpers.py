"""Building registered models and their parameters in tests, the way the harness does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.api import BuildInputs, ModelParams, Recommender
from flm_bench.params import parse_params
from flm_bench.plugins import Plugins, load_plugins

if TYPE_CHECKING:
    from flm_bench.train.pretraining import Checkpoint


def params_of(model: str, **params: Any) -> ModelParams:
    """The registered model's validated parameters with these overrides."""
    spec = load_plugins().models.get(model)
    return parse_params(model, spec.params, params)


def build_model(
    model: str,
    n_items: int,
    *,
    item_features: np.ndarray | None = None,
    side: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    **params: Any,
) -> Recommender:
    """``build`` of the registered ``model`` for a catalogue of ``n_items`` (torch seeded with ``seed``)."""
    import torch

    torch.manual_seed(seed)
    spec = load_plugins().models.get(model)
    return spec.build(
        BuildInputs(
            n_items=n_items,
            item_features=item_features,
            params=params_of(model, **params),
            seed=seed,
            device="cpu",
            side=side or {},
        )
    )


def tiny_checkpoint(plugins: Plugins, params: ModelParams, directory: Path) -> Checkpoint:
    """A ``sasrec`` checkpoint with ``params``, pretrained for one epoch on ``synthetic-finance`` into
    ``directory``: what the strategy tests adapt to ``synthetic-media``."""
    from flm_bench.suite import PretrainConfig
    from flm_bench.train.pretraining import pretrain

    ckpt, _ = pretrain(
        plugins.models.get("sasrec"),
        params,
        plugins.datasets.get("synthetic-finance").load_data(),
        excluded=[],
        datasets=["synthetic-finance"],
        cfg=PretrainConfig(epochs=1, device="cpu"),
        seed=0,
        device="cpu",
        directory=directory,
    )
    return ckpt
