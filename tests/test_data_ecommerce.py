"""The real e-commerce datasets of ``plugins/ecommerce.py``, read from ``../shared/datasets``.

Each dataset is parsed once per session (the table cache is session-wide, and loaded data are
kept in a module-level store); spot checks read single raw lines from the shared files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import datasets_helpers
import numpy as np
import pytest
from datasets_helpers import check_dataset, default_split

from flm_bench.data.sources import open_text
from flm_bench.data.splits import make_split
from flm_bench.data.table import InteractionData

EC = "ecommerce"
S3REC = f"{EC}/amazon2014-s3rec"
MFCGODE = f"{EC}/amazon2014-5core-mfcgode"
SCI = f"{EC}/amazon2018-scientific-unisrec"
INS = f"{EC}/amazon2018-instruments-lcrec"
GAMES = f"{EC}/amazon2018-games-llmrank"

#: name: (users, items, interactions, timestamped, ordered), as in SOURCES.md; see amazon-scientific.
EXPECTED = {
    "amazon-beauty": (22_363, 12_101, 198_502, False, True),
    "amazon-sports": (35_598, 18_357, 296_337, False, True),
    "amazon-toys": (19_412, 11_924, 167_597, False, True),
    "amazon-videogames": (31_013, 23_715, 287_107, False, True),
    "amazon-office": (4_905, 2_420, 53_258, False, True),
    "amazon-tools": (16_638, 10_217, 134_476, False, True),
    # SOURCES.md says 59,384 = the rows of the .test histories + targets, but RecBole cut those
    # histories to 50 items: the .train rows hold 43 earlier interactions of 3 users with
    # 56/60/80 interactions, so the full sequences have 59,427.
    "amazon-scientific": (8_442, 4_385, 59_427, False, True),
    "amazon-instruments": (17_112, 6_250, 136_226, False, True),
    "amazon-games": (50_546, 16_859, 440_264, False, True),
    "diginetica-sample": (2_986, 7_139, 12_391, True, True),
}
#: datasets in the S3-Rec line format: name -> (file, attribute file or None)
LINES = {
    "amazon-beauty": (f"{S3REC}/Beauty.txt.gz", f"{S3REC}/Beauty_item2attributes.json.gz"),
    "amazon-sports": (f"{S3REC}/Sports_and_Outdoors.txt.gz", f"{S3REC}/Sports_and_Outdoors_item2attributes.json.gz"),
    "amazon-toys": (f"{S3REC}/Toys_and_Games.txt.gz", f"{S3REC}/Toys_and_Games_item2attributes.json.gz"),
    "amazon-office": (f"{MFCGODE}/Office_Products.txt.gz", None),
    "amazon-tools": (f"{MFCGODE}/Tools_and_Home_Improvement.txt.gz", None),
}


@pytest.fixture
def load(real_data: Path) -> Callable[[str], InteractionData]:
    """Load a dataset through its registered spec, once per session."""
    return datasets_helpers.load


def _sequence(data: InteractionData, raw_user: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The raw item ids of a user's interactions in order, their order values and table rows."""
    user = int(np.flatnonzero(data.side["user_ids"] == raw_user)[0])
    rows = np.flatnonzero(np.asarray(data.column("user")) == user)
    order = np.asarray(data.column("order"))[rows]
    rows = rows[np.argsort(order, kind="stable")]
    items = np.asarray(data.column("item"))[rows]
    return data.side["item_ids"][items].tolist(), np.asarray(data.column("order"))[rows], rows


def _first_line(path: Path) -> str:
    with open_text(path) as f:
        return f.readline().strip()


def _target(path: Path, raw_user: str) -> tuple[list[str], str]:
    """(history, target) of a user's row in a RecBole .inter file."""
    with open_text(path) as f:
        for line in f:
            user, hist, target = line.rstrip("\n").split("\t")
            if user == raw_user:
                return hist.split(" "), target
    raise AssertionError(f"user {raw_user} not in {path}")


