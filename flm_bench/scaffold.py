"""Scaffolding: write a ready-to-edit third-party plugin package.

:func:`write_plugin` renders the templates under ``flm_bench/templates/plugin/`` into a new
folder: a ``pyproject.toml`` declaring the ``flm_bench`` entry point, a README, a
``src/<package>/plugin.py`` registering one example dataset and one example model, and a test.
Templates are ``*.tmpl`` files (so they are never imported or collected as tests) rendered
with :class:`string.Template`: ``$name`` is the distribution name, ``$package`` the import
package; a path component ``_package_`` becomes the import package.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from string import Template

from flm_bench.errors import ConfigError

TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_PLACEHOLDER = "_package_"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Import names a generated package must not take: flm-bench's own and generic test folders.
RESERVED_PACKAGES = frozenset({"flm_bench", "flm_bench_plugins", "tests", "test"})


def package_name(name: str) -> str:
    """The import package of distribution ``name`` (``flm-bench-mydata`` -> ``flm_bench_mydata``)."""
    return name.replace("-", "_")


def check_name(name: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` can name a generated plugin distribution."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single '-' between "
            "them, starting with a letter (e.g. 'flm-bench-mydata')"
        )
    package = package_name(name)
    if keyword.iskeyword(package) or package in RESERVED_PACKAGES or package in sys.stdlib_module_names:
        raise ConfigError(f"invalid plugin name {name!r}: its package {package!r} would shadow another module")


def _templates() -> Traversable:
    return resources.files("flm_bench").joinpath("templates", "plugin")


def _walk(node: Traversable, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, (*parts, child.name))
        elif child.name.endswith(TEMPLATE_SUFFIX):
            yield (*parts, child.name), child


def render_plugin(name: str) -> dict[PurePosixPath, str]:
    """The generated files of plugin ``name``: relative path -> text."""
    check_name(name)
    package = package_name(name)
    values = {"name": name, "package": package}
    files: dict[PurePosixPath, str] = {}
    for parts, template in _walk(_templates()):
        *folders, filename = parts
        relative = PurePosixPath(
            *(package if p == PACKAGE_PLACEHOLDER else p for p in folders),
            filename.removesuffix(TEMPLATE_SUFFIX),
        )
        files[relative] = Template(template.read_text(encoding="utf-8")).substitute(values)
    if not files:
        raise ConfigError(f"no plugin templates found in {_templates()}; is flm-bench installed completely?")
    return files


def write_plugin(name: str, directory: Path) -> Path:
    """Write a ready-to-edit plugin package ``name`` into ``directory / name``; return that folder.

    :param name: the distribution name: lowercase letters, digits and '-', e.g.
        ``flm-bench-mydata``; the import package replaces '-' with '_'. The example dataset
        and model are named ``<name>-example`` and ``<name>-recent-popular``.
    :param directory: where to create the plugin's folder (created if missing).
    :raises ConfigError: ``name`` is invalid, or ``directory / name`` exists and is not an
        empty folder.
    """
    files = render_plugin(name)
    root = Path(directory) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"cannot write plugin {name!r}: {root} already exists and is not an empty folder")
    for relative, text in files.items():
        path = root.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
