"""``flm-bench run --executor ray`` on a real two-node Ray cluster on this machine
(``ray.cluster_utils.Cluster``, one CPU per node): cells spread over both nodes, records equal
a local run's, a killed worker is retried without losing or duplicating a record, a failing cell
is reported while the others go on, and a rerun skips what is complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console import cli
from fake_plugins import install_fake_plugin
from ray_cluster import node_ids, two_node_cluster

from flm_bench.errors import ConfigError
from flm_bench.plan import plan
from flm_bench.plugins import load_plugins
from flm_bench.ray_executor import MISSING_EXTRA, RayRun, run_on_ray
from flm_bench.results.records import RECORD_FILE, TMP_PREFIX, records_dir
from flm_bench.runner import Runner
from flm_bench.suite import Suite, load_suite

MARKED_PLUGIN = """
import os, time
from pathlib import Path
from flm_bench.api import ModelSpec, hookimpl

class Marked:
    '''Writes its process id into MARKS_DIR, sleeps MARKED_SECONDS, scores nothing; or raises.'''
    def __init__(self, n_items, boom):
        self.n_items, self.boom = n_items, boom
    def fit(self, train):
        if self.boom:
            raise RuntimeError("boom in fit")
        Path(os.environ["MARKS_DIR"], str(os.getpid())).write_text("")
        time.sleep(float(os.environ["MARKED_SECONDS"]))
    def score(self, histories, users):
        import torch
        return torch.zeros(len(histories), self.n_items)

@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec("marked", lambda i: Marked(i.n_items, False), pretrainable=False, item_representation="none"))
    register(ModelSpec("boom", lambda i: Marked(i.n_items, True), pretrainable=False, item_representation="none"))
"""

SUITE = """
name = "raysmall"
targets = ["synthetic-finance"]
corpora = ["synthetic-all"]          # holds the target: excluded from its corpus
models = {models}
strategies = ["scratch", "finetune"]
seeds = {seeds}

[evaluation]
metrics = ["ndcg"]
cutoffs = [10]

[training]
epochs = 1
batch_size = 512
max_valid_users = 200
device = "cpu"

[pretraining]
epochs = 1
batch_size = 1024
max_valid_users = 200
device = "cpu"

