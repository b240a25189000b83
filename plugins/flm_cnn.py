"""``flm-cnn``: the seed document's "Pretraining-FLM" model done properly — a convolutional
sequence encoder in the style of Caser (Tang & Wang, "Personalized Top-N Sequential
Recommendation via Convolutional Sequence Embedding", WSDM 2018) with an MLP head.

Encoder ``H = f(X; θ)``, for one window of the last ``L = max_len`` items::

    items ──► E [L, d]  (item-ID embedding + Linear(standardised item_features); padding = 0,
                         windows shorter than L are left-padded so the newest item is row L-1)
    horizontal: for h in 1..L, n_h filters of size h × d   ──► ReLU ──► max over the L-h+1 offsets ──► [n_h·L]
    vertical:   n_v filters of size L × 1 (weighted sums of the L rows)                          ──► [n_v·d]
    concat ──► dropout ──► Linear(n_h·L + n_v·d, d) ──► ReLU ──► H [d]

A convolution whose kernel spans the full embedding width is a Linear layer on the flattened
h × d patch, and a vertical filter is a Linear layer over the L rows, so every filter is an
``nn.Linear`` (same function and parameter count as Caser's ``Conv2d``). ``adapter_targets``
(LoRA under the ``adapter`` strategy) are the horizontal filters and the Linear after the
concatenation; the vertical Linear (L inputs, n_v outputs) is smaller than a rank-8 adapter. Head ``Y = g(H; W)``: a residual MLP turning H into a query,
scored by dot product against every item's representation (the full catalogue). Caser's
user embedding is left out: user IDs are tied to one dataset and the harness scores
histories, not user IDs.

Why a window at *every* position: the harness trains on ``[B, T]`` sequences with a target
after every position, and ``hidden`` must let position t see only items ≤ t. Here position t
gets its own causal window (items t-L+1..t, left-padded with zeros), so each training
sequence yields T next-item examples — Caser's sliding-window training data — in one
batched pass, with no Python loop over positions. It is computed without materialising the
windows: each horizontal filter runs once over the zero-padded sequence (``unfold`` into
h × d patches, then its Linear), and position t takes the max over the L-h+1 patches inside
its window (a sliding max, again an ``unfold``); the vertical filters act on an ``unfold``
view of the windows. This is exactly Caser's per-window computation (the tests check it
against a literal ``Conv2d`` transcription) at about half the cost of encoding T separate
windows. Training uses the last ``train_len`` items of each history (the model attribute
``max_len`` that the harness's batcher reads; default 20, the same training positions as
``sasrec``'s default); scoring needs only the last window, so :meth:`score` pads histories
to their last L items.

Loss (parameter ``loss``), all on next-item targets at every position:

- ``ce``: softmax cross-entropy over the whole catalogue (default);
- ``bce``: binary cross-entropy of the target's score against ``negatives`` uniformly sampled
  other items per positive (Caser's loss);
- ``mse``: the document's mean squared error, the target's raw score against 1 and each
  sampled negative's against 0.

Negatives are drawn uniformly from the catalogue minus the target, with torch's global
generator (seeded by the harness).

What transfers to another catalogue: the feature projection (when both catalogues' features
have the same width), all filters, the Linear after them and the head. Item-ID embeddings
are tied to one catalogue and are re-initialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from flm_bench import hookimpl
from flm_bench.specs import ModelSpec

DEFAULTS = {
    "dim": 64,            # item and hidden dimension d
    "max_len": 5,         # window L: the last L items the CNN sees (Caser: 5)
    "train_len": 20,      # trailing items of each training history trained on, one window per position
    "n_h": 16,            # horizontal filters per height h = 1..L (Caser: 16)
    "n_v": 4,             # vertical filters (Caser: 4)
    "dropout": 0.5,       # on the concatenated filter outputs (Caser: 0.5)
    "use_ids": True,      # item-ID embeddings (never transfer across catalogues)
    "use_features": True, # projection of item side features, when the dataset has them
    "loss": "ce",         # "ce" | "bce" | "mse"
    "negatives": 1,       # sampled negatives per positive for "bce" and "mse"
}
LOSSES = ("ce", "bce", "mse")


def _check(params: dict[str, Any]) -> dict[str, Any]:
    from flm_bench.errors import ConfigError

    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"model 'flm-cnn': unknown parameters {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if p["loss"] not in LOSSES:
        raise ConfigError(f"model 'flm-cnn': loss {p['loss']!r} is not one of {list(LOSSES)}")
    for name in ("dim", "max_len", "train_len", "n_h", "n_v", "negatives"):
        if not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1:
            raise ConfigError(f"model 'flm-cnn': {name} must be a positive integer, not {p[name]!r}")
    if not 0 <= p["dropout"] < 1:
        raise ConfigError(f"model 'flm-cnn': dropout must be in [0, 1), not {p['dropout']!r}")
    return p


def build(n_items: int, item_features: np.ndarray | None, params: dict[str, Any],
          side: Mapping[str, np.ndarray] | None = None):
    """A :class:`FlmCNN` for a catalogue of ``n_items`` (imports torch)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from flm_bench.errors import ConfigError
    from flm_bench.train.layers import ItemTable, QueryHead
    from flm_bench.train.neural import NeuralRecommender, pad

    p = _check(params)
    features = item_features if p["use_features"] else None
    if not p["use_ids"] and features is None:
        raise ConfigError("model 'flm-cnn': use_ids is false and the dataset has no item features "
                          "(or use_features is false): items would have no representation")

    class Encoder(nn.Module):
        """Caser's convolutions over the causal window of L items of every position: ``[B, T, d]``."""

        def __init__(self, dim: int, window: int, n_h: int, n_v: int, dropout: float,
                     use_ids: bool, features: np.ndarray | None) -> None:
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
            l, d = self.window, self.dim
            x = table[inputs]  # [B, T, d]; padding rows are zero
            x = F.pad(x, (0, 0, l - 1, 0))  # [B, T + L - 1, d]: zeros before the first item
            outs = []
            for h, conv in enumerate(self.horizontal, start=1):
                # each h-row patch of the sequence once (not once per window that contains it)
                patches = x.unfold(1, h, 1).transpose(-1, -2).reshape(b, t + l - h, h * d)  # [B, T+L-h, h·d]
                c = F.relu(conv(patches))  # [B, T+L-h, n_h]
                # position t's window holds the L-h+1 patches c[t .. t+L-h]: max-pool over them
                outs.append(c.unfold(1, l - h + 1, 1).amax(dim=-1))  # [B, T, n_h]
            w = x.unfold(1, l, 1)  # [B, T, d, L]: position t's window, oldest row first
            outs.append(self.vertical(w).flatten(2))  # [B, T, d, n_v] -> [B, T, d·n_v]
            z = self.fc(self.dropout(torch.cat(outs, dim=-1)))  # [B, T, d]
            assert z.shape == (b, t, d), f"flm-cnn: hidden {tuple(z.shape)}, expected {(b, t, d)}"
            return F.relu(z)

    class FlmCNN(NeuralRecommender):
        def __init__(self, dim: int, max_len: int, train_len: int, n_h: int, n_v: int, dropout: float,
                     use_ids: bool, use_features: bool, loss: str, negatives: int) -> None:
            super().__init__()
            self.n_items, self.window = n_items, max_len
            self.max_len = max(train_len, max_len)  # the harness batches the last max_len items
            self.loss_kind, self.negatives = loss, negatives
            self.encoder = Encoder(dim, max_len, n_h, n_v, dropout, use_ids, features)
            self.head = QueryHead(dim)
            self.id_parameters = ("encoder.items.ids.weight",) if use_ids else ()
            # the vertical Linear (L -> n_v) is smaller than a rank-8 adapter: not a target
            self.adapter_targets = tuple(f"horizontal.{i}" for i in range(max_len)) + ("fc",)

        def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.encoder(inputs, self.encoder.items())  # [B, T, d]

        def logits(self, hidden: torch.Tensor) -> torch.Tensor:
            table = self.encoder.items()[1:]  # [n_items, d]
            return self.head(hidden) @ table.T  # [..., n_items]

        def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                 objective: str) -> torch.Tensor:
            if objective != "next-item" or self.loss_kind == "ce":
                return super().loss(inputs, lengths, targets, objective)  # full-catalogue CE
            table = self.encoder.items()  # [n_items + 1, d]
            h = self.encoder(inputs, table)  # [B, T, d]
            mask = targets >= 0
            query = self.head(h[mask])  # [P, d]
            pos = targets[mask]  # [P]
            assert n_items >= 2, "flm-cnn: sampled negatives need at least 2 items"
            # uniform over the catalogue minus the target: shift by 1..n-1 modulo n
            shift = torch.randint(1, n_items, (pos.shape[0], self.negatives), device=pos.device)
            neg = (pos[:, None] + shift) % n_items  # [P, k]
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

    return FlmCNN(**p)


@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec(
        name="flm-cnn", build=build, pretrainable=True, item_representation="ids+features",
        defaults=DEFAULTS, objectives=("next-item",),
        description="Caser-style CNN over the last L items (the seed document's f(X; θ)) with an MLP head; "
                    "encoder transfers, ID embeddings do not",
    ))
