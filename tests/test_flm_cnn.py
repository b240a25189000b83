"""The ``flm-cnn`` model: shapes, causal windows, its three losses, what transfers, a full run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import build_model

from flm_bench.errors import ConfigError
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records

N_ITEMS, N_FEATURES = 30, 6
SMALL = {"dim": 16, "max_len": 4, "n_h": 4, "n_v": 2, "dropout": 0.0}


def build(params: dict | None = None, features: bool = True):
    feats = np.random.default_rng(0).normal(size=(N_ITEMS, N_FEATURES)).astype(np.float32) if features else None
    return build_model("flm-cnn", N_ITEMS, item_features=feats, **{**SMALL, **(params or {})})


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two right-padded rows (item + 1) and their next-item targets (-1 on padding)."""
    inputs = torch.tensor([[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 3])
    targets = torch.tensor([[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, -1, -1, -1, -1]])
    return inputs, lengths, targets


def test_spec_and_shapes() -> None:
    spec = load_plugins().models.get("flm-cnn")
    assert spec.pretrainable and spec.item_representation == "ids+features" and spec.objectives == ("next-item",)
    model = build().eval()
    inputs, lengths, _ = batch()
    assert model.hidden(inputs, lengths).shape == (2, 7, 16)
    assert model.logits(torch.zeros(5, 16)).shape == (5, N_ITEMS)
    scores = model.score([np.arange(9), np.array([3]), np.array([], dtype=np.int64)], np.arange(3))
    assert scores.shape == (3, N_ITEMS) and torch.isfinite(scores).all()


def test_position_sees_only_its_window_of_earlier_items() -> None:
    model = build().eval()
    inputs, lengths, _ = batch()
    h = model.hidden(inputs, lengths)
    later = inputs.clone()
    later[0, 5] = 20  # change position 5: positions 0..4 must not move
    assert torch.equal(model.hidden(later, lengths)[0, :5], h[0, :5])
    assert not torch.allclose(model.hidden(later, lengths)[0, 5], h[0, 5])
    earlier = inputs.clone()
    earlier[0, 1] = 20  # position 1 lies outside the window (L=4) of position 5 and later
    assert torch.equal(model.hidden(earlier, lengths)[0, 5:], h[0, 5:])
    # scoring a history uses its last window only: the same as the last position of the full row
    scores = model.score([np.arange(7)], np.zeros(1))
    assert torch.allclose(scores[0], model.logits(h[0, 6]), atol=1e-5)


def caser_reference(model, window: torch.Tensor) -> torch.Tensor:
    """H for one window ``[L]`` (item + 1), literally as Caser computes it with ``Conv2d``."""
    enc = model.encoder
    w, d = enc.window, enc.dim
    e = enc.items()[window].view(1, 1, w, d)  # [1, 1, L, d] "image"
    outs = []
    for h, linear in enumerate(enc.horizontal, start=1):
        conv = torch.nn.functional.conv2d(e, linear.weight.view(-1, 1, h, d), linear.bias)  # [1, n_h, L-h+1, 1]
        outs.append(torch.relu(conv).amax(dim=(2, 3)).flatten())
    vertical = torch.nn.functional.conv2d(e, enc.vertical.weight.view(-1, 1, w, 1), enc.vertical.bias)  # [1, n_v, 1, d]
    outs.append(vertical[0, :, 0].T.flatten())  # d-major, as the model concatenates
    return torch.relu(enc.fc(torch.cat(outs)))


def test_matches_a_literal_caser_window_at_every_position() -> None:
    model = build().eval()
    inputs, lengths, _ = batch()
    with torch.no_grad():
        h = model.hidden(inputs, lengths)
        padded = torch.nn.functional.pad(inputs, (3, 0))  # L - 1 = 3 zeros before each row
        for b in range(2):
            for t in range(int(lengths[b])):
                expected = caser_reference(model, padded[b, t : t + 4])
                assert torch.allclose(h[b, t], expected, atol=1e-5), (b, t)


@pytest.mark.parametrize("loss", ["ce", "bce", "mse"])
def test_each_loss_decreases(loss: str) -> None:
    model = build({"loss": loss, "negatives": 3})
    inputs, lengths, targets = batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    values = []
    for _ in range(30):
        value = model.loss(inputs, lengths, targets, "next-item")
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert all(np.isfinite(values))
    assert np.mean(values[-5:]) < 0.7 * np.mean(values[:5]), values


def test_id_parameters_and_adapter_targets() -> None:
    model = build()
    names = dict(model.named_parameters())
    assert model.id_parameters == ("encoder.items.ids.weight",)
    assert all(n in names for n in model.id_parameters)
    assert "encoder.items.ids.weight" not in model.transferable_state()
    assert "encoder.items.project.weight" in model.transferable_state()
    linears = {n for n, m in model.encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    assert set(model.adapter_targets) <= linears, "adapter targets must be encoder Linear modules"
    from peft import LoraConfig, inject_adapter_in_model

    inject_adapter_in_model(LoraConfig(r=2, target_modules=list(model.adapter_targets)), model.encoder)
    adapted = {n.removeprefix("encoder.").rsplit(".lora_", 1)[0] for n, _ in model.named_parameters() if ".lora_" in n}
    assert (
        adapted == set(model.adapter_targets) == {"horizontal.0", "horizontal.1", "horizontal.2", "horizontal.3", "fc"}
    )
    assert build({"use_ids": False}).id_parameters == ()
    assert not any("ids" in n for n, _ in build({"use_ids": False}).named_parameters())


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="model 'flm-cnn': unknown parameter 'layers'"):
        build({"layers": 2})
    with pytest.raises(ConfigError, match="loss"):
        build({"loss": "hinge"})
    with pytest.raises(ConfigError, match="no item features"):
        build({"use_ids": False}, features=False)


SUITE = """
name = "flm-cnn-small"
targets = ["synthetic-finance"]
corpora = ["synthetic-general"]
models = ["flm-cnn"]
strategies = ["scratch", "finetune", "probe", "adapter"]
seeds = [0]

[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]

[training]
epochs = 1
batch_size = 256
max_valid_users = 200
device = "cpu"

[pretraining]
epochs = 1
batch_size = 512
max_valid_users = 200
device = "cpu"

[model_params.flm-cnn]
dim = 16
max_len = 4
train_len = 8
n_h = 16                             # LoRA (rank 8) is smaller than these layers
n_v = 2
"""


@pytest.fixture(scope="module")
def run(run_suite) -> Path:
    output = run_suite(SUITE)
    assert len(load_records(output)) == 4
    return output


@pytest.mark.slow
def test_end_to_end_run_of_every_strategy(run: Path) -> None:
    records = {r.strategy.name: r for _, r in load_records(run)}
    assert set(records) == {"scratch", "finetune", "probe", "adapter"}
    for r in records.values():
        assert set(r.metrics) == {"ndcg@10", "recall@10"}
        assert all(np.isfinite(v) and 0 <= v <= 1 for v in r.metrics.values()), r.metrics
        assert r.model.parameters["loss"] == "ce" and r.model.parameters["dim"] == 16
    assert records["scratch"].strategy.corpus is None
    for name in ("finetune", "probe", "adapter"):
        transfer = records[name].strategy.transfer
        assert "encoder.items.ids.weight" in transfer["reinitialised"]
        assert "encoder.fc.weight" in transfer["loaded"] and "encoder.items.project.weight" in transfer["loaded"]
    assert any(k.startswith("head.") for k in records["probe"].strategy.transfer["reinitialised"])
    full = records["finetune"].cost.trainable_parameters
    assert 0 < records["adapter"].cost.trainable_parameters < full
    assert 0 < records["probe"].cost.trainable_parameters < full
