"""The ``sasrec`` model's heads: the original SASRec's dot product and the Pretraining-FLM design's MLP head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import build_model

from flm_bench.data.splits import EvalSet, Sequences
from flm_bench.errors import ConfigError
from flm_bench.evaluation import evaluate
from flm_bench.suite import TrainConfig
from flm_bench.train.loop import fit

N_ITEMS = 12
SMALL = {"dim": 8, "layers": 1, "heads": 1, "max_len": 5, "dropout": 0.0}


def build(params: dict, features: bool = False):
    feats = np.random.default_rng(0).normal(size=(N_ITEMS, 3)).astype(np.float32) if features else None
    return build_model("sasrec", N_ITEMS, item_features=feats, **{**SMALL, "use_features": features, **params})


def test_dot_head_is_the_default_and_scores_the_hidden_state_itself() -> None:
    model = build({}).eval()
    h = torch.randn(3, 8)
    table = model.encoder.items()[1:]
    assert torch.equal(model.logits(h), h @ table.T)
    assert not any(n.startswith("head.") for n, _ in model.named_parameters())


def test_mlp_head_moves_the_query() -> None:
    model = build({"head": "mlp"}).eval()
    assert {n for n, _ in model.named_parameters() if n.startswith("head.")}, "the MLP head has weights"
    h = torch.randn(3, 8)
    assert not torch.allclose(model.logits(h), h @ model.encoder.items()[1:].T)


def test_unknown_head_is_a_config_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match="model 'sasrec': parameter 'head' = 'linear': .*allowed: one of 'dot', 'mlp'"
    ):
        build({"head": "linear"})


def test_fit_with_nothing_trainable_says_so() -> None:
    model = build({"head": "dot", "use_ids": False}, features=True)
    model.requires_grad_(False)  # what probe leaves of a feature-only model with a weightless head
    seqs = Sequences(np.arange(2), np.array([0, 3, 6]), np.array([1, 2, 3, 4, 5, 6]), np.arange(6))
    with pytest.raises(ConfigError, match="no trainable parameters"):
        fit(model, model.parameters(), seqs, None, TrainConfig(epochs=1, device="cpu"), seed=0)


def test_bce_loss_is_the_original_sasrecs_with_one_negative_other_than_the_positive() -> None:
    """With two items the only other item is the negative, so the loss is known exactly."""
    model = build_model("sasrec", 2, **{**SMALL, "loss": "bce"}).eval()
    inputs, lengths = torch.tensor([[1, 2, 1], [2, 0, 0]]), torch.tensor([3, 1])
    targets = torch.tensor([[1, 0, 1], [0, -1, -1]])  # next items (index), -1 on padding
    query = model.hidden(inputs, lengths)[targets >= 0]
    table = model.encoder.items()[1:]
    positive = targets[targets >= 0]
    pos, neg = (query * table[positive]).sum(-1), (query * table[1 - positive]).sum(-1)
    expected = -torch.nn.functional.logsigmoid(pos).mean() - torch.nn.functional.logsigmoid(-neg).mean()
    assert torch.allclose(model.loss(inputs, lengths, targets, "next-item"), expected)
    cross_entropy = build_model("sasrec", 2, **SMALL).eval().loss(inputs, lengths, targets, "next-item")
    assert not torch.allclose(expected, cross_entropy)


def test_s3rec_blocks_are_s3recs_sasrec_and_keep_the_default_blocks_names() -> None:
    """``block = "s3rec"``: feed-forward 4·dim with GELU, the LayerNorm on the input embeddings (the
    output is the last block's own post-norm output), weights from N(0, 0.02); the same parameter
    names as torch's blocks, so checkpoints load either way."""
    torch.manual_seed(0)
    default, s3rec = build({"dim": 64, "heads": 2}), build({"dim": 64, "heads": 2, "block": "s3rec"})
    layer = s3rec.encoder.blocks.layers[0]
    assert layer.linear1.out_features == 256 and default.encoder.blocks.layers[0].linear1.out_features == 64
    assert layer.activation is torch.nn.functional.gelu
    assert {n for n, _ in s3rec.named_parameters()} == {n for n, _ in default.named_parameters()}
    for weight in (layer.linear1.weight, layer.linear2.weight, layer.self_attn.in_proj_weight):
        assert abs(weight.std().item() - 0.02) < 0.002
    assert torch.count_nonzero(layer.linear1.bias) == 0
    s3rec.eval()
    inputs = torch.tensor([[1, 2, 3, 0, 0]])
    out = s3rec.encoder(inputs, s3rec.encoder.items())
    x = s3rec.encoder.items()[inputs] + s3rec.encoder.positions(torch.arange(5))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert torch.allclose(out, s3rec.encoder.blocks(s3rec.encoder.norm(x), mask=mask, is_causal=True))


def test_bce_needs_a_second_item_to_draw() -> None:
    with pytest.raises(ConfigError, match="sasrec loss 'bce' samples a negative item, so it needs 2\\+ items, not 1"):
        build_model("sasrec", 1, **{**SMALL, "loss": "bce"})


def test_validation_ranks_under_the_evaluations_history_rule() -> None:
    """The validation target is already in the history (a repeat): excluded, it can never be hit;
    kept, it is (this seed), so early stopping measures what the test will."""
    train = Sequences(np.arange(2), np.array([0, 3, 6]), np.array([0, 1, 2, 2, 3, 4]), np.arange(6))
    history = Sequences(np.arange(1), np.array([0, 3]), np.array([0, 1, 2]), np.arange(3))
    valid = EvalSet(history, Sequences(np.arange(1), np.array([0, 1]), np.array([2]), np.arange(1)))
    cfg = TrainConfig(epochs=1, device="cpu", valid_metric="ndcg@10")
    best = {}
    for exclude in (True, False):
        model = build_model("sasrec", 15, **SMALL)  # 12 items left after the history: the top 10 holds none of it
        best[exclude] = fit(model, model.parameters(), train, valid, cfg, seed=0, exclude_history=exclude).best_valid
        _, scores = evaluate(model.score, valid, ["ndcg@10"], exclude_history=exclude)
        assert best[exclude] == pytest.approx(float(scores["ndcg@10"].mean()))
    assert best[True] == 0 < best[False]
