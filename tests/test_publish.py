"""Publishing records into a leaderboard: validation, all-or-nothing, replace, git, concurrency."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import ranx
import typer
from console import cli
from typer.testing import CliRunner

from flm_bench.cli.publish_cmd import publish_command
from flm_bench.errors import RecordError
from flm_bench.plugins import load_plugins
from flm_bench.results.publish import (
    JOURNAL,
    LOCK_NAME,
    GitError,
    PublishError,
    is_remote,
    publish,
    settled,
    validate,
)
from flm_bench.results.records import (
    ARTIFACTS,
    SCHEMA_FILE,
    TMP_PREFIX,
    find_records,
    load_records,
    records_dir,
)
from flm_bench.results.summary import summarize
from flm_bench.results.trec import open_text, write_text

SUITE = """
name = "pub"
targets = ["synthetic-finance"]
models = ["popularity", "itemknn"]
strategies = ["scratch"]
seeds = [0, 1, 2]

[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]

[training]
device = "cpu"
"""


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


@pytest.fixture(scope="module")
def run_output(run_suite, plugins) -> Path:
    """Six records (popularity and itemknn, seeds 0-2) on the synthetic finance data."""
    output = run_suite(SUITE, plugins)
    assert len(load_records(output)) == 6
    return output


@pytest.fixture(scope="module")
def record_folders(run_output: Path) -> dict[str, Path]:
    """``"<model>-<seed>"`` -> record folder."""
    return {f"{r.model.name}-{r.seed}": p.parent for p, r in load_records(run_output)}


@pytest.fixture(scope="module")
def seeded_board(tmp_path_factory: pytest.TempPathFactory, record_folders, plugins) -> Path:
    """A leaderboard holding one published record (popularity, seed 0); copy it before use."""
    board = tmp_path_factory.mktemp("board") / "leaderboards"
    publish([record_folders["popularity-0"]], board, plugins=plugins)
    return board


@pytest.fixture
def board(tmp_path: Path, seeded_board: Path) -> Path:
    target = tmp_path / "leaderboards"
    shutil.copytree(seeded_board, target)
    return target


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def copy_record(folder: Path, tmp_path: Path, name: str = "tampered") -> Path:
    target = tmp_path / "incoming" / name
    shutil.copytree(folder, target)
    return target


def edit_json(folder: Path, change: Callable[[dict], None]) -> None:
    doc = json.loads((folder / "record.json").read_text())
    change(doc)
    (folder / "record.json").write_text(json.dumps(doc, indent=2))


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_publish_copies_valid_records_into_the_board_layout(
    tmp_path: Path, run_output: Path, plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flm_bench.data.preprocess

    loads = []
    real_apply = flm_bench.data.preprocess.apply
    monkeypatch.setattr(
        flm_bench.data.preprocess, "apply", lambda data, options: loads.append(data.name) or real_apply(data, options)
    )
    board = tmp_path / "leaderboards"
    published = publish([run_output], board, plugins=plugins).published
    assert len(published) == 6
    assert loads == ["synthetic-finance"]  # one dataset and split for all six records
    assert all(p.parent.parent == records_dir(board) and p.name == "record.json" for p in published)
    for (src, record), (dst, copy) in zip(load_records(run_output), load_records(board)):
        assert copy == record and dst.parent.name == record.record_id
        assert sorted(f.name for f in dst.parent.iterdir()) == [
            "per_user.npz",
            "qrels.trec.gz",
            "record.json",
            "run.trec.gz",
        ]
        for f in dst.parent.iterdir():
            assert f.read_bytes() == (src.parent / f.name).read_bytes()
    assert not list(records_dir(board).glob(f"{TMP_PREFIX}*"))
    rows = summarize(load_records(board))  # the board renders from the published folder
    assert {(r.key.model, tuple(r.seeds)) for r in rows} == {("popularity", (0, 1, 2)), ("itemknn", (0, 1, 2))}


def test_record_arguments_are_files_folders_or_folders_of_records(
    tmp_path: Path, run_output: Path, record_folders
) -> None:
    folder = record_folders["itemknn-1"]
    assert find_records(folder) == [folder / "record.json"]
    assert find_records(folder / "record.json") == [folder / "record.json"]
    assert len(find_records(run_output)) == 6 == len(find_records(records_dir(run_output)))
    with pytest.raises(RecordError, match="no such record file or folder"):
        find_records(run_output / "missing")
    with pytest.raises(RecordError, match="no record.json"):
        find_records(tmp_path)  # a folder without records


RUN, QRELS = ARTIFACTS["run"], ARTIFACTS["qrels"]


def _lines(path: Path) -> list[str]:
    with open_text(path) as f:
        return f.readlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    write_text(path, "".join(lines))


def _drop_hard_user(folder: Path) -> None:
    """The cheat the qrels check exists for: drop a user who scores 0 everywhere, recompute the rest."""
    doc = json.loads((folder / "record.json").read_text())
    with np.load(folder / "per_user.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    i = int(np.flatnonzero(arrays["ndcg@10"] == 0)[0])
    user = str(int(arrays["users"][i]))
    for name in (RUN, QRELS):
        lines = _lines(folder / name)
        _write_lines(folder / name, [ln for ln in lines if ln.split()[0] != user])
    np.savez_compressed(folder / "per_user.npz", **{k: np.delete(v, i) for k, v in arrays.items()})
    run = ranx.Run.from_file(str(folder / RUN))
    qrels = ranx.Qrels.from_file(str(folder / QRELS))
    recomputed = ranx.evaluate(qrels, run, list(doc["metrics"]), make_comparable=True)
    doc["metrics"] = {k: float(v) for k, v in recomputed.items()}
    (folder / "record.json").write_text(json.dumps(doc, indent=2))


def _change_a_hit_in_the_run(folder: Path) -> None:
    """Move a relevant item one place in its user's ranking (swap two items of the user)."""
    qrels = {tuple(ln.split()[::2]) for ln in _lines(folder / QRELS)}
    lines = _lines(folder / RUN)
    i = next(i for i, ln in enumerate(lines) if (ln.split()[0], ln.split()[2]) in qrels)
    j = i + 1 if lines[i + 1].split()[0] == lines[i].split()[0] else i - 1
    a, b = lines[i].split(), lines[j].split()
    a[2], b[2] = b[2], a[2]
    lines[i], lines[j] = " ".join(a) + "\n", " ".join(b) + "\n"
    _write_lines(folder / RUN, lines)


