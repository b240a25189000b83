"""Real media datasets (files from shared/datasets; see SOURCES.md).

- ``movielens-100k``: GroupLens MovieLens 100K, ratings with unix timestamps; movie titles,
  the 19 genre flags and the user profile (age, gender, occupation) as side data.
- ``lastfm-s3rec``: Last.fm artist sequences as preprocessed by S3-Rec (chronological per
  user, no timestamps); artist tags as item attributes.
- ``bookcrossing``: Book-Crossing as preprocessed by RippleNet/KGCN (CKAN copy); only the
  real interactions (label 1) are kept, the sampled negatives (label 0) are dropped; no order.

Parsers run only inside ``load()``; registering reads no file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flm_bench import hookimpl
from flm_bench.errors import DataError
from flm_bench_plugins.realdata import Columns, SideData, canonical, real_dataset

ML = "media/movielens-100k"
LASTFM = "media/lastfm-s3rec"
BX = "media/bookcrossing-ripplenet"

#: The 19 genre flags of ``u.item``, in file order; attribute id = position (as in ``u.genre``).
ML_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
             "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
             "Romance", "Sci-Fi", "Thriller", "War", "Western")
ML_GENDERS = ("F", "M")


def _align(vocab: np.ndarray, raw_ids: np.ndarray, what: str) -> np.ndarray:
    """Row of ``raw_ids`` holding each id of ``vocab`` (every id must be present)."""
    import pandas as pd

    rows = pd.Index(np.asarray(raw_ids).astype(str)).get_indexer(np.asarray(vocab).astype(str))
    if (rows < 0).any():
        missing = np.asarray(vocab)[rows < 0][:5].tolist()
        raise DataError(f"{what}: ids {missing} have interactions but no row in the side file")
    return rows


def _csr_from_flags(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, ids) of a dense boolean [n, k] matrix: row i holds the columns set in it."""
    flags = np.asarray(flags, dtype=bool)
    indptr = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int64)
    return indptr, np.nonzero(flags)[1].astype(np.int64)


