"""Plugin loading: built-ins, fake plugins, failures, duplicates, environment, entry points."""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import flm_bench
from flm_bench.api import CorpusSpec, DatasetSpec, ModelSpec, StrategySpec
from flm_bench.errors import DuplicateNameError, UnknownNameError
from flm_bench.plugins import ALLOW_ENV, BLOCK_ENV, ENTRY_POINT_GROUP, load_plugins

BUILTIN_ENTRY_POINTS = ("baselines", "sasrec", "strategies", "synthetic")


def builtin_entry_points() -> list[md.EntryPoint]:
    eps = [ep for ep in md.entry_points(group=ENTRY_POINT_GROUP) if ep.name in BUILTIN_ENTRY_POINTS]
    assert sorted(ep.name for ep in eps) == sorted(BUILTIN_ENTRY_POINTS), (
        "flm-bench's built-in entry points are not installed; run `pip install -e .`"
    )
    return eps


def dataset(name: str) -> DatasetSpec:
    return DatasetSpec(name=name, domain="other", load=lambda location: None)


def fake_module(name: str, *datasets: str) -> types.ModuleType:
    """A module-like plugin registering ``datasets``."""
    module = types.ModuleType(name)

    @flm_bench.hookimpl
    def flm_bench_register_datasets(register):
        for d in datasets:
            register(dataset(d))

    module.flm_bench_register_datasets = flm_bench_register_datasets
    return module


class ClassPlugin:
    """A class-based plugin registering one of each kind."""

    @flm_bench.hookimpl
    def flm_bench_register_datasets(self, register):
        register(dataset("class-data"))

    @flm_bench.hookimpl
    def flm_bench_register_corpora(self, register):
        register(CorpusSpec("class-corpus", datasets=("class-data",)))

    @flm_bench.hookimpl
    def flm_bench_register_models(self, register):
        register(ModelSpec("class-model", build=lambda *a: None, pretrainable=False, item_representation="ids"))

    @flm_bench.hookimpl
    def flm_bench_register_strategies(self, register):
        register(StrategySpec("class-strategy", build=lambda: None, needs_pretraining=False))


class RaisingHookPlugin:
    """Registers a dataset, then raises; also implements a later hook."""

    @flm_bench.hookimpl
    def flm_bench_register_datasets(self, register):
        register(dataset("half-registered"))
        raise RuntimeError("hook exploded")

    @flm_bench.hookimpl
    def flm_bench_register_models(self, register):
        register(ModelSpec("never-model", build=lambda *a: None, pretrainable=False, item_representation="ids"))


class FakeEntryPoint:
    """Just what load_plugins uses of an entry point: name, value, dist, load()."""

    def __init__(self, name: str, load, dist_name: str = "fake-dist", version: str = "9.9") -> None:
        self.name = name
        self.value = f"{name}_module:plugin"
        self.dist = types.SimpleNamespace(name=dist_name, version=version)
        self._load = load

    def load(self):
        return self._load()


def broken_import():
    raise ImportError("no module named 'missing_dependency'")


# --------------------------------------------------------------------------- built-ins


def test_builtins_load():
    plugins = load_plugins(environ={})
    assert not plugins.failed, [(p.origin, p.error) for p in plugins.failed]
    assert {p.name for p in plugins.loaded} >= set(BUILTIN_ENTRY_POINTS)
    version = md.version("flm-bench")
    for info in plugins.loaded:
        if info.name in BUILTIN_ENTRY_POINTS:
            assert info.distribution == "flm-bench" and info.version == version
            assert info.origin == f"flm-bench:{info.name}"
            assert info.hooks and all(h.startswith("flm_bench_register_") for h in info.hooks)
    assert plugins.distributions()["flm-bench"] == version

    datasets = {e.spec.name for e in plugins.datasets}
    assert {f"synthetic-{d}" for d in ("ecommerce", "social", "media", "finance")} <= datasets
    assert "synthetic-general" in plugins.corpora
    assert {"popularity", "itemknn", "sasrec"} <= {e.spec.name for e in plugins.models}
    assert {"scratch", "finetune"} <= {e.spec.name for e in plugins.strategies}
    for registry, name, origin in (
        (plugins.datasets, "synthetic-media", "flm-bench:synthetic"),
        (plugins.corpora, "synthetic-general", "flm-bench:synthetic"),
        (plugins.models, "popularity", "flm-bench:baselines"),
        (plugins.models, "itemknn", "flm-bench:baselines"),
        (plugins.models, "sasrec", "flm-bench:sasrec"),
        (plugins.strategies, "scratch", "flm-bench:strategies"),
        (plugins.strategies, "finetune", "flm-bench:strategies"),
    ):
        entry = registry.entry(name)
        assert entry.plugin == "flm-bench" and entry.origin == origin
    assert plugins.strategies.get("finetune").needs_pretraining
    assert not plugins.strategies.get("scratch").needs_pretraining
    assert plugins.models.get("sasrec").pretrainable