def _change_one_per_user_score(folder: Path) -> None:
    with np.load(folder / "per_user.npz") as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    arrays["recall@10"][3] = 1.0 - arrays["recall@10"][3]
    np.savez_compressed(folder / "per_user.npz", **arrays)


def _set(*keys: str, value) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        def apply(doc: dict) -> None:
            node = doc
            for k in keys[:-1]:
                node = node[k]
            if value is _DELETE:
                del node[keys[-1]]
            else:
                node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value

        edit_json(folder, apply)

    return change


def _symlink(path: Path) -> None:
    """Replace ``path`` by a link to a copy of it elsewhere (same content: only the link is wrong)."""
    elsewhere = path.parent.parent / f"elsewhere-{path.name}"
    shutil.copy(path, elsewhere)
    path.unlink()
    path.symlink_to(elsewhere)


def _gzip_bomb(folder: Path) -> None:
    """A run that decompresses to 64 MiB of blank lines (far beyond what the record's users need)."""
    with gzip.open(folder / RUN, "wb", compresslevel=1) as f:
        for _ in range(64):
            f.write(b"\n" * (1 << 20))


def _edit_npz(folder: Path, change: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> None:
    with np.load(folder / "per_user.npz") as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    np.savez_compressed(folder / "per_user.npz", **change(arrays))


_DELETE = object()

TAMPERINGS: dict[str, tuple[Callable[[Path], None], str]] = {
    "changed metric": (
        _set("metrics", "ndcg@10", value=lambda v: v + 1e-6),
        r"metric ndcg@10 is .* in the record but ranx computes",
    ),
    "changed lines in run.trec": (_change_a_hit_in_the_run, r"metric ndcg@10 is .* but ranx computes"),
    "per_user.npz disagrees": (_change_one_per_user_score, r"per_user\.npz: recall@10 of 1 user\(s\) differ"),
    "not JSON": (lambda f: (f / "record.json").write_text('{"record_id": '), "not valid JSON"),
    "schema: wrong type": (
        _set("seed", value="zero"),
        rf"record schema {re.escape(SCHEMA_FILE)} at seed: 'zero' is not of type 'integer'",
    ),
    "schema: unknown field": (_set("dataset", "colour", value="blue"), r"at dataset: Additional properties"),
    "missing provenance field": (
        _set("provenance", "torch", value=_DELETE),
        r"at provenance: 'torch' is a required property",
    ),
    "empty provenance field": (
        _set("provenance", "python", value=""),
        r"incomplete provenance: provenance\.python is empty",
    ),
    "no plugin versions": (_set("provenance", "plugins", value={}), r"provenance\.plugins lists no plugin"),
    "dev build without git sha": (
        lambda f: (
            _set("provenance", "git_sha", value=None)(f),
            _set("provenance", "flm_bench_version", value="0.2.0.dev3")(f),
        ),
        r"git_sha is null, but flm-bench 0\.2\.0\.dev3 is not a release",
    ),
    "bad git sha": (_set("provenance", "git_sha", value="HEAD"), r"git_sha 'HEAD' is not a hexadecimal commit"),
    "created without offset": (_set("provenance", "created", value="2024-01-01T00:00:00"), "has no UTC offset"),
    "unknown split fingerprint": (
        _set("split", "fingerprint", value="0" * 64),
        r"unknown split fingerprint 0000000000000000… for 'synthetic-finance' leave-one-out",
    ),
    "unknown dataset fingerprint": (_set("dataset", "fingerprint", value="f" * 64), "unknown dataset fingerprint ffff"),
    "unknown dataset": (
        _set("dataset", "name", value="synthetic-financ"),
        r"unknown dataset 'synthetic-financ'.*Did you mean",
    ),
    "dropped a hard test user": (
        _drop_hard_user,
        r"qrels\.trec\.gz is not the split's test targets \(1 test users missing",
    ),
    "forged popularity level": (
        _set("levels", "popularity", "ndcg@10", value=lambda v: v * 0.5),
        r"levels\.popularity\['ndcg@10'\] is .* but recomputing it on the split gives",
    ),
    "a level dropped": (
        _set("levels", "random", "recall@10", value=_DELETE),
        r"levels\.random has metrics \['ndcg@10'\], expected the record's \['ndcg@10', 'recall@10'\]",
    ),
    "artifact outside the folder": (_set("artifacts", "run", value="../run.trec"), "must be a plain file name"),
    "record id with a trailing newline": (
        _set("record_id", value="ok\n"),
        r"record_id holds the character U\+000A, which may not appear in a record",
    ),
    "record id with a path separator": (
        _set("record_id", value="ok/../escape"),
        r"record_id 'ok/../escape' is not a safe folder name \(a lowercase letter or digit, then .*, at most 120",
    ),
    "record id too long": (_set("record_id", value="a" * 300), r"record_id 'a+' is not a safe folder name"),
    "NUL in a string": (_set("model", "plugin", value="a\u0000b"), r"model/plugin holds the character U\+0000"),
    "escape sequence": (_set("suite", value="x\x1b[31m"), r"suite holds the character U\+001B"),
    "right-to-left override": (_set("dataset", "domain", value="fin\u202eance"), r"dataset/domain .* U\+202E"),
    "noncharacter": (_set("provenance", "platform", value="\uffff"), r"provenance/platform .* U\+FFFF"),
    "deeply nested JSON": (
        lambda f: (f / "record.json").write_text("[" * 100_000 + "]" * 100_000),
        "not valid JSON for a record: nested too deeply",
    ),
    "huge record": (
        _set("dataset", "preprocess", value={"padding": "x" * (5 << 20)}),
        r"record file record\.json is [\d,]+ bytes, more than the 4,194,304 it may have",
    ),
    "record id in capitals": (_set("record_id", value="Pub__x"), r"record_id 'Pub__x' is not a safe folder name"),
    "unregistered model": (_set("model", "name", value="nonexistent-model"), r"model\.name: unknown model"),
    "model from another plugin": (
        lambda f: (
            _set("model", "plugin", value="evil-plugin")(f),
            _set("provenance", "plugins", value=lambda p: {**p, "evil-plugin": "6.6.6"})(f),
        ),
        r"model\.plugin 'evil-plugin': model 'itemknn' is registered by plugin 'flm-bench'",
    ),
    "unregistered strategy": (_set("strategy", "name", value="magic-transfer"), r"strategy\.name: unknown strategy"),
    "item representation": (_set("model", "item_representation", value="features"), r"item_representation 'features'"),
    "domain outside the list": (_set("dataset", "domain", value="Media "), r"dataset\.domain 'Media ' is not one of"),
    "domain of another dataset": (
        _set("dataset", "domain", value="media"),
        r"dataset\.domain 'media' and synthetic True differ from the dataset's 'finance' and True",
    ),
    "synthetic data called real": (_set("dataset", "synthetic", value=False), r"and synthetic False differ"),
    "a control with a corpus": (_set("strategy", "corpus", value="synthetic-general"), r"does not pretrain"),
    "negative seconds": (_set("cost", "adapt_seconds", value=-1.0), r"cost\.adapt_seconds is -1\.0, expected"),
    "infinite seconds": (_set("cost", "eval_seconds", value=float("inf")), r"cost\.eval_seconds is inf, expected"),
    "NaN memory": (_set("cost", "peak_memory_mb", value=float("nan")), r"cost\.peak_memory_mb is nan, expected"),
    "parameters beyond reason": (_set("cost", "trainable_parameters", value=10**15), r"cost\.trainable_parameters"),
    "unknown memory kind": (_set("cost", "memory_kind", value="guess"), r"cost\.memory_kind 'guess' is not one of"),
    "pretraining time on a control": (_set("cost", "pretrain_seconds", value=5.0), r"pretrain_seconds must be 0"),
    "symlinked run": (lambda f: _symlink(f / RUN), r"artifact run\.trec\.gz is a symbolic link"),
    "symlinked record file": (lambda f: _symlink(f / "record.json"), r"record file record\.json is a symbolic link"),
    "a fifo for the qrels": (
        lambda f: ((f / QRELS).unlink(), os.mkfifo(f / QRELS)),
        r"artifact qrels\.trec\.gz is not a plain file",
    ),
    "gzip bomb": (_gzip_bomb, r"run\.trec\.gz decompresses to over [\d,]+ bytes, more than the record needs"),
    "extra array in per_user.npz": (
        lambda f: _edit_npz(f, lambda a: {**a, "padding": np.zeros(10)}),
        r"per_user\.npz holds arrays the record does not name: \['padding\.npy'\]",
    ),
    "oversized per-user array": (
        lambda f: _edit_npz(f, lambda a: {**a, "ndcg@10": np.zeros(len(a["users"]) * 4)}),
        r"per_user\.npz: ndcg@10\.npy is [\d,]+ bytes decompressed, more than",
    ),
    "user ids as strings": (
        lambda f: _edit_npz(f, lambda a: {**a, "users": a["users"].astype(str)}),
        r"per_user\.npz: users is a 1-D <U\d+ array, expected 1-D integers",
    ),
    "per-user scores in 2-D": (
        lambda f: _edit_npz(f, lambda a: {**a, "recall@10": a["recall@10"].reshape(-1, 1)}),
        r"per_user\.npz: recall@10 is a 2-D float64 array, expected 1-D numbers",
    ),
}


def test_a_symlinked_record_folder_is_refused(tmp_path: Path, board: Path, record_folders, plugins) -> None:
    real = copy_record(record_folders["itemknn-0"], tmp_path / "elsewhere")
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / real.name).symlink_to(real)
    with pytest.raises(RecordError, match=rf"record folder {real.name} is a symbolic link"):
        publish([tmp_path / "incoming"], board, plugins=plugins)


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_tampered_record_is_rejected_and_nothing_changes(
    kind: str, tmp_path: Path, board: Path, record_folders, plugins
) -> None:
    tamper, reason = TAMPERINGS[kind]
    bad = copy_record(record_folders["itemknn-0"], tmp_path)
    tamper(bad)
    good = record_folders["itemknn-1"]
    before = snapshot(board)
    with pytest.raises(RecordError) as info:
        publish([good, bad], board, plugins=plugins)  # the good one is not published either
    message = str(info.value)
    assert message.startswith(str(bad / "record.json") + ": "), message
    assert "\n" not in message
    assert re.search(reason, message), message
    assert snapshot(board) == before


