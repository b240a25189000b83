"""Where a result came from: versions of everything that produced it."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from functools import cache
from pathlib import Path

import flm_bench
from flm_bench.results.records import Provenance


@cache
def git_sha() -> str | None:
    """The commit of the flm-bench source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(flm_bench.__file__).parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(plugins: dict[str, str]) -> Provenance:
    import torch

    return Provenance(
        flm_bench_version=flm_bench.__version__,
        plugins=dict(sorted(plugins.items())),
        python=platform.python_version(),
        torch=torch.__version__,
        platform=platform.platform(),
        git_sha=git_sha(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