[resources]
cpus = 1
"""

SASREC = """
[model_params.sasrec]
dim = 8
layers = 1
heads = 1
"""

#: Record fields that measure the run rather than the cell: they differ between any two runs.
RUN_SPECIFIC = {
    "cost": ("pretrain_seconds", "adapt_seconds", "eval_seconds", "peak_memory_mb"),
    "provenance": ("created", "torch_threads"),  # a Ray task runs with its cells' cpus as threads
}


def suite_file(folder: Path, models: list[str], seeds: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"suite-{'-'.join(models)}-{len(seeds)}.toml"
    path.write_text(SUITE.format(models=json.dumps(models), seeds=json.dumps(seeds)) + (SASREC * ("sasrec" in models)))
    return path


def comparable(folder: Path) -> dict[str, dict[str, Any]]:
    """Every record folder of an output folder: its files' bytes, record.json less the run-specific fields."""
    out = {}
    for record in sorted(records_dir(folder).iterdir()):
        files: dict[str, Any] = {f.name: f.read_bytes() for f in record.iterdir() if f.name != RECORD_FILE}
        doc = json.loads((record / RECORD_FILE).read_text())
        for section, names in RUN_SPECIFIC.items():
            for name in names:
                doc[section].pop(name)
        files[RECORD_FILE] = doc
        out[record.name] = files
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two Ray nodes of one CPU each; their workers (and this process) see the ``marked`` plugin."""
    site = install_fake_plugin(tmp_path_factory.mktemp("site"), "fake_marked", MARKED_PLUGIN)
    marks = tmp_path_factory.mktemp("marks")
    with two_node_cluster(site, MARKS_DIR=str(marks), MARKED_SECONDS="3") as nodes:
        yield nodes


def run_ray(cluster: Any, suite: Suite, output: Path) -> RayRun:
    return run_on_ray(suite, load_plugins(), output, address=cluster.address)


def test_missing_ray_is_one_line_and_core_never_imports_it(tmp_path: Path) -> None:
    """Without Ray importable, ``--executor ray`` is one line naming the extra (exit 2); the CLI
    and the executor module import Ray only when a Ray run starts."""
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    done = cli("run", "--executor", "ray", "--model", "popularity", "-o", "out", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {MISSING_EXTRA}"]
    assert not (tmp_path / "out").exists()
    code = (
        "import sys, flm_bench.cli.app, flm_bench.ray_executor, flm_bench.ray_tuning; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    wrong = cli("run", "--ray-address", "auto", cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.strip() == "error: --ray-address needs --executor ray"


@pytest.mark.slow
def test_cells_spread_over_two_nodes_equal_local_and_rerun_skips(cluster: Any, tmp_path: Path) -> None:
    """Pretraining and cells as tasks on both nodes; the records are the local executor's (apart
    from timings, memory, creation time and threads); a rerun through the console script skips them all,
    runs a new cell, and reports a cell that raises on one line with exit code 1."""
    suite = load_suite(suite_file(tmp_path, ["popularity", "sasrec"], [0]))
    first = run_ray(cluster, suite, tmp_path / "ray")
    assert len(first.result.written) == 3 and not first.result.failed and not first.result.skipped
    # one CPU per node: tasks ready at once (the checkpoint and the two scratch cells) run on both
    # nodes; which of them lands where is Ray's choice (a CI run put all three cells on one node
    # while the other pretrained)
    used = set(first.nodes.values()) | set(first.pretrained_on.values())
    assert used == node_ids(cluster), "every node ran tasks"
    assert set(first.pretrained_on) == {rid for rid in first.nodes if "__finetune__" in rid}
    Runner(suite, load_plugins(), tmp_path / "local").run()
    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local")

    before = {p: p.read_bytes() for p in records_dir(tmp_path / "ray").rglob("*") if p.is_file()}
    more = suite_file(tmp_path, ["popularity", "sasrec", "marked", "boom"], [0])
    args = ("run", "--executor", "ray", "--ray-address", cluster.address, "--suite", str(more), "-o", "ray")
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert failed == ["error: cell synthetic-finance · boom · scratch · seed 0 failed: RuntimeError: boom in fit"]
    assert "1 record(s) written, 3 already complete" in done.stderr
    assert {p: p.read_bytes() for p in before} == before, "complete records are left as they were"
    assert len(list(records_dir(tmp_path / "ray").glob(f"*__marked__*/{RECORD_FILE}"))) == 1


@pytest.mark.slow
def test_killed_worker_is_retried_and_no_record_is_lost_or_doubled(cluster: Any, tmp_path: Path) -> None:
    """SIGKILL the worker process of a cell in the middle of its fit: Ray starts the task again,
    and every record exists exactly once, equal to a local run's."""
    marks = Path(os.environ["MARKS_DIR"])
    for old in marks.iterdir():
        old.unlink()
    suite = load_suite(suite_file(tmp_path, ["marked"], [0, 1]))
    killed: list[int] = []
    stop = threading.Event()

    def kill_first() -> None:
        while not stop.wait(0.05):
            for mark in marks.iterdir():
                os.kill(int(mark.name), signal.SIGKILL)
                killed.append(int(mark.name))
                return

    killer = threading.Thread(target=kill_first, daemon=True)
    killer.start()
    try:
        run = run_ray(cluster, suite, tmp_path / "ray")
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1, "a worker was killed mid-cell"
    assert len(list(marks.iterdir())) == 3, "two cells, one of them started twice"
    assert not run.result.failed and len(run.result.written) == 2
    folders = sorted(p.name for p in records_dir(tmp_path / "ray").iterdir())
    assert len(folders) == 2 and not [f for f in folders if f.startswith(TMP_PREFIX)]
    Runner(suite, load_plugins(), tmp_path / "local").run()
    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local")


def test_resources_per_model_are_checked_and_not_part_of_record_ids(tmp_path: Path) -> None:
    base = load_suite(suite_file(tmp_path, ["popularity", "sasrec"], [0]))
    data = base.model_dump()
    data["resources"] = {"cpus": 2, "models": {"sasrec": {"gpus": 0.5}}}
    suite = Suite.model_validate(data)
    assert (suite.resources.for_model("popularity").cpus, suite.resources.for_model("popularity").gpus) == (2, 0)
    assert (suite.resources.for_model("sasrec").cpus, suite.resources.for_model("sasrec").gpus) == (1, 0.5)
    cell = plan(suite, load_plugins())[0]
    assert cell.record_id(suite, {}, ["x"]) == cell.record_id(base, {}, ["x"])
    data["resources"] = {"models": {"itemknn": {"cpus": 1}}}
    with pytest.raises(ValueError, match=r"resources.models for \['itemknn'\], which are not among the models"):
        Suite.model_validate(data)


@pytest.mark.slow
def test_cells_no_node_can_hold_are_a_config_error(cluster: Any, tmp_path: Path) -> None:
    """A cell reserving more than any node has would wait forever: refused before any task."""
    data = load_suite(suite_file(tmp_path, ["popularity"], [0])).model_dump()
    data["resources"] = {"cpus": 1, "gpus": 1}
    with pytest.raises(
        ConfigError, match=r"cells of 'popularity' need cpus = 1, gpus = 1, but no node .* 1 CPUs, 0 GPUs"
    ):
        run_ray(cluster, Suite.model_validate(data), tmp_path / "ray")
    assert not records_dir(tmp_path / "ray").exists()