def test_rejected_call_into_a_new_folder_creates_nothing(tmp_path: Path, record_folders, plugins) -> None:
    bad = copy_record(record_folders["itemknn-0"], tmp_path)
    _set("metrics", "recall@10", value=0.5)(bad)
    with pytest.raises(RecordError, match="metric recall@10"):
        publish([bad], tmp_path / "new-board", plugins=plugins)
    assert not (tmp_path / "new-board").exists()


def test_git_sha_may_be_null_for_a_release(tmp_path: Path, record_folders, plugins) -> None:
    record = copy_record(record_folders["itemknn-2"], tmp_path)
    _set("provenance", "git_sha", value=None)(record)
    assert [v.record.provenance.git_sha for v in validate([record], plugins=plugins)] == [None]


def test_duplicate_is_rejected_unless_replace(tmp_path: Path, board: Path, record_folders, plugins) -> None:
    original = record_folders["popularity-0"]  # already on the board
    before = snapshot(board)
    with pytest.raises(RecordError, match=r"already published as .*popularity__scratch__seed0.* use --replace") as info:
        publish([original], board, plugins=plugins)
    assert str(info.value).startswith(str(original / "record.json"))
    assert snapshot(board) == before

    # the same cell under another record id (e.g. other model parameters) is a duplicate too
    renamed = copy_record(original, tmp_path, "renamed")
    _set("record_id", value="pub__synthetic-finance__popularity__scratch__seed0__other")(renamed)
    with pytest.raises(RecordError, match="already published"):
        publish([renamed], board, plugins=plugins)
    assert snapshot(board) == before

    report = publish([renamed, record_folders["itemknn-0"]], board, replace=True, plugins=plugins)
    assert report.replaced == [original.name]
    ids = sorted(r.record_id for _, r in load_records(board))
    assert ids == sorted(
        ["pub__synthetic-finance__popularity__scratch__seed0__other", record_folders["itemknn-0"].name]
    )
    assert not (records_dir(board) / original.name).exists()
    assert not list(records_dir(board).glob(f"{TMP_PREFIX}*"))


