"""The ``sasrec`` network (imports torch; :mod:`flm_bench_plugins.sasrec` registers it)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from flm_bench.api import ConfigError, ItemTable, NeuralRecommender, QueryHead
from flm_bench_plugins.sasrec import SASRecParams


class Encoder(nn.Module):
    """Item table + learned positions + causal post-norm Transformer blocks: ``[B, L] -> [B, L, d]``."""

    def __init__(self, n_items: int, p: SASRecParams, features: np.ndarray | None) -> None:
        super().__init__()
        self.items = ItemTable(n_items, p.dim, p.use_ids, features)
        self.positions = nn.Embedding(p.max_len, p.dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.s3rec = p.block == "s3rec"
        block = nn.TransformerEncoderLayer(
            p.dim,
            p.heads,
            dim_feedforward=4 * p.dim if self.s3rec else p.dim,
            dropout=p.dropout,
            activation="gelu" if self.s3rec else "relu",
            batch_first=True,
            norm_first=False,
        )
        self.blocks = nn.TransformerEncoder(block, p.layers, enable_nested_tensor=False)
        self.dropout = nn.Dropout(p.dropout)
        self.norm = nn.LayerNorm(p.dim)  # after the last block; with s3rec blocks, on the input embeddings
        if self.s3rec:
            self._init_as_s3rec()

    def _init_as_s3rec(self) -> None:
        """S3-Rec's ``init_weights``: every linear and attention projection weight from N(0, 0.02), biases 0."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.MultiheadAttention):
                nn.init.normal_(module.in_proj_weight, std=0.02)
                nn.init.zeros_(module.in_proj_bias)

    def forward(self, inputs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        _, length = inputs.shape  # [B, L] item + 1, right-padded
        x = table[inputs] + self.positions(torch.arange(length, device=inputs.device))  # [B, L, d]
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=inputs.device)
        if self.s3rec:
            return self.blocks(self.dropout(self.norm(x)), mask=causal, is_causal=True)
        return self.norm(self.blocks(self.dropout(x), mask=causal, is_causal=True))


class SASRec(NeuralRecommender):
    """Encoder over the item table; the head turns each hidden state into a query scored by dot
    product against every item's representation."""

    encoder: Encoder

    def __init__(self, n_items: int, p: SASRecParams, item_features: np.ndarray | None) -> None:
        super().__init__()
        features = item_features if p.use_features else None
        self.n_items, self.max_len, self.loss_kind = n_items, p.max_len, p.loss
        if p.loss == "bce" and n_items < 2:
            raise ConfigError(f"sasrec loss 'bce' samples a negative item, so it needs 2+ items, not {n_items}")
        self.encoder = Encoder(n_items, p, features)
        self.head = QueryHead(p.dim) if p.head == "mlp" else nn.Identity()
        self.id_parameters = ("encoder.items.ids.weight",) if p.use_ids else ()
        # not out_proj: nn.MultiheadAttention reads out_proj.weight directly, so LoRA there gets no gradient
        self.adapter_targets = ("linear1", "linear2")

    def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs, self.encoder.items())  # [B, L, d]

    def encoder_blocks(self) -> list[nn.Module]:
        return list(self.encoder.blocks.layers)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        table = self.encoder.items()[1:]  # [n_items, d]
        return self.head(hidden) @ table.T  # [..., n_items]

    def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, objective: str) -> torch.Tensor:
        """``ce``: the base class's; ``bce``: at every position, binary cross-entropy of the next item
        against one item drawn uniformly from the others (S3-Rec's SASRec draws among items outside
        the user's sequence; here only the positive is left out)."""
        if self.loss_kind == "ce" or objective != "next-item":
            return super().loss(inputs, lengths, targets, objective)  # which refuses other objectives
        mask = targets >= 0
        query = self.head(self.hidden(inputs, lengths)[mask])  # [N, d]
        table = self.encoder.items()[1:]  # [n_items, d]
        positive = targets[mask]
        negative = torch.randint(0, self.n_items - 1, positive.shape, device=positive.device)
        negative = negative + (negative >= positive).long()  # uniform over the items other than the positive
        bce = nn.functional.binary_cross_entropy_with_logits
        pos_logit, neg_logit = (query * table[positive]).sum(-1), (query * table[negative]).sum(-1)
        return bce(pos_logit, torch.ones_like(pos_logit)) + bce(neg_logit, torch.zeros_like(neg_logit))
