"""Records say how training ended: epochs run out of the cap, optimizer steps, and why it stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.results.summary import capped
from flm_bench.runner import Runner
from flm_bench.suite import load_suite

SUITE = """
name = "budget"
targets = ["synthetic-finance"]
models = ["sasrec"]
strategies = ["scratch"]
[evaluation]
metrics = ["ndcg"]
cutoffs = [10]
[training]
device = "cpu"
batch_size = 256
max_valid_users = 300
{training}
[model_params.sasrec]
dim = 8
layers = 1
heads = 1
max_len = 8
"""


def _training(tmp_path: Path, training: str):
    (tmp_path / "suite.toml").write_text(SUITE.format(training=training))
    Runner(load_suite(tmp_path / "suite.toml"), load_plugins(), tmp_path / "out", device="cpu").run()
    ((_, record),) = load_records(tmp_path / "out")
    assert record.training is not None
    return record.training


@pytest.mark.slow
def test_a_run_ended_by_the_epoch_cap_says_cap(tmp_path: Path) -> None:
    training = _training(tmp_path, "epochs = 2\npatience = 10")
    assert (training.stopped_by, training.epochs, training.epochs_cap) == ("cap", 2, 2)
    assert training.optimizer_steps and training.optimizer_steps % 2 == 0  # the same batches every epoch


@pytest.mark.slow
def test_a_run_ended_by_patience_says_patience(tmp_path: Path) -> None:
    # a learning rate far too high: validation gets worse after the first epoch, patience 1 stops it
    training = _training(tmp_path, "epochs = 30\npatience = 1\nlearning_rate = 5.0")
    assert training.stopped_by == "patience" and training.epochs < training.epochs_cap == 30
    assert training.epochs == training.best_epoch + 1
    assert training.optimizer_steps and training.optimizer_steps % training.epochs == 0


@pytest.mark.slow
def test_a_run_ended_by_its_time_budget_says_time_and_counts_as_not_converged(tmp_path: Path) -> None:
    training = _training(tmp_path, "epochs = 30\npatience = 30\nmax_seconds = 0.001")
    assert (training.stopped_by, training.epochs, training.epochs_cap, training.windows) == ("time", 1, 30, "sliding")


def test_published_records_without_stopped_by_are_judged_by_their_best_epoch() -> None:
    """Before schema 3 no record said why training stopped; a best epoch that is the last of
    several means patience never stopped it, so the cap did; otherwise it cannot be told."""
    board = Path(__file__).resolve().parents[1] / "leaderboards" / "records"
    records = [r for _, r in load_records(board) if r.suite == "standard" and r.dataset.name == "movielens-100k"]
    verdicts = {(r.model.name, r.strategy.name, r.seed): capped(r) for r in records}
    assert [verdicts["sasrec", "scratch", s] for s in (0, 1, 2)] == [True, True, True]  # best epoch 12 of 12
    assert verdicts["popularity", "scratch", 0] is False  # no gradient training
    undecided = [r for r in records if capped(r) is None]
    assert undecided  # stopped before its last epoch (patience, or the cap right after a bad epoch), or one epoch
    assert all(r.training and (r.training.best_epoch < r.training.epochs or r.training.epochs == 1) for r in undecided)
    assert {r.training.windows for r in records if r.training} == {"last"}  # all trained before sliding windows
