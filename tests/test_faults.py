"""Fault injection: real ``flm-bench`` processes SIGKILLed part-way through a publish or a run.

A publish is killed at each named fault point (:mod:`flm_bench.faults`), at random instants
(the N-th Python line executed under the publish lock, N drawn with fixed seeds) and while it
recovers another; afterwards the board holds the old records or the new ones, never a mix,
renders, and a rerun completes it. Concurrent publishers lose nothing. A run killed at its
fault points and rerun loses no record, shows none half-written, and reproduces the metrics of
an uninterrupted run. Each test adds its counts to the line ``conftest.py`` prints at the end.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from flm_bench.errors import RecordError
from flm_bench.faults import ENV, POINTS
from flm_bench.results.publish import JOURNAL, ValidRecord, install
from flm_bench.results.publish.git import run_git
from flm_bench.results.records import RECORD_FILE, TMP_PREFIX, load_record, load_records, records_dir

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL
CLI = "from flm_bench.cli.app import main; main()"
#: The console script, with the validation (read-only, slow, tested in test_publish.py) done by
#: the test; FAULT_LINE=N kills it at the N-th line run under the publish lock (0: count them).
PUBLISHER = textwrap.dedent("""
    import contextlib, os, pickle, signal, sys
    import flm_bench.results.publish as publish
    from flm_bench.results.publish import place

    valid = pickle.loads(open(os.environ["FAULT_VALID"], "rb").read())
    publish.validate = lambda paths, plugins=None: valid
    if "FAULT_LINE" in os.environ:
        stop, count, real = int(os.environ["FAULT_LINE"]) or -1, 0, place.locked

        def trace(frame, event, arg):
            global count
            count += event == "line"
            if count == stop:
                os.kill(os.getpid(), signal.SIGKILL)
            return trace

        @contextlib.contextmanager
        def locked(board):
            with real(board):
                sys.settrace(trace)
                try:
                    yield
                finally:
                    sys.settrace(None)
                    print(f"lines run under the lock: {count}", file=sys.stderr)

        place.locked = locked
    from flm_bench.cli.app import main
    main()
""")

RECORDS_SUITE = """
name = "faults"
targets = ["synthetic-finance"]
models = ["popularity"]
seeds = [0, 1, 2, 3, 4, 5]

[evaluation]
metrics = ["ndcg"]
cutoffs = [10]

