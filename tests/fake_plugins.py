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

#: ``tiny``: sasrec with a search space small enough for a test; ``fragile``: the same network,
#: whose build raises whenever the sampled dropout is above 0.05 (its default, 0.0, builds);
#: ``once``: the same network, whose first build after the file ``$KILL_ONCE`` appears deletes it and
#: kills its own process, and whose first build after ``$FAIL_ONCE`` appears deletes it and raises.
TUNING_PLUGIN = """
import os, signal
from flm_bench.api import ModelSpec, Search, hookimpl, tunable
from flm_bench_plugins import sasrec

class TinyParams(sasrec.SASRecParams):
    dim: int = tunable(8, "width", ge=1, search=Search(choices=(8, 16)))
    layers: int = 1
    heads: int = 1
    max_len: int = 8
    dropout: float = tunable(0.0, "dropout", ge=0, lt=1, search=Search(low=0.0, high=0.5))

def fragile(inputs):
    if inputs.params.dropout > 0.05:
        raise RuntimeError(f"fragile: dropout {inputs.params.dropout:.3f} is not supported")
    return sasrec.build(inputs)

def took(flag):
    try:
        os.unlink(os.environ.get(flag, ""))
    except OSError:
        return False
    return True

def once(inputs):
    if took("KILL_ONCE"):
        os.kill(os.getpid(), signal.SIGKILL)
    if took("FAIL_ONCE"):
        raise RuntimeError("once: this build fails")
    return sasrec.build(inputs)

@hookimpl
def flm_bench_register_models(register):
    register(ModelSpec("tiny", sasrec.build, pretrainable=True, item_representation="ids+features", params=TinyParams))
    register(ModelSpec("fragile", fragile, pretrainable=True, item_representation="ids+features", params=TinyParams))
    register(ModelSpec("once", once, pretrainable=True, item_representation="ids+features", params=TinyParams))
"""


def install_fake_plugin(site: Path, module: str, source: str) -> Path:
    """Install ``source`` as module ``module`` of distribution ``module`` (dashes for underscores,
    entry point ``module``) into ``site``, and return ``site`` (to put on ``PYTHONPATH``)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    name = module.replace("_", "-")
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[flm_bench]\n{module} = {module}\n")
    return site


def fake_plugin_env(tmp_path: Path, sources: dict[str, str], **env: str) -> dict[str, str]:
    """The environment of a subprocess that sees each ``module: source`` of ``sources`` as an
    installed plugin (under ``tmp_path/site``), plus ``env``."""
    site = tmp_path / "site"
    for module, source in sources.items():
        install_fake_plugin(site, module, source)
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "FLM_BENCH_CACHE_DIR": os.environ.get("FLM_BENCH_CACHE_DIR", str(tmp_path / "cache")),
        **env,
    }


def sleepy_env(tmp_path: Path, sleep_seconds: float, **env: str) -> dict[str, str]:
    """:func:`fake_plugin_env` with the ``sleepy`` model, whose ``fit`` sleeps ``sleep_seconds``, plus ``env``."""
    return fake_plugin_env(tmp_path, {"fake_sleepy": SLEEPY_PLUGIN}, SLEEPY_SECONDS=str(sleep_seconds), **env)
