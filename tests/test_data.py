"""Merging datasets into a corpus keeps indices disjoint and side data aligned."""

from __future__ import annotations

import datasets
import numpy as np

from flm_bench.data.table import from_table, merge


def make(name, users, items, side):
    table = datasets.Dataset.from_dict({"user": users, "item": items, "order": list(range(len(users)))})
    return from_table(name, "test", table, timestamped=True, side=side)


def test_merge_offsets_indices_and_keeps_text_and_attributes():
    a = make(
        "a",
        [0, 1],
        [0, 1],
        {"item_text": np.array(["x", "y"]), "item_attr_indptr": np.array([0, 1, 2]), "item_attr_ids": np.array([0, 3])},
    )
    b = make("b", [0, 0, 1], [0, 2, 1], {})
    merged = merge("ab", [a, b])
    assert merged.n_users == 4 and merged.n_items == 5
    assert np.asarray(merged.column("item")).tolist() == [0, 1, 2, 4, 3]
    assert merged.side["item_text"].tolist() == ["x", "y", "", "", ""]
    assert merged.side["item_attr_indptr"].tolist() == [0, 1, 2, 2, 2, 2]
    assert merged.side["item_attr_ids"].tolist() == [0, 3]
    assert "item_features" not in merged.side