def _map(path: Path) -> dict[str, str]:
    """``raw<TAB>int`` -> {int: raw}."""
    with open_text(path) as f:
        return {tok: raw for raw, tok in (line.rstrip("\n").split("\t") for line in f)}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_counts_schema_and_default_split(name: str, real_data: Path) -> None:
    users, items, inters, timestamped, ordered = EXPECTED[name]
    _, data = check_dataset(name, EC, (users, items, inters))
    assert (data.timestamped, data.ordered) == (timestamped, ordered)
    extra = ["fold"] if name == "amazon-scientific" else []
    assert data.table.column_names == ["user", "item", "order", *extra]
    split = default_split(data)  # all ordered: leave-one-out
    assert len(split.test) > 0 and len(split.valid) > 0


@pytest.mark.parametrize("name", list(LINES))
def test_first_line_is_the_users_sequence_in_order(name: str, load, real_data: Path) -> None:
    data = load(name)
    path, attributes = LINES[name]
    user, *items = _first_line(real_data / path).split()
    got, order, _ = _sequence(data, user)
    assert got == items
    assert order.tolist() == list(range(len(items)))
    if attributes:
        with open_text(real_data / attributes) as f:
            raw = json.load(f)
        indptr, ids = data.side["item_attr_indptr"], data.side["item_attr_ids"]
        assert indptr[0] == 0 and indptr[-1] == len(ids) == sum(map(len, raw.values()))
        for item in (items[0], items[-1]):
            i = int(np.flatnonzero(data.side["item_ids"] == item)[0])
            assert ids[indptr[i] : indptr[i + 1]].tolist() == raw[item]


def test_beauty_first_line(load, real_data: Path) -> None:
    data = load("amazon-beauty")
    assert _first_line(real_data / LINES["amazon-beauty"][0]) == "1 1 2 3 4 5"
    assert _sequence(data, "1")[0] == ["1", "2", "3", "4", "5"]
    i = int(np.flatnonzero(data.side["item_ids"] == "4")[0])  # {"4": [1, 2, 3], ...}
    indptr = data.side["item_attr_indptr"]
    assert data.side["item_attr_ids"][indptr[i] : indptr[i + 1]].tolist() == [1, 2, 3]


def test_videogames_rows_in_file_order(load, real_data: Path) -> None:
    data = load("amazon-videogames")
    with open_text(real_data / f"{EC}/amazon2014-videogames-sasrec/Video.txt.gz") as f:
        rows = [next(f).split() for _ in range(3)]
    assert [r[0] for r in rows] == ["1"] * 3
    items, order, _ = _sequence(data, "1")
    assert items[:3] == [r[1] for r in rows] and order[:3].tolist() == [0, 1, 2]


def test_scientific_full_sequences_and_published_split(load, real_data: Path) -> None:
    data = load("amazon-scientific")
    users, asins = _map(real_data / f"{SCI}/Scientific.user2index"), _map(real_data / f"{SCI}/Scientific.item2index")
    fold = np.asarray(data.column("fold"))
    assert fold.dtype == np.int8 and np.bincount(fold).tolist() == [59_427 - 2 * 8_442, 8_442, 8_442]
    split = make_split(data, "predefined")
    assert len(split.test) == len(split.valid) == 8_442
    assert (split.test.targets.lengths() == 1).all() and (split.valid.targets.lengths() == 1).all()
    loo = make_split(data, "leave-one-out")  # the published split is leave-one-out of the same sequences
    assert np.array_equal(loo.test.targets.items, split.test.targets.items)
    assert np.array_equal(loo.valid.targets.items, split.valid.targets.items)
    item_ids = data.side["item_ids"]
    for token in ("0", "2"):
        raw_user = users[token]
        hist, target = _target(real_data / f"{SCI}/Scientific.test.inter.gz", token)
        v_hist, v_target = _target(real_data / f"{SCI}/Scientific.valid.inter.gz", token)
        seq, _, _ = _sequence(data, raw_user)
        assert seq == [asins[t] for t in (*hist, target)]
        u = int(np.flatnonzero(data.side["user_ids"] == raw_user)[0])
        at = int(np.searchsorted(split.test.users, u))
        assert split.test.users[at] == u
        assert item_ids[split.test.targets.get(at)].tolist() == [asins[target]]
        assert item_ids[split.test.history.get(at)].tolist() == [asins[t] for t in hist]
        at = int(np.searchsorted(split.valid.users, u))
        assert item_ids[split.valid.targets.get(at)].tolist() == [asins[v_target]]
        assert item_ids[split.valid.history.get(at)].tolist() == [asins[t] for t in v_hist]
    # the longest user: .test keeps the last 50 history items, the train rows give all 79
    lengths = np.bincount(np.asarray(data.column("user")))
    longest = int(np.argmax(lengths))
    assert lengths[longest] == 80
    token = {raw: tok for tok, raw in users.items()}[data.side["user_ids"][longest]]
    hist, target = _target(real_data / f"{SCI}/Scientific.test.inter.gz", token)
    seq, order, _ = _sequence(data, data.side["user_ids"][longest])
    assert len(hist) == 50 and seq[-51:] == [asins[t] for t in (*hist, target)]
    assert order.tolist() == list(range(80))
    # item text by ASIN: title + categories + brand
    text = dict(zip(item_ids.tolist(), data.side["item_text"].tolist()))
    assert text["B0000223SI"].startswith("PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit")
    assert text["B0000223SI"].endswith("Sanding Rolls. PORTER-CABLE.")
    assert all(text.values())


