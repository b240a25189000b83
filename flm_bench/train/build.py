"""Building a model for a catalogue: the one place ``ModelSpec.build`` is called."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flm_bench.errors import ConfigError
from flm_bench.recommender import BuildInputs, Recommender

if TYPE_CHECKING:
    from flm_bench.data.table import InteractionData
    from flm_bench.params import ModelParams
    from flm_bench.specs import ModelSpec


def build_model(spec: ModelSpec, params: ModelParams, data: InteractionData, *, seed: int, device: str) -> Recommender:
    """``spec.build`` for ``data``'s catalogue, seeded, on ``device``; checks what the model promises."""
    import torch

    from flm_bench.train.neural import NeuralRecommender, SelfBatchingRecommender

    torch.manual_seed(seed)
    model = spec.build(
        BuildInputs(
            n_items=data.n_items,
            n_users=data.n_users,
            dataset=data.name,
            item_features=data.item_features,
            params=params,
            seed=seed,
            device=device,
            side=data.side,
        )
    )
    if isinstance(model, NeuralRecommender):
        model.check_contract()
        model.to(device)
    elif spec.pretrainable:
        raise ConfigError(
            f"model {spec.name!r} is pretrainable, so build() must return a NeuralRecommender, "
            f"not {type(model).__name__}"
        )
    elif isinstance(model, SelfBatchingRecommender):
        model.to(device)
    elif not isinstance(model, Recommender):
        raise ConfigError(
            f"model {spec.name!r}: build() returned {type(model).__name__}, which has no "
            "n_items and score(histories, users)"
        )
    return model