[training]
device = "cpu"
"""


Board = dict[str, dict[str, bytes]]


def files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in folder.iterdir()}


def visible(root: Path) -> Board:
    """Every record folder a reader sees in ``root`` (a board or run output): name -> files."""
    folders = sorted(records_dir(root).iterdir()) if records_dir(root).is_dir() else []
    return {f.name: files(f) for f in folders if f.is_dir() and not f.name.startswith(TMP_PREFIX)}


def partial(root: Path) -> int:
    """Visible record folders whose record is missing, unreadable or lacks an artifact."""
    bad = 0
    for name in visible(root):
        try:
            record = load_record(records_dir(root) / name / RECORD_FILE)
        except RecordError:
            bad += 1
            continue
        bad += not all((records_dir(root) / name / f).is_file() for f in record.artifacts.model_dump().values())
    return bad


def cli(*args: str, code: str = CLI, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script's code path in a subprocess (with extra environment variables)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def render(board: Path, tally) -> None:
    """Render the board from its records (which settles it first), counting the outcome."""
    done = cli("leaderboard", "render", "--from", str(records_dir(board)), "--output", str(board))
    tally.boards += 1
    tally.rendered += done.returncode == 0
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- publishing


@dataclass
class Call:
    """One ``flm-bench publish --replace`` call: its records, and the board before and after it."""

    before: Path  # the board before the call: seeds 0 and 1
    old: Board  # what a reader sees in it
    new: Board  # ... and after the call: seed 1 replaced by another record id, seeds 2 and 3 added
    args: list[str]
    payload: Path  # its records, validated
    lines: int = 0  # lines run under the lock by the call, uninterrupted

    def publish(self, board: Path, **env: str) -> subprocess.CompletedProcess[str]:
        args = ["publish", *self.args, "--output", str(board)]
        return cli(*args, code=PUBLISHER, FAULT_VALID=str(self.payload), **env)

    def outcome(self, board: Path, tally) -> str:
        """``"old"`` or ``"new"``; a mix fails, its missing or wrong new records counted lost."""
        seen = visible(board)
        tally.partial += partial(board)
        if seen in (self.old, self.new):
            return "old" if seen == self.old else "new"
        tally.lost += sum(seen.get(name) != content for name, content in self.new.items())
        raise AssertionError(f"half-published board: {sorted(seen)}; old {sorted(self.old)}, new {sorted(self.new)}")

    def board(self, tmp_path: Path, *, git: bool = False) -> Path:
        """A copy of the board before the call; with ``git``, committed in a repository of its own."""
        board = tmp_path / "repo" / "leaderboards"
        shutil.copytree(self.before, board)
        if git:
            for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "old board"]):
                run_git(args, board.parent)
        return board


@pytest.fixture(scope="module")
def records(run_suite) -> dict[int, ValidRecord]:
    """seed -> its popularity record, as validation returns it."""
    runs = load_records(run_suite(RECORDS_SUITE))
    return {r.seed: ValidRecord(p, r, tuple(r.artifacts.model_dump().values())) for p, r in runs}


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory, records: dict[int, ValidRecord]) -> Call:
    tmp = tmp_path_factory.mktemp("call")
    install([records[0], records[1]], tmp / "before")
    renamed = tmp / "incoming" / "seed1-v2"
    shutil.copytree(records[1].source.parent, renamed)
    doc = json.loads((renamed / RECORD_FILE).read_text())
    doc["record_id"] += "__v2"
    (renamed / RECORD_FILE).write_text(json.dumps(doc, indent=2))
    valid = [ValidRecord(renamed / RECORD_FILE, load_record(renamed / RECORD_FILE), records[1].artifacts)]
    valid += [records[2], records[3]]
    (tmp / "call.pickle").write_bytes(pickle.dumps(valid))
    args = [str(v.source.parent) for v in valid] + ["--replace"]
    draft = Call(tmp / "before", visible(tmp / "before"), {}, args, tmp / "call.pickle")
    shutil.copytree(tmp / "before", tmp / "after")
    done = draft.publish(tmp / "after", FAULT_LINE="0")
    assert done.returncode == 0, done.stderr
    draft.lines = int(done.stderr.split("lines run under the lock: ")[1].split()[0])
    draft.new = visible(tmp / "after")
    assert len(draft.new) == 4 and set(draft.old) - set(draft.new) == {records[1].record.record_id}
    return draft


def settle(call: Call, board: Path, tally) -> str:
    """After a kill: render (which settles the board); the board must be old or new, and clean."""
    render(board, tally)
    seen = call.outcome(board, tally)
    assert not list(records_dir(board).glob(f"{TMP_PREFIX}*")) and not (board / JOURNAL).exists()
    return seen


def rerun(call: Call, board: Path, tally) -> None:
    """The same call again completes the board (it replaces what is there already)."""
    done = call.publish(board)
    assert done.returncode == 0, done.stderr
    assert call.outcome(board, tally) == "new"


def committed(board: Path) -> list[str]:
    """The record folders of the last commit; fails if records/ has changes not committed."""
    top = board.parent
    assert run_git(["status", "--porcelain", "--", "leaderboards/records"], top).stdout == ""
    tracked = run_git(["ls-tree", "-r", "--name-only", "HEAD", "leaderboards/records"], top).stdout.split()
    return sorted({Path(f).parts[2] for f in tracked})


@pytest.mark.parametrize("point", [p for p in POINTS if p.startswith("publish.")])
def test_publish_killed_at_a_fault_point_is_finished_or_undone(
    point: str, call: Call, tmp_path: Path, git_env, fault_tally
) -> None:
    """Killed before its journal, a publish is undone; from the journal on, finished and committed."""
    board = call.board(tmp_path, git=True)
    killed = call.publish(board, **{ENV: point})
    assert killed.returncode == KILLED, killed.stderr
    fault_tally.kills += 1
    expected = "old" if point == "publish.staged" else "new"
    assert settle(call, board, fault_tally) == expected
    assert committed(board) == sorted(call.old if expected == "old" else call.new)
    rerun(call, board, fault_tally)
    assert committed(board) == sorted(call.new)


def test_recovery_killed_part_way_is_recovered(call: Call, tmp_path: Path, fault_tally) -> None:
    board = call.board(tmp_path)
    assert call.publish(board, **{ENV: "publish.journaled"}).returncode == KILLED
    fault_tally.kills += 1
    render_args = ["leaderboard", "render", "--from", str(records_dir(board)), "--output", str(board)]
    killed = cli(*render_args, **{ENV: "publish.between-renames"})  # killed while recovering the board
    assert killed.returncode == KILLED, killed.stderr
    fault_tally.kills += 1
    assert settle(call, board, fault_tally) == "new"
    rerun(call, board, fault_tally)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_publish_killed_at_a_random_instant_is_finished_or_undone(
    seed: int, call: Call, tmp_path: Path, fault_tally
) -> None:
    board = call.board(tmp_path)
    line = random.Random(seed).randint(1, call.lines)
    killed = call.publish(board, FAULT_LINE=str(line))
    assert killed.returncode == KILLED, f"line {line} of {call.lines}: {killed.stderr}"
    fault_tally.kills += 1
    settle(call, board, fault_tally)
    rerun(call, board, fault_tally)


def test_concurrent_publishers_of_disjoint_records(
    records: dict[int, ValidRecord], tmp_path: Path, fault_tally
) -> None:
    """Three publishers, two records each, into one new board at once: every record once, whole."""
    board = tmp_path / "leaderboards"
    procs = []
    for i, seeds in enumerate([(0, 1), (2, 3), (4, 5)]):
        payload = tmp_path / f"call-{i}.pickle"
        payload.write_bytes(pickle.dumps([records[s] for s in seeds]))
        args = [str(records[s].source.parent) for s in seeds]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", PUBLISHER, "publish", *args, "--output", str(board)],
                env={**os.environ, "FAULT_VALID": str(payload)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    render(board, fault_tally)
    fault_tally.partial += partial(board)
    expected = {v.record.record_id: files(v.source.parent) for v in records.values()}
    seen = visible(board)
    fault_tally.lost += sum(seen.get(rid) != content for rid, content in expected.items())
    assert seen == expected


# ---------------------------------------------------------------- runs

CORPUS_PLUGIN = """
from flm_bench.api import CorpusSpec, hookimpl

