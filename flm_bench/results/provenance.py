"""Where a result came from: versions of everything that produced it, and what identifies the
plugins' code (a digest of their source files, and the git commit of an editable install)."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import flm_bench
from flm_bench.results.records import PluginCode, Provenance


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@cache
def git_sha() -> str | None:
    """The commit of the flm-bench source tree, when it is a git checkout."""
    return _git(Path(flm_bench.__file__).parent, "rev-parse", "HEAD")


def _package_root(module: str) -> Path | None:
    """The folder of ``module``'s top-level package (or the file of a top-level module)."""
    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin else None


@cache
def plugin_code(modules: tuple[str, ...]) -> PluginCode:
    """The digest of every ``.py`` file of the packages holding ``modules``, and their git commit."""
    roots = sorted({r for r in (_package_root(m) for m in modules) if r is not None})
    digest = hashlib.sha256()
    for root in roots:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            digest.update(f"{root.name}/{path.relative_to(root).as_posix() if root.is_dir() else ''}".encode())
            digest.update(b"\0" + path.read_bytes() + b"\0")
    folder = next((r if r.is_dir() else r.parent for r in roots), None)
    return PluginCode(sha256=digest.hexdigest(), git_sha=_git(folder, "rev-parse", "HEAD") if folder else None)


#: flm-bench's built-in plugins run on its core: its digest covers both
_CORE = {"flm-bench": ("flm_bench",)}


def provenance(plugins: Mapping[str, str], modules: Mapping[str, Sequence[str]]) -> Provenance:
    """Provenance of a record made now, by the plugin distributions ``plugins`` (name -> version)
    whose plugins are defined in ``modules`` (name -> module names)."""
    import torch

    return Provenance(
        flm_bench_version=flm_bench.__version__,
        plugins=dict(sorted(plugins.items())),
        plugin_code={d: plugin_code(tuple(sorted({*modules.get(d, ()), *_CORE.get(d, ())}))) for d in sorted(plugins)},
        python=platform.python_version(),
        torch=torch.__version__,
        platform=platform.platform(),
        cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        git_sha=git_sha(),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
