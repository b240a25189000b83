"""``flm-bench data info|verify|prepare`` through typer's CliRunner.

Besides the registered datasets, a test plugin registers ``test-ml100k``: a real dataset over
the declared movielens-100k files (``plugins/sources.json``) with a minimal parser, so the
commands are exercised on real, checksummed files whatever the dataset plugins register.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flm_bench import hookimpl
from flm_bench.cli import common
from flm_bench.cli.app import app
from flm_bench.data.sources import DATA_DIR_ENV, MIRROR_ENV, open_text, sha256_of
from flm_bench.plugins import load_plugins
from flm_bench_plugins.realdata import canonical, real_dataset

runner = CliRunner()
ML = "media/movielens-100k"
TEST_FILES = (f"{ML}/u.data.gz", f"{ML}/u.item", f"{ML}/u.user")


def _parse(files):
    with open_text(files["u.data.gz"]) as f:
        rows = np.loadtxt(f, dtype=np.int64, delimiter="\t")
    return canonical(rows[:, 0], rows[:, 1], rows[:, 3], rating=rows[:, 2].astype(np.float32))


class TestRealData:
    @staticmethod
    @hookimpl
    def flm_bench_register_datasets(register):
        register(
            real_dataset(
                "test-ml100k",
                "media",
                TEST_FILES,
                _parse,
                timestamped=True,
                ordered=True,
                description="movielens-100k ratings (test plugin)",
                license="research only",
                citation="Harper & Konstan 2015",
                source="shared/datasets/media/movielens-100k",
            )
        )


@pytest.fixture
def cli_plugins(monkeypatch: pytest.MonkeyPatch):
    """The CLI uses a fresh plugin set with the test dataset; ``--data-dir`` does not leak."""
    plugins = load_plugins(extra=[("test-realdata", TestRealData())])
    monkeypatch.setattr(common, "default_plugins", lambda: plugins)
    # the commands write these into os.environ; make monkeypatch restore them afterwards
    monkeypatch.setenv(DATA_DIR_ENV, "")
    monkeypatch.setenv(MIRROR_ENV, "")
    return plugins


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FLM_BENCH_CACHE_DIR", str(folder))
    return folder


def _files_of_real_datasets(plugins) -> set[tuple[str, str]]:
    return {(e.spec.name, f.path) for e in plugins.datasets for f in e.spec.files}


def invoke(*args: str):
    return runner.invoke(app, list(args))


# ---------------------------------------------------------------------------------------- verify


def test_verify_every_real_file_ok(cli_plugins, shared_datasets: Path, empty_cache: Path) -> None:
    result = invoke("data", "verify", "--json", "--data-dir", str(shared_datasets))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = _files_of_real_datasets(cli_plugins)
    assert {(r["dataset"], r["file"]) for r in rows} == expected and len(rows) == len(expected)
    assert ("test-ml100k", f"{ML}/u.item") in expected
    brought = {(e.spec.name, f.path) for e in cli_plugins.datasets for f in e.spec.files if f.brought}
    bad = [r for r in rows if r["status"] != "ok" and (r["dataset"], r["file"]) not in brought]
    assert not bad, bad
    assert brought and {r["status"] for r in rows if (r["dataset"], r["file"]) in brought} == {
        "missing"
    }  # no mirror has them
    # read in place (compared resolved: ../shared may be a symlink)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(Path(r["detail"]).resolve() == (shared_datasets / r["file"]).resolve() for r in ok)
    assert not empty_cache.exists() or not any(p.is_file() for p in empty_cache.rglob("*"))


def test_verify_reports_a_corrupted_copy(cli_plugins, shared_datasets: Path, tmp_path: Path, empty_cache: Path) -> None:
    data = tmp_path / "data"
    for path in TEST_FILES:
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_datasets / path, data / path)
    broken = data / f"{ML}/u.item"
    raw = bytearray(broken.read_bytes())
    raw[1000] ^= 0x01
    broken.write_bytes(bytes(raw))

    result = invoke("data", "verify", "test-ml100k", "--json", "--data-dir", str(data))
    assert result.exit_code == 1, result.output
    rows = {r["file"]: r for r in json.loads(result.stdout)}
    assert set(rows) == set(TEST_FILES)
    assert rows[f"{ML}/u.item"]["status"] == "mismatch"
    assert sha256_of(broken) in rows[f"{ML}/u.item"]["detail"]
    assert all(rows[p]["status"] == "ok" for p in TEST_FILES if not p.endswith("u.item"))

    # every dataset: the corrupted file still fails the command; other datasets' files are missing
    everything = invoke("data", "verify", "--json", "--data-dir", str(data))
    assert everything.exit_code == 1
    statuses = {(r["dataset"], r["file"]): r["status"] for r in json.loads(everything.stdout)}
    assert statuses[("test-ml100k", f"{ML}/u.item")] == "mismatch"
    assert {s for (d, f), s in statuses.items() if not f.startswith(ML)} <= {"missing"}

    table = invoke("data", "verify", "test-ml100k", "--data-dir", str(data))
    assert table.exit_code == 1 and "mismatch" in table.stdout


def test_verify_missing_files_downloads_nothing(cli_plugins, tmp_path: Path, empty_cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("data", "verify", "test-ml100k", "--json", "--data-dir", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in json.loads(result.stdout)} == {"missing"}
    assert not empty_cache.exists() or not any(p.is_file() for p in empty_cache.rglob("*"))


# ------------------------------------------------------------------------------------------ info


def test_info_synthetic_dataset(cli_plugins) -> None:
    result = invoke("data", "info", "synthetic-media", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    data = cli_plugins.datasets.get("synthetic-media").load_data()
    assert facts["name"] == "synthetic-media" and facts["domain"] == "media"
    assert facts["synthetic"] is True and facts["files"] == []
    assert (facts["users"], facts["items"], facts["interactions"]) == (data.n_users, data.n_items, data.n_interactions)
    assert {"user", "item", "order"} <= set(facts["columns"])
    assert facts["fingerprint"] == data.fingerprint
    assert facts["text_coverage"] == {"items_with_text": 0, "items": data.n_items}  # features, no text


def test_info_real_test_dataset(cli_plugins, shared_datasets: Path) -> None:
    result = invoke("data", "info", "test-ml100k", "--json", "--data-dir", str(shared_datasets))
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert (facts["users"], facts["items"], facts["interactions"]) == (943, 1682, 100_000)
    assert facts["domain"] == "media" and facts["synthetic"] is False and facts["timestamped"] is True
    assert [f["path"] for f in facts["files"]] == list(TEST_FILES)
    assert facts["side_data"] == {"user_ids": 943, "item_ids": 1682}

    table = invoke("data", "info", "test-ml100k", "--data-dir", str(shared_datasets))
    assert table.exit_code == 0 and "100,000" in table.stdout and "u.data.gz" in table.stdout


def test_info_movielens_100k(cli_plugins, shared_datasets: Path) -> None:
    assert "movielens-100k" in cli_plugins.datasets, "plugins/media.py registers no movielens-100k"
    result = invoke("data", "info", "movielens-100k", "--json", "--data-dir", str(shared_datasets))
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert (facts["users"], facts["items"], facts["interactions"]) == (943, 1682, 100_000)
    assert facts["domain"] == "media" and facts["synthetic"] is False
    assert f"{ML}/u.data.gz" in {f["path"] for f in facts["files"]}
    assert all(f["path"].startswith(f"{ML}/") for f in facts["files"])
    assert facts["text_coverage"] == {"items_with_text": 1681, "items": 1682}  # one title is "unknown"


def test_info_unknown_dataset_fails(cli_plugins) -> None:
    result = invoke("data", "info", "no-such-dataset", "--json")
    assert result.exit_code != 0


# --------------------------------------------------------------------------------------- prepare


def test_prepare_prints_counts(cli_plugins, shared_datasets: Path) -> None:
    result = invoke("data", "prepare", "synthetic-media", "test-ml100k", "--data-dir", str(shared_datasets))
    assert result.exit_code == 0, result.output
    synthetic = cli_plugins.datasets.get("synthetic-media").load_data()
    assert (
        f"synthetic-media: {synthetic.n_users:,} users, {synthetic.n_items:,} items, "
        f"{synthetic.n_interactions:,} interactions ready in"
    ) in result.stdout
    assert "test-ml100k: 943 users, 1,682 items, 100,000 interactions ready in" in result.stdout