@hookimpl
def flm_bench_register_corpora(register):
    register(CorpusSpec("fault-corpus", datasets=("synthetic-media",)))
"""

RUN_SUITE = """
name = "faulty"
targets = ["synthetic-finance"]
corpora = ["fault-corpus"]
models = ["popularity", "sasrec"]
strategies = ["scratch", "finetune"]

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

[model_params.sasrec]
dim = 8
layers = 1
heads = 1
"""


#: What a run killed at each of its fault points leaves half-done (a glob in its output folder).
HALF_DONE = {
    "record.before-rename": f"records/{TMP_PREFIX}*/{RECORD_FILE}",
    "pretrain.weights-written": "checkpoints/*.pt",
}


def test_runs_killed_at_fault_points_lose_nothing(tmp_path: Path, fake_plugin, fault_tally) -> None:
    """Killed where a record or a checkpoint is half-written, then rerun: every record once,
    those complete before the kill untouched, the metrics those of an uninterrupted run."""
    site = fake_plugin("fault_corpus", CORPUS_PLUGIN)
    (tmp_path / "suite.toml").write_text(RUN_SUITE)

    def run(output: Path, **env: str) -> subprocess.CompletedProcess[str]:
        suite = str(tmp_path / "suite.toml")
        return cli("run", "--suite", suite, "--output", str(output), PYTHONPATH=str(site), **env)

    done = run(tmp_path / "reference")
    assert done.returncode == 0, done.stderr
    reference = {r.record_id: r.metrics for _, r in load_records(tmp_path / "reference")}
    assert len(reference) == 3
    for point in [p for p in POINTS if not p.startswith("publish.")]:
        output = tmp_path / point
        killed = run(output, **{ENV: point})
        assert killed.returncode == KILLED, f"{point}: {killed.stderr}"
        fault_tally.kills += 1
        assert list(output.glob(HALF_DONE[point])) and not list(output.glob("checkpoints/*.json")), point
        fault_tally.partial += partial(output)
        before = visible(output)
        done = run(output)
        assert done.returncode == 0, f"{point}: {done.stderr}"
        fault_tally.partial += partial(output)
        after = visible(output)
        fault_tally.lost += sum(after.get(name) != content for name, content in before.items())
        fault_tally.lost += len(set(reference) - set(after))
        assert {r.record_id: r.metrics for _, r in load_records(output)} == reference, point
        assert all(after[name] == content for name, content in before.items()), point
        assert not list(records_dir(output).glob(f"{TMP_PREFIX}*"))
    assert fault_tally.partial == 0
