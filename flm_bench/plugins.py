"""Plugin loading: one function, :func:`load_plugins`, builds a fresh manager and registries.

Plugins come from the ``flm_bench`` entry-point group (built-ins included). Two environment
variables restrict them, by entry-point or distribution name, comma separated:

- ``FLM_BENCH_PLUGINS``: allow-list; when set, only these load.
- ``FLM_BENCH_DISABLE_PLUGINS``: block-list; these never load.

A plugin whose import or hook raises is recorded in :attr:`Plugins.failed` and skipped; the
others load normally.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import logging
import os
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from flm_bench import hookspecs
from flm_bench.errors import ConfigError, DuplicateNameError
from flm_bench.registry import Registry
from flm_bench.specs import CorpusSpec, DatasetSpec, ModelSpec
from flm_bench.train.strategy import StrategySpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flm_bench"
ALLOW_ENV = "FLM_BENCH_PLUGINS"
BLOCK_ENV = "FLM_BENCH_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    """One plugin: where it came from and whether it loaded."""

    name: str  # entry-point name
    distribution: str
    version: str
    module: str = ""  # the module (or object's module) the plugin's hooks are defined in
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.distribution}:{self.name}"


@dataclass
class Plugins:
    """A loaded plugin manager with its registries."""

    manager: pluggy.PluginManager
    datasets: Registry[DatasetSpec]
    corpora: Registry[CorpusSpec]
    models: Registry[ModelSpec]
    strategies: Registry[StrategySpec]
    infos: list[PluginInfo]

    @property
    def loaded(self) -> list[PluginInfo]:
        return [p for p in self.infos if p.error is None]

    @property
    def failed(self) -> list[PluginInfo]:
        return [p for p in self.infos if p.error is not None]

    def distributions(self) -> dict[str, str]:
        """Distribution -> version of every plugin that loaded (recorded in each record)."""
        return {p.distribution: p.version for p in self.loaded}

    def modules(self) -> dict[str, list[str]]:
        """Distribution -> the modules its loaded plugins are defined in."""
        out: dict[str, list[str]] = {}
        for p in self.loaded:
            out.setdefault(p.distribution, []).append(p.module)
        return out

    def register_commands(self, app: Any) -> None:
        """Let plugins add CLI commands; a failing hook is recorded, not raised."""
        self._call_each("flm_bench_register_commands", lambda _info: {"app": app})

    def _call_each(self, hook: str, kwargs: Callable[[PluginInfo], dict[str, Any]]) -> None:
        """Call ``hook`` once per plugin implementing it, through pluggy's hook caller: each call
        keeps that plugin's implementation and every plugin's wrappers, so wrappers work and a
        plugin that raises is recorded without stopping the others."""
        by_object = {id(self.manager.get_plugin(p.name)): p for p in self.loaded}
        impls = getattr(self.manager.hook, hook).get_hookimpls()
        plain = [impl for impl in impls if not (impl.hookwrapper or impl.wrapper)]
        for impl in plain:
            info = by_object.get(id(impl.plugin))
            if info is None or info.error is not None:  # failed in an earlier hook or register
                continue
            others = [other.plugin for other in plain if other is not impl]
            try:
                self.manager.subset_hook_caller(hook, remove_plugins=others)(**kwargs(info))
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the others down
                info.error = f"{hook} raised {_failure(exc)}"
                log.info("plugin %s failed: %s", info.origin, info.error)


def _failure(exc: BaseException) -> str:
    """What a plugin raised, for its one-line report (the CLI reports each failed plugin once)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _same(obj: object) -> object:
    return obj


def _names(environ: Mapping[str, str], key: str) -> set[str] | None:
    value = environ.get(key)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _selected(info: PluginInfo, allow: set[str] | None, block: set[str] | None) -> bool:
    keys = {info.name, info.distribution}
    if block and keys & block:
        return False
    return allow is None or bool(keys & allow)


