"""The ``flm-cnn`` network (imports torch; :mod:`flm_bench_plugins.flm_cnn` registers it and
documents the design)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from flm_bench.api import ConfigError, ItemTable, NeuralRecommender, QueryHead, pad
from flm_bench_plugins.flm_cnn import FlmCNNParams


class Encoder(nn.Module):
    """Caser's convolutions over the causal window of L items of every position: ``[B, T, d]``."""

    def __init__(
        self,
        n_items: int,
        dim: int,
        window: int,
        n_h: int,
        n_v: int,
        dropout: float,
        use_ids: bool,
        features: np.ndarray | None,
    ) -> None:
        super().__init__()
        self.dim, self.window = dim, window
        self.items = ItemTable(n_items, dim, use_ids, features)
        # horizontal filter of height h == Conv2d(1, n_h, (h, d)) == Linear on flattened h×d patches
        self.horizontal = nn.ModuleList(nn.Linear(h * dim, n_h) for h in range(1, window + 1))
        # vertical filters == Conv2d(1, n_v, (L, 1)): n_v weighted sums of the L rows
        self.vertical = nn.Linear(window, n_v)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n_h * window + n_v * dim, dim)

    def forward(self, inputs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        b, t = inputs.shape  # [B, T] item + 1, right-padded
        w, d = self.window, self.dim
        x = table[inputs]  # [B, T, d]; padding rows are zero
        x = F.pad(x, (0, 0, w - 1, 0))  # [B, T + L - 1, d]: zeros before the first item
        outs = []
        for h, conv in enumerate(self.horizontal, start=1):
            # each h-row patch of the sequence once (not once per window that contains it)
            patches = x.unfold(1, h, 1).transpose(-1, -2).reshape(b, t + w - h, h * d)  # [B, T+L-h, h·d]
            c = F.relu(conv(patches))  # [B, T+L-h, n_h]
            # position t's window holds the L-h+1 patches c[t .. t+L-h]: max-pool over them
            outs.append(c.unfold(1, w - h + 1, 1).amax(dim=-1))  # [B, T, n_h]
        windows = x.unfold(1, w, 1)  # [B, T, d, L]: position t's window, oldest row first
        outs.append(self.vertical(windows).flatten(2))  # [B, T, d, n_v] -> [B, T, d·n_v]
        z = self.fc(self.dropout(torch.cat(outs, dim=-1)))  # [B, T, d]
        assert z.shape == (b, t, d), f"flm-cnn: hidden {tuple(z.shape)}, expected {(b, t, d)}"
        return F.relu(z)


class FlmCNN(NeuralRecommender):
    """Caser's encoder over item IDs and features, the MLP head, and its three losses."""

    encoder: Encoder

    def __init__(self, n_items: int, p: FlmCNNParams, item_features: np.ndarray | None) -> None:
        super().__init__()
        features = item_features if p.use_features else None
        if not p.use_ids and features is None:
            raise ConfigError(
                "model 'flm-cnn': use_ids is false and the dataset has no item features "
                "(or use_features is false): items would have no representation"
            )
        self.n_items, self.window = n_items, p.max_len
        self.max_len = max(p.train_len, p.max_len)  # the harness batches the last max_len items
        self.loss_kind, self.negatives = p.loss, p.negatives
        self.encoder = Encoder(n_items, p.dim, p.max_len, p.n_h, p.n_v, p.dropout, p.use_ids, features)
        self.head = QueryHead(p.dim)
        self.id_parameters = ("encoder.items.ids.weight",) if p.use_ids else ()
        # the vertical Linear (L -> n_v) is smaller than a rank-8 adapter: not a target
        self.adapter_targets = tuple(f"horizontal.{i}" for i in range(p.max_len)) + ("fc",)

    def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs, self.encoder.items())  # [B, T, d]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        table = self.encoder.items()[1:]  # [n_items, d]
        return self.head(hidden) @ table.T  # [..., n_items]

    def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, objective: str) -> torch.Tensor:
        if objective != "next-item" or self.loss_kind == "ce":
            return super().loss(inputs, lengths, targets, objective)  # full-catalogue CE
        table = self.encoder.items()  # [n_items + 1, d]
        h = self.encoder(inputs, table)  # [B, T, d]
        mask = targets >= 0
        query = self.head(h[mask])  # [P, d]
        pos = targets[mask]  # [P]
        assert self.n_items >= 2, "flm-cnn: sampled negatives need at least 2 items"
        # uniform over the catalogue minus the target: shift by 1..n-1 modulo n
        shift = torch.randint(1, self.n_items, (pos.shape[0], self.negatives), device=pos.device)
        neg = (pos[:, None] + shift) % self.n_items  # [P, k]
        items = torch.cat([pos[:, None], neg], dim=1) + 1  # [P, 1 + k] rows of the table
        scores = torch.einsum("pd,pkd->pk", query, table[items])  # [P, 1 + k]
        labels = torch.zeros_like(scores)
        labels[:, 0] = 1
        if self.loss_kind == "bce":
            return F.binary_cross_entropy_with_logits(scores, labels)
        return F.mse_loss(scores, labels)

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        """Scores ``[B, n_items]`` from the window of each history's last L items."""
        inputs, lengths = pad(histories, self.window, self.device)  # [B, ≤L]
        h = self.hidden(inputs, lengths)  # [B, ≤L, d]
        last = h[torch.arange(len(histories), device=h.device), (lengths - 1).clamp(min=0)]
        return self.logits(last)
