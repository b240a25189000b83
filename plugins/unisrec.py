"""``unisrec``: universal, ID-agnostic item representations from side data (after Hou et al.,
"Towards Universal Sequence Representation Learning for Recommender Systems", KDD 2022).

UniSRec encodes each item's text with a frozen BERT and adapts it with a mixture of
parametric-whitening experts. Here nothing is downloaded: the text encoder is a learned
embedding of *hashed* n-grams, so its buckets mean the same thing in every catalogue.

Item tower (part of the encoder, computed for any subset of items):

    text ──► word uni+bigrams, char trigrams ─┐
    attribute ids (or names) ─────────────────┼─► crc32 % buckets ─► EmbeddingBag (sum, weighted)
                                              │         + bias + Linear(standardised item_features)
    ─► [text_dim] ─► MoE adaptor: Σ_k softmax(gate(x))_k · W_k (x − b_k) ─► [dim] (+ item-ID embedding)

Each item's bag is the average of its groups (word n-grams, char trigrams, attributes), each
group the mean of its tokens, so 150 char trigrams do not drown 3 attributes. An item with
no text and no attributes has an empty bag and is represented by the bias (and its features).

Sequence encoder: learned positions and causal pre-norm Transformer blocks (nanoGPT style)
over the item vectors. Head ``g(H; W)``: a residual MLP giving a query; scores are cosine
similarities with every item vector over a temperature, as in UniSRec.

Objectives: ``next-item`` (cross-entropy over the full catalogue at every position) and
``contrastive`` (after UniSRec's pretraining: sequence–item InfoNCE at every position against
the batch's target items plus ``negatives`` uniform samples of the catalogue, plus
``ss_weight`` × sequence–sequence InfoNCE between an item-dropped and a token-dropped view
of each sequence). ``contrastive`` never scores the whole catalogue, so it stays cheap on a
large merged corpus. UniSRec uses in-batch candidates only (``negatives = 0``); on small
catalogues those are easy negatives, and pretraining with them lowered full-ranking quality.

What transfers to another catalogue: the hashed-bucket table, bias, MoE adaptor,
positions, Transformer blocks and head; also the feature projection when the other
catalogue's features have the same width. The per-catalogue hashed bags are non-persistent
buffers, rebuilt from the side data; optional item-ID embeddings (``use_ids``) never transfer.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from flm_bench import hookimpl
from flm_bench.specs import ModelSpec

DEFAULTS = {
    "dim": 64,              # item and hidden dimension d
    "layers": 2,            # Transformer blocks
    "heads": 2,             # attention heads (dim % heads == 0)
    "dropout": 0.2,         # embedding, attention, residual and adaptor-input dropout
    "max_len": 20,          # positions: the last max_len items of a history
    "buckets": 2**15,       # hashed n-gram / attribute buckets shared by every catalogue
    "text_dim": 128,        # width of the hashed-bucket embeddings (the adaptor's input)
    "experts": 8,           # MoE adaptor experts (UniSRec: 8)
    "max_words": 64,        # words of item_text kept per item
    "temperature": 0.07,    # cosine-score temperature (UniSRec: 0.07)
    "ss_weight": 1e-3,      # weight of the sequence–sequence term in "contrastive" (UniSRec: 1e-3)
    "negatives": 2048,      # uniform catalogue samples added to the in-batch candidates (0: UniSRec's in-batch only)
    "item_drop": 0.2,       # items dropped from a sequence for the contrastive views
    "token_drop": 0.2,      # hashed tokens dropped from item bags for the contrastive views
    "use_text": True,       # hash item_text
    "use_attrs": True,      # hash item attributes (item_attr_indptr / item_attr_ids)
    "use_features": True,   # project dense item_features into the bag space
    "use_ids": False,       # add item-ID embeddings (transductive; never transfer)
}
OBJECTIVES = ("next-item", "contrastive")
GROUPS = 3  # token groups of a bag: word n-grams, char trigrams, attributes
_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------------------- hashing (numpy)

def text_tokens(text: str, max_words: int) -> tuple[list[str], list[str]]:
    """Word uni+bigrams and char trigrams (of ``<word>``) of NFKC-normalised, case-folded text."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())[:max_words]
    grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    chars = [f"c:{p[i:i + 3]}" for p in (f"<{w}>" for w in words) for i in range(len(p) - 2)]
    return grams, chars


def bucket_of(token: str, buckets: int) -> int:
    """The bucket of one token: crc32 of its UTF-8 bytes (the same in every process)."""
    return zlib.crc32(token.encode("utf-8")) % buckets