def test_seeds_with_other_parameters_are_rejected(tmp_path: Path, board: Path, record_folders, plugins) -> None:
    """A board row's seeds differ in their seed alone: a seed run with other model parameters is
    refused, in one call and against the published seeds of its cell, and nothing changes."""
    publish([record_folders["itemknn-0"]], board, plugins=plugins)
    before = snapshot(board)
    other = copy_record(record_folders["itemknn-1"], tmp_path)
    _set("model", "parameters", "neighbours", value=lambda k: k + 1)(other)
    with pytest.raises(
        RecordError, match=r"published as .*itemknn__scratch__seed0.* other parameters \(model neighbours"
    ):
        publish([other], board, plugins=plugins)
    assert snapshot(board) == before
    with pytest.raises(RecordError, match=r"seeds of one cell with different parameters \(model neighbours"):
        publish([record_folders["itemknn-2"], other], tmp_path / "b", plugins=plugins)
    assert not (tmp_path / "b").exists()


def test_same_cell_twice_in_one_call_is_rejected(tmp_path: Path, record_folders, plugins) -> None:
    twin = copy_record(record_folders["itemknn-0"], tmp_path, "twin")
    _set("record_id", value="twin")(twin)
    with pytest.raises(RecordError, match="is given twice in one call"):
        publish([record_folders["itemknn-0"], twin], tmp_path / "b", replace=True, plugins=plugins)
    assert not (tmp_path / "b").exists()


