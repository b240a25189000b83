"""``sociallgn`` (Liao et al., Information Sciences 2022) and its non-social ablation ``lightgcn``.

Both are one class (:class:`flm_bench_plugins.sociallgn_net.SocialLGN`): LightGCN propagation of
user and item ID embeddings over the training user–item graph; ``sociallgn`` also propagates
user embeddings over the dataset's social graph (side data ``social_edges``: trust or
friendship) and fuses the two per layer. ``lightgcn`` is the same model built without the
social edges, so the graph is the only difference (same parameters, same initial embeddings
for the same seed). Trained by the harness loop with early stopping on validation, on BPR
triples the model samples itself. The test users are scored over the training graph plus their
test histories' edges (``before_test``: the validation interactions), as a sequence model reads
the validation item when scoring them.

Every parameter is tied to the target's user and item IDs, so nothing can transfer from a
pretraining corpus: both are registered ``pretrainable=False`` and run under ``scratch`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flm_bench.api import Ablation, BuildInputs, ConfigError, ModelParams, ModelSpec, Search, hookimpl, tunable

if TYPE_CHECKING:
    from flm_bench_plugins.sociallgn_net import SocialLGN


class SocialLGNParams(ModelParams):
    dim: int = tunable(64, "user and item embedding dimension", ge=1, search=Search(choices=(32, 64, 128)))
    layers: int = tunable(3, "propagation layers", ge=1, search=Search(choices=(1, 2, 3, 4)))
    reg: float = tunable(
        1e-4, "L2 penalty on the batch's layer-0 embeddings", ge=0, search=Search(low=1e-6, high=1e-2, log=True)
    )


def _build(inputs: BuildInputs[SocialLGNParams], *, social: bool) -> SocialLGN:
    from flm_bench_plugins.sociallgn_net import SocialLGN

    name = "sociallgn" if social else "lightgcn"
    if inputs.n_users < 1:
        raise ConfigError(
            f"model {name!r} needs the number of users of dataset {inputs.dataset!r}, which was not given"
        )
    edges = inputs.side.get("social_edges")
    if social and edges is None:
        raise ConfigError(
            f"model 'sociallgn' needs social edges (side data 'social_edges'), which dataset {inputs.dataset!r} "
            "does not carry; use 'lightgcn' for the same model without them"
        )
    p = inputs.params
    return SocialLGN(inputs.n_users, inputs.n_items, p.dim, p.layers, p.reg, edges if social else None)


def build_sociallgn(inputs: BuildInputs[SocialLGNParams]) -> SocialLGN:
    """SocialLGN over the dataset's social edges (imports torch)."""
    return _build(inputs, social=True)


def build_lightgcn(inputs: BuildInputs[SocialLGNParams]) -> SocialLGN:
    """The same model without social edges: LightGCN (imports torch)."""
    return _build(inputs, social=False)


@hookimpl
def flm_bench_register_models(register):
    id_bound = "; user and item ID embeddings, so it cannot transfer across catalogues: scratch only"
    register(
        ModelSpec(
            name="sociallgn",
            build=build_sociallgn,
            pretrainable=False,
            item_representation="ids",
            params=SocialLGNParams,
            description="LightGCN on the user-item graph plus light graph convolution over the social graph "
            "(trust/friends), fused per layer, BPR (Liao et al. 2022)" + id_bound,
            ablation=Ablation("lightgcn", "the social graph"),
        )
    )
    register(
        ModelSpec(
            name="lightgcn",
            build=build_lightgcn,
            pretrainable=False,
            item_representation="ids",
            params=SocialLGNParams,
            description="sociallgn without social edges (its ablation): LightGCN propagation on the "
            "user-item graph, BPR (He et al. 2020)" + id_bound,
        )
    )
