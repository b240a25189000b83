"""Preprocessing: duplicates, rating threshold, k-core; side data follows the re-indexing."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flm_bench.data.preprocess import Preprocess, apply
from flm_bench.data.table import from_table
from flm_bench.errors import DataError


def make(users, items, orders, ratings=None, side=None):
    cols = {"user": np.array(users), "item": np.array(items), "order": np.array(orders)}
    if ratings is not None:
        cols["rating"] = np.array(ratings, dtype=np.float32)
    return from_table("t", "test", datasets.Dataset.from_dict(cols), timestamped=True, side=side)


def triples(data):
    u, i, o = (np.asarray(data.column(c)).tolist() for c in ("user", "item", "order"))
    return list(zip(u, i, o))


def test_identity_returns_the_same_object():
    data = make([0, 1], [0, 1], [0, 0])
    assert apply(data, Preprocess()) is data


def test_duplicates_first_and_last():
    data = make([0, 0, 0, 1], [5, 5, 6, 5], [3, 1, 2, 0])
    first, last = apply(data, Preprocess(duplicates="first")), apply(data, Preprocess(duplicates="last"))
    assert sorted(o for _, _, o in triples(first)) == [0, 1, 2]
    assert sorted(o for _, _, o in triples(last)) == [0, 2, 3]
    assert first.fingerprint != last.fingerprint != data.fingerprint


def test_rating_threshold_needs_ratings():
    data = make([0, 0, 1], [0, 1, 1], [0, 1, 2], ratings=[1, 4, 5])
    kept = apply(data, Preprocess(rating_threshold=4))
    assert kept.n_interactions == 2 and np.asarray(kept.column("rating")).min() >= 4
    with pytest.raises(DataError, match="no ratings"):
        apply(make([0], [0], [0]), Preprocess(rating_threshold=4))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=1, max_size=120),
    st.integers(0, 4),
    st.integers(0, 4),
)
def test_k_core_is_a_fixed_point(pairs, min_user, min_item):
    users, items = zip(*pairs)
    data = make(users, items, list(range(len(pairs))))
    try:
        out = apply(data, Preprocess(min_user_interactions=min_user, min_item_interactions=min_item))
    except DataError:
        return  # everything removed: stated in the error
    u, i = np.asarray(out.column("user")), np.asarray(out.column("item"))
    assert np.bincount(u).min() >= min_user and np.bincount(i).min() >= min_item
    if min_user or min_item:  # anything asked for re-indexes compactly
        assert out.n_users == len(np.unique(u)) and out.n_items == len(np.unique(i))


def test_side_data_follows_reindexing():
    data = make(
        [0, 0, 1, 2, 2],
        [0, 1, 1, 2, 1],
        [0, 1, 2, 3, 4],
        side={
            "item_text": np.array(["a", "b", "c"]),
            "user_ids": np.array(["u0", "u1", "u2"]),
            "social_edges": np.array([[0, 1], [1, 2], [2, 0]]),
            "item_attr_indptr": np.array([0, 1, 3, 3]),
            "item_attr_ids": np.array([7, 8, 9]),
        },
    )
    out = apply(data, Preprocess(min_user_interactions=2))  # drops user 1 (one interaction)
    assert out.side["user_ids"].tolist() == ["u0", "u2"]
    assert out.side["social_edges"].tolist() == [[1, 0]]  # only 2 -> 0 survives, renumbered
    assert out.side["item_text"].tolist() == ["a", "b", "c"]
    assert out.side["item_attr_indptr"].tolist() == [0, 1, 3, 3]