def test_publish_into_a_git_work_tree_commits_only_the_records(
    tmp_path: Path, git_env, record_folders, plugins
) -> None:
    repo = tmp_path / "results"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "README.md").write_text("results\n")
    git("add", "README.md", cwd=repo)
    git("commit", "-q", "-m", "start", cwd=repo)
    (repo / "notes.txt").write_text("staged but not mine\n")
    git("add", "notes.txt", cwd=repo)

    report = publish([record_folders["itemknn-0"], record_folders["itemknn-1"]], repo / "leaderboards", plugins=plugins)
    assert report.commit == git("rev-parse", "HEAD", cwd=repo).strip()
    message = git("log", "-1", "--format=%B", cwd=repo)
    assert message.startswith("Publish 2 records")
    assert record_folders["itemknn-0"].name in message and record_folders["itemknn-1"].name in message
    files = git("show", "--name-only", "--format=", "HEAD", cwd=repo).split()
    assert len(files) == 8 and all(f.startswith("leaderboards/records/pub__synthetic-finance__itemknn") for f in files)
    status = git("status", "--porcelain", cwd=repo).splitlines()
    assert "A  notes.txt" in status  # the user's staged change is left staged, not committed
    assert not [s for s in status if "records/" in s]

    # replacing commits the removal of the old folder and the new one together
    renamed = copy_record(record_folders["itemknn-0"], tmp_path, "renamed")
    _set("record_id", value="pub__synthetic-finance__itemknn__scratch__seed0__v2")(renamed)
    report = publish([renamed], repo / "leaderboards", replace=True, plugins=plugins)
    changes = git("show", "--name-status", "--no-renames", "--format=", "HEAD", cwd=repo).splitlines()
    assert sum(c.startswith("D\t") for c in changes) == 4 and sum(c.startswith("A\t") for c in changes) == 4
    assert "replaces " + record_folders["itemknn-0"].name in git("log", "-1", "--format=%B", cwd=repo)
    assert not [s for s in git("status", "--porcelain", cwd=repo).splitlines() if "records/" in s]

    head = git("rev-parse", "HEAD", cwd=repo)
    report = publish([record_folders["itemknn-2"]], repo / "leaderboards", commit=False, plugins=plugins)
    assert report.commit is None and git("rev-parse", "HEAD", cwd=repo) == head
    assert f"?? leaderboards/records/{record_folders['itemknn-2'].name}/" in git("status", "--porcelain", cwd=repo)