def _one_hot(values: np.ndarray, vocabulary: tuple[str, ...], what: str) -> np.ndarray:
    """[n, len(vocabulary)] float32 one-hot of ``values`` (every value must be in the vocabulary)."""
    import pandas as pd

    codes = pd.Index(list(vocabulary)).get_indexer(np.asarray(values).astype(str))
    if (codes < 0).any():
        raise DataError(f"{what}: unexpected values {sorted(set(np.asarray(values)[codes < 0].tolist()))[:5]}")
    out = np.zeros((len(codes), len(vocabulary)), dtype=np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out


# ------------------------------------------------------------------------------ movielens-100k

def parse_movielens(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``u.data`` (user item rating unix-seconds, TSV) + ``u.item`` (latin-1) + ``u.user``."""
    import pandas as pd

    from flm_bench.sources import open_text

    with open_text(files["u.data.gz"]) as f:
        data = pd.read_csv(f, sep="\t", header=None, names=["user", "item", "rating", "time"],
                           dtype="int64", engine="c")
    columns, side = canonical(data["user"].to_numpy(), data["item"].to_numpy(), data["time"].to_numpy(),
                              rating=data["rating"].to_numpy(np.float32))

    # u.item: id|title|release date|video release date|IMDb URL|19 genre flags (latin-1)
    with open_text(files["u.item"], encoding="latin-1") as f:
        movies = pd.read_csv(f, sep="|", header=None, dtype=str, keep_default_na=False,
                             quoting=3, engine="c")
    if movies.shape[1] != 5 + len(ML_GENRES):
        raise DataError(f"u.item: expected {5 + len(ML_GENRES)} fields, found {movies.shape[1]}")
    rows = _align(side["item_ids"], movies[0].to_numpy(), "u.item")
    titles = movies[1].to_numpy().astype(str)[rows]
    side["item_text"] = np.where(titles == "unknown", "", titles)  # movie 267 has no title
    flags = movies.iloc[:, 5:].to_numpy().astype(np.int8)[rows] == 1
    side["item_attr_indptr"], side["item_attr_ids"] = _csr_from_flags(flags)

    # u.user: user|age|gender|occupation|zip -> [scaled age, gender one-hot, occupation one-hot]
    with open_text(files["u.user"], encoding="latin-1") as f:
        users = pd.read_csv(f, sep="|", header=None, names=["user", "age", "gender", "occupation", "zip"],
                            dtype=str, keep_default_na=False, engine="c")
    with open_text(files["u.occupation"], encoding="latin-1") as f:
        occupations = tuple(line.strip() for line in f if line.strip())
    rows = _align(side["user_ids"], users["user"].to_numpy(), "u.user")
    age = users["age"].to_numpy().astype(np.float32)
    age = (age - age.min()) / (age.max() - age.min())
    features = np.concatenate([
        age[:, None],
        _one_hot(users["gender"].to_numpy(), ML_GENDERS, "u.user gender"),
        _one_hot(users["occupation"].to_numpy(), occupations, "u.user occupation"),
    ], axis=1)
    side["user_features"] = features[rows].astype(np.float32)
    return columns, side


# ------------------------------------------------------------------------------- lastfm-s3rec

def parse_s3rec(files: Mapping[str, Path], sequences: str, attributes: str) -> tuple[Columns, SideData]:
    """S3-Rec text format: one line per user, ``user item_1 ... item_n`` oldest to newest."""
    import json

    from flm_bench.sources import open_text

    with open_text(files[sequences]) as f:
        lines = [line.split() for line in f.read().splitlines() if line.strip()]
    lengths = np.array([len(t) - 1 for t in lines], dtype=np.int64)
    if (lengths < 1).any():
        raise DataError(f"{sequences}: a user line has no items")
    users = np.repeat(np.array([t[0] for t in lines]), lengths)
    items = np.array([x for t in lines for x in t[1:]])
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(items), dtype=np.int64) - starts  # 0-based position in the sequence
    columns, side = canonical(users, items, position)

    with open_text(files[attributes]) as f:
        item2attr: dict[str, list[int]] = json.load(f)
    # tags repeat once per tagging user: keep each item's distinct attribute ids, sorted
    per_item = [np.unique(np.asarray(item2attr.get(str(i), []), dtype=np.int64)) for i in side["item_ids"]]
    side["item_attr_indptr"] = np.concatenate([[0], np.cumsum([len(a) for a in per_item])]).astype(np.int64)
    side["item_attr_ids"] = (np.concatenate(per_item) if per_item else np.zeros(0)).astype(np.int64)
    return columns, side


def parse_lastfm(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    return parse_s3rec(files, "LastFM.txt", "LastFM_item2attributes.json.gz")


# ------------------------------------------------------------------------------- bookcrossing

def parse_bookcrossing(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``ratings_final.txt``: ``user item label`` (TSV); label 0 rows are sampled negatives."""
    import pandas as pd

    from flm_bench.sources import open_text

    with open_text(files["ratings_final.txt.gz"]) as f:
        data = pd.read_csv(f, sep="\t", header=None, names=["user", "item", "label"], dtype="int64",
                           engine="c")
    if not data["label"].isin((0, 1)).all():
        raise DataError("ratings_final.txt: labels must be 0 (sampled negative) or 1 (interaction)")
    real = data[data["label"] == 1]
    return canonical(real["user"].to_numpy(), real["item"].to_numpy(), np.zeros(len(real), dtype=np.int64))


# -------------------------------------------------------------------------------- registration

@hookimpl
def flm_bench_register_datasets(register):
    register(real_dataset(
        "movielens-100k", "media",
        (f"{ML}/u.data.gz", f"{ML}/u.item", f"{ML}/u.user", f"{ML}/u.occupation"),
        parse_movielens, timestamped=True, ordered=True,
        description=("MovieLens 100K movie ratings (1-5, kept as `rating`): 943 users, 1,682 items, "
                     "100,000 interactions, unix-second timestamps 1997-09-20..1998-04-22; item_text = "
                     "title from latin-1 u.item ('' for movie 267, titled 'unknown'); item attributes = "
                     "the 19 genre flags (ids 0-18 as in u.genre, 0 = unknown); user_features [943, 24] = "
                     "[age min-max scaled to 0..1, gender one-hot F/M, 21 occupations one-hot in "
                     "u.occupation order]; zip codes left out"),
        license=("GroupLens research use only: no commercial use, no redistribution without separate "
                 "permission, cite Harper & Konstan 2015 (README)"),
        citation=("F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and "
                  "Context. ACM Transactions on Interactive Intelligent Systems 5(4): 19:1-19:19. "
                  "https://doi.org/10.1145/2827872"),
        source=("GroupLens ml-100k original files, copied from github:yushundong/Graph-Mining-Fairness-Data "
                "dataset/ml-100k/ @ 2bd4b5cd9a09d87e93c8efc490773cbfa0a7984e (u.data gzipped in the mirror); "
                "no preprocessing"),
    ))
    register(real_dataset(
        "lastfm-s3rec", "media",
        (f"{LASTFM}/LastFM.txt", f"{LASTFM}/LastFM_item2attributes.json.gz"),
        parse_lastfm, timestamped=False, ordered=True,
        description=("Last.fm artist sequences (hetrec2011 tag assignments, S3-Rec preprocessing): 1,090 users, "
                     "3,646 artists, 52,551 interactions, each user line oldest->newest with no timestamps "
                     "(order = 0-based position in the sequence); item attributes = the artist's distinct "
                     "tag ids (1-388; the JSON repeats a tag once per tagging, duplicates removed)"),
        license="hetrec2011 Last.fm data: non-commercial use only",
        citation=("Kun Zhou, Hui Wang, Wayne Xin Zhao, Yutao Zhu, Sirui Wang, Fuzheng Zhang, Zhongyuan Wang, "
                  "Ji-Rong Wen. 2020. S3-Rec: Self-Supervised Learning for Sequential Recommendation with "
                  "Mutual Information Maximization. CIKM 2020. (Data: Cantador, Brusilovsky, Kuflik, "
                  "HetRec 2011 workshop, RecSys 2011.)"),
        source=("github:RUCAIBox/CIKM2020-S3Rec data/LastFM.txt and data/LastFM_item2attributes.json @ "
                "2a81540ae18615d88ef88227b0c066e5b74781e5 (S3-Rec preprocessing of hetrec2011-lastfm-2k; "
                "the JSON gzipped in the mirror)"),
    ))
    register(real_dataset(
        "bookcrossing", "media",
        (f"{BX}/ratings_final.txt.gz",),
        parse_bookcrossing, timestamped=False, ordered=False,
        description=("Book-Crossing user-book interactions (RippleNet/KGCN preprocessing; every BX rating incl. "
                     "implicit 0 counts as an interaction): 17,860 users, 14,910 books, 69,873 interactions "
                     "after dropping the 69,873 label-0 rows, which are uniformly sampled negatives, not data; "
                     "no time or order (order = 0: use the random-holdout split); item ids are the file's "
                     "item indices (the ISBN map is left out: it numbers items 0..14966, "
                     "ratings_final 1..14967, so its alignment cannot be checked)"),
        license=("Book-Crossing: freely available for research use when acknowledged (cite Ziegler et al. "
                 "WWW 2005); no LICENSE in Hank-Kuo/CKAN"),
        citation=("Cai-Nicolas Ziegler, Sean M. McNee, Joseph A. Konstan, Georg Lausen. 2005. Improving "
                  "Recommendation Lists Through Topic Diversification. WWW 2005. (Preprocessing: Hongwei Wang "
                  "et al. 2018. RippleNet. CIKM 2018.)"),
        source=("github:Hank-Kuo/CKAN data/book/ratings_final.txt @ 479bbea5b8dfccda7cd884c0b076e6e3a8cfbb97 "
                "(RippleNet/KGCN preprocessing of the BX-Book-Ratings CSV; gzipped in the mirror); label-0 "
                "sampled negatives dropped here"),
    ))
