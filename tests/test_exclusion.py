"""Source-family exclusion: a target never pretrains on its own raw data under another name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from console import cli
from hypothesis import given
from hypothesis import strategies as st

from flm_bench.errors import ConfigError, DataError
from flm_bench.exclusion import RawIds, corpus_for, exclusions, family_of, left_out
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


@pytest.mark.slow
def test_a_member_sharing_the_targets_amazon_reviewers_is_left_out(real_data: Path, tmp_path: Path) -> None:
    """Amazon 2018 Scientific and Instruments are different categories (families) of one review dump,
    and some reviewers wrote in both: their reviewer ids are the same people."""
    suite = Suite(name="x", targets=["amazon-scientific"], corpora=["all-domains"], models=["sasrec"])
    runner = Runner(suite, load_plugins(), tmp_path, device="cpu")
    use = runner.pretraining_corpus("all-domains", "amazon-scientific")
    users = {n: set(map(str, runner.raw_ids(n)[0])) for n in ("amazon-scientific", "amazon-instruments")}
    shared = users["amazon-scientific"] & users["amazon-instruments"]
    assert shared, "the two dumps should share reviewers"
    assert use.excluded["amazon-instruments"] == (
        f"shares {len(shared):,} of the target's {len(users['amazon-scientific']):,} users (amazon-reviewer ids)"
    )
    # the 2014 sets number users and items themselves: equal ids there mean nothing, so they stay
    assert {"amazon-office", "amazon-beauty", "movielens-100k"} <= set(use.members)


@pytest.mark.slow
def test_list_corpora_shows_id_overlap_where_the_data_is_here(real_data: Path, tmp_path: Path) -> None:
    done = cli("list", "corpora", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    corpus = {c["name"]: c for c in json.loads(done.stdout)}["all-domains"]
    assert corpus["exclusions"]["amazon-scientific"]["amazon-instruments"].startswith("shares ")
    assert corpus["overlap_unchecked"] == []


def test_list_corpora_says_which_overlaps_it_could_not_check(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLM_BENCH_DATA_DIR"} | {"FLM_BENCH_CACHE_DIR": str(tmp_path)}
    done = cli("list", "corpora", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    corpus = {c["name"]: c for c in json.loads(done.stdout)}["all-domains"]
    assert set(corpus["overlap_unchecked"]) == {"amazon-scientific", "amazon-instruments"}
    assert "amazon-scientific" not in corpus["exclusions"]  # nothing is claimed without the evidence
    assert not (tmp_path / "downloads").exists()  # listing never downloads


def _spaced(spaces: list[str], ids: list[set[int]]) -> tuple[Registry[DatasetSpec], RawIds]:
    registry: Registry[DatasetSpec] = Registry("dataset")
    for i, space in enumerate(spaces):
        registry.register(DatasetSpec(f"d{i}", "other", lambda location: None, item_id_space=space), "test")
    raw = {f"d{i}": (None, np.array(sorted(s), dtype=np.int64)) for i, s in enumerate(ids)}
    return registry, raw.__getitem__


@given(
    st.lists(st.tuples(st.sampled_from(["", "s", "t"]), st.sets(st.integers(0, 9), max_size=4)), min_size=2),
    st.data(),
)
def test_overlap_exclusion_property(datasets: list[tuple[str, set[int]]], data: st.DataObject) -> None:
    """A kept member never shares an id with the target in a space both declare; a member left out
    for overlap always does; members of other spaces (or none) are never compared."""
    registry, ids = _spaced([s for s, _ in datasets], [i for _, i in datasets])
    names = [f"d{i}" for i in range(len(datasets))]
    corpus = CorpusSpec("c", tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))))
    target = data.draw(st.sampled_from(names))
    space, own = datasets[names.index(target)]
    reasons = left_out(corpus, target, registry, ids)
    for member in corpus.datasets:
        other_space, other = datasets[names.index(member)]
        shares = bool(space) and other_space == space and bool(own & other)
        if member != target:
            assert (member in reasons) == shares, (member, reasons)
        if member in reasons and member != target:
            assert reasons[member].startswith(f"shares {len(own & other):,} of the target's {len(own):,} items")


def test_a_declared_id_space_without_ids_is_a_plugin_error() -> None:
    registry, _ = _spaced(["s", "s"], [{1}, {1}])
    with pytest.raises(DataError, match="'d0' declares an id space for its items but its data has no raw item ids"):
        left_out(CorpusSpec("c", ("d1",)), "d0", registry, lambda name: (None, None))


@pytest.mark.parametrize(
    "target, members, excluded",
    [
        ("amazon-scientific", ("amazon-games",), {"amazon-scientific": "the target"}),
        ("amazon-games", ("amazon-scientific",), {"amazon-games": "the target"}),
        (  # the 2014 and 2018 crawls of Amazon's Video Games reviews
            "amazon-videogames",
            ("amazon-scientific",),
            {"amazon-games": "same source family as the target (amazon-video-games)"},
        ),
    ],
)
def test_amazon_text_corpus(target: str, members: tuple[str, ...], excluded: dict[str, str]) -> None:
    plugins = load_plugins()
    use = corpus_for(plugins.corpora.get("amazon-text"), target, plugins.datasets)
    assert (use.members, use.excluded) == (members, excluded)
