"""Data-parallel pretraining: shards, loss normalisation, and torchrun against one process.

The end-to-end test pretrains the same suite once in one process and once with 2 CPU
processes through the real launcher (``python -m torch.distributed.run --standalone``), then
compares the checkpoints. Tolerance: every tensor within ``ATOL = 1e-6`` (measured: 6e-8,
float summation order), except the attention *key* bias. Its exact gradient is zero (softmax
is invariant to adding ``q·b_k`` to every score of a query), so both runs feed AdamW pure
rounding noise there and it random-walks by up to ``lr`` per step; it is compared within
``2 × lr × steps`` (measured: 3e-4, bound 3e-2) and has no effect on any score.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flm_bench.cli.app import app
from flm_bench.results.records import load_records
from flm_bench.train.distributed import Launch, loss_weight, shard
from flm_bench.train.neural import NeuralRecommender

ATOL = 1e-6
LEARNING_RATE = 1e-3
BATCH = 128
SUITE = f"""
name = "dp"
targets = ["synthetic-social"]
corpora = ["synthetic-general"]     # minus the target: synthetic-ecommerce
models = ["sasrec"]
strategies = ["finetune"]
seeds = [0]

[preprocess]
min_user_interactions = 24          # ~500 users per domain: seconds, not minutes

[training]
epochs = 1
device = "cpu"

[pretraining]
epochs = 3
batch_size = {BATCH}
learning_rate = {LEARNING_RATE}
patience = 1
device = "cpu"
windows = "last"                    # see the note on KEY_BIAS: one-item windows make it worse

[model_params.sasrec]
dim = 16
layers = 1
heads = 1
dropout = 0.0                       # no random masks: 1 and 2 processes can compute the same thing
max_len = 10
"""
KEY_BIAS = "encoder.blocks.layers.0.self_attn.in_proj_bias"  # [q | k | v] biases
# Softmax ignores a shift shared by all keys, so the key bias's true gradient is zero and Adam turns
# float noise into steps of about the learning rate, differently in 1 and 2 processes. Sliding
# windows add windows of one input item, over which attention has a single key: the query and key
# weights then get no true gradient either (measured: 1.7e-3 on the key rows after 3 epochs), so the
# exactness check trains on last windows, whose 10 positions give every weight a real gradient.


# ---------------------------------------------------------------------------- pure logic


def test_shards_partition_a_batch_in_rank_order() -> None:
    for n in range(0, 23):
        for world in range(1, 5):
            parts = [shard(n, r, world) for r in range(world)]
            rows = [i for s in parts for i in range(n)[s]]
            assert rows == list(range(n)), (n, world)
            sizes = [s.stop - s.start for s in parts]
            assert max(sizes) - min(sizes) <= 1


def test_launch_reads_torchrun_environment() -> None:
    assert Launch.from_env({}) is None and Launch.from_env({"WORLD_SIZE": "1"}) is None
    env = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert Launch.from_env(env) == Launch(rank=3, world_size=4, local_rank=1, local_world_size=2)


class Tiny(NeuralRecommender):
    """Embedding + linear head; ``unused`` never gets a gradient."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.n_items, self.max_len = 7, 6
        self.encoder = torch.nn.Embedding(8, 4)
        self.head = torch.nn.Linear(4, 7)
        self.unused = torch.nn.Parameter(torch.zeros(3))

    def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs).cumsum(1)  # [B, L, 4], causal

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden)