def test_instruments_ids_map_back_to_asins(load, real_data: Path) -> None:
    data = load("amazon-instruments")
    users, asins = _map(real_data / f"{INS}/Instruments.user2id.gz"), _map(real_data / f"{INS}/Instruments.item2id")
    with open_text(real_data / f"{INS}/Instruments.inter.json.gz") as f:
        raw = json.load(f)
    for token in ("0", "17111"):
        seq, order, _ = _sequence(data, users[token])
        assert seq == [asins[str(i)] for i in raw[token]]
        assert order.tolist() == list(range(len(seq)))
    assert users["0"] == "A3LXYBBLOOEOMQ" and asins["0"] == "B002SQJL9U"


def test_games_lines_and_titles(load, real_data: Path) -> None:
    """Line k of the sequence file is user k's items, oldest first; every item has its title."""
    data = load("amazon-games")
    with open_text(real_data / f"{GAMES}/Games.user_seqs.txt.gz") as f:
        next(f)  # the '#' comment
        lines = [next(f).split() for _ in range(2)]
    for user, items in enumerate(lines):
        got, order, _ = _sequence(data, str(user))
        assert got == items and order.tolist() == list(range(len(items)))
    with open_text(real_data / f"{GAMES}/Games.item_title.tsv.gz") as f:
        next(f)  # header
        titles = dict(line.rstrip("\n").split("\t", 1) for line in f)
    text = dict(zip(data.side["item_ids"].tolist(), data.side["item_text"].tolist()))
    assert text == {i: t.strip() for i, t in titles.items()}
    assert all(text.values())


def test_diginetica_sessions_ordered_by_date_and_timeframe(load) -> None:
    data = load("diginetica-sample")
    seq, order, _ = _sequence(data, "1")  # the file lists session 1 out of time order
    assert seq == ["9654", "33043", "32118", "12352", "35077", "36118", "81766", "129055", "31331", "32627"]
    midnight = int(dt.datetime(2016, 5, 9, tzinfo=dt.UTC).timestamp()) * 1000
    assert order[0] == midnight + 75_848 and order[-1] == midnight + 1_112_408
    seq, order, _ = _sequence(data, "629")  # one session crosses midnight (2016-03-20 -> 21)
    assert (np.diff(order) > 0).all() and seq[0] == "32184" and seq[-1] == "1838"
    for protocol in ("leave-one-out", "temporal"):
        assert len(make_split(data, protocol).test) > 0


def test_registering_reads_nothing_and_imports_no_heavy_modules(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom flm_bench.plugins import load_plugins\n"
        "names = [e.spec.name for e in load_plugins().datasets if e.spec.domain == 'ecommerce']\n"
        "assert {'torch', 'pandas', 'datasets'}.isdisjoint(sys.modules)\n"
        "print(' '.join(names))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLM_BENCH_")}
    env["FLM_BENCH_DATA_DIR"] = str(tmp_path / "nothing")  # no files: registration must not need them
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert set(EXPECTED) <= set(out.stdout.split())