def test_each_load_is_fresh():
    a = load_plugins(environ={}, extra=[("one", fake_module("one", "only-in-a"))])
    b = load_plugins(environ={})
    assert a.manager is not b.manager and a.datasets is not b.datasets
    assert "only-in-a" in a.datasets and "only-in-a" not in b.datasets


# --------------------------------------------------------------------------- fake plugins


def test_fake_module_and_class_plugins():
    plugins = load_plugins(
        entry_points=[],
        environ={},
        extra=[("mod", fake_module("mod", "mod-a", "mod-b")), ("cls", ClassPlugin())],
    )
    assert not plugins.failed
    assert [p.name for p in plugins.loaded] == ["mod", "cls"]
    assert [e.spec.name for e in plugins.datasets] == ["class-data", "mod-a", "mod-b"]
    assert plugins.datasets.entry("mod-a").plugin == "mod"
    assert plugins.corpora.get("class-corpus").datasets == ("class-data",)
    assert "class-model" in plugins.models and "class-strategy" in plugins.strategies
    cls_info = next(p for p in plugins.infos if p.name == "cls")
    assert cls_info.hooks == sorted(f"flm_bench_register_{k}" for k in ("datasets", "corpora", "models", "strategies"))
    assert plugins.distributions() == {"mod": "0", "cls": "0"}


def test_fake_plugins_alongside_builtins():
    plugins = load_plugins(environ={}, extra=[("mod", fake_module("mod", "mod-a"))])
    assert not plugins.failed
    assert "mod-a" in plugins.datasets and "synthetic-media" in plugins.datasets


def test_wrong_spec_type_fails_only_that_plugin():
    class WrongType:
        @flm_bench.hookimpl
        def flm_bench_register_datasets(self, register):
            register(CorpusSpec("not-a-dataset", datasets=()))

    plugins = load_plugins(entry_points=builtin_entry_points(), environ={}, extra=[("wrong", WrongType())])
    (failed,) = plugins.failed
    assert failed.name == "wrong" and "TypeError" in failed.error and "DatasetSpec" in failed.error
    assert "not-a-dataset" not in plugins.corpora and "not-a-dataset" not in plugins.datasets
    assert "synthetic-media" in plugins.datasets


# --------------------------------------------------------------------------- failures


def test_failing_import_and_hook_do_not_take_others_down():
    eps = [*builtin_entry_points(), FakeEntryPoint("broken", broken_import, "broken-dist", "1.2")]
    plugins = load_plugins(
        entry_points=eps,
        environ={},
        extra=[("raiser", RaisingHookPlugin()), ("good", fake_module("good", "good-data"))],
    )
    failed = {p.name: p for p in plugins.failed}
    assert set(failed) == {"broken", "raiser"}
    assert failed["broken"].error.startswith("import failed: ImportError")
    assert "missing_dependency" in failed["broken"].error
    assert failed["broken"].origin == "broken-dist:broken"
    assert "flm_bench_register_datasets raised RuntimeError: hook exploded" in failed["raiser"].error

    # the others loaded normally
    assert {p.name for p in plugins.loaded} == {*BUILTIN_ENTRY_POINTS, "good"}
    assert "good-data" in plugins.datasets and "synthetic-media" in plugins.datasets
    assert "sasrec" in plugins.models and "finetune" in plugins.strategies
    # a raising hook commits nothing, and its later hooks are not called
    assert "half-registered" not in plugins.datasets
    assert "never-model" not in plugins.models
    assert "broken-dist" not in plugins.distributions() and "raiser" not in plugins.distributions()

    # an unknown name mentions the failed plugins
    for registry in (plugins.datasets, plugins.models):
        with pytest.raises(UnknownNameError) as exc:
            registry.get("half-registered")
        message = str(exc.value)
        assert "plugins that failed to load" in message
        assert "broken-dist:broken" in message and "raiser:raiser" in message
        assert "missing_dependency" in message


