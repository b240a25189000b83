"""``flm-bench tune --executor ray`` on a real two-node Ray cluster on this machine: the trials of
each study run as Ray tasks on both nodes at once, every study holds exactly ``--trials`` finished
trials, a trial that raises or whose worker is killed is failed while the others go on, and the
overlay holds each study's best."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import optuna
import pytest
from console import cli
from fake_plugins import TUNING_PLUGIN, install_fake_plugin
from ray_cluster import node_ids, two_node_cluster

from flm_bench.errors import ConfigError
from flm_bench.ray_tuning import NODE, check_storage
from flm_bench.suite import load_suite, with_overlay
from flm_bench.tuning_trial import ERROR

SUITE = """
name = "raytune"
targets = ["synthetic-finance"]
models = ["once", "tiny"]
strategies = ["scratch"]
seeds = [0]
[training]
epochs = 1
batch_size = 512
max_valid_users = 100
device = "cpu"
[resources]
cpus = 1
"""
TRIALS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two Ray nodes of one CPU each; their workers see the tuning plugin and the ``once`` flag file."""
    site = install_fake_plugin(tmp_path_factory.mktemp("site"), "fake_tuning", TUNING_PLUGIN)
    flags = tmp_path_factory.mktemp("flags")
    with two_node_cluster(
        site, FAIL_ONCE=str(flags / "fail"), KILL_ONCE=str(flags / "kill"), OMP_NUM_THREADS="1"
    ) as nodes:
        yield nodes


@pytest.mark.slow
def test_trials_of_a_study_run_at_once_on_both_nodes_and_the_budget_holds(cluster: Any, tmp_path: Path) -> None:
    """Through the console script: 4 trials per study (two studies), over both nodes, overlapping in
    time; the trial whose build raises and the trial whose worker is killed are failed with their
    reasons and the others complete; the
    overlay is the local tuner's format, read as ``run --overlay`` reads it, with each study's best trial."""
    (tmp_path / "suite.toml").write_text(SUITE)
    flags = [Path(os.environ["KILL_ONCE"]), Path(os.environ["FAIL_ONCE"])]
    for flag in flags:
        flag.touch()
    args = ("--suite", "suite.toml", "-o", "out")
    done = cli(
        "tune", "--executor", "ray", "--ray-address", cluster.address, "--trials", str(TRIALS), *args, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert not any(flag.exists() for flag in flags), "one build killed its worker, another raised"
    storage = f"sqlite:///{tmp_path / 'out' / 'tuning.db'}"
    studies = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert set(studies) == {"raytune:synthetic-finance/once/scratch", "raytune:synthetic-finance/tiny/scratch"}
    trials = {name: optuna.load_study(study_name=name, storage=storage).get_trials() for name in studies}
    for name, ts in trials.items():
        assert sorted(t.number for t in ts) == list(range(TRIALS)), name  # exactly the budget, none past it
        assert all(t.state.is_finished() for t in ts), name
    everyone = [t for ts in trials.values() for t in ts]
    errors = sorted(t.user_attrs[ERROR] for t in everyone if t.state.name == "FAIL")
    assert len(errors) == 2 and errors[0] == "RuntimeError: once: this build fails", errors
    assert errors[1].startswith("WorkerCrashedError"), errors  # the killed trial, failed by the driver
    assert "failed: RuntimeError: once: this build fails" in done.stderr and "trial task failed:" in done.stderr
    assert sum(t.state.name == "COMPLETE" for t in everyone) >= 2 * TRIALS - 4  # the median pruner may stop some
    complete = [t for t in everyone if t.state.name == "COMPLETE"]
    assert all(t.intermediate_values == {1: t.value} for t in complete), "each epoch reached the shared storage"
    assert {t.user_attrs[NODE] for t in everyone} == node_ids(cluster), "trials ran on both nodes"
    spans = [(t.datetime_start, t.datetime_complete) for t in everyone]
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in combinations(spans, 2)), "two trials ran at once"

    overlay = tomllib.loads((tmp_path / "out" / "tuned.toml").read_text())["tuned"]
    assert sorted(e["study"] for e in overlay) == sorted(studies)
    # what `run --overlay` does with it first (test_tuning runs a local tuner's overlay end to end)
    suite = with_overlay(load_suite(tmp_path / "suite.toml"), tmp_path / "out" / "tuned.toml")
    for name, ts in trials.items():
        model = name.split("/")[1]
        entry = suite.tuned_for("synthetic-finance", model, "scratch", None)
        assert entry is not None and entry.study == name and entry.trials.run == TRIALS
        best = max((t for t in ts if t.state.name == "COMPLETE"), key=lambda t: (t.value, -t.number))
        assert entry.best_trial == best.number and entry.best_value == best.value
        assert entry.model_params == {k.removeprefix("model."): v for k, v in best.params.items() if "model." in k}


def test_executor_options_are_checked_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    bad = cli("tune", "--executor", "dask", "--suite", "suite.toml", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr
    assert "'dask'" in bad.stderr and "local" in bad.stderr and "ray" in bad.stderr
    alone = cli("tune", "--ray-address", "auto", "--suite", "suite.toml", cwd=tmp_path)
    assert alone.returncode == 2 and alone.stderr.strip() == "error: --ray-address needs --executor ray"
    assert not (tmp_path / "flm-bench-runs").exists()


class _Nodes:
    """What :func:`check_storage` asks of Ray: the live nodes and their hosts."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    def nodes(self) -> list[dict[str, Any]]:
        return [{"Alive": True, "NodeManagerAddress": h} for h in self.hosts] + [{"Alive": False}]


def test_a_sqlite_storage_is_refused_where_workers_cannot_share_it() -> None:
    sqlite, server = "sqlite:////runs/tuning.db", "postgresql://u:p@db/optuna"
    check_storage(_Nodes("10.0.0.1", "10.0.0.1"), sqlite, "auto")  # two nodes, one machine: one file
    check_storage(_Nodes("10.0.0.1", "10.0.0.2"), server, "10.0.0.1:6379")
    with pytest.raises(ConfigError, match=r"^--storage sqlite:////runs/tuning.db: .* spans 2 machines; pass"):
        check_storage(_Nodes("10.0.0.1", "10.0.0.2"), sqlite, "10.0.0.1:6379")
    with pytest.raises(ConfigError, match="is reached as a Ray client"):
        check_storage(_Nodes("10.0.0.1"), sqlite, "ray://head:10001")
