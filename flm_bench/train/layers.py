"""Building blocks shared by the neural model plugins (imports torch: import it inside ``build``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ItemTable(nn.Module):
    """Item representations ``[n_items + 1, d]`` from item-ID embeddings and/or a projection
    of standardised dense item features; row 0 is padding and is always zero."""

    def __init__(self, n_items: int, dim: int, use_ids: bool, features: np.ndarray | None) -> None:
        super().__init__()
        assert use_ids or features is not None, "items need IDs or features to be represented"
        self.ids = nn.Embedding(n_items + 1, dim, padding_idx=0) if use_ids else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.02)
        self.project = None
        if features is not None:
            f = torch.as_tensor(features, dtype=torch.float32)
            assert f.shape[0] == n_items, f"{f.shape[0]} feature rows for {n_items} items"
            f = (f - f.mean(0)) / (f.std(0) + 1e-6)
            self.register_buffer("features", torch.cat([torch.zeros(1, f.shape[1]), f]), persistent=False)
            self.project = nn.Linear(f.shape[1], dim)

    def forward(self) -> torch.Tensor:
        parts = [self.ids.weight] if self.ids is not None else []
        if self.project is not None:
            parts.append(self.project(self.features))
        out = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        keep = torch.ones(out.shape[0], 1, device=out.device)
        keep[0] = 0  # the projection's bias must not give padding a vector
        return out * keep  # [n_items + 1, d]


class QueryHead(nn.Module):
    """The head ``g(H; W)``: a residual MLP turning hidden states into query vectors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.mlp(h)  # [..., d] query
