"""The real media datasets of ``plugins/media.py``, loaded from ``../shared/datasets``.

Counts are those of ``shared/datasets/SOURCES.md``; spot checks compare canonical rows with
raw lines of the files. Every dataset is parsed once per session (the table cache is
session-wide), later loads are cached reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets_helpers import (
    attrs,
    check_dataset,
    check_distinct_attributes,
    check_last_item_held_out,
    check_user_lines,
    default_split,
    index_of,
    load,
    rows_of,
)

from flm_bench.data.sources import open_text
from flm_bench.data.splits import make_split

pytestmark = pytest.mark.realdata  # every test reads ../shared/datasets

COUNTS = {  # users, items, interactions (SOURCES.md)
    "movielens-100k": (943, 1682, 100_000),
    "lastfm-s3rec": (1090, 3646, 52_551),
    "bookcrossing": (17_860, 14_910, 69_873),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_schema_and_metadata(real_data: Path, name: str) -> None:
    # includes: every index is used, the vocabularies hold exactly the ids that have interactions
    check_dataset(name, "media", COUNTS[name])


def test_movielens_100k(real_data: Path) -> None:
    data = load("movielens-100k")
    assert (data.timestamped, data.ordered) == (True, True)
    assert data.table.column_names == ["user", "item", "order", "rating"]
    assert data.column("rating").dtype == np.float32
    # first line of u.data: 196 242 3 881250949 -> table row 0
    with open_text(real_data / "media/movielens-100k/u.data.gz") as f:
        first = f.readline().split()
    assert first == ["196", "242", "3", "881250949"]
    assert data.side["user_ids"][data.column("user")[0]] == "196"
    assert data.side["item_ids"][data.column("item")[0]] == "242"
    assert (data.column("order")[0], data.column("rating")[0]) == (881250949, 3.0)
    order = data.column("order")
    assert (order.min(), order.max()) == (874724710, 893286638)  # 1997-09-20 .. 1998-04-22
    # u.item (latin-1): title, genres (ids as in u.genre), the untitled movie 267
    text = data.side["item_text"]
    assert text[index_of(data.side["item_ids"], "1")] == "Toy Story (1995)"
    assert text[index_of(data.side["item_ids"], "543")] == "Misérables, Les (1995)"
    assert text[index_of(data.side["item_ids"], "267")] == ""
    assert attrs(data, "1") == [3, 4, 5]  # Animation, Children's, Comedy
    assert attrs(data, "2") == [1, 2, 16]  # Action, Adventure, Thriller
    assert attrs(data, "267") == [0]  # unknown
    assert len(data.side["item_attr_indptr"]) == 1683 and data.side["item_attr_ids"].max() == 18
    # u.user: 1|24|M|technician|85711 -> [scaled age, F, M, 21 occupations]
    feats = data.side["user_features"]
    assert feats.shape == (943, 24) and feats.dtype == np.float32
    assert feats[:, 1:].sum(axis=1).tolist() == [2.0] * 943  # one gender + one occupation each
    user1 = feats[index_of(data.side["user_ids"], "1")]
    assert user1[0] == pytest.approx((24 - 7) / (73 - 7))
    assert user1[1:3].tolist() == [0.0, 1.0]
    assert np.flatnonzero(user1[3:]).tolist() == [19]  # technician: line 20 of u.occupation
    split = make_split(data, "leave-one-out")
    assert len(split.test) == 943


def test_lastfm_s3rec(real_data: Path) -> None:
    data = load("lastfm-s3rec")
    assert (data.timestamped, data.ordered) == (False, True)
    assert data.table.column_names == ["user", "item", "order"]
    lines = (real_data / "media/lastfm-s3rec/LastFM.txt").read_text().splitlines()
    check_user_lines(data, (lines[0], lines[-1]))  # "1 1 2 3 4 5 6 7 8", and the last user
    assert lines[0].split()[1:] == [str(i) for i in range(1, 9)]
    # attributes: the distinct tag ids of each artist in the JSON
    check_distinct_attributes(data, real_data / "media/lastfm-s3rec/LastFM_item2attributes.json.gz", ("1", "2", "3646"))
    assert attrs(data, "1") == list(range(1, 20))
    assert len(data.side["item_attr_ids"]) == 45_399
    split = check_last_item_held_out(data, lines)  # the test target is the last item of the line
    assert len(split.test) == 1090


def test_bookcrossing_drops_sampled_negatives(real_data: Path) -> None:
    data = load("bookcrossing")
    assert (data.timestamped, data.ordered) == (False, False)
    assert data.table.column_names == ["user", "item", "order"]
    assert not data.column("order").any()
    with open_text(real_data / "media/bookcrossing-ripplenet/ratings_final.txt.gz") as f:
        head = [f.readline().split() for _ in range(2)]
    assert head == [["1", "4251", "1"], ["1", "14887", "0"]]
    assert data.side["user_ids"][data.column("user")[0]] == "1"
    assert data.side["item_ids"][data.column("item")[0]] == "4251"
    user1 = data.side["item_ids"][data.column("item")[rows_of(data, "1")]].tolist()
    assert "4251" in user1 and "14887" not in user1  # label 0: a sampled negative, dropped
    split = default_split(data)  # unordered: leave-one-out refuses, naming random-holdout
    assert len(split.test) == 4290  # users with >= 3 interactions
    assert set(split.test.targets.lengths().tolist()) == {1}
