"""CONTRIBUTING.md's plugin walk-throughs, run as written: a plugin needs nothing but that page."""

from __future__ import annotations

import gzip
import re
import types
from pathlib import Path

import numpy as np
import pytest

import flm_bench.api
from flm_bench.api import DataLocation, SourceFile, sha256_of
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.runner import Runner
from flm_bench.suite import builtin_suite, single_cell

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"
BLOCKS = re.findall(r"```python\n(.*?)```", CONTRIBUTING.read_text(), flags=re.S)


def block(marker: str) -> str:
    """The one walk-through code block containing ``marker``."""
    (found,) = [b for b in BLOCKS if marker in b]
    return found


def as_module(code: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(code, f"CONTRIBUTING.md:{name}", "exec"), module.__dict__)
    return module


def tiny_suite(**lists) -> object:
    suite = single_cell(builtin_suite(), seeds=[0], **lists)
    return suite.model_copy(
        update={
            "training": suite.training.model_copy(update={"epochs": 1, "device": "cpu"}),
            "pretraining": suite.pretraining.model_copy(update={"epochs": 1, "device": "cpu"}),
        }
    )


def test_every_name_the_examples_import_is_in_the_api() -> None:
    assert len(BLOCKS) >= 4
    imported = {
        n.strip()
        for b in BLOCKS
        for group in re.findall(r"from flm_bench\.api import \(?([^)]*?)\)?\n(?!\s)", b)
        for n in group.replace("\n", " ").split(",")
        if n.strip()
    }
    assert imported and imported <= set(flm_bench.api.__all__), imported - set(flm_bench.api.__all__)


@pytest.mark.slow
def test_the_outside_library_model_runs_through_the_harness(tmp_path: Path) -> None:
    plugin = as_module(block("AlternatingLeastSquares"), "contributing_als")
    plugins = load_plugins(extra=[("als-example", plugin)])
    suite = tiny_suite(targets=["synthetic-finance"], models=["als"], strategies=["scratch"])
    Runner(suite, plugins, tmp_path / "out", device="cpu").run()
    ((_, record),) = load_records(tmp_path / "out")
    assert record.model.parameters == {"factors": 64, "regularization": 0.01, "iterations": 15}
    assert record.cost.trainable_parameters == 64 * record.dataset.items
    assert 0.02 < record.metrics["ndcg@10"] < 1  # popularity reaches 0.028 on this data; ALS learns more


@pytest.mark.slow
def test_the_own_file_dataset_reads_the_data_folder(tmp_path: Path) -> None:
    plugin = as_module(block("def load_my_ratings"), "contributing_file")
    folder = tmp_path / "data" / plugin.FILE.parent
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = [f"u{u},i{int(rng.integers(0, 20))},{100 * u + t}" for u in range(30) for t in range(5)]
    (folder / "ratings.csv").write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    plugins = load_plugins(extra=[("file-example", plugin)])
    suite = tiny_suite(targets=["my-ratings"], models=["popularity"], strategies=["scratch"])
    Runner(suite, plugins, tmp_path / "out", device="cpu", location=DataLocation(data_dir=tmp_path / "data")).run()
    ((_, record),) = load_records(tmp_path / "out")
    assert (record.dataset.name, record.dataset.users, record.dataset.interactions) == ("my-ratings", 30, 150)


def test_the_declared_files_dataset_fetches_and_verifies(tmp_path: Path) -> None:
    plugin = as_module(block("files_dataset("), "contributing_files")
    stored = tmp_path / "data" / "my-ratings" / "ratings.csv.gz"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(gzip.compress(b"user,item,timestamp\na,x,1\na,y,2\na,z,3\nb,x,1\nb,z,5\n"))
    plugin.FILES = (SourceFile(path="my-ratings/ratings.csv.gz", sha256=sha256_of(stored), size=stored.stat().st_size),)
    data = (
        load_plugins(extra=[("files-example", plugin)])
        .datasets.get("my-ratings")
        .load(DataLocation(data_dir=tmp_path / "data"))
    )
    assert (data.n_users, data.n_items, data.n_interactions) == (2, 3, 5)


@pytest.mark.slow
def test_the_strategy_example_records_its_metric(tmp_path: Path) -> None:
    plugin = as_module(block("class HeadFirst"), "contributing_strategy")
    plugins = load_plugins(extra=[("strategy-example", plugin)])
    suite = tiny_suite(
        targets=["synthetic-finance"], models=["sasrec"], strategies=["head-first"], corpora=["synthetic-general"]
    )
    suite = suite.model_copy(update={"model_params": {"sasrec": {"dim": 16, "layers": 1, "heads": 1, "head": "mlp"}}})
    Runner(suite, plugins, tmp_path / "out", device="cpu").run()
    ((_, record),) = load_records(tmp_path / "out")
    assert record.strategy.name == "head-first" and record.strategy_metrics["frozen_parameters"] > 0
    assert record.strategy.parameters == {"train_last": 0}
    assert record.strategy.transfer["reinitialised"] == ["encoder.items.ids.weight"]
