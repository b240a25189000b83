"""Shared by the command modules: the plugin set, the consoles, error reporting."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

from flm_bench.plugins import Plugins, default_plugins

# No console reads rich markup: names, paths, descriptions and errors are user or plugin text, and
# "[...]" in them is shown as typed; styles are given as Text or style= instead.
# results; when piped, wide enough for the leaderboard instead of rich's 80 columns
out = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 200)
# progress and information on stderr, one line per message; silent under -q
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
# errors and warnings on stderr: printed under -q too
alert = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def plugins() -> Plugins:
    """The plugins a command uses; each call reports the failed ones on stderr.

    Commands call this once per invocation, so every failure is reported once.
    """
    loaded = default_plugins()
    for info in loaded.failed:
        alert.print(f"warning: plugin {info.origin} ({info.distribution} {info.version}) failed: {info.error}")
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
