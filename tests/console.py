"""The installed ``flm-bench`` console script, run as a user runs it: in a subprocess, so that its
exit code and its stderr are the process's (typer's in-process runner would hide a lost exit code)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

EXE = str(Path(sys.executable).with_name("flm-bench"))


def cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``flm-bench ARGS`` in ``cwd`` (with ``env`` instead of this process's environment, if given)."""
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
