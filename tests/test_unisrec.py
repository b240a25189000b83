"""The ``unisrec`` model: deterministic hashing, ID-free transfer between catalogues, objectives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from model_helpers import build_model, params_of

from flm_bench.errors import ConfigError
from flm_bench.plugins import load_plugins
from flm_bench_plugins.unisrec import bucket_of, hashed_bags, text_tokens

#: hashed text here (test_text_encoder.py covers the MiniLM input; test_contracts.py runs it through every strategy)
SMALL = {
    "dim": 16,
    "heads": 2,
    "layers": 1,
    "max_len": 8,
    "text_dim": 32,
    "experts": 3,
    "buckets": 4096,
    "text_encoder": "hashed",
}
COLOURS = ["red", "blue", "green", "black", "white"]
THINGS = [
    "wool sock",
    "rubber glove",
    "steel ruler",
    "glass beaker",
    "sanding roll",
    "nylon rope",
    "copper wire",
    "paper tape",
    "brass hinge",
    "cotton glove",
]


def catalogue(n_items: int, seed: int) -> dict[str, np.ndarray]:
    """Side data of ``n_items`` items: texts from a shared vocabulary, attribute ids, some empty items."""
    rng = np.random.default_rng(seed)
    text = np.array([f"{COLOURS[i % 5]} {THINGS[(i // 5) % 10]} size {i % 7}" for i in rng.permutation(n_items)])
    text[::9] = ""  # unknown titles
    per_item = [np.unique(rng.integers(0, 6, size=int(rng.integers(0, 3)))) for _ in range(n_items)]
    per_item[::9] = [np.zeros(0, np.int64)] * len(per_item[::9])  # ... and no attributes either
    indptr = np.concatenate([[0], np.cumsum([len(a) for a in per_item])]).astype(np.int64)
    return {"item_text": text, "item_attr_indptr": indptr, "item_attr_ids": np.concatenate(per_item).astype(np.int64)}


def batch(n_items: int, users: int = 24, length: int = 8, seed: int = 0):
    """Right-padded ``(inputs, lengths, targets)``: each user walks the catalogue in steps of 1."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, length + 1, size=users)
    starts = rng.integers(0, n_items, size=users)
    seqs = [(s + np.arange(n + 1)) % n_items for s, n in zip(starts, lengths)]
    inputs = torch.zeros(users, length, dtype=torch.long)
    targets = torch.full((users, length), -1, dtype=torch.long)
    for u, s in enumerate(seqs):
        inputs[u, : len(s) - 1] = torch.as_tensor(s[:-1] + 1)
        targets[u, : len(s) - 1] = torch.as_tensor(s[1:])
    return inputs, torch.as_tensor(lengths), targets


def make(n_items: int, seed: int = 0, torch_seed: int = 0, **params):
    return build_model("unisrec", n_items, side=catalogue(n_items, seed), seed=torch_seed, **{**SMALL, **params})


def test_tokens_and_bag_weights() -> None:
    grams, chars = text_tokens("Gorilla GLUE, 8 oz", max_words=64)
    assert grams == ["w:gorilla", "w:glue", "w:8", "w:oz", "b:gorilla glue", "b:glue 8", "b:8 oz"]
    assert chars[:3] == ["c:<go", "c:gor", "c:ori"] and "c:<8>" in chars
    side = {
        "item_text": np.array(["red sock", "", ""]),
        "item_attr_indptr": np.array([0, 2, 3, 3]),
        "item_attr_ids": np.array([4, 5, 4]),
    }
    indptr, ids, weights = hashed_bags(3, side, buckets=1000, max_words=64)
    assert np.diff(indptr).tolist() == [3 + 7 + 2, 1, 0], "words, char trigrams, attributes; item 2 is empty"
    assert np.allclose(np.add.reduceat(weights, indptr[:2]), 1.0), "each non-empty bag sums to 1"
    assert np.allclose(weights[indptr[1] - 2 : indptr[1]], 1 / 6), "2 attributes share a third"
    assert ids[indptr[1] - 2] == ids[indptr[1]] == bucket_of("a#4", 1000), "attribute 4 is one bucket everywhere"


