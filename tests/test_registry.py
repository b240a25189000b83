"""Registry: lookups, suggestions, duplicate names, sorted iteration."""

from __future__ import annotations

import re

import pytest

from flm_bench.errors import ConfigError, DuplicateNameError, FlmBenchError, UnknownNameError
from flm_bench.registry import Registry
from flm_bench.specs import CorpusSpec


def corpus(name: str) -> CorpusSpec:
    return CorpusSpec(name=name, datasets=("a", "b"))


def test_get_and_entry():
    reg: Registry[CorpusSpec] = Registry("corpus")
    spec = corpus("general")
    reg.register(spec, "dist-a", "dist-a:ep")
    assert reg.get("general") is spec
    entry = reg.entry("general")
    assert entry.plugin == "dist-a" and entry.origin == "dist-a:ep"
    assert "general" in reg and len(reg) == 1
    # origin defaults to the distribution
    reg.register(corpus("other"), "dist-b")
    assert reg.entry("other").origin == "dist-b"


def test_unknown_name_suggests_close_ones():
    reg: Registry[CorpusSpec] = Registry("dataset")
    for name in ("synthetic-media", "synthetic-social", "movielens-100k"):
        reg.register(corpus(name), "flm-bench")
    with pytest.raises(UnknownNameError) as exc:
        reg.get("synthetic-medai")
    message = str(exc.value)
    assert "unknown dataset 'synthetic-medai'" in message
    assert "Did you mean" in message and "'synthetic-media'" in message
    assert "movielens" not in message
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, FlmBenchError)


def test_unknown_name_without_close_match_lists_known():
    reg: Registry[CorpusSpec] = Registry("model")
    reg.register(corpus("popularity"), "flm-bench")
    reg.register(corpus("itemknn"), "flm-bench")
    with pytest.raises(UnknownNameError, match="known: itemknn, popularity"):
        reg.get("zzzzzzzz")
    with pytest.raises(UnknownNameError, match="unknown model 'x'"):
        Registry("model").get("x")


def test_unknown_name_mentions_load_failures():
    reg: Registry[CorpusSpec] = Registry("model")
    reg.load_failures = ["broken-dist:broken: import failed: ImportError: nope"]
    with pytest.raises(UnknownNameError, match="plugins that failed to load: broken-dist:broken"):
        reg.get("sasrec")


def test_duplicate_names_both_plugins_and_stays_unusable():
    reg: Registry[CorpusSpec] = Registry("corpus")
    reg.register(corpus("general"), "dist-a", "dist-a:one")
    with pytest.raises(DuplicateNameError) as exc:
        reg.register(corpus("general"), "dist-b", "dist-b:two")
    assert "dist-a:one" in str(exc.value) and "dist-b:two" in str(exc.value)
    assert "'general'" in str(exc.value)
    # neither registration wins
    assert "general" not in reg and len(reg) == 0 and list(reg) == []
    with pytest.raises(DuplicateNameError, match="dist-a:one.*dist-b:two"):
        reg.get("general")
    # a third registration is still a conflict, naming the first plugin and the new one
    with pytest.raises(DuplicateNameError) as exc3:
        reg.register(corpus("general"), "dist-c", "dist-c:three")
    assert "dist-a:one" in str(exc3.value) and "dist-c:three" in str(exc3.value)
    with pytest.raises(DuplicateNameError):
        reg.entry("general")
    # other names are unaffected
    reg.register(corpus("other"), "dist-b", "dist-b:two")
    assert reg.get("other").name == "other"


def test_duplicate_from_same_plugin_is_an_error_too():
    reg: Registry[CorpusSpec] = Registry("corpus")
    reg.register(corpus("x"), "dist-a")
    with pytest.raises(DuplicateNameError):
        reg.register(corpus("x"), "dist-a")


@pytest.mark.parametrize("name", ["", "Mid", "has space", "-dash-first", "a/b", "x" * 65, "ok\n"])
def test_names_that_cannot_name_a_folder_are_rejected(name: str):
    """Names become part of record ids and folder names: lowercase, digits, ._- and at most 64."""
    reg: Registry[CorpusSpec] = Registry("corpus")
    expected = rf"^corpus name {re.escape(repr(name))} registered by plugin 'dist-a' is not"
    with pytest.raises(ConfigError, match=expected):
        reg.register(corpus(name), "dist-a")
    assert len(reg) == 0


def test_iteration_sorted():
    reg: Registry[CorpusSpec] = Registry("corpus")
    names = ["zeta", "alpha", "mid", "beta-2", "beta-10"]
    for i, name in enumerate(names):
        reg.register(corpus(name), f"dist-{i}")
    assert [e.spec.name for e in reg] == sorted(names)
    assert [e.plugin for e in reg][0] == f"dist-{names.index(sorted(names)[0])}"