def test_real_module_import_error(tmp_path, monkeypatch):
    (tmp_path / "flm_broken_plugin.py").write_text("raise RuntimeError('import-time boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = md.EntryPoint(name="broken", value="flm_broken_plugin", group=ENTRY_POINT_GROUP)
    try:
        plugins = load_plugins(entry_points=[*builtin_entry_points(), ep], environ={})
    finally:
        sys.modules.pop("flm_broken_plugin", None)
    (failed,) = plugins.failed
    assert failed.name == "broken" and "RuntimeError: import-time boom" in failed.error
    assert len(plugins.loaded) == len(BUILTIN_ENTRY_POINTS)


def test_hook_rejected_by_pluggy_is_recorded():
    class BadSignature:
        @flm_bench.hookimpl
        def flm_bench_register_datasets(self, register, unexpected):
            register(dataset("bad-sig"))

    plugins = load_plugins(entry_points=builtin_entry_points(), environ={}, extra=[("bad", BadSignature())])
    (failed,) = plugins.failed
    assert failed.name == "bad" and "import failed" in failed.error
    assert "bad-sig" not in plugins.datasets and "synthetic-media" in plugins.datasets


def test_plugin_name_registered_twice():
    plugins = load_plugins(
        entry_points=[], environ={}, extra=[("same", fake_module("a", "a-data")), ("same", fake_module("b", "b-data"))]
    )
    assert [p.error is None for p in plugins.infos] == [True, False]
    assert "a-data" in plugins.datasets and "b-data" not in plugins.datasets


def test_register_commands_failure_is_recorded():
    seen = []

    class Commands:
        @flm_bench.hookimpl
        def flm_bench_register_commands(self, app):
            seen.append(app)

    class BadCommands:
        @flm_bench.hookimpl
        def flm_bench_register_commands(self, app):
            raise ValueError("no commands today")

    plugins = load_plugins(entry_points=[], environ={}, extra=[("bad", BadCommands()), ("ok", Commands())])
    app = object()
    plugins.register_commands(app)
    assert seen == [app]
    (failed,) = plugins.failed
    assert failed.name == "bad" and "ValueError: no commands today" in failed.error


# --------------------------------------------------------------------------- duplicates


def test_duplicate_name_across_plugins():
    plugins = load_plugins(
        entry_points=[],
        environ={},
        extra=[
            ("first", fake_module("first", "shared-name", "first-only")),
            ("second", fake_module("second", "shared-name", "second-only")),
        ],
    )
    with pytest.raises(DuplicateNameError) as exc:
        plugins.datasets.get("shared-name")
    assert "first:first" in str(exc.value) and "second:second" in str(exc.value)
    assert "shared-name" not in plugins.datasets
    failed = {p.name: p.error for p in plugins.failed}
    assert "first:first" in failed["second"] and "second:second" in failed["second"]
    assert "first-only" in plugins.datasets


def test_duplicate_of_builtin_name():
    class Clash:
        @flm_bench.hookimpl
        def flm_bench_register_datasets(self, register):
            register(dataset("synthetic-media"))

        @flm_bench.hookimpl
        def flm_bench_register_models(self, register):  # a later hook must not crash loading
            register(ModelSpec("clash-model", build=lambda *a: None, pretrainable=False, item_representation="ids"))

    plugins = load_plugins(entry_points=builtin_entry_points(), environ={}, extra=[("clash", Clash())])
    with pytest.raises(DuplicateNameError) as exc:
        plugins.datasets.get("synthetic-media")
    assert "flm-bench:synthetic" in str(exc.value) and "clash:clash" in str(exc.value)
    assert "synthetic-social" in plugins.datasets and "sasrec" in plugins.models


# --------------------------------------------------------------------------- environment


def test_allow_list_by_entry_point_name():
    plugins = load_plugins(
        entry_points=builtin_entry_points(),
        extra=[("mod", fake_module("mod", "mod-a"))],
        environ={ALLOW_ENV: "synthetic, strategies"},
    )
    assert sorted(p.name for p in plugins.infos) == ["strategies", "synthetic"]
    assert "synthetic-media" in plugins.datasets and "scratch" in plugins.strategies
    assert len(plugins.models) == 0 and "mod-a" not in plugins.datasets


def test_allow_list_by_distribution_name():
    plugins = load_plugins(
        entry_points=builtin_entry_points(),
        extra=[("mod", fake_module("mod", "mod-a"))],
        environ={ALLOW_ENV: "flm-bench"},
    )
    assert sorted(p.name for p in plugins.infos) == sorted(BUILTIN_ENTRY_POINTS)
    assert "mod-a" not in plugins.datasets


def test_block_list():
    plugins = load_plugins(
        entry_points=builtin_entry_points(),
        extra=[("mod", fake_module("mod", "mod-a"))],
        environ={BLOCK_ENV: "sasrec,mod"},
    )
    assert sorted(p.name for p in plugins.infos) == ["baselines", "strategies", "synthetic"]
    assert "sasrec" not in plugins.models and "popularity" in plugins.models
    assert "mod-a" not in plugins.datasets
    # by distribution
    plugins = load_plugins(
        entry_points=builtin_entry_points(),
        extra=[("mod", fake_module("mod", "mod-a"))],
        environ={BLOCK_ENV: "flm-bench"},
    )
    assert [p.name for p in plugins.infos] == ["mod"] and len(plugins.models) == 0


def test_block_list_beats_allow_list():
    plugins = load_plugins(
        entry_points=builtin_entry_points(),
        environ={ALLOW_ENV: "flm-bench", BLOCK_ENV: "baselines"},
    )
    assert "baselines" not in {p.name for p in plugins.infos}
    assert "popularity" not in plugins.models and "sasrec" in plugins.models


def test_environment_read_from_os_environ(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "strategies")
    plugins = load_plugins(entry_points=builtin_entry_points())
    assert [p.name for p in plugins.infos] == ["strategies"]


# --------------------------------------------------------------------------- real entry point


FAKE_PLUGIN = """
import flm_bench
from flm_bench.api import DatasetSpec, hookimpl


@hookimpl
def flm_bench_register_datasets(register):
    register(DatasetSpec(name="fake-data", domain="other", load=lambda location: None,
                         description="from a real entry point"))
"""


def write_fake_distribution(root: Path) -> None:
    (root / "fake_flm_plugin.py").write_text(textwrap.dedent(FAKE_PLUGIN))
    info = root / "fake_flm_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-flm-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[flm_bench]\nfake = fake_flm_plugin\n")


