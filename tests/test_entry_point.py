"""The installed ``flm-bench`` console script: its exit codes and error lines, as a shell sees them.

Typer's in-process runner sees a command's own exit code even when the real entry point loses it,
so every case here runs the console script in a subprocess.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from console import EXE, cli
from fake_plugins import fake_plugin_env, sleepy_env

from flm_bench.results.records import load_records

BOARD = Path(__file__).resolve().parents[1] / "leaderboards"


@pytest.mark.slow
def test_check_of_a_stale_board_exits_1(tmp_path: Path) -> None:
    shutil.copytree(BOARD, tmp_path / "board", ignore=shutil.ignore_patterns("records"))
    records = str(BOARD / "records")
    fresh = cli("leaderboard", "render", "--check", "--from", records, "--output", "board", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    (tmp_path / "board" / "overall.md").write_text("edited by hand\n")
    stale = cli("leaderboard", "render", "--check", "--from", records, "--output", "board", cwd=tmp_path)
    assert stale.returncode == 1 and stale.stdout.strip() == f"{Path('board') / 'overall.md'}: stale"
    assert stale.stderr.count("\n") == 1 and "1 file(s) out of date" in stale.stderr


@pytest.mark.parametrize(
    "args, line",
    [
        (["run", "--seed", "abc"], "error: Invalid value for '--seed': "),
        (["run", "--bogus"], "error: No such option: --bogus"),
        (["bogus"], "error: No such command 'bogus'."),
        (["publish"], "error: Missing argument 'RECORD_OR_DIR'."),
        (["leaderboard", "render", "--from"], "error: Option '--from' requires an argument."),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_a_hint(tmp_path: Path, args: list[str], line: str) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(line), done.stderr
    assert done.stderr.count("\n") == 1 and "--help'" in done.stderr and "Traceback" not in done.stderr


def test_no_command_shows_the_help_and_exits_2(tmp_path: Path) -> None:
    done = cli(cwd=tmp_path)
    assert done.returncode == 2 and "Usage: flm-bench" in done.stdout and "Traceback" not in done.stderr


def _sigint_as_at_a_terminal() -> None:
    """In the child before exec: SIGINT's default action, whatever this process inherited. A shell
    without job control starts background jobs with SIGINT ignored, and an ignored signal stays
    ignored across exec, so a test suite launched that way would send Ctrl-C to a deaf process."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_completed_records(tmp_path: Path) -> None:
    """Ctrl-C while the second cell works (it sleeps): exit 130, the message, the first record kept."""
    (tmp_path / "suite.toml").write_text(
        'name = "ctrl-c"\ntargets = ["synthetic-finance"]\nmodels = ["popularity", "sleepy"]\n'
        '[training]\ndevice = "cpu"\n'
    )
    run = subprocess.Popen(
        [EXE, "run", "--suite", "suite.toml", "--output", "out"],
        cwd=tmp_path,
        env=sleepy_env(tmp_path, 300, PYTHONFAULTHANDLER="1"),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_sigint_as_at_a_terminal,
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:  # progress lines (stderr is not a terminal): wait for the sleeping cell
        seen.append(line)
        if line.startswith("[2/2] synthetic-finance · sleepy"):
            break
    run.send_signal(signal.SIGINT)
    try:
        _, rest = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # where it hangs: faulthandler prints every thread's stack on SIGABRT
        run.send_signal(signal.SIGABRT)
        pytest.fail("no exit 120 s after SIGINT:\n" + "".join(seen) + run.communicate()[1])
    err = "".join(seen) + rest
    assert run.returncode == 130, err
    assert err.strip().endswith("interrupted; completed records are kept, rerun to resume")
    assert [r.model.name for _, r in load_records(tmp_path / "out")] == ["popularity"]


def test_runtime_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "record.json").write_text("{")
    done = cli("publish", "bad", "--output", "board", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith(f"error: {Path('bad') / 'record.json'}: not valid JSON")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "board").exists(), done.stderr


BROKEN_FIT = """
from flm_bench.api import ModelSpec, hookimpl

class Broken:
    def __init__(self, n_items):
        self.n_items = n_items
    def fit(self, train):
        raise RuntimeError("boom\\nsecond line")
    def score(self, histories, users):
        raise AssertionError("never scored")

@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec("broken", lambda inputs: Broken(inputs.n_items), pretrainable=False, item_representation="none"))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unforeseen_failure_exits_1_with_one_line(tmp_path: Path, verbose: bool) -> None:
    """A plugin's bug is one line (type and message) naming -v; with -v the traceback comes first."""
    env = fake_plugin_env(tmp_path, {"fake_broken": BROKEN_FIT})
    args = [*(["-v"] if verbose else []), "run", "--dataset", "synthetic-finance", "--model", "broken", "--seed", "0"]
    done = cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    last = done.stderr.rstrip("\n").splitlines()[-1]
    if verbose:
        assert last == "error: RuntimeError: boom second line" and "Traceback" in done.stderr
    else:
        assert done.stderr.endswith("error: RuntimeError: boom second line (flm-bench -v shows the traceback)\n")
        assert "Traceback" not in done.stderr


def test_a_plugin_calling_sys_exit_at_import_is_reported_once(tmp_path: Path) -> None:
    env = fake_plugin_env(tmp_path, {"fake_quitter": "import sys\nsys.exit(3)\n"})
    done = cli("list", "models", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "sasrec" in done.stdout, done.stderr
    assert done.stderr == (
        "warning: plugin fake-quitter:fake_quitter (fake-quitter 0.1) failed: "
        "import failed: SystemExit: the plugin called sys.exit(3)\n"
    )


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """In a log or CI, each cell says what it is, how far the run is, and what it scored."""
    args = ["run", "--dataset", "synthetic-finance", "--model", "popularity", "--model", "itemknn", "--seed", "0"]
    first = cli(*args, "--output", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert "[1/2] synthetic-finance · popularity · scratch · seed 0" in lines
    assert any(line.startswith("[2/2] synthetic-finance · itemknn · scratch · seed 0 (eta ") for line in lines)
    assert sum(line.startswith(("[1/2] done: ndcg@10=", "[2/2] done: ndcg@10=")) for line in lines) == 2
    again = cli(*args, "--output", "out", cwd=tmp_path)
    assert again.stderr.count("done: skipped (already complete)") == 2, again.stderr