def test_hashing_is_deterministic_across_processes() -> None:
    side = catalogue(40, seed=3)
    code = textwrap.dedent("""
        import json, sys, numpy as np
        from flm_bench_plugins.unisrec import hashed_bags
        side = {k: np.array(v) for k, v in json.load(sys.stdin).items()}
        print(json.dumps([a.tolist() for a in hashed_bags(40, side, buckets=2**15, max_words=64)]))
    """)
    payload = json.dumps({k: v.tolist() for k, v in side.items()})
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            input=payload,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    here = [a.tolist() for a in hashed_bags(40, side, buckets=2**15, max_words=64)]
    assert json.loads(outputs[0]) == json.loads(outputs[1]) == json.loads(json.dumps(here))
    # checkpoints depend on the hash: pin it (crc32 of the token's UTF-8 bytes)
    assert [bucket_of(t, 2**15) for t in ("w:glue", "c:<gl", "a#4")] == [22887, 11938, 31697]


def test_shapes_padding_and_empty_items() -> None:
    model = make(50).eval()
    inputs, lengths, _ = batch(50)
    h = model.hidden(inputs, lengths)
    assert h.shape == (24, 8, 16)
    assert model.logits(h).shape == (24, 8, 50)
    table = model.encoder.items()
    assert table.shape == (51, 16) and torch.all(table[0] == 0), "row 0 is padding"
    assert torch.isfinite(table).all()
    empty = [i for i in range(50) if i % 9 == 0]  # no text, no attributes: the bias alone
    assert torch.allclose(table[[e + 1 for e in empty]], table[empty[0] + 1].expand(len(empty), -1))
    histories = [np.array([3, 4, 5]), np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), np.array([0])]
    with torch.no_grad():
        together = model.score(histories, np.arange(3))
        alone = torch.cat([model.score([s], np.arange(1)) for s in histories])
    assert together.shape == (3, 50)
    assert torch.allclose(together, alone, atol=1e-5), "right padding and batch company must not change scores"


def test_identical_text_gives_identical_items_across_catalogues() -> None:
    a, b = make(50, seed=0, torch_seed=0).eval(), make(80, seed=1, torch_seed=1).eval()
    b.load_state_dict(a.transferable_state(), strict=False)
    text_a, text_b = catalogue(50, 0)["item_text"], catalogue(80, 1)["item_text"]
    with torch.no_grad():
        va, vb = a.encoder.items()[1:], b.encoder.items()[1:]
    same = [(i, int(np.flatnonzero(text_b == t)[0])) for i, t in enumerate(text_a) if t and t in text_b]
    assert len(same) > 10
    for i, j in same:
        attrs = catalogue(50, 0)["item_attr_ids"], catalogue(80, 1)["item_attr_ids"]
        ptr = catalogue(50, 0)["item_attr_indptr"], catalogue(80, 1)["item_attr_indptr"]
        if np.array_equal(attrs[0][ptr[0][i] : ptr[0][i + 1]], attrs[1][ptr[1][j] : ptr[1][j + 1]]):
            assert torch.allclose(va[i], vb[j], atol=1e-6), f"{text_a[i]!r}: same side data, other vector"
    # overlapping words -> related vectors: items sharing colour and thing vs items sharing neither
    cos = torch.nn.functional.cosine_similarity(va.unsqueeze(1), vb.unsqueeze(0), dim=-1)  # [50, 80]
    words = lambda t: set(t.split()[:3])  # noqa: E731
    related = [
        cos[i, j]
        for i in range(50)
        for j in range(80)
        if text_a[i] and text_b[j] and text_a[i] != text_b[j] and words(text_a[i]) == words(text_b[j])
    ]
    unrelated = [
        cos[i, j]
        for i in range(50)
        for j in range(80)
        if text_a[i] and text_b[j] and not words(text_a[i]) & words(text_b[j])
    ]
    assert related and unrelated and np.mean(related) > np.mean(unrelated) + 0.1


def test_transfer_skips_only_item_ids() -> None:
    a, b = make(50, use_ids=True), make(80, seed=1, use_ids=True)
    assert a.id_parameters == ("encoder.items.ids.weight",)
    state = a.transferable_state()
    assert "encoder.items.ids.weight" not in state
    assert not any(k.endswith(("indptr", "bag_ids", "bag_weights")) for k in state), "bags are per catalogue"
    result = b.load_state_dict(state, strict=False)
    assert result.missing_keys == ["encoder.items.ids.weight"] and not result.unexpected_keys
    for name, value in b.state_dict().items():
        if name != "encoder.items.ids.weight":
            assert torch.equal(value, state[name]), name


