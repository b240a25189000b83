"""The installed ``flm-bench`` console script: its exit codes and error lines, as a shell sees them.

Typer's in-process runner sees a command's own exit code even when the real entry point loses it,
so every case here runs the console script in a subprocess.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flm_bench.results.records import load_records

EXE = str(Path(sys.executable).with_name("flm-bench"))
BOARD = Path(__file__).resolve().parents[1] / "leaderboards"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_check_of_a_stale_board_exits_1(tmp_path: Path) -> None:
    shutil.copytree(BOARD, tmp_path / "board", ignore=shutil.ignore_patterns("records"))
    records = str(BOARD / "records")
    fresh = cli("leaderboard", "render", "--check", "--from", records, "--to", "board", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    (tmp_path / "board" / "overall.md").write_text("edited by hand\n")
    stale = cli("leaderboard", "render", "--check", "--from", records, "--to", "board", cwd=tmp_path)
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


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_completed_records(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [EXE, "run", "--output", "out"], cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    while not list((tmp_path / "out").glob("records/*/record.json")) and time.monotonic() < deadline:
        time.sleep(0.2)  # interrupt once the first record is complete
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert err.strip().endswith("interrupted; completed records are kept, rerun to resume")
    assert load_records(tmp_path / "out"), "the record completed before Ctrl-C is kept"
