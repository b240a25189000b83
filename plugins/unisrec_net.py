"""The ``unisrec`` network (imports torch; :mod:`flm_bench_plugins.unisrec` registers it, hashes
item text and documents the design)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from flm_bench.api import ConfigError, NeuralRecommender, QueryHead
from flm_bench_plugins.unisrec import (
    OBJECTIVES,
    UniSRecParams,
    describe_text,
    hashed_bags,
    text_embeddings,
    with_text,
)

#: every item's bag of hashed tokens, CSR: (indptr [n_items + 1], bucket ids [nnz], weights [nnz])
Bags = tuple[np.ndarray, np.ndarray, np.ndarray]


class Expert(nn.Module):
    """Parametric whitening: ``W (x − b)``, ``[.., text_dim] -> [.., dim]``."""

    def __init__(self, text_dim: int, dim: int) -> None:
        super().__init__()
        self.center = nn.Parameter(torch.zeros(text_dim))
        self.linear = nn.Linear(text_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x - self.center)


class MoEAdaptor(nn.Module):
    """``Σ_k softmax(gate(x) + noise)_k · expert_k(x)``; noisy gating while training (UniSRec)."""

    def __init__(self, text_dim: int, dim: int, experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(Expert(text_dim, dim) for _ in range(experts))
        self.gate = nn.Linear(text_dim, experts, bias=False)
        self.noise = nn.Linear(text_dim, experts, bias=False)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.noise.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.gate(x)  # [N, K]
        if self.training:
            logits = logits + torch.randn_like(logits) * (F.softplus(self.noise(x)) + 1e-2)
        gates = logits.softmax(-1).unsqueeze(-1)  # [N, K, 1]
        out = torch.stack([e(x) for e in self.experts], dim=-2)  # [N, K, d]
        return (gates * out).sum(-2)  # [N, d]


class ItemEncoder(nn.Module):
    """Item vectors ``[.., d]`` for 1-based item indices (0 = padding -> zero vector).

    ``plm``: frozen sentence embeddings ``[n_items, 384]`` of the item text, or None (hashed
    text). With them the adaptor's input is 384 wide, and the bucket table and bias start at the
    scale of a unit vector (``1 / sqrt(384)`` per entry) so that they do not drown the text.
    """

    indptr: torch.Tensor  # per-catalogue CSR bags: buffers
    bag_ids: torch.Tensor
    bag_weights: torch.Tensor
    features: torch.Tensor
    plm: torch.Tensor | None

    def __init__(
        self, n_items: int, p: UniSRecParams, bags: Bags, features: np.ndarray | None, plm: np.ndarray | None
    ) -> None:
        super().__init__()
        self.n_items = n_items
        indptr, bag_ids, bag_weights = bags
        # per-catalogue CSR bags and text embeddings: buffers that move with the model but are never saved
        self.register_buffer("indptr", torch.from_numpy(indptr), persistent=False)  # [n_items + 1]
        self.register_buffer("bag_ids", torch.from_numpy(bag_ids), persistent=False)  # [nnz]
        self.register_buffer("bag_weights", torch.from_numpy(bag_weights), persistent=False)  # [nnz]
        self.register_buffer("plm", None if plm is None else torch.from_numpy(plm), persistent=False)  # [n_items, 384]
        width, scale = (p.text_dim, 1.0) if plm is None else (plm.shape[1], plm.shape[1] ** -0.5)
        self.buckets = nn.EmbeddingBag(p.buckets, width, mode="sum")
        nn.init.normal_(self.buckets.weight, std=scale)
        self.bias = nn.Parameter(torch.randn(width) * 0.1 * scale)  # what an empty bag is
        self.project = None
        if features is not None:
            f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
            assert f.ndim == 2 and len(f) == n_items, (
                f"unisrec: item_features {tuple(f.shape)}, expected [{n_items}, d]"
            )
            f = (f - f.mean(0)) / (f.std(0, unbiased=False) + 1e-6)
            self.register_buffer("features", f, persistent=False)  # [n_items, f]
            self.project = nn.Linear(f.shape[1], width)
        self.dropout = nn.Dropout(p.dropout)
        self.moe = MoEAdaptor(width, p.dim, p.experts)
        self.ids = nn.Embedding(n_items + 1, p.dim, padding_idx=0) if p.use_ids else None
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.02)

    def forward(self, items: torch.Tensor | None = None, token_drop: float = 0.0) -> torch.Tensor:
        if items is None:  # the whole catalogue, padding row included
            items = torch.arange(self.n_items + 1, device=self.indptr.device)
        flat = items.reshape(-1)  # [N] item + 1
        assert flat.numel() == 0 or (0 <= int(flat.min()) and int(flat.max()) <= self.n_items), (
            f"unisrec: item index outside 0..{self.n_items}"
        )
        row = (flat - 1).clamp(min=0)
        starts = self.indptr[row]
        counts = torch.where(flat > 0, self.indptr[row + 1] - starts, 0)  # [N] tokens per bag
        offsets = counts.cumsum(0) - counts  # [N] where each bag starts in the gathered tokens
        total = int(counts.sum())
        take = torch.repeat_interleave(starts - offsets, counts, output_size=total) + torch.arange(
            total, device=flat.device
        )  # [T] positions in bag_ids
        weights = self.bag_weights[take]
        if token_drop > 0:
            weights = weights * (torch.rand_like(weights) >= token_drop) / (1 - token_drop)
        x = self.buckets(self.bag_ids[take], offsets, per_sample_weights=weights) + self.bias  # [N, width]
        if self.plm is not None:
            x = x + self.plm[row]
        if self.project is not None:
            x = x + self.project(self.features[row])
        out = self.moe(self.dropout(x))  # [N, d]
        if self.ids is not None:
            out = out + self.ids(flat)
        out = out * (flat > 0).unsqueeze(-1)  # padding is a zero vector
        return out.reshape(*items.shape, -1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.p = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            t.view(b, n, self.heads, d // self.heads).transpose(1, 2) for t in self.qkv(x).split(d, dim=2)
        )  # [B, h, L, d / h] each
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, n, d))  # [B, L, d]


class Block(nn.Module):
    """Pre-norm causal Transformer block."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.fc, self.out = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln1(x)))
        return x + self.dropout(self.out(F.gelu(self.fc(self.ln2(x)))))  # [B, L, d]