# (hook, Plugins attribute, kind used in messages, spec type)
_REGISTER_HOOKS: tuple[tuple[str, str, str, type], ...] = (
    ("flm_bench_register_datasets", "datasets", "dataset", DatasetSpec),
    ("flm_bench_register_corpora", "corpora", "corpus", CorpusSpec),
    ("flm_bench_register_models", "models", "model", ModelSpec),
    ("flm_bench_register_strategies", "strategies", "strategy", StrategySpec),
)


def load_plugins(
    *,
    entry_points: Iterable[md.EntryPoint] | None = None,
    extra: Sequence[tuple[str, object]] = (),
    environ: Mapping[str, str] | None = None,
) -> Plugins:
    """Build a fresh plugin manager, import the selected plugins and fill the registries.

    :param entry_points: the entry points to load; default: the ``flm_bench`` group of the
        installed distributions.
    :param extra: ``(name, plugin object)`` pairs registered directly (tests, embedding).
    :param environ: where to read ``FLM_BENCH_PLUGINS`` / ``FLM_BENCH_DISABLE_PLUGINS``.
    """
    environ = os.environ if environ is None else environ
    allow, block = _names(environ, ALLOW_ENV), _names(environ, BLOCK_ENV)
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if entry_points is None:
        entry_points = md.entry_points(group=ENTRY_POINT_GROUP)

    infos: list[PluginInfo] = []
    candidates: list[tuple[PluginInfo, Callable[[], object]]] = []
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = ep.dist
        info = PluginInfo(
            ep.name,
            dist.name if dist else "?",
            dist.version if dist else "?",
            module=ep.value.partition(":")[0].strip(),
        )
        candidates.append((info, ep.load))
    for name, obj in extra:
        module = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
        candidates.append((PluginInfo(name, name, "0", module=module), functools.partial(_same, obj)))

    for info, load in candidates:
        if not _selected(info, allow, block):
            log.info("plugin %s disabled by environment", info.origin)
            continue
        infos.append(info)
        try:
            plugin = load()
            manager.register(plugin, name=info.name)
        except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end the command
            info.error = f"import failed: {_failure(exc)}"
            log.info("plugin %s failed: %s", info.origin, info.error)
            continue
        info.hooks = sorted(h.name for h in manager.get_hookcallers(plugin) or [] if h.name.startswith("flm_bench_"))

    registries: dict[str, Registry[Any]] = {attr: Registry(kind) for _, attr, kind, _ in _REGISTER_HOOKS}
    plugins = Plugins(manager, infos=infos, **registries)
    for hook, attr, _, spec_type in _REGISTER_HOOKS:
        _fill(plugins, hook, registries[attr], spec_type)
    failures = [f"{p.origin}: {p.error}" for p in plugins.failed]
    for registry in registries.values():
        registry.load_failures = failures
    return plugins


def _fill(plugins: Plugins, hook: str, registry: Registry[Any], spec_type: type) -> None:
    """Call ``hook`` on each plugin; commit its specs only if the hook completes."""
    staged: dict[str, list[Any]] = {}

    def kwargs(info: PluginInfo) -> dict[str, Any]:
        bucket = staged.setdefault(info.origin, [])

        def register(spec: Any) -> None:
            if not isinstance(spec, spec_type):
                raise TypeError(f"register() takes a {spec_type.__name__}, got {type(spec).__name__}")
            bucket.append(spec)

        return {"register": register}

    plugins._call_each(hook, kwargs)
    for info in plugins.loaded:
        for spec in staged.get(info.origin, []):
            try:
                registry.register(spec, info.distribution, info.origin)
            except (DuplicateNameError, ConfigError) as exc:
                info.error = str(exc)
                log.info("plugin %s: %s", info.origin, exc)


@functools.cache
def default_plugins() -> Plugins:
    """The process-wide plugins, loaded on first use (the CLI's entry into the registries)."""
    return load_plugins()