def hashed_bags(n_items: int, side: Mapping[str, np.ndarray], *, buckets: int, max_words: int,
                use_text: bool = True, use_attrs: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every item's bag of hashed tokens, as CSR: ``indptr [n_items + 1]``, bucket ``ids [nnz]``
    and pooling ``weights [nnz]`` (each present group weighs 1 / groups, spread evenly on its tokens).

    Attributes hash by name when ``side`` has ``item_attr_names`` ([n_attrs] str), else by id
    (dataset-local ids only mean the same thing within one attribute vocabulary).
    """
    item_parts, group_parts, id_parts = [], [], []
    text = side.get("item_text") if use_text else None
    if text is not None:
        assert len(text) == n_items, f"unisrec: item_text has {len(text)} rows, expected {n_items}"
        memo: dict[str, int] = {}
        counts = np.zeros((2, n_items), dtype=np.int64)
        flat: tuple[list[int], list[int]] = ([], [])
        for i, t in enumerate(np.asarray(text).astype(str).tolist()):
            for g, toks in enumerate(text_tokens(t, max_words)):
                counts[g, i] = len(toks)
                flat[g].extend(memo[k] if k in memo else memo.setdefault(k, bucket_of(k, buckets)) for k in toks)
        for g in (0, 1):
            item_parts.append(np.repeat(np.arange(n_items), counts[g]))
            group_parts.append(np.full(int(counts[g].sum()), g))
            id_parts.append(np.asarray(flat[g], dtype=np.int64))
    if use_attrs and "item_attr_indptr" in side:
        indptr, attrs = np.asarray(side["item_attr_indptr"]), np.asarray(side["item_attr_ids"], dtype=np.int64)
        assert len(indptr) == n_items + 1 and indptr[-1] == len(attrs), "unisrec: malformed item_attr CSR"
        names = side.get("item_attr_names")
        uniq, inverse = np.unique(attrs, return_inverse=True)
        keys = [f"a:{names[a]}".casefold() if names is not None else f"a#{a}" for a in uniq.tolist()]
        item_parts.append(np.repeat(np.arange(n_items), np.diff(indptr)))
        group_parts.append(np.full(len(attrs), 2))
        id_parts.append(np.array([bucket_of(k, buckets) for k in keys], dtype=np.int64)[inverse.reshape(-1)])
    item = np.concatenate(item_parts or [np.zeros(0, np.int64)]).astype(np.int64)
    group = np.concatenate(group_parts or [np.zeros(0, np.int64)]).astype(np.int64)
    ids = np.concatenate(id_parts or [np.zeros(0, np.int64)])
    order = np.lexsort((group, item))  # stable: by item, then group, tokens in text order
    item, group, ids = item[order], group[order], ids[order]
    per_group = np.bincount(item * GROUPS + group, minlength=n_items * GROUPS).reshape(n_items, GROUPS)
    present = (per_group > 0).sum(1)  # [n_items] groups an item has
    weights = (1.0 / (per_group[item, group] * present[item])).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(item, minlength=n_items))]).astype(np.int64)
    return indptr, ids, weights


# ---------------------------------------------------------------------------- model (torch)

def _check(params: Mapping[str, Any]) -> dict[str, Any]:
    from flm_bench.errors import ConfigError

    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"model 'unisrec': unknown parameters {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    problems = [msg for bad, msg in (
        (p["dim"] % p["heads"] != 0, f"dim {p['dim']} must be divisible by heads {p['heads']}"),
        (min(p["dim"], p["layers"], p["heads"], p["max_len"], p["buckets"], p["text_dim"], p["experts"],
             p["max_words"]) < 1, "sizes must be positive"),
        (not 0 <= p["dropout"] < 1, f"dropout {p['dropout']} must lie in [0, 1)"),
        (not 0 <= p["item_drop"] < 1 or not 0 <= p["token_drop"] < 1, "item_drop and token_drop must lie in [0, 1)"),
        (p["temperature"] <= 0, f"temperature {p['temperature']} must be positive"),
        (p["ss_weight"] < 0 or p["negatives"] < 0, "ss_weight and negatives must be >= 0"),
    ) if bad]
    if problems:
        raise ConfigError(f"model 'unisrec': {'; '.join(problems)}")
    return p


def build(n_items: int, item_features: np.ndarray | None, params: dict[str, Any],
          side: Mapping[str, np.ndarray] | None = None):
    """A :class:`UniSRec` for a catalogue of ``n_items`` whose side data is ``side`` (imports torch)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from flm_bench.errors import ConfigError
    from flm_bench.train.layers import QueryHead
    from flm_bench.train.neural import NeuralRecommender

    p = _check(params)
    side = dict(side or {})
    if item_features is not None:
        side.setdefault("item_features", item_features)
    features = side.get("item_features") if p["use_features"] else None
    indptr, bag_ids, bag_weights = hashed_bags(n_items, side, buckets=p["buckets"], max_words=p["max_words"],
                                               use_text=p["use_text"], use_attrs=p["use_attrs"])
    if len(bag_ids) == 0 and features is None and not p["use_ids"]:
        raise ConfigError("model 'unisrec' needs item side data (item_text, item attributes or item_features, "
                          "with use_text / use_attrs / use_features) or use_ids=true; this catalogue has none")

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
        """Item vectors ``[.., d]`` for 1-based item indices (0 = padding -> zero vector)."""

        def __init__(self) -> None:
            super().__init__()
            # per-catalogue CSR bags: buffers that move with the model but are never saved
            self.register_buffer("indptr", torch.from_numpy(indptr), persistent=False)  # [n_items + 1]
            self.register_buffer("bag_ids", torch.from_numpy(bag_ids), persistent=False)  # [nnz]
            self.register_buffer("bag_weights", torch.from_numpy(bag_weights), persistent=False)  # [nnz]
            self.buckets = nn.EmbeddingBag(p["buckets"], p["text_dim"], mode="sum")
            nn.init.normal_(self.buckets.weight, std=1.0)
            self.bias = nn.Parameter(torch.randn(p["text_dim"]) * 0.1)  # what an empty bag is
            self.project = None
            if features is not None:
                f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
                assert f.ndim == 2 and len(f) == n_items, \
                    f"unisrec: item_features {tuple(f.shape)}, expected [{n_items}, d]"
                f = (f - f.mean(0)) / (f.std(0, unbiased=False) + 1e-6)
                self.register_buffer("features", f, persistent=False)  # [n_items, f]
                self.project = nn.Linear(f.shape[1], p["text_dim"])
            self.dropout = nn.Dropout(p["dropout"])
            self.moe = MoEAdaptor(p["text_dim"], p["dim"], p["experts"])
            self.ids = nn.Embedding(n_items + 1, p["dim"], padding_idx=0) if p["use_ids"] else None
            if self.ids is not None:
                nn.init.normal_(self.ids.weight, std=0.02)

        def forward(self, items: torch.Tensor | None = None, token_drop: float = 0.0) -> torch.Tensor:
            if items is None:  # the whole catalogue, padding row included
                items = torch.arange(n_items + 1, device=self.indptr.device)
            flat = items.reshape(-1)  # [N] item + 1
            assert flat.numel() == 0 or (0 <= int(flat.min()) and int(flat.max()) <= n_items), \
                f"unisrec: item index outside 0..{n_items}"
            row = (flat - 1).clamp(min=0)
            starts = self.indptr[row]
            counts = torch.where(flat > 0, self.indptr[row + 1] - starts, 0)  # [N] tokens per bag
            offsets = counts.cumsum(0) - counts  # [N] where each bag starts in the gathered tokens
            total = int(counts.sum())
            take = torch.repeat_interleave(starts - offsets, counts, output_size=total) \
                + torch.arange(total, device=flat.device)  # [T] positions in bag_ids
            weights = self.bag_weights[take]
            if token_drop > 0:
                weights = weights * (torch.rand_like(weights) >= token_drop) / (1 - token_drop)
            x = self.buckets(self.bag_ids[take], offsets, per_sample_weights=weights) + self.bias  # [N, text_dim]
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
            b, l, d = x.shape
            q, k, v = (t.view(b, l, self.heads, d // self.heads).transpose(1, 2)
                       for t in self.qkv(x).split(d, dim=2))  # [B, h, L, d / h] each
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
            return self.out(y.transpose(1, 2).reshape(b, l, d))  # [B, L, d]

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
        def __init__(self) -> None:
            super().__init__()
            self.items = ItemEncoder()
            self.positions = nn.Embedding(p["max_len"], p["dim"])
            nn.init.normal_(self.positions.weight, std=0.02)
            self.ln_in = nn.LayerNorm(p["dim"])
            self.dropout = nn.Dropout(p["dropout"])
            self.blocks = nn.ModuleList(Block(p["dim"], p["heads"], p["dropout"]) for _ in range(p["layers"]))
            self.ln_out = nn.LayerNorm(p["dim"])

        def forward(self, inputs: torch.Tensor, token_drop: float = 0.0) -> torch.Tensor:
            b, l = inputs.shape  # [B, L] item + 1, right-padded
            assert l <= p["max_len"], f"unisrec: inputs of width {l} exceed max_len {p['max_len']}"
            uniq, inverse = torch.unique(inputs, return_inverse=True)  # encode each distinct item once
            x = self.items(uniq, token_drop)[inverse]  # [B, L, d]
            x = self.dropout(self.ln_in(x + self.positions(torch.arange(l, device=inputs.device))))
            for block in self.blocks:
                x = block(x)
            return self.ln_out(x)  # [B, L, d]; position t saw only positions <= t

    class UniSRec(NeuralRecommender):
        def __init__(self) -> None:
            super().__init__()
            self.n_items, self.max_len, self.params = n_items, p["max_len"], p
            self.encoder = Encoder()
            self.head = QueryHead(p["dim"])
            for name, module in self.named_modules():  # nanoGPT init for the sequence part
                if isinstance(module, nn.Linear) and not name.startswith("encoder.items."):
                    nn.init.normal_(module.weight, std=0.02)
                    nn.init.zeros_(module.bias)
            self.id_parameters = ("encoder.items.ids.weight",) if p["use_ids"] else ()
            self.adapter_targets = ("linear", "qkv", "out", "fc")  # MoE experts and Transformer linears

        def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor, token_drop: float = 0.0) -> torch.Tensor:
            return self.encoder(inputs, token_drop)  # [B, L, d]

        def _cosine(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
            """``[N, d] x [C, d] -> [N, C]`` cosine / temperature."""
            return F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T / p["temperature"]

        def logits(self, hidden: torch.Tensor) -> torch.Tensor:
            table = self.encoder.items()[1:]  # [n_items, d]
            q = self.head(hidden)
            return self._cosine(q.reshape(-1, q.shape[-1]), table).reshape(*q.shape[:-1], n_items)

        def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                 objective: str) -> torch.Tensor:
            if objective == "next-item":
                return super().loss(inputs, lengths, targets, objective)
            if objective != "contrastive":
                raise ConfigError(f"model 'unisrec' implements the objectives {list(OBJECTIVES)}, not {objective!r}")
            mask = targets >= 0  # [B, L]
            assert mask.any(), "unisrec: a batch without targets"
            h = self.hidden(inputs, lengths)  # [B, L, d]
            candidates, label = torch.unique(targets[mask] + 1, return_inverse=True)  # [C] item + 1, [N]
            if p["negatives"]:  # plus uniform samples of the catalogue that are nobody's positive
                sample = torch.randint(1, n_items + 1, (p["negatives"],), device=inputs.device).unique()
                candidates = torch.cat([candidates, sample[~torch.isin(sample, candidates)]])  # [C']
            logits = self._cosine(self.head(h[mask]), self.encoder.items(candidates))  # [N, C']
            loss = F.cross_entropy(logits, label)
            if p["ss_weight"] > 0 and len(inputs) > 1:
                rows = torch.arange(len(inputs), device=inputs.device)
                dropped, dropped_len = self._drop_items(inputs, lengths)
                z1 = self.hidden(dropped, dropped_len)[rows, dropped_len - 1]  # [B, d] item-dropped view
                z2 = self.hidden(inputs, lengths, token_drop=p["token_drop"])[rows, lengths - 1]  # token-dropped view
                loss = loss + p["ss_weight"] * F.cross_entropy(self._cosine(z1, z2), rows)
            return loss

        def _drop_items(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Drop each item with probability ``item_drop`` (never a row's last one), re-packed to the left."""
            rows = torch.arange(len(inputs), device=inputs.device)
            keep = (inputs > 0) & (torch.rand(inputs.shape, device=inputs.device) >= p["item_drop"])
            keep[rows, (lengths - 1).clamp(min=0)] = lengths > 0
            position = keep.cumsum(1) - 1  # [B, L] new column of each kept item
            out = torch.zeros_like(inputs)
            out[rows.unsqueeze(1).expand_as(inputs)[keep], position[keep]] = inputs[keep]
            return out, keep.sum(1)

    return UniSRec()


@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec(
        name="unisrec", build=build, pretrainable=True, item_representation="features",
        defaults=DEFAULTS, objectives=OBJECTIVES,
        description=("UniSRec-like: hashed text/attribute n-grams + MoE whitening adaptor, causal Transformer; "
                     "ID-agnostic, transfers across catalogues (optional item IDs never transfer)"),
    ))
