"""Fake third-party plugins installed as distributions for subprocess runs, e.g. a model that sleeps
in ``fit`` (a cell still working when a test interrupts, kills or races the run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The console script's code path, run by this interpreter (no reliance on the installed script).
IN_PROCESS_CLI = [sys.executable, "-c", "from flm_bench.cli.app import main; main()"]

SLEEPY_PLUGIN = """
import os, time
from flm_bench.api import ModelSpec, hookimpl

class Sleepy:
    def __init__(self, n_items):
        self.n_items = n_items
    def fit(self, train):
        time.sleep(float(os.environ.get("SLEEPY_SECONDS", "0")))
    def score(self, histories, users):
        import torch
        return torch.zeros(len(histories), self.n_items)

@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec("sleepy", lambda inputs: Sleepy(inputs.n_items),
                       pretrainable=False, item_representation="none"))
"""


def fake_plugin_env(tmp_path: Path, sources: dict[str, str], **env: str) -> dict[str, str]:
    """The environment of a subprocess that sees each ``sources`` item as an installed plugin (module
    ``fake_<key>`` of distribution ``fake-<key>``, under ``tmp_path/site``), plus ``env``."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    for key, source in sources.items():
        (site / f"fake_{key}.py").write_text(source)
        info = site / f"fake-{key}-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-{key}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[flm_bench]\nfake_{key} = fake_{key}\n")
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "FLM_BENCH_CACHE_DIR": os.environ.get("FLM_BENCH_CACHE_DIR", str(tmp_path / "cache")),
        **env,
    }


def sleepy_env(tmp_path: Path, sleep_seconds: float) -> dict[str, str]:
    """:func:`fake_plugin_env` with the ``sleepy`` model, whose ``fit`` sleeps ``sleep_seconds``."""
    return fake_plugin_env(tmp_path, {"sleepy": SLEEPY_PLUGIN}, SLEEPY_SECONDS=str(sleep_seconds))
