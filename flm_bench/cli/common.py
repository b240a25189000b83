"""Shared by the command modules: the plugin set, the consoles, error reporting."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from flm_bench.plugins import Plugins, default_plugins

# results; when piped, wide enough for the leaderboard instead of rich's 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # diagnostics and progress; one line per message


def plugins() -> Plugins:
    """The plugins a command uses; each call reports the failed ones on stderr.

    Commands call this once per invocation, so every failure is reported once.
    """
    loaded = default_plugins()
    for info in loaded.failed:
        err.print(f"warning: plugin {info.origin} ({info.distribution} {info.version}) failed: {info.error}",
                  markup=False)
    return loaded


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