def batch(rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of different lengths, so shards hold different numbers of target positions."""
    g = torch.Generator().manual_seed(rows)
    lengths = torch.tensor([1 + (3 * i) % 5 for i in range(rows)])
    inputs = torch.randint(1, 8, (rows, 5), generator=g) * (torch.arange(5) < lengths[:, None])
    targets = torch.randint(0, 7, (rows, 5), generator=g).masked_fill(inputs == 0, -1)
    return inputs, lengths, targets


def test_weighted_shard_losses_sum_to_the_global_mean() -> None:
    """Σ_r weight_r · loss(shard_r) is the whole batch's loss, gradients included (one process)."""
    model, (inputs, lengths, targets) = Tiny(), batch(5)
    full = model.loss(inputs, lengths, targets, "next-item")
    full.backward()
    expected = [p.grad.clone() for p in (model.encoder.weight, model.head.weight)]
    model.zero_grad()
    total = 0.0
    for r in range(2):
        s = shard(5, r, 2)
        w = loss_weight(model.loss_count(targets[s], "next-item"), model.loss_count(targets, "next-item"))
        part = model.loss(inputs[s], lengths[s], targets[s], "next-item") * w
        part.backward()
        total += part.item()
    assert total == pytest.approx(full.item(), abs=1e-6)
    for p, e in zip((model.encoder.weight, model.head.weight), expected):
        torch.testing.assert_close(p.grad, e, atol=1e-7, rtol=0)


def _rank(rank: int, world: int, rendezvous: str, results: str) -> None:
    import torch.distributed as dist

    from flm_bench.train.distributed import train_step

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        out = {}
        for rows in (5, 1):  # 1 row: rank 1's shard is empty
            model = Tiny()
            params = list(model.parameters())
            loss = train_step(model, params, torch.optim.SGD(params, lr=0.0), batch(rows), "next-item")
            out[rows] = (loss, {n: None if p.grad is None else p.grad.numpy() for n, p in model.named_parameters()})
        torch.save(out, f"{results}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_step_with_the_single_process_gradient(tmp_path: Path) -> None:
    """train_step on 2 real gloo ranks: the global loss and summed gradients of one process."""
    import torch.multiprocessing as mp

    mp.spawn(_rank, args=(2, str(tmp_path / "rdv"), str(tmp_path / "out")), nprocs=2)
    for rows in (5, 1):
        model = Tiny()
        loss = model.loss(*batch(rows), "next-item")
        loss.backward()
        for rank in range(2):
            got_loss, grads = torch.load(tmp_path / f"out.{rank}", weights_only=False)[rows]
            assert got_loss == pytest.approx(loss.item(), abs=1e-6)
            assert grads["unused"] is None, "a parameter without gradient anywhere must keep grad None"
            for name, p in model.named_parameters():
                if p.grad is not None:
                    np.testing.assert_allclose(grads[name], p.grad.numpy(), atol=1e-7, rtol=0, err_msg=name)


# ---------------------------------------------------------------------------- end to end


def _pretrain(folder: Path, env: dict[str, str], processes: int) -> tuple[dict, float]:
    flm_bench = str(Path(sys.executable).with_name("flm-bench"))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    cmd = [
        *(launcher if processes > 1 else [sys.executable]),
        flm_bench,
        "pretrain",
        "--suite",
        str(folder.parent / "suite.toml"),
        "--output",
        str(folder),
        "--json",
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    (ckpt,) = json.loads(done.stdout)  # only rank 0 prints: exactly one JSON document
    return ckpt, seconds


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, session_cache: Path):
    tmp = tmp_path_factory.mktemp("dp")
    (tmp / "suite.toml").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLM_BENCH_")}
    env["FLM_BENCH_CACHE_DIR"] = str(session_cache)
    one, one_s = _pretrain(tmp / "one", env, 1)
    two, two_s = _pretrain(tmp / "two", env, 2)
    print(f"\npretrain wall time: 1 process {one_s:.1f} s, 2 processes {two_s:.1f} s")
    return tmp, one, two


@pytest.mark.slow
def test_two_processes_pretrain_what_one_process_does(pretrained) -> None:
    _, one, two = pretrained
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["key"] == two["key"] and Path(one["path"]).name == Path(two["path"]).name
    assert not one["reused"] and not two["reused"]
    assert two["epochs"] == one["epochs"] and two["best_valid"] == pytest.approx(one["best_valid"], abs=1e-6)
    a = torch.load(one["path"], weights_only=True)
    b = torch.load(two["path"], weights_only=True)
    assert a.keys() == b.keys()
    worst = {k: float((a[k] - b[k]).abs().max()) for k in a}
    dim = a[KEY_BIAS].shape[0] // 3
    key_bias = float((a[KEY_BIAS][dim : 2 * dim] - b[KEY_BIAS][dim : 2 * dim]).abs().max())
    worst[KEY_BIAS] = float(
        torch.cat([(a[KEY_BIAS] - b[KEY_BIAS])[:dim], (a[KEY_BIAS] - b[KEY_BIAS])[2 * dim :]]).abs().max()
    )
    print(f"max |1 process - 2 processes|: {max(worst.values()):.2e} (key bias {key_bias:.2e})")
    assert max(worst.values()) <= ATOL, sorted(worst.items(), key=lambda kv: -kv[1])[:3]
    users = 530  # synthetic-ecommerce users with >= 24 interactions (all long enough to train on)
    steps = one["epochs"] * -(-users // BATCH)
    assert key_bias <= 2 * LEARNING_RATE * steps  # two independent walks of about lr per step


@pytest.mark.slow
def test_run_reuses_the_checkpoint_of_two_processes(pretrained, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp, _, two = pretrained
    out = tmp / "two"
    result = CliRunner().invoke(app, ["run", "--suite", str(tmp / "suite.toml"), "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    (record,) = [r for _, r in load_records(out)]
    assert record.cost.pretrain_reused
    assert record.strategy.checkpoint == Path(two["path"]).name
    assert record.cost.pretrain_seconds == pytest.approx(two["seconds"])
