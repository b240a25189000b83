"""Source-family exclusion: a target never pretrains on its own raw data under another name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from console import cli
from hypothesis import given
from hypothesis import strategies as st

from flm_bench.errors import ConfigError
from flm_bench.exclusion import corpus_for, exclusions, family_of
from flm_bench.plugins import load_plugins
from flm_bench.registry import Registry
from flm_bench.runner import Runner
from flm_bench.specs import CorpusSpec, DatasetSpec
from flm_bench.suite import Suite


@pytest.mark.parametrize(
    "target, family_member, family",
    [
        ("lastfm-s3rec", "lastfm-hetrec", "hetrec2011-lastfm"),
        ("lastfm-hetrec", "lastfm-s3rec", "hetrec2011-lastfm"),
        ("ciaodvd", "ciao", "ciao"),
        ("ciao", "ciaodvd", "ciao"),
    ],
)
def test_all_domains_leaves_out_the_targets_family(target: str, family_member: str, family: str, tmp_path) -> None:
    """On 76e4aa3 exclusion was by exact name: lastfm-hetrec stayed in the corpus for lastfm-s3rec."""
    plugins = load_plugins()
    suite = Suite(name="x", targets=[target], corpora=["all-domains"], models=["sasrec"], strategies=["finetune"])
    use = Runner(suite, plugins, tmp_path, device="cpu").pretraining_corpus("all-domains", target)
    assert use.name == f"all-domains-minus-{target}"
    assert use.excluded == {target: "the target", family_member: f"same source family as the target ({family})"}
    assert target not in use.members and family_member not in use.members
    assert set(use.members) | set(use.excluded) == set(plugins.corpora.get("all-domains").datasets)


def test_no_registered_corpus_gives_a_target_data_of_its_family() -> None:
    plugins = load_plugins()
    for corpus in (e.spec for e in plugins.corpora):
        for target in (e.spec for e in plugins.datasets):
            try:
                use = corpus_for(corpus, target.name, plugins.datasets)
            except ConfigError:
                continue  # nothing left to pretrain on: refused, never used
            assert all(family_of(m, plugins.datasets) != target.source_family for m in use.members)


def _registry(families: list[str]) -> Registry[DatasetSpec]:
    registry: Registry[DatasetSpec] = Registry("dataset")
    for i, family in enumerate(families):
        registry.register(DatasetSpec(f"d{i}", "other", lambda location: None, family=family), "test")
    return registry


@given(st.lists(st.sampled_from(["", "a", "b", "c"]), min_size=2, max_size=8), st.data())
def test_exclusion_property_over_generated_families(families: list[str], data: st.DataObject) -> None:
    """Whatever the families: members never share the target's, and only the target and its family go."""
    datasets = _registry(families)
    names = [f"d{i}" for i in range(len(families))]
    corpus = CorpusSpec("c", tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))))
    target = data.draw(st.sampled_from(names))
    family = family_of(target, datasets)
    try:
        use = corpus_for(corpus, target, datasets)
    except ConfigError:
        assert all(family_of(m, datasets) == family for m in corpus.datasets)
        return
    assert all(family_of(m, datasets) != family for m in use.members)
    assert set(use.members) | set(use.excluded) == set(corpus.datasets)
    assert exclusions(corpus, datasets).get(target, {}) == use.excluded


def test_list_corpora_json_gives_the_reasons(tmp_path: Path) -> None:
    done = cli("list", "corpora", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    corpora = {c["name"]: c for c in json.loads(done.stdout)}
    assert corpora["all-domains"]["exclusions"]["lastfm-s3rec"] == {
        "lastfm-hetrec": "same source family as the target (hetrec2011-lastfm)",
        "lastfm-s3rec": "the target",
    }
    assert corpora["mixed-small"]["exclusions"]["lastfm-s3rec"] == {"lastfm-s3rec": "the target"}
