"""``write_plugin``: the generated plugin package, installed for real, registers and loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from flm_bench.errors import ConfigError
from flm_bench.scaffold import write_plugin

NAME = "flm-bench-mydata"
PACKAGE = "flm_bench_mydata"
FILES = {
    "pyproject.toml",
    "README.md",
    f"src/{PACKAGE}/__init__.py",
    f"src/{PACKAGE}/plugin.py",
    "tests/test_plugin.py",
}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_write_plugin_writes_the_package(tmp_path):
    root = write_plugin(NAME, tmp_path)

    assert root == tmp_path / NAME
    assert _files(root) == FILES
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    assert meta["project"]["name"] == NAME
    assert meta["project"]["dependencies"] == ["flm-bench"]
    assert meta["project"]["entry-points"]["flm_bench"] == {PACKAGE: f"{PACKAGE}.plugin"}
    plugin = (root / "src" / PACKAGE / "plugin.py").read_text()
    assert f'DATASET = "{NAME}-example"' in plugin
    assert "@hookimpl" in plugin and "import torch\n" in plugin
    for path in FILES:  # every placeholder was filled
        text = (root / path).read_text()
        assert "$name" not in text and "$package" not in text
        if path.endswith(".py"):
            compile(text, path, "exec")
    readme = (root / "README.md").read_text()
    assert 'pip install -e ".[test]"' in readme and "flm-bench list datasets" in readme and "--data-dir" in readme


def test_two_plugins_get_different_names(tmp_path):
    a = (write_plugin("flm-bench-a", tmp_path) / "src/flm_bench_a/plugin.py").read_text()
    b = (write_plugin("flm-bench-b", tmp_path) / "src/flm_bench_b/plugin.py").read_text()
    assert 'DATASET = "flm-bench-a-example"' in a and 'DATASET = "flm-bench-b-example"' in b


def test_write_plugin_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / NAME).mkdir()
    write_plugin(NAME, tmp_path)  # an empty folder is fine
    with pytest.raises(ConfigError, match="already exists") as info:
        write_plugin(NAME, tmp_path)
    assert str(tmp_path / NAME) in str(info.value) and "\n" not in str(info.value)

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "flm-bench-x").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match="already exists"):
        write_plugin("flm-bench-x", tmp_path / "other")


@pytest.mark.parametrize(
    "name",
    ["", "Flm-Bench", "flm_bench_x", "flm bench", "-flm", "flm-", "flm--x", "1flm", "flm.x", "flm-bench", "json"],
)
def test_write_plugin_refuses_a_bad_name(tmp_path, name):
    with pytest.raises(ConfigError, match="invalid plugin name") as info:
        write_plugin(name, tmp_path)
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())


CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import flm_bench.api
    torch_before = "torch" in sys.modules
    import {package}.plugin
    cheap = torch_before or "torch" not in sys.modules
    from flm_bench.plugins import load_plugins
    loaded = load_plugins()
    {package}.plugin.write_example(Path("data") / {package}.plugin.FILE)
    data = loaded.datasets.get("{name}-example").load(flm_bench.api.DataLocation(data_dir=Path("data")))
    print(json.dumps({{
        "datasets": {{e.spec.name: e.plugin for e in loaded.datasets}},
        "models": {{e.spec.name: e.plugin for e in loaded.models}},
        "failed": [p.origin + ": " + str(p.error) for p in loaded.failed],
        "cheap": cheap,
        "loaded": [data.name, data.domain, data.n_users, data.n_interactions],
    }}))
    """
)


@pytest.mark.slow
def test_generated_plugin_installs_and_registers_through_its_entry_point(tmp_path):
    root = write_plugin(NAME, tmp_path / "src")
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(site),
            str(root),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    env = {k: v for k, v in os.environ.items() if k not in {"FLM_BENCH_PLUGINS", "FLM_BENCH_DISABLE_PLUGINS"}}
    env |= {"PYTHONPATH": str(site), "FLM_BENCH_CACHE_DIR": str(tmp_path / "cache")}

    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(name=NAME, package=PACKAGE)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["datasets"][f"{NAME}-example"] == NAME
    assert result["models"][f"{NAME}-recent-popular"] == NAME
    assert not [f for f in result["failed"] if NAME in f], result["failed"]
    assert result["cheap"], "importing the generated plugin imported torch"
    name, domain, n_users, n_interactions = result["loaded"]
    assert (name, domain, n_users) == (f"{NAME}-example", "media", 50) and n_interactions > 0

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "tests"), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
