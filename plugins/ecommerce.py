"""Real e-commerce datasets (files from ``shared/datasets/ecommerce``; see its SOURCES.md).

Nine Amazon review categories in the sequence formats of the papers that published them (Games,
with titles, in :mod:`flm_bench_plugins.amazon_games`), and a DIGINETICA session sample. Each
category is its own catalogue: item ids are remapped per category upstream, so nothing links an
item of one dataset to an item of another (raw reviewerIDs and ASINs are kept as ``user_ids`` /
``item_ids`` where the files give them, Scientific and Instruments, which declare those id spaces).

None of the Amazon files has timestamps; every per-user list is stored oldest to newest, so
``order`` is the position in the user's sequence (``timestamped=False, ordered=True``).
DIGINETICA has real times: ``order`` is milliseconds since the epoch (``eventdate`` at
midnight UTC plus the ``timeframe`` offset in ms).

Parsers read only inside ``load()``; this module imports numpy and the flm-bench helpers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flm_bench.api import DataError, DatasetSpec, hookimpl
from flm_bench_plugins.amazon_games import VIDEO_GAMES_FAMILY, amazon_games
from flm_bench_plugins.realdata import (
    S3REC_COMMIT,
    Columns,
    SideData,
    canonical,
    explode,
    read_json,
    read_table,
    real_dataset,
    s3rec_parser,
)

if TYPE_CHECKING:
    import pandas as pd

DOMAIN = "ecommerce"
S3REC = "ecommerce/amazon2014-s3rec"
MFCGODE = "ecommerce/amazon2014-5core-mfcgode"
MFCGODE_COMMIT = "f338be075bf241e965b1a11f3163690fb11c4ed5"
VIDEO = "ecommerce/amazon2014-videogames-sasrec"
SCIENTIFIC = "ecommerce/amazon2018-scientific-unisrec"
INSTRUMENTS = "ecommerce/amazon2018-instruments-lcrec"
DIGINETICA = "ecommerce/diginetica-sample-srgnn"
# Amazon's reviewerID and ASIN name one reviewer / product in every Amazon review dump
AMAZON_REVIEWERS, AMAZON_ITEMS = "amazon-reviewer", "amazon-asin"

MCAULEY_2014 = (
    "J. McAuley, C. Targett, Q. Shi, A. van den Hengel. Image-based Recommendations on "
    "Styles and Substitutes. SIGIR 2015; R. He, J. McAuley. Ups and Downs: Modeling the "
    "Visual Evolution of Fashion Trends with One-Class Collaborative Filtering. WWW 2016"
)
NI_2018 = (
    "J. Ni, J. Li, J. McAuley. Justifying Recommendations using Distantly-Labeled Reviews and "
    "Fine-Grained Aspects. EMNLP-IJCNLP 2019"
)
AMAZON_2014_DATA = "Amazon product reviews 2014 (McAuley et al., UCSD)"
AMAZON_2018_DATA = "Amazon Review Data 2018 (Ni, Li, McAuley)"
AMAZON_TERMS = "research use only: {data}, upstream terms not restated in {repo}{code}"
#: RecBole keeps at most this many history items per row (MAX_ITEM_LIST_LENGTH).
RECBOLE_MAX_HISTORY = 50


# --------------------------------------------------------------------------- readers


def _vocab(path: Path, what: str) -> dict[str, str]:
    """``raw_id<TAB>int`` lines (item2id / user2index files) as {int token: raw id}."""
    frame = read_table(path, "\t", ["raw", "token"])
    mapping = dict(zip(frame["token"].to_numpy().tolist(), frame["raw"].to_numpy().tolist()))
    if len(mapping) != len(frame) or frame["raw"].nunique() != len(frame):
        raise DataError(f"{path.name}: the {what} map is not one-to-one")
    return mapping


def _mapped(tokens: np.ndarray, mapping: Mapping[str, str], what: str) -> np.ndarray:
    import pandas as pd

    out = pd.Series(tokens).map(mapping)
    if out.isna().any():
        raise DataError(
            f"{int(out.isna().sum())} {what} tokens missing from the {what} map, "
            f"e.g. {tokens[out.isna().to_numpy()][:3].tolist()}"
        )
    return out.to_numpy().astype(str)


# --------------------------------------------------------------------------- parsers


def _parse_video(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``user item`` per line, grouped by user, oldest first: order = rank within the user."""
    frame = read_table(files["Video.txt.gz"], " ", ["user", "item"])
    position = frame.groupby("user", sort=False).cumcount().to_numpy()
    return canonical(frame["user"].to_numpy().astype(str), frame["item"].to_numpy().astype(str), position)


