"""``sasrec``: a small causal self-attention sequence model (Kang & McAuley, 2018).

Encoder ``f(X; θ)``: item representations (item-ID embeddings and/or a projection of item
side features) + learned positions, causal post-norm Transformer blocks (torch's, or with
``block = "s3rec"`` those of S3-Rec's SASRec, for like-for-like reproduction). Head ``g(H; W)``: by
default the identity (the hidden state is the query, the original SASRec's scoring);
``head = "mlp"`` adds a residual MLP turning each hidden state into a query. Queries are scored
by dot product against every item's representation. Trained with cross-entropy on every
position of each sequence. The network is in :mod:`flm_bench_plugins.sasrec_net`.

What transfers to another catalogue: the feature projection, positions, Transformer blocks
and head. Item-ID embeddings are tied to one catalogue and are re-initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from flm_bench.api import BuildInputs, ModelParams, ModelSpec, Search, added, hookimpl, tunable

if TYPE_CHECKING:
    from flm_bench_plugins.sasrec_net import SASRec


class SASRecParams(ModelParams):
    dim: int = tunable(64, "item and hidden dimension d", ge=1, search=Search(choices=(32, 64, 128, 256)))
    layers: int = tunable(2, "Transformer blocks", ge=1, search=Search(choices=(1, 2, 3)))
    heads: int = tunable(2, "attention heads (dim % heads == 0)", ge=1, search=Search(choices=(1, 2, 4)))
    dropout: float = tunable(
        0.2, "embedding, attention and residual dropout", ge=0, lt=1, search=Search(low=0.0, high=0.5)
    )
    max_len: int = tunable(
        20, "positions: the last max_len items of a history", ge=1, search=Search(choices=(20, 50, 100))
    )
    use_ids: bool = True  # item-ID embeddings (never transfer across catalogues)
    use_features: bool = True  # projection of dense item features, when the dataset has them
    head: Literal["dot", "mlp"] = (
        "dot"  # dot: the hidden state is the query; mlp: the Pretraining-FLM design's MLP head g(H; W)
    )
    loss: Literal["ce", "bce"] = (
        "ce"  # ce: cross-entropy over the catalogue; bce: the original SASRec's, one sampled negative per position
    )
    block: Literal["torch", "s3rec"] = added(
        "torch",
        "torch: torch's Transformer block (feed-forward width dim, ReLU) with a LayerNorm after the last "
        "block; s3rec: S3-Rec's SASRec (feed-forward width 4·dim, GELU, the LayerNorm on the input "
        "embeddings instead, every weight drawn from N(0, 0.02))",
    )

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SASRecParams:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        return self


def build(inputs: BuildInputs[SASRecParams]) -> SASRec:
    """A :class:`~flm_bench_plugins.sasrec_net.SASRec` for the catalogue (imports torch)."""
    from flm_bench_plugins.sasrec_net import SASRec

    return SASRec(inputs.n_items, inputs.params, inputs.item_features)


@hookimpl
def flm_bench_register_models(register):
    register(
        ModelSpec(
            name="sasrec",
            build=build,
            pretrainable=True,
            item_representation="ids+features",
            params=SASRecParams,
            description="causal self-attention over item IDs and item features; "
            "encoder transfers, ID embeddings do not",
        )
    )
