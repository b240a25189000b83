"""Adaptation strategies: what each loads from the checkpoint, freezes and trains."""

from __future__ import annotations

import pytest
import torch
from model_helpers import params_of, tiny_checkpoint

from flm_bench.data.splits import leave_one_out
from flm_bench.errors import ConfigError
from flm_bench.plugins import load_plugins
from flm_bench.suite import TrainConfig
from flm_bench.train.strategy import AdaptContext

PARAMS = params_of("sasrec", dim=16, layers=1, heads=1, max_len=10, head="mlp")  # a head with weights to re-train


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLM_BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        plugins = load_plugins()
        target = plugins.datasets.get("synthetic-media").load_data()
        ckpt = tiny_checkpoint(plugins, PARAMS, tmp_path_factory.mktemp("ckpt"))
    return plugins, target, leave_one_out(target), ckpt


def adapt(setup, strategy: str):
    plugins, target, split, ckpt = setup
    ctx = AdaptContext(
        plugins.models.get("sasrec"),
        PARAMS,
        target,
        split,
        ckpt,
        TrainConfig(epochs=1, device="cpu"),
        seed=0,
        device="cpu",
    )
    result = plugins.strategies.get(strategy).build().adapt(ctx)
    return result, result.model


def trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_finetune_loads_everything_but_item_ids(setup) -> None:
    result, model = adapt(setup, "finetune")
    assert result.transfer["reinitialised"] == ["encoder.items.ids.weight"]
    assert trainable(model) == {n for n, _ in model.named_parameters()}
    assert result.trainable_parameters == sum(p.numel() for p in model.parameters())


def test_probe_freezes_the_encoder_and_trains_a_fresh_head(setup) -> None:
    result, model = adapt(setup, "probe")
    state = setup[3].state()
    assert all(name.startswith("head.") or name == "encoder.items.ids.weight" for name in trainable(model))
    assert any(name.startswith("head.") for name in result.transfer["reinitialised"])
    for name, param in model.named_parameters():
        if name.startswith("encoder.") and name != "encoder.items.ids.weight":
            assert torch.equal(param, state[name]), f"{name} moved although frozen"


def test_adapter_trains_lora_head_and_ids_only(setup) -> None:
    result, model = adapt(setup, "adapter")
    names = trainable(model)
    lora = {n for n in names if "lora_" in n}
    assert lora and all(n in lora or n.startswith("head.") or n == "encoder.items.ids.weight" for n in names)
    state = setup[3].state()
    block = "encoder.blocks.layers.0.linear1"
    base = dict(model.named_parameters())[f"{block}.base_layer.weight"]
    assert torch.equal(base, state[f"{block}.weight"]), "pretrained weights must stay frozen"
    base = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    assert 0 < result.trainable_parameters < base


def test_zero_shot_applies_a_content_only_model_as_pretrained(setup, tmp_path) -> None:
    """Items as features only: every weight comes from the checkpoint, nothing is trained, and the
    target is scored by exactly the pretrained weights."""
    plugins, target, split, _ = setup
    content = params_of("sasrec", dim=16, layers=1, heads=1, max_len=10, use_ids=False, use_features=True)
    spec = plugins.models.get("sasrec")
    ckpt = tiny_checkpoint(plugins, content, tmp_path)
    ctx = AdaptContext(spec, content, target, split, ckpt, TrainConfig(epochs=1, device="cpu"), seed=0, device="cpu")
    result = plugins.strategies.get("zero-shot").build().adapt(ctx)
    assert result.fit is None and result.trainable_parameters == 0 and result.transfer["reinitialised"] == []
    state = ckpt.state()
    assert all(torch.equal(value, state[name]) for name, value in result.model.state_dict().items())


def test_zero_shot_refuses_a_model_that_needs_target_item_ids(setup) -> None:
    untrained = (
        r"zero-shot: model 'sasrec' would score the target with untrained parameters \(encoder.items.ids.weight\)"
    )
    with pytest.raises(ConfigError, match=untrained) as refused:
        adapt(setup, "zero-shot")
    assert "\n" not in str(refused.value)