@pytest.mark.slow  # 25 training steps per case: 3-24 s each here under CPU contention
@pytest.mark.parametrize(
    ("objective", "params"), [("next-item", {}), ("contrastive", {}), ("contrastive", {"negatives": 0})]
)
def test_objectives_lower_their_loss(objective: str, params: dict) -> None:
    model = make(50, dropout=0.0, ss_weight=0.1, **params).train()
    inputs, lengths, targets = batch(50)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model.loss(inputs, lengths, targets, objective)
        optimizer.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_contrastive_item_drop_keeps_order_and_last_item() -> None:
    model = make(50, item_drop=0.5)
    inputs, lengths, _ = batch(50)
    dropped, kept = model._drop_items(inputs, lengths)
    for row in range(len(inputs)):
        original = inputs[row, : lengths[row]].tolist()
        now = dropped[row, : kept[row]].tolist()
        assert now[-1] == original[-1] and torch.all(dropped[row, kept[row] :] == 0)
        it = iter(original)
        assert all(x in it for x in now), "a subsequence, in order"


def test_parameters_and_side_data_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown parameter 'heads_typo'"):
        make(10, heads_typo=3)
    with pytest.raises(ConfigError, match="divisible"):
        make(10, dim=10, heads=3)
    with pytest.raises(ConfigError, match="parameter 'temperature' = 0: .* allowed: a number > 0"):
        make(10, temperature=0)
    with pytest.raises(ConfigError, match="needs item side data"):
        build_model("unisrec", 10, **SMALL)
    model = build_model("unisrec", 10, **{**SMALL, "use_ids": True})  # IDs alone still work
    inputs, lengths, targets = batch(10)
    assert torch.isfinite(model.loss(inputs, lengths, targets, "next-item"))
    with pytest.raises(ConfigError, match="masked"):
        model.loss(inputs, lengths, targets, "masked-item")


def interactions(name: str, n_items: int, users: int, seed: int):
    """A text-bearing dataset: each user walks the catalogue in steps of 1 from a random start."""
    import datasets

    from flm_bench.data.table import from_table

    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 9, size=users)
    item = np.concatenate([(s + np.arange(n)) % n_items for s, n in zip(rng.integers(0, n_items, users), lengths)])
    user = np.repeat(np.arange(users), lengths)
    order = np.concatenate([np.arange(n) for n in lengths])
    table = datasets.Dataset.from_dict({"user": user, "item": item, "order": order})
    return from_table(name, "test", table, timestamped=False, ordered=True, side=catalogue(n_items, seed))


def test_registered_and_adapts_through_the_harness(tmp_path) -> None:
    """Pretrain contrastively on one catalogue, then LoRA through peft on another (no shared item IDs)."""
    from flm_bench.data.splits import leave_one_out
    from flm_bench.suite import PretrainConfig, TrainConfig
    from flm_bench.train.pretraining import pretrain
    from flm_bench.train.strategy import AdaptContext

    plugins = load_plugins()
    spec = plugins.models.get("unisrec")
    assert spec.pretrainable and spec.objectives == ("next-item", "contrastive")
    corpus, target = interactions("corpus", 60, 120, seed=0), interactions("target", 80, 100, seed=1)
    small = params_of("unisrec", **SMALL)
    ckpt, _ = pretrain(
        spec,
        small,
        corpus,
        excluded=[],
        datasets=["corpus"],
        seed=0,
        device="cpu",
        cfg=PretrainConfig(epochs=1, batch_size=32, device="cpu", objective="contrastive"),
        directory=tmp_path,
    )
    ctx = AdaptContext(
        spec,
        small,
        target,
        leave_one_out(target),
        ckpt,
        TrainConfig(epochs=1, batch_size=32, device="cpu"),
        seed=0,
        device="cpu",
    )
    result = plugins.strategies.get("adapter").build().adapt(ctx)
    model = result.model
    assert result.transfer["reinitialised"] == [], "no item IDs: everything transfers"
    moved = {n.split(".lora_B")[0] for n, p in model.named_parameters() if "lora_B" in n and p.abs().sum() > 0}
    for name in ("items.moe.experts.0.linear", "blocks.0.attn.qkv", "blocks.0.attn.out", "blocks.0.fc", "blocks.0.out"):
        assert f"encoder.{name}" in moved, f"the LoRA adapter on {name} was not trained"
    assert all(p.requires_grad == ("lora_" in n or n.startswith("head.")) for n, p in model.named_parameters())