class Encoder(nn.Module):
    """Item vectors + learned positions + causal pre-norm Transformer blocks: ``[B, L] -> [B, L, d]``."""

    def __init__(
        self, n_items: int, p: UniSRecParams, bags: Bags, features: np.ndarray | None, plm: np.ndarray | None
    ) -> None:
        super().__init__()
        self.max_len = p.max_len
        self.items = ItemEncoder(n_items, p, bags, features, plm)
        self.positions = nn.Embedding(p.max_len, p.dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.ln_in = nn.LayerNorm(p.dim)
        self.dropout = nn.Dropout(p.dropout)
        self.blocks = nn.ModuleList(Block(p.dim, p.heads, p.dropout) for _ in range(p.layers))
        self.ln_out = nn.LayerNorm(p.dim)

    def forward(self, inputs: torch.Tensor, token_drop: float = 0.0) -> torch.Tensor:
        b, n = inputs.shape  # [B, L] item + 1, right-padded
        assert n <= self.max_len, f"unisrec: inputs of width {n} exceed max_len {self.max_len}"
        uniq, inverse = torch.unique(inputs, return_inverse=True)  # encode each distinct item once
        x = self.items(uniq, token_drop)[inverse]  # [B, L, d]
        x = self.dropout(self.ln_in(x + self.positions(torch.arange(n, device=inputs.device))))
        for block in self.blocks:
            x = block(x)
        return self.ln_out(x)  # [B, L, d]; position t saw only positions <= t


class UniSRec(NeuralRecommender):
    """Sequence encoder over ID-agnostic item vectors; cosine scores of the head's query."""

    encoder: Encoder

    def __init__(
        self, n_items: int, p: UniSRecParams, item_features: np.ndarray | None, side: Mapping[str, np.ndarray]
    ) -> None:
        super().__init__()
        side = dict(side)
        if item_features is not None:
            side.setdefault("item_features", item_features)
        features = side.get("item_features") if p.use_features else None
        hashed = p.text_encoder == "hashed"
        bags = hashed_bags(
            n_items,
            side,
            buckets=p.buckets,
            max_words=p.max_words,
            use_text=p.use_text and hashed,
            use_attrs=p.use_attrs,
        )
        has_text = with_text(n_items, side, use_text=p.use_text)
        plm = None if hashed else text_embeddings(n_items, side, use_text=p.use_text)
        if len(bags[1]) == 0 and not (plm is not None and has_text.any()) and features is None and not p.use_ids:
            raise ConfigError(
                "model 'unisrec' needs item side data (item_text, item attributes or item_features, "
                "with use_text / use_attrs / use_features) or use_ids=true; this catalogue has none"
            )
        self.n_items, self.max_len, self.p = n_items, p.max_len, p
        self.text_encoder = describe_text(p, has_text)
        self.encoder = Encoder(n_items, p, bags, features, plm)
        self.head = QueryHead(p.dim)
        for name, module in self.named_modules():  # nanoGPT init for the sequence part
            if isinstance(module, nn.Linear) and not name.startswith("encoder.items."):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        self.id_parameters = ("encoder.items.ids.weight",) if p.use_ids else ()
        self.adapter_targets = ("linear", "qkv", "out", "fc")  # MoE experts and Transformer linears

    def encoder_blocks(self) -> list[nn.Module]:
        return list(self.encoder.blocks)

    def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor, token_drop: float = 0.0) -> torch.Tensor:
        return self.encoder(inputs, token_drop)  # [B, L, d]

    def _cosine(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``[N, d] x [C, d] -> [N, C]`` cosine / temperature."""
        return F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T / self.p.temperature

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        table = self.encoder.items()[1:]  # [n_items, d]
        q = self.head(hidden)
        return self._cosine(q.reshape(-1, q.shape[-1]), table).reshape(*q.shape[:-1], self.n_items)

    def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, objective: str) -> torch.Tensor:
        if objective == "next-item":
            return super().loss(inputs, lengths, targets, objective)
        if objective != "contrastive":
            raise ConfigError(f"model 'unisrec' implements the objectives {list(OBJECTIVES)}, not {objective!r}")
        mask = targets >= 0  # [B, L]
        assert mask.any(), "unisrec: a batch without targets"
        h = self.hidden(inputs, lengths)  # [B, L, d]
        candidates, label = torch.unique(targets[mask] + 1, return_inverse=True)  # [C] item + 1, [N]
        if self.p.negatives:  # plus uniform samples of the catalogue that are nobody's positive
            sample = torch.randint(1, self.n_items + 1, (self.p.negatives,), device=inputs.device).unique()
            candidates = torch.cat([candidates, sample[~torch.isin(sample, candidates)]])  # [C']
        logits = self._cosine(self.head(h[mask]), self.encoder.items(candidates))  # [N, C']
        loss = F.cross_entropy(logits, label)
        if self.p.ss_weight > 0 and len(inputs) > 1:
            rows = torch.arange(len(inputs), device=inputs.device)
            dropped, dropped_len = self._drop_items(inputs, lengths)
            z1 = self.hidden(dropped, dropped_len)[rows, dropped_len - 1]  # [B, d] item-dropped view
            z2 = self.hidden(inputs, lengths, token_drop=self.p.token_drop)[rows, lengths - 1]  # token-dropped view
            loss = loss + self.p.ss_weight * F.cross_entropy(self._cosine(z1, z2), rows)
        return loss

    def _drop_items(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Drop each item with probability ``item_drop`` (never a row's last one), re-packed to the left."""
        rows = torch.arange(len(inputs), device=inputs.device)
        keep = (inputs > 0) & (torch.rand(inputs.shape, device=inputs.device) >= self.p.item_drop)
        keep[rows, (lengths - 1).clamp(min=0)] = lengths > 0
        position = keep.cumsum(1) - 1  # [B, L] new column of each kept item
        out = torch.zeros_like(inputs)
        out[rows.unsqueeze(1).expand_as(inputs)[keep], position[keep]] = inputs[keep]
        return out, keep.sum(1)
