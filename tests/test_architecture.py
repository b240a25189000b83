"""The package's shape: layers import only downwards, no import circles (also not under
TYPE_CHECKING or inside functions), small modules and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import flm_bench
import flm_bench_plugins

ROOT = Path(flm_bench.__file__).parent
PLUGINS = Path(flm_bench_plugins.__file__).parent

#: Each layer may import only from the layers after it (and from itself).
LAYERS = [
    {"flm_bench.cli"},
    {"flm_bench.tuning", "flm_bench.tuning_trial", "flm_bench.ray_executor", "flm_bench.ray_tuning"},
    {"flm_bench.runner", "flm_bench.record_fields", "flm_bench.scaffold"},
    {"flm_bench.plan", "flm_bench.exclusion"},
    {"flm_bench.results"},
    {"flm_bench.api", "flm_bench.plugins", "flm_bench.hookspecs", "flm_bench.registry", "flm_bench.file_datasets"},
    {"flm_bench.train"},
    {"flm_bench.specs", "flm_bench.recommender", "flm_bench.params", "flm_bench.suite", "flm_bench.tuned"},
    {"flm_bench.evaluation", "flm_bench.levels"},
    {"flm_bench.data"},
    {"flm_bench.errors", "flm_bench.validation", "flm_bench.text", "flm_bench.faults"},
]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every flm_bench module ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return -1  # the package root (flm_bench/__init__.py)


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if m != "flm_bench" and layer(m) < 0] == []


def test_layers_import_only_downwards() -> None:
    upward = [
        f"{a} -> {b}"
        for a, deps in graph().items()
        for b in deps
        if layer(a) >= 0 and layer(b) >= 0 and layer(b) < layer(a)
    ]
    assert upward == []


def test_no_import_circles() -> None:
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_modules_and_functions_are_small() -> None:
    long_modules, long_functions = [], []
    files = {**modules(), **{f"flm_bench_plugins.{p.stem}": p for p in PLUGINS.glob("*.py")}}
    for name, path in files.items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert long_modules == [] and long_functions == []
