"""``sasrec``: a small causal self-attention sequence model (Kang & McAuley, 2018).

Encoder ``f(X; θ)``: item representations (item-ID embeddings and/or a projection of item
side features) + learned positions, causal post-norm Transformer blocks. Head ``g(H; W)``:
a residual MLP turning each hidden state into a query, scored by dot product against every
item's representation. Trained with cross-entropy on every position of each sequence.

What transfers to another catalogue: the feature projection, positions, Transformer blocks
and head. Item-ID embeddings are tied to one catalogue and are re-initialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from flm_bench import hookimpl
from flm_bench.specs import ModelSpec

DEFAULTS = {"dim": 64, "layers": 2, "heads": 2, "dropout": 0.2, "max_len": 20,
            "use_ids": True, "use_features": True, "head": "dot"}
HEADS = ("mlp", "dot")


def build(n_items: int, item_features: np.ndarray | None, params: dict[str, Any],
          side: Mapping[str, np.ndarray] | None = None):
    """A :class:`SASRec` for a catalogue of ``n_items`` (imports torch)."""
    import torch
    from torch import nn

    from flm_bench.train.layers import ItemTable, QueryHead
    from flm_bench.train.neural import NeuralRecommender

    class Encoder(nn.Module):
        def __init__(self, dim: int, layers: int, heads: int, dropout: float, max_len: int,
                     use_ids: bool, features: np.ndarray | None) -> None:
            super().__init__()
            self.items = ItemTable(n_items, dim, use_ids, features)
            self.positions = nn.Embedding(max_len, dim)
            nn.init.normal_(self.positions.weight, std=0.02)
            block = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=dropout,
                                               batch_first=True, norm_first=False)
            self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            self.dropout = nn.Dropout(dropout)
            self.norm = nn.LayerNorm(dim)

        def forward(self, inputs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
            b, l = inputs.shape  # [B, L] item + 1, right-padded
            x = table[inputs] + self.positions(torch.arange(l, device=inputs.device))  # [B, L, d]
            causal = nn.Transformer.generate_square_subsequent_mask(l, device=inputs.device)
            return self.norm(self.blocks(self.dropout(x), mask=causal, is_causal=True))

    class SASRec(NeuralRecommender):
        def __init__(self, dim: int, layers: int, heads: int, dropout: float, max_len: int,
                     use_ids: bool, use_features: bool, head: str) -> None:
            super().__init__()
            assert dim % heads == 0, f"sasrec: dim {dim} must be divisible by heads {heads}"
            feats = item_features if use_features else None
            self.n_items, self.max_len = n_items, max_len
            self.encoder = Encoder(dim, layers, heads, dropout, max_len, use_ids, feats)
            self.head = QueryHead(dim) if head == "mlp" else nn.Identity()
            self.id_parameters = ("encoder.items.ids.weight",) if use_ids else ()
            # not out_proj: nn.MultiheadAttention reads out_proj.weight directly, so LoRA there gets no gradient
            self.adapter_targets = ("linear1", "linear2")

        def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.encoder(inputs, self.encoder.items())

        def logits(self, hidden: torch.Tensor) -> torch.Tensor:
            table = self.encoder.items()[1:]  # [n_items, d]
            return self.head(hidden) @ table.T  # [..., n_items]

    from flm_bench.errors import ConfigError

    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"model 'sasrec': unknown parameters {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    merged = {**DEFAULTS, **params}
    if merged["head"] not in HEADS:
        raise ConfigError(f"model 'sasrec': head {merged['head']!r} is not one of {list(HEADS)}")
    return SASRec(**merged)


@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec(
        name="sasrec", build=build, pretrainable=True, item_representation="ids+features",
        defaults=DEFAULTS,
        description="causal self-attention over item IDs and item features; encoder transfers, ID embeddings do not",
    ))
