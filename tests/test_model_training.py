"""Per-model training overrides (``[model_training.NAME]``): merged over ``[training]``, under a tuned
cell's overrides; validated at load; part of the overridden model's record ids only; honoured by a run."""

from __future__ import annotations

from pathlib import Path

import pytest
from console import cli

from flm_bench.errors import ConfigError
from flm_bench.plan import Cell
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.runner import Runner
from flm_bench.suite import Suite, load_suite, single_cell
from flm_bench.train.neural import windows
from flm_bench.tuned import TunedCell

SUITE = """
name = "per-model"
targets = ["synthetic-finance"]
models = ["sasrec", "lightgcn"]
[training]
batch_size = 128
learning_rate = 0.001
"""
GRAPH = "[model_training.lightgcn]\nbatch_size = 2048\nlearning_rate = 0.01\n"


def _load(tmp_path: Path, text: str) -> Suite:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return load_suite(path)


def _tuned(**training: float) -> TunedCell:
    return TunedCell(
        dataset="synthetic-finance",
        model="lightgcn",
        strategy="scratch",
        training=training,
        study="s",
        best_trial=0,
        best_value=0.1,
        valid_metric="ndcg@10",
        search_space="x",
        trials={"run": 1, "complete": 1, "pruned": 0, "failed": 0},
    )


def test_an_override_merges_over_training_and_a_tuned_cell_over_both(tmp_path: Path) -> None:
    suite = _load(tmp_path, SUITE + GRAPH)
    graph = suite.training_for("lightgcn")
    assert (graph.batch_size, graph.learning_rate, graph.epochs) == (2048, 0.01, suite.training.epochs)
    assert suite.training_for("sasrec") is suite.training  # no override: [training] itself
    tuned = suite.training_for("lightgcn", _tuned(learning_rate=0.05))
    assert (tuned.batch_size, tuned.learning_rate) == (2048, 0.05)
    assert suite.training_for("sasrec", _tuned()) is suite.training  # a tuned cell without training overrides


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("[model_training.gru4rec]\nbatch_size = 64\n", "model_training for ['gru4rec']"),
        ("[model_training.lightgcn]\nbatch_sizes = 64\n", "model_training.lightgcn.batch_sizes"),
        ("[model_training.lightgcn]\nbatch_size = 0\n", "model_training.lightgcn.batch_size"),
        ("[model_training.lightgcn]\ndevice = 'cpu'\n", "model_training.lightgcn.device: the device is suite-wide"),
    ],
    ids=["unknown model", "unknown field", "bad value", "device"],
)
def test_a_bad_override_is_a_one_line_config_error_naming_it(tmp_path: Path, table: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, SUITE + table)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_only_the_overridden_model_gets_a_new_record_id(tmp_path: Path) -> None:
    plain, graph = _load(tmp_path, SUITE), _load(tmp_path, SUITE + GRAPH)
    for model, changes in (("sasrec", False), ("lightgcn", True)):
        cell = Cell("synthetic-finance", model, "scratch", None, 0)
        ids = {cell.record_id(s, {"dim": 8}, ["data", "split"]) for s in (plain, graph)}
        assert len(ids) == 1 + changes, model


def test_single_cell_keeps_only_the_overrides_of_the_models_kept(tmp_path: Path) -> None:
    suite = _load(tmp_path, SUITE + GRAPH + "[model_training.sasrec]\nbatch_size = 512\n")
    assert set(single_cell(suite, models=["sasrec"]).model_training) == {"sasrec"}


def test_the_console_script_reports_an_unknown_model_in_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SUITE + "[model_training.gru4rec]\nbatch_size = 64\n")
    done = cli("run", "--suite", "s.toml", "--output", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "model_training" in done.stderr and "gru4rec" in done.stderr


RUN = """
name = "per-model-run"
targets = ["synthetic-finance"]
models = ["sasrec", "flm-cnn"]
[training]
device = "cpu"
epochs = 1
batch_size = 256
windows = "last"
max_valid_users = 200
[model_training.flm-cnn]
batch_size = 64
[model_params.sasrec]
dim = 8
layers = 1
heads = 1
max_len = 8
[model_params.flm-cnn]
dim = 8
train_len = 8
n_h = 2
n_v = 1
"""


@pytest.mark.slow
def test_a_run_trains_the_overridden_model_with_its_own_batch_size(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    runner = Runner(_load(tmp_path, RUN), load_plugins(), tmp_path / "out", device="cpu")
    runner.run()
    steps = {r.model.name: r.training.optimizer_steps for _, r in load_records(tmp_path / "out") if r.training}
    # one window per training user ("last"), one epoch: as many steps as batches of that many windows
    n_windows = len(windows(runner.split("synthetic-finance").train, 8, sliding=False)[0])
    assert steps == {"sasrec": -(-n_windows // 256), "flm-cnn": -(-n_windows // 64)}