def _parse_instruments(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``{"user": [item, ...]}`` oldest first; ids mapped back to reviewerID / ASIN."""
    user, item, position = explode(read_json(files["Instruments.inter.json.gz"]))
    item = np.array([str(i) for i in item], dtype=str)
    users = _mapped(user, _vocab(files["Instruments.user2id.gz"], "user"), "user")
    items = _mapped(item, _vocab(files["Instruments.item2id"], "item"), "item")
    return canonical(users, items, position)


def _scientific_sequences(parts: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per interaction (user, item, fold, the published history), in sequence order per
    user, and each row's position in its user's sequence."""
    import pandas as pd

    train = parts["train"]
    file_row = np.arange(len(train))
    train_user = train["user"].to_numpy().astype(str)
    perm = np.lexsort((-file_row, train_user))  # per user, oldest train row first
    train = train.iloc[perm].reset_index(drop=True)
    rank = train.groupby("user", sort=False).cumcount().to_numpy()
    firsts = train[rank == 0]
    first_hist = firsts["hist"].str.split(" ")
    if (first_hist.str.len() != 1).any():
        raise DataError("Scientific.train.inter: a user's shortest train history is not one item")
    pieces = [
        pd.DataFrame({"user": firsts["user"], "item": first_hist.str[0], "key": 0, "fold": 0, "hist": ""}),
        pd.DataFrame(
            {"user": train["user"], "item": train["target"], "key": rank + 1, "fold": 0, "hist": train["hist"]}
        ),
    ]
    for fold, split in ((1, "valid"), (2, "test")):
        frame = parts[split]
        pieces.append(
            pd.DataFrame(
                {
                    "user": frame["user"],
                    "item": frame["target"],
                    "key": (1 << 30) + fold,
                    "fold": fold,
                    "hist": frame["hist"],
                }
            )
        )
    seq = pd.concat(pieces, ignore_index=True)
    seq = seq.sort_values(["user", "key"], kind="stable").reset_index(drop=True)
    position = seq.groupby("user", sort=False).cumcount().to_numpy()
    if seq.duplicated(["user", "key"]).any() or (seq.groupby("user", sort=False)["fold"].max() != 2).any():
        raise DataError("Scientific .inter files: a user lacks a valid/test row or has two")
    _check_chain(seq, position)
    return seq, position


def _check_chain(seq: pd.DataFrame, position: np.ndarray) -> None:
    """Each history is the last min(position, 50) items before its target, ending with the previous item."""
    import pandas as pd

    has_hist = position > 0
    hist = seq["hist"].to_numpy()[has_hist]
    last = pd.Series(hist).str.rsplit(" ", n=1).str[-1].to_numpy()
    previous = seq["item"].to_numpy()[np.flatnonzero(has_hist) - 1]
    hist_len = pd.Series(hist).str.count(" ").to_numpy() + 1
    if (last != previous).any() or (hist_len != np.minimum(position[has_hist], RECBOLE_MAX_HISTORY)).any():
        raise DataError("Scientific .inter files: histories do not chain into one sequence per user")


def _parse_scientific(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """Rebuild each user's full sequence from the RecBole leave-one-out files.

    Every row of ``.train/.valid/.test.inter`` is (user, history, target): ``.train`` holds one
    row per prefix (target = item 2 .. n-2, newest row first within a user), ``.valid`` the
    target n-1 and ``.test`` the target n. Histories are cut to their last 50 items, so the
    full sequence is the first item (the history of the user's shortest train row) followed
    by every target in order; the test histories alone would lose the start of users with
    more than 51 interactions. ``fold``: 0 for the first item and train targets, 1 for the
    valid target, 2 for the test target. The chain is checked: each row's history ends with
    the item before its target and has min(position, 50) items.
    """

    header = ["user_id:token", "item_id_list:token_seq", "item_id:token"]
    parts = {
        s: read_table(files[f"Scientific.{s}.inter.gz"], "\t", ["user", "hist", "target"], header=header)
        for s in ("train", "valid", "test")
    }
    seq, position = _scientific_sequences(parts)
    users = _mapped(seq["user"].to_numpy().astype(str), _vocab(files["Scientific.user2index"], "user"), "user")
    items = _mapped(seq["item"].to_numpy().astype(str), _vocab(files["Scientific.item2index"], "item"), "item")
    columns, side = canonical(users, items, position, fold=seq["fold"].to_numpy())
    text = read_table(files["Scientific.text.gz"], "\t", ["item", "text"], header=["item_id:token", "text:token_seq"])
    by_asin = dict(zip(text["item"].to_numpy().tolist(), text["text"].str.strip().to_numpy().tolist()))
    side["item_text"] = np.array([by_asin.get(a, "") for a in side["item_ids"].tolist()], dtype=str)
    return columns, side


def _parse_diginetica(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """Sessions are the users; order = eventdate (UTC midnight, ms) + timeframe (ms)."""
    names = ["session_id", "user_id", "item_id", "timeframe", "eventdate"]
    frame = read_table(files["sample_train-item-views.csv.gz"], ";", names, header=names)
    day = np.asarray(frame["eventdate"].to_numpy().astype(str), dtype="datetime64[D]").astype(np.int64)
    order = day * 86_400_000 + frame["timeframe"].to_numpy().astype(np.int64)
    return canonical(frame["session_id"].to_numpy().astype(str), frame["item_id"].to_numpy().astype(str), order)


# --------------------------------------------------------------------------- registration


def _amazon2014_lines(
    name: str, category: str, users: str, items: str, inters: str, max_seq: int, *, s3rec: bool
) -> DatasetSpec:
    """An Amazon 2014 category in S3-Rec lines: S3-Rec's own files (``s3rec``: with the
    ``item2attributes`` map) or MFC-GODE's copy (the lines only)."""
    sequences = f"{category}.txt.gz"
    attributes = f"{category}_item2attributes.json.gz" if s3rec else None
    counts = (
        f"{users} users, {items} items, {inters} interactions (sequence lengths 5..{max_seq}); no "
        "timestamps, order = position in the user's"
    )
    if s3rec:
        folder, repo = S3REC, "RUCAIBox/CIKM2020-S3Rec"
        description = (
            f"Amazon 2014 {category} 5-core (S3-Rec preprocessing): {counts} oldest-first line; "
            "item category+brand attribute ids as CSR; own item catalogue"
        )
        terms = AMAZON_TERMS.format(data=AMAZON_2014_DATA, repo=repo, code=" (no LICENSE file there)")
        citation = (
            "K. Zhou et al. S3-Rec: Self-Supervised Learning for Sequential Recommendation with "
            "Mutual Information Maximization. CIKM 2020; data: " + MCAULEY_2014
        )
        source = (
            f"github:{repo}@{S3REC_COMMIT} data/{category}.txt and data/{category}_item2attributes.json "
            "(5-core, reviews sorted by time, ids remapped 1-based per category)"
        )
    else:
        folder, repo = MFCGODE, "XiQier/MFC-GODE"
        description = (
            f"Amazon 2014 {category} 5-core (S3-Rec-style lines): {counts} line, PRESUMED "
            "chronological (unverified: the lines are not sorted by item id and ContrastVAE/GraphDA "
            "use them as next-item sequences); own item catalogue"
        )
        terms = AMAZON_TERMS.format(data=AMAZON_2014_DATA, repo=repo, code=" (its MIT LICENSE covers the code only)")
        citation = (
            "data: " + MCAULEY_2014 + "; used as sequences by Y. Wang et al. ContrastVAE: Contrastive "
            "Variational AutoEncoder for Sequential Recommendation. CIKM 2022"
        )
        source = (
            f"github:{repo}@{MFCGODE_COMMIT} data/{category}.txt (byte-identical to zfan20/GraphDA data/; "
            "Amazon 2014 5-core, ids 1-based per category)"
        )
    files = tuple(f"{folder}/{f}" for f in (sequences, attributes) if f)
    about = {"description": description, "license": terms, "citation": citation, "source": source}
    return real_dataset(
        name, DOMAIN, files, s3rec_parser(sequences, attributes), timestamped=False, ordered=True, **about
    )


def _amazon_videogames() -> DatasetSpec:
    return real_dataset(
        "amazon-videogames",
        DOMAIN,
        (f"{VIDEO}/Video.txt.gz",),
        _parse_video,
        timestamped=False,
        ordered=True,
        family=VIDEO_GAMES_FAMILY,
        description=(
            "Amazon 2014 Video Games (SASRec preprocessing): 31,013 users, 23,715 items, 287,107 "
            "interactions; 'user item' rows grouped by user, oldest first; no timestamps, order = "
            "rank within the user; own item catalogue"
        ),
        license=AMAZON_TERMS.format(
            data=AMAZON_2014_DATA, repo="kang205/SASRec", code=" (its Apache-2.0 LICENSE covers the code)"
        ),
        citation="W.-C. Kang, J. McAuley. Self-Attentive Sequential Recommendation. ICDM 2018; data: " + MCAULEY_2014,
        source=(
            "github:kang205/SASRec@e3738967fddab206d6eeb4fda433e7a7034dd8b1 data/Video.txt (reviews as "
            "implicit feedback, users and items with < 5 interactions removed, sorted by review time)"
        ),
    )


def _amazon_scientific() -> DatasetSpec:
    return real_dataset(
        "amazon-scientific",
        DOMAIN,
        tuple(
            f"{SCIENTIFIC}/Scientific.{s}"
            for s in ("train.inter.gz", "valid.inter.gz", "test.inter.gz", "text.gz", "item2index", "user2index")
        ),
        _parse_scientific,
        timestamped=False,
        ordered=True,
        user_id_space=AMAZON_REVIEWERS,
        item_id_space=AMAZON_ITEMS,
        description=(
            "Amazon 2018 Industrial_and_Scientific (UniSRec preprocessing): 8,442 users, 4,385 items, "
            "59,427 interactions, each user's full sequence rebuilt from the RecBole "
            ".train/.valid/.test.inter rows (their histories are cut to 50 items, which hides 43 early "
            "interactions of the 3 users with 56/60/80 from the .test histories: SOURCES.md's 59,384 "
            "counts only those); the published leave-one-out split is the fold column (split "
            "'predefined'); no timestamps, order = position; item_text = title + categories + brand"
        ),
        license=AMAZON_TERMS.format(data=AMAZON_2018_DATA, repo="ysh-1998/CoWPiRec", code=" (no LICENSE file there)"),
        citation=(
            "Y. Hou, S. Mu, W. X. Zhao, Y. Li, B. Ding, J.-R. Wen. Towards Universal Sequence "
            "Representation Learning for Recommender Systems. KDD 2022; data: " + NI_2018
        ),
        source=(
            "github:ysh-1998/CoWPiRec@db47560c2364650d22afc77080717287daec5079 dataset/Scientific/ "
            "(UniSRec downstream preprocessing of Amazon 2018: 5-core, chronological, RecBole atomic "
            "files with leave-one-out split, max history 50)"
        ),
    )


def _amazon_instruments() -> DatasetSpec:
    return real_dataset(
        "amazon-instruments",
        DOMAIN,
        tuple(f"{INSTRUMENTS}/Instruments.{s}" for s in ("inter.json.gz", "item2id", "user2id.gz")),
        _parse_instruments,
        timestamped=False,
        ordered=True,
        user_id_space=AMAZON_REVIEWERS,
        item_id_space=AMAZON_ITEMS,
        description=(
            "Amazon 2018 Musical_Instruments (LC-Rec preprocessing): 17,112 users, 6,250 items, "
            "136,226 interactions; {user: [items]} oldest first, ids mapped back to reviewerID / "
            "ASIN; no timestamps, order = position; item titles not available (file > 4 MiB)"
        ),
        license=AMAZON_TERMS.format(
            data=AMAZON_2018_DATA, repo="zhaodong-liu/MQL4GRec", code=" (no LICENSE file there)"
        ),
        citation=(
            "B. Zheng et al. Adapting Large Language Models by Integrating Collaborative Semantics for "
            "Recommendation (LC-Rec). ICDE 2024; data: " + NI_2018
        ),
        source=(
            "github:zhaodong-liu/MQL4GRec@dcd9456994d3c2f96e87a57a7eafc9db69bdd9f5 data/Instruments/ "
            "(LC-Rec-style 5-core preprocessing of Amazon 2018 Musical_Instruments)"
        ),
    )


def _diginetica_sample() -> DatasetSpec:
    return real_dataset(
        "diginetica-sample",
        DOMAIN,
        (f"{DIGINETICA}/sample_train-item-views.csv.gz",),
        _parse_diginetica,
        timestamped=True,
        ordered=True,
        description=(
            "DIGINETICA (CIKM Cup 2016) item views, the sample shipped with SR-GNN: 2,986 sessions "
            "(the users here), 7,139 items, 12,391 views, 2016-01-03..2016-06-01; ';'-separated with "
            "header; order = eventdate (Y-m-d, UTC midnight) in ms + timeframe (ms), the file rows "
            "are not in time order; repeated views kept; the sparse user_id (1,270 ids) is not used"
        ),
        license="research use only: DIGINETICA CIKM Cup 2016 data; no LICENSE in CRIPAC-DIG/SR-GNN, terms not restated",
        citation=(
            "S. Wu, Y. Tang, Y. Zhu, L. Wang, X. Xie, T. Tan. Session-based Recommendation with Graph "
            "Neural Networks. AAAI 2019; data: CIKM Cup 2016 Track 2 (DIGINETICA)"
        ),
        source=(
            "github:CRIPAC-DIG/SR-GNN@e21cfa431f74c25ae6e4ae9261deefe11d1cb488 "
            "datasets/sample_train-item-views.csv (raw sample, before SR-GNN's session filtering)"
        ),
    )


@hookimpl
def flm_bench_register_datasets(register):
    for name, category, users, items, inters, max_seq, s3rec in (
        ("amazon-beauty", "Beauty", "22,363", "12,101", "198,502", 204, True),
        ("amazon-sports", "Sports_and_Outdoors", "35,598", "18,357", "296,337", 296, True),
        ("amazon-toys", "Toys_and_Games", "19,412", "11,924", "167,597", 550, True),
        ("amazon-office", "Office_Products", "4,905", "2,420", "53,258", 94, False),
        ("amazon-tools", "Tools_and_Home_Improvement", "16,638", "10,217", "134,476", 142, False),
    ):
        register(_amazon2014_lines(name, category, users, items, inters, max_seq, s3rec=s3rec))
    for make in (_amazon_videogames, _amazon_scientific, _amazon_instruments, amazon_games, _diginetica_sample):
        register(make())