@pytest.mark.slow
def test_failed_commit_rolls_everything_back(tmp_path: Path, git_env, record_folders, plugins) -> None:
    repo = tmp_path / "results"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    publish([record_folders["itemknn-0"]], repo / "leaderboards", plugins=plugins)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'results are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    before, status = snapshot(repo / "leaderboards"), git("status", "--porcelain", cwd=repo)
    replacement = copy_record(record_folders["itemknn-0"], tmp_path, "v2")
    _set("record_id", value="pub__synthetic-finance__itemknn__scratch__seed0__v2")(replacement)
    with pytest.raises(GitError, match="results are frozen"):
        publish([replacement, record_folders["itemknn-1"]], repo / "leaderboards", replace=True, plugins=plugins)
    assert snapshot(repo / "leaderboards") == before
    assert git("status", "--porcelain", cwd=repo) == status  # the index is as it was
    assert len(git("log", "--format=%s", cwd=repo).splitlines()) == 1


def test_leftovers_of_a_killed_publisher_are_recovered(board: Path, record_folders, plugins) -> None:
    root = records_dir(board)
    published = root / record_folders["popularity-0"].name
    os.rename(published, root / f"{TMP_PREFIX}old-{published.name}-4242-0123abcd")  # killed mid-replace
    (root / f"{TMP_PREFIX}{record_folders['itemknn-0'].name}-4242-0123abcd").mkdir()  # killed mid-copy
    assert [r.record_id for _, r in load_records(board, allow_empty=True)] == []
    publish([record_folders["itemknn-1"]], board, plugins=plugins)
    assert sorted(f.name for f in root.iterdir()) == sorted([published.name, record_folders["itemknn-1"].name])
    for f in record_folders["popularity-0"].iterdir():
        assert (published / f.name).read_bytes() == f.read_bytes()


def test_reading_a_board_never_published_into_creates_nothing(board: Path) -> None:
    """``settled`` (around ``leaderboard render``) locks and recovers only a board a publisher has
    locked: a checkout without the lock file (as CI's) is read as it is, and nothing is written."""
    (board / LOCK_NAME).unlink()
    before = snapshot(board)
    with settled(board):
        assert snapshot(board) == before
    assert snapshot(board) == before