def test_real_entry_point(tmp_path, monkeypatch):
    write_fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        plugins = load_plugins()
    finally:
        sys.modules.pop("fake_flm_plugin", None)
    assert not plugins.failed, [(p.origin, p.error) for p in plugins.failed]
    entry = plugins.datasets.entry("fake-data")
    assert entry.plugin == "fake-flm-plugin" and entry.origin == "fake-flm-plugin:fake"
    info = next(p for p in plugins.infos if p.name == "fake")
    assert info.distribution == "fake-flm-plugin" and info.version == "0.1"
    assert info.hooks == ["flm_bench_register_datasets"]
    assert plugins.distributions()["fake-flm-plugin"] == "0.1"
    assert "synthetic-media" in plugins.datasets  # built-ins still there
    # and the environment can switch it off by distribution name
    plugins = load_plugins(environ={BLOCK_ENV: "fake-flm-plugin"})
    assert "fake-data" not in plugins.datasets and "synthetic-media" in plugins.datasets


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)


def test_real_entry_point_fresh_interpreter(tmp_path):
    write_fake_distribution(tmp_path)
    code = textwrap.dedent("""
        from flm_bench.plugins import load_plugins
        p = load_plugins()
        e = p.datasets.entry("fake-data")
        info = next(i for i in p.infos if i.name == "fake")
        print(e.plugin, info.version, len(p.failed))
    """)
    result = run_python(code, PYTHONPATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fake-flm-plugin", "0.1", "0"]


def test_loading_plugins_does_not_import_torch():
    code = (
        "import sys; from flm_bench.plugins import load_plugins; p = load_plugins(); "
        "assert not p.failed, p.failed; assert len(p.models) >= 3; "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert not {'transformers', 'sentence_transformers', 'all_minilm_l6_v2'} & set(sys.modules)"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
