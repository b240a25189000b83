"""Shared by the command modules: the plugin set, the consoles, error reporting."""

from __future__ import annotations

import json
import math
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
        err.print(
            f"warning: plugin {info.origin} ({info.distribution} {info.version}) failed: {info.error}", markup=False
        )
    return loaded


def _finite(data: Any) -> Any:
    """``data`` with NaN and infinities as null (they are not JSON)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else: strict JSON (no NaN, no Python reprs)."""
    print(json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False))
