"""The real social datasets of ``plugins/social.py``, loaded from ``../shared/datasets``.

Counts are those of ``shared/datasets/SOURCES.md``; spot checks compare canonical rows with
raw lines of the files, and social edges with an independent reading of the trust files.
Every dataset is parsed once per session (the table cache is session-wide), later loads
are cached reads.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import datasets_helpers as h
import numpy as np
import pandas as pd
import pytest

from flm_bench.data.sources import open_text
from flm_bench.data.splits import make_split
from flm_bench.errors import DataError
from flm_bench_plugins.social import parse_ciao

pytestmark = pytest.mark.realdata  # every test reads ../shared/datasets

S = "social"
COUNTS = {  # users, items, interactions (SOURCES.md)
    "ciao": (7375, 105_114, 284_086),
    "ciaodvd": (17_615, 16_121, 72_665),
    "filmtrust": (1508, 2071, 35_497),
    "lastfm-hetrec": (1892, 17_632, 92_834),
    "yelp": (30_431, 20_033, 316_354),
}
FLAGS = {  # timestamped, ordered
    "ciao": (True, True),
    "ciaodvd": (True, True),
    "filmtrust": (False, False),
    "lastfm-hetrec": (False, False),
    "yelp": (False, True),
}
#: social edges kept (both ends have interactions) of the edges in the file (SOURCES.md
#: trust_edges / friend_pairs)
EDGES = {
    "ciao": (57_544, 57_544),
    "ciaodvd": (22_484, 40_133),
    "filmtrust": (1632, 1853),
    "lastfm-hetrec": (25_434, 25_434),
}


def raw_row(data, k: int) -> tuple[str, str, int]:
    """Raw user id, raw item id and order of table row ``k``."""
    return (
        str(data.side["user_ids"][data.column("user")[k]]),
        str(data.side["item_ids"][data.column("item")[k]]),
        int(data.column("order")[k]),
    )


def raw_edges(data) -> set[tuple[str, str]]:
    edges = data.side["social_edges"]
    ids = data.side["user_ids"]
    return set(zip(ids[edges[:, 0]].tolist(), ids[edges[:, 1]].tolist()))


def expected_edges(pairs: pd.DataFrame, users: set[str]) -> set[tuple[str, str]]:
    a, b = pairs.iloc[:, 0].astype(str), pairs.iloc[:, 1].astype(str)
    keep = a.isin(users) & b.isin(users)
    return set(zip(a[keep], b[keep]))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_schema_split_and_metadata(real_data: Path, name: str) -> None:
    spec, data = h.check_dataset(name, S, COUNTS[name])
    assert (data.timestamped, data.ordered) == FLAGS[name]
    assert data.table.column_names == ["user", "item", "order"] + (["rating"] if name != "yelp" else [])
    if name != "yelp":
        assert data.column("rating").dtype == np.float32
    if name in EDGES:
        edges = data.side["social_edges"]
        assert edges.dtype == np.int64 and edges.shape == (EDGES[name][0], 2)
        assert edges.min() >= 0 and edges.max() < data.n_users
        assert f"{EDGES[name][0]:,} of {EDGES[name][1]:,}" in spec.description
    else:
        assert "social_edges" not in data.side
    if "item_attr_indptr" in data.side:
        indptr = data.side["item_attr_indptr"]
        assert indptr.shape == (data.n_items + 1,) and indptr[0] == 0 and (np.diff(indptr) >= 0).all()
        assert indptr[-1] == len(data.side["item_attr_ids"])
    # the default split: leave-one-out for ordered data, random-holdout otherwise
    split = h.default_split(data)
    assert len(split.test) > 0
    assert set(split.test.targets.lengths().tolist()) == {1}


def test_ciao(real_data: Path) -> None:
    data = h.load("ciao")
    # first line: 6119 92579 24 5 4 959670000 -> table row 0
    with open_text(real_data / S / "ciao-tang2012/rating_with_timestamp.tsv.gz") as f:
        ratings = pd.read_csv(f, sep="\t", dtype=str)
    assert ratings.iloc[0].tolist() == ["6119", "92579", "24", "5", "4", "959670000"]
    assert raw_row(data, 0) == ("6119", "92579", 959_670_000)
    assert data.column("rating")[0] == 5.0
    last = ratings.iloc[-1]
    assert raw_row(data, len(ratings) - 1) == (last["userid"], last["productid"], int(last["timestamp"]))
    order = data.column("order")
    as_date = [datetime.fromtimestamp(int(t), UTC).date().isoformat() for t in (order.min(), order.max())]
    assert as_date == ["2000-05-30", "2011-04-12"]
    # duplicates kept: 1,436 repeated (user, product) rows
    pairs = pd.DataFrame({"u": data.column("user"), "i": data.column("item")})
    assert pairs.duplicated().sum() == 1436
    assert sorted(np.unique(data.column("rating")).tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # categories: one per product, 101 products carry 2 (97) or 3 (4)
    assert h.attrs(data, "92579") == [24]
    assert h.attrs(data, "636") == [6, 8]
    assert np.bincount(np.diff(data.side["item_attr_indptr"])).tolist() == [0, 105_013, 97, 4]
    assert data.side["item_attr_ids"].min() == 1 and data.side["item_attr_ids"].max() == 28
    # trust: directed, all 57,544 kept
    with open_text(real_data / S / "ciao-tang2012/trust.tsv.gz") as f:
        trust = pd.read_csv(f, sep="\t", dtype=str)
    assert trust.iloc[0].tolist() == ["1", "2"]
    assert raw_edges(data) == expected_edges(trust, set(data.side["user_ids"].tolist()))
    assert tuple(data.side["user_ids"][data.side["social_edges"][0]]) == ("1", "2")


def test_ciao_reads_the_original_mat_files(real_data: Path, tmp_path: Path) -> None:
    """The original download is MATLAB (.mat); it must parse like the TSV conversion."""
    from scipy.io import savemat

    folder = real_data / S / "ciao-tang2012"
    with open_text(folder / "rating_with_timestamp.tsv.gz") as f:
        head = [next(f) for _ in range(301)]  # header + 300 rows
    with open_text(folder / "trust.tsv.gz") as f:
        trust_head = [next(f) for _ in range(101)]
    (tmp_path / "tsv").mkdir()
    (tmp_path / "mat").mkdir()
    tsv = {
        "rating_with_timestamp.tsv.gz": tmp_path / "tsv/rating_with_timestamp.tsv.gz",
        "trust.tsv.gz": tmp_path / "tsv/trust.tsv.gz",
    }
    with gzip.open(tsv["rating_with_timestamp.tsv.gz"], "wt") as f:
        f.writelines(head)
    with gzip.open(tsv["trust.tsv.gz"], "wt") as f:
        f.writelines(trust_head)
    # the declared name is the key; the path's suffix says the original .mat was fetched
    mat = {
        "rating_with_timestamp.tsv.gz": tmp_path / "mat/rating_with_timestamp.mat",
        "trust.tsv.gz": tmp_path / "mat/trust.mat",
    }
    rating = np.array([line.split() for line in head[1:]], dtype=np.int32)
    trust = np.array([line.split() for line in trust_head[1:]], dtype=np.int32)
    assert rating.shape == (300, 6) and trust.shape == (100, 2)
    savemat(mat["rating_with_timestamp.tsv.gz"], {"rating": rating})
    savemat(mat["trust.tsv.gz"], {"trust": trust})

    cols_tsv, side_tsv = parse_ciao(tsv)
    cols_mat, side_mat = parse_ciao(mat)
    assert sorted(cols_mat) == sorted(cols_tsv) == ["item", "order", "rating", "user"]
    for key in cols_tsv:
        np.testing.assert_array_equal(cols_mat[key], cols_tsv[key])
        assert cols_mat[key].dtype == cols_tsv[key].dtype
    assert sorted(side_mat) == sorted(side_tsv)
    for key in side_tsv:
        np.testing.assert_array_equal(side_mat[key], side_tsv[key])
    assert len(cols_mat["user"]) == 300
    assert side_mat["user_ids"][cols_mat["user"][0]] == "6119"
    assert side_mat["item_ids"][cols_mat["item"][0]] == "92579" and cols_mat["order"][0] == 959_670_000

    # MATLAB stores doubles by default: integral doubles are accepted, fractions are not
    savemat(mat["rating_with_timestamp.tsv.gz"], {"rating": rating.astype(np.float64)})
    np.testing.assert_array_equal(parse_ciao(mat)[0]["order"], cols_tsv["order"])
    savemat(mat["rating_with_timestamp.tsv.gz"], {"rating": rating + 0.5})
    with pytest.raises(DataError, match="non-integer"):
        parse_ciao(mat)
    savemat(mat["rating_with_timestamp.tsv.gz"], {"ratings": rating})
    with pytest.raises(DataError, match="no variable 'rating'"):
        parse_ciao(mat)


def test_ciaodvd(real_data: Path) -> None:
    data = h.load("ciaodvd")
    names = ["user", "movie", "genre", "review", "rating", "date"]
    with open_text(real_data / S / "ciaodvd-guo2014/movie-ratings.txt.gz") as f:
        ratings = pd.read_csv(f, header=None, names=names, dtype=str)
    assert ratings.iloc[0].tolist() == ["1", "1", "1", "1", "5", "2000-07-12"]
    midnight = int(datetime(2000, 7, 12, tzinfo=UTC).timestamp())
    assert raw_row(data, 0) == ("1", "1", midnight)
    assert data.column("rating")[0] == 5.0
    order = data.column("order")
    assert (order % 86_400 == 0).all()  # dates: midnight UTC
    as_date = [datetime.fromtimestamp(int(t), UTC).date().isoformat() for t in (order.min(), order.max())]
    assert as_date == ["2000-05-31", "2013-11-28"]
    pairs = pd.DataFrame({"u": data.column("user"), "i": data.column("item")})
    assert pairs.duplicated().sum() == 320
    # one genre per DVD, ids 1-17
    assert (np.diff(data.side["item_attr_indptr"]) == 1).all()
    genre = dict(zip(ratings["movie"], ratings["genre"].astype(int)))
    for movie in ("1", ratings["movie"].iloc[-1]):
        assert h.attrs(data, movie) == [genre[movie]]
    assert set(data.side["item_attr_ids"].tolist()) == set(range(1, 18))
    # trust: only edges between users with ratings are kept
    with open_text(real_data / S / "ciaodvd-guo2014/trusts.txt.gz") as f:
        trust = pd.read_csv(f, header=None, dtype=str)
    assert len(trust) == 40_133
    assert raw_edges(data) == expected_edges(trust, set(ratings["user"]))
    split = make_split(data, "temporal")  # timestamped: the temporal protocol works too
    assert len(split.test) > 0


def test_filmtrust(real_data: Path) -> None:
    data = h.load("filmtrust")
    with open_text(real_data / S / "filmtrust-guo2013/ratings.txt.gz") as f:
        ratings = pd.read_csv(f, sep=" ", header=None, dtype=str)
    assert ratings.iloc[0].tolist() == ["1", "1", "2"]
    assert raw_row(data, 0) == ("1", "1", 0)
    assert not data.column("order").any()
    assert data.column("rating")[2] == 3.5  # "1 3 3.5"
    assert sorted(np.unique(data.column("rating")).tolist()) == [x / 2 for x in range(1, 9)]
    pairs = pd.DataFrame({"u": data.column("user"), "i": data.column("item")})
    assert pairs.duplicated().sum() == 3
    trust = pd.read_csv(real_data / S / "filmtrust-guo2013/trust.txt", sep=" ", header=None, dtype=str)
    assert len(trust) == 1853
    assert raw_edges(data) == expected_edges(trust, set(ratings[0]))


def test_lastfm_hetrec(real_data: Path) -> None:
    data = h.load("lastfm-hetrec")
    folder = real_data / S / "lastfm-hetrec2011"
    with open_text(folder / "user_artists.dat.gz") as f:
        assert f.readline().split() == ["userID", "artistID", "weight"]
        assert f.readline().split() == ["2", "51", "13883"]
    assert raw_row(data, 0) == ("2", "51", 0)
    assert data.column("rating")[0] == 13_883.0
    assert data.column("rating").max() == 352_698.0
    assert not data.column("order").any()
    # artist names (UTF-8), aligned to the canonical items
    text = data.side["item_text"]
    assert text[h.index_of(data.side["item_ids"], "1")] == "MALICE MIZER"
    assert text[h.index_of(data.side["item_ids"], "707")] == "Metallica"
    assert text[h.index_of(data.side["item_ids"], "18")] == "The Crüxshadows"
    assert text[h.index_of(data.side["item_ids"], "158")] == "עברי לידר"
    assert (text != "").all()
    # tags: the distinct tag ids users gave the artist (user_taggedartists: "2 52 13 1 4 2009")
    with open_text(folder / "user_taggedartists.dat.gz") as f:
        tagged = pd.read_csv(f, sep="\t")
    for artist in (52, 707):
        assert h.attrs(data, str(artist)) == sorted(set(tagged.loc[tagged["artistID"] == artist, "tagID"]))
    assert 13 in h.attrs(data, "52") and 15 in h.attrs(data, "52")
    with open_text(folder / "tags.dat", encoding="latin-1") as f:
        tags = pd.read_csv(f, sep="\t", quoting=3)
    assert set(data.side["item_attr_ids"].tolist()) <= set(tags["tagID"])
    # friends: both directions listed, all kept
    friends = pd.read_csv(folder / "user_friends.dat", sep="\t", dtype=str)
    assert friends.iloc[0].tolist() == ["2", "275"]
    edges = raw_edges(data)
    assert edges == expected_edges(friends, set(data.side["user_ids"].tolist()))
    assert all((b, a) in edges for a, b in edges)


def test_yelp(real_data: Path) -> None:
    data = h.load("yelp")
    with open_text(real_data / S / "yelp-s3rec/Yelp.txt.gz") as f:
        lines = f.read().splitlines()
    h.check_user_lines(data, (lines[0], lines[1], lines[-1]))
    assert lines[1].split() == ["2", "57", "58", "59", "60", "61"]
    pairs = pd.DataFrame({"u": data.column("user"), "i": data.column("item")})
    assert pairs.duplicated().sum() == 11_830  # repeat visits kept as published
    h.check_distinct_attributes(data, real_data / S / "yelp-s3rec/Yelp_item2attributes.json.gz", ("11394", "2769", "1"))
    assert h.attrs(data, "11394") == [1, 2, 3]
    assert len(data.side["item_attr_ids"]) == 97_019  # 97,020 listed, one repeated within an item
    split = h.check_last_item_held_out(data, lines)
    assert len(split.test) == 30_431