def test_a_board_whose_lock_cannot_be_taken_is_read_unless_a_publish_is_to_finish(
    board: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    with settled(board):  # the lock file is there, but no journal: nothing to finish
        pass
    (board / JOURNAL).write_text("{}")
    with pytest.raises(PublishError, match="cannot finish the interrupted publish .* Read-only file system"):
        with settled(board):
            pass


def test_publish_to_a_bare_remote_clones_commits_and_pushes(tmp_path: Path, git_env, record_folders, plugins) -> None:
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    assert is_remote(remote) and is_remote(f"file://{remote}") and not is_remote(tmp_path)

    first = publish([record_folders["itemknn-0"]], remote, plugins=plugins).published  # into an empty repository
    assert first == [Path("leaderboards/records") / record_folders["itemknn-0"].name / "record.json"]
    publish([record_folders["itemknn-1"]], f"file://{remote}", plugins=plugins, subdir="boards/main")
    head = git("rev-parse", "main", cwd=remote)
    log = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert log == [
        f"Publish 1 record: {record_folders['itemknn-1'].name}",
        f"Publish 1 record: {record_folders['itemknn-0'].name}",
    ]

    with pytest.raises(RecordError, match="already published"):
        publish([record_folders["itemknn-0"]], remote, plugins=plugins)
    assert git("rev-parse", "main", cwd=remote) == head  # nothing pushed

    clone = tmp_path / "check"
    git("clone", "-q", str(remote), str(clone), cwd=tmp_path)
    for folder, board in (
        (record_folders["itemknn-0"], clone / "leaderboards"),
        (record_folders["itemknn-1"], clone / "boards" / "main"),
    ):
        (published,) = load_records(board)
        assert published[0].parent.name == folder.name
        for f in folder.iterdir():
            assert (published[0].parent / f.name).read_bytes() == f.read_bytes()
    assert not (clone / "leaderboards" / LOCK_NAME).exists()  # the lock file is never committed


def test_push_is_retried_when_the_remote_moved(
    tmp_path: Path, git_env, record_folders, plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another publisher pushes between our clone and our push: we publish on top of theirs."""
    import flm_bench.results.publish.remote as pub

    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    publish([record_folders["popularity-0"]], remote, plugins=plugins)
    real_install, calls = pub.install, []

    def racing_install(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # our clone is taken; now someone else publishes
            publish([record_folders["popularity-1"]], remote, plugins=plugins)
        return real_install(*args, **kwargs)

    monkeypatch.setattr(pub, "install", racing_install)
    publish([record_folders["popularity-2"]], remote, plugins=plugins)
    assert len(calls) == 3  # ours, theirs, ours again after the rejected push
    subjects = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert [s.rsplit("seed", 1)[1][0] for s in subjects] == ["2", "1", "0"]
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    assert len(files) == 12


TEMPORAL_SUITE = """
name = "pub-temporal"
targets = ["synthetic-finance"]
models = ["popularity"]

[split]
protocol = "temporal"
params = { test_fraction = 0.2 }

[evaluation]
metrics = ["ndcg"]
cutoffs = [10]

[training]
device = "cpu"
"""


def test_old_record_with_derived_values_in_params_still_validates(tmp_path: Path, run_suite, plugins) -> None:
    """Records written before ``split.derived`` existed kept the temporal cutoffs inside
    ``split.params``: they stay valid, and a wrong cutoff is caught wherever it is."""
    ((path, record),) = load_records(run_suite(TEMPORAL_SUITE, plugins))
    assert record.split.params == {"valid_fraction": 0.1, "test_fraction": 0.2}
    assert set(record.split.derived) == {"valid_cutoff", "test_cutoff"}
    assert [v.record for v in validate([path], plugins=plugins)] == [record]

    def to_old_style(doc: dict) -> None:
        doc["split"]["params"].update(doc["split"].pop("derived"))

    old = copy_record(path.parent, tmp_path, "old")
    edit_json(old, to_old_style)
    (valid,) = validate([old], plugins=plugins)
    assert valid.record.split.derived == {}
    assert valid.record.split.params == {**record.split.params, **record.split.derived}
    assert valid.record.split.fingerprint == record.split.fingerprint

    for source, where in ((old, "params"), (path.parent, "derived")):
        wrong = copy_record(source, tmp_path, f"wrong-{where}")
        _set("split", where, "test_cutoff", value=lambda v: v + 1)(wrong)
        with pytest.raises(RecordError, match=r"split derived values .* differ from the recomputed"):
            validate([wrong], plugins=plugins)


WORKER = textwrap.dedent("""
    import pickle, sys, time
    from pathlib import Path
    from flm_bench.errors import RecordError
    from flm_bench.results.publish import install

    valid = pickle.loads(Path(sys.argv[1]).read_bytes())
    board, barrier, n, me = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    (barrier / me).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < n:  # start writing together
        assert time.monotonic() < deadline, "the other publishers never came"
        time.sleep(0.005)
    try:
        install(valid, board)
    except RecordError as exc:
        print(exc)
        sys.exit(3)
""")


@pytest.mark.slow
def test_concurrent_publishers_lose_nothing(tmp_path: Path, git_env, record_folders, plugins) -> None:
    """Six processes write into one git-tracked board at once: four distinct records, and two that
    race for the same cell. Every record arrives intact, exactly one of the racing pair wins, and
    every publish is its own commit (without the lock, git's index.lock would make commits fail).

    Validation is read-only, so it runs once here; the processes run the writing half
    (``install``: lock, duplicate check, copy, rename, commit) on the validated records.
    """
    repo = tmp_path / "results"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "start", cwd=repo)
    board = repo / "leaderboards"
    names = ["popularity-0", "popularity-1", "popularity-2", "itemknn-0", "itemknn-1", "itemknn-1"]
    valid = {n: validate([record_folders[n]], plugins=plugins) for n in set(names)}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for i, name in enumerate(names):
        payload = tmp_path / f"valid-{i}.pickle"
        payload.write_bytes(pickle.dumps(valid[name]))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(payload), str(board), str(barrier), str(len(names)), str(i)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **git_env},
            )
        )
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = [code for code, _, _ in results]
    assert codes[:4] == [0, 0, 0, 0], results
    assert sorted(codes[4:]) == [0, 3], results  # one of the racing pair is a duplicate
    loser = results[4] if codes[4] == 3 else results[5]
    assert "already published" in loser[1]

    published = {r.record_id: p for p, r in load_records(board)}
    assert len(published) == 5
    for name in set(names):
        folder = record_folders[name]
        for f in folder.iterdir():
            assert (published[folder.name].parent / f.name).read_bytes() == f.read_bytes()
    assert not list(records_dir(board).glob(f"{TMP_PREFIX}*"))
    assert len(git("log", "--format=%s", cwd=repo).splitlines()) == 1 + 5
    assert not [s for s in git("status", "--porcelain", cwd=repo).splitlines() if "records/" in s]


def test_cli_publish(
    tmp_path: Path, record_folders, run_output: Path, monkeypatch: pytest.MonkeyPatch, plugins
) -> None:
    from flm_bench.cli import common

    monkeypatch.setattr(common, "default_plugins", lambda: plugins)
    app = typer.Typer()
    app.command("publish")(publish_command)
    app.command("noop")(lambda: None)  # keep "publish" a subcommand
    runner = CliRunner()
    board = tmp_path / "lb"
    result = runner.invoke(app, ["publish", str(record_folders["itemknn-2"]), "--output", str(board), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["published"] == [str(records_dir(board) / record_folders["itemknn-2"].name / "record.json")]
    assert data["replaced"] == [] and data["commit"] is None

    result = runner.invoke(app, ["publish", str(record_folders["itemknn-2"]), "--output", str(board)])
    assert isinstance(result.exception, RecordError) and "use --replace" in str(result.exception)
    result = runner.invoke(app, ["publish", str(record_folders["itemknn-2"]), "--output", str(board), "--replace"])
    assert result.exit_code == 0, result.output
    assert "replacing 1" in result.stderr


@pytest.mark.slow  # a fresh process compiles ranx's metrics: ~50 s on the shared machine
def test_forged_levels_fail_the_installed_console_script(tmp_path: Path, record_folders) -> None:
    """``flm-bench publish`` recomputes the reference levels: a forged one is a forged record (exit 1)."""
    bad = copy_record(record_folders["popularity-1"], tmp_path)
    _set("levels", "random", "ndcg@10", value=0.5)(bad)
    done = cli("publish", str(bad), "--output", "board", "--no-commit", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: {bad / 'record.json'}: levels.random['ndcg@10'] is 0.5 but recomputing")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "board").exists(), done.stderr


def test_levels_at_a_target_fraction_are_recomputed_on_the_kept_users(run_suite, plugins) -> None:
    """The popularity level of a cell trained on a fifth of the users counts that fifth only."""
    text = TEMPORAL_SUITE.replace('"pub-temporal"', '"pub-fraction"') + "[protocol]\ntarget_fractions = [0.2, 1.0]\n"
    records = {
        r.target_fraction.fraction: (p, r) for p, r in load_records(run_suite(text, plugins)) if r.target_fraction
    }
    (fifth, small), (_, full) = records[0.2], records[1.0]
    assert small.levels and full.levels and small.levels.popularity != full.levels.popularity
    assert small.levels.random == full.levels.random  # the same test users
    assert [v.record for v in validate([fifth], plugins=plugins)] == [small]
