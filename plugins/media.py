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

from flm_bench.api import DataError, DatasetSpec, hookimpl
from flm_bench_plugins.realdata import (
    LASTFM_FAMILY,
    S3REC_COMMIT,
    S3REC_PAPER,
    Columns,
    SideData,
    align,
    canonical,
    flags_csr,
    minmax,
    one_hot,
    read_table,
    read_text,
    real_dataset,
    s3rec_parser,
)

DOMAIN = "media"
ML = "media/movielens-100k"
LASTFM = "media/lastfm-s3rec"
BX = "media/bookcrossing-ripplenet"

#: The 19 genre flags of ``u.item``, in file order; attribute id = position (as in ``u.genre``).
ML_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
ML_GENDERS = ("F", "M")


# ------------------------------------------------------------------------------ movielens-100k


def parse_movielens(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``u.data`` (user item rating unix-seconds, TSV) + ``u.item`` (latin-1) + ``u.user``."""
    data = read_table(files["u.data.gz"], "\t", ["user", "item", "rating", "time"], dtype="int64")
    columns, side = canonical(
        data["user"].to_numpy(),
        data["item"].to_numpy(),
        data["time"].to_numpy(),
        rating=data["rating"].to_numpy(np.float32),
    )

    # u.item: id|title|release date|video release date|IMDb URL|19 genre flags (latin-1)
    movies = read_table(
        files["u.item"], "|", ["id", "title", "release", "video_release", "url", *ML_GENRES], encoding="latin-1"
    )
    rows = align(side["item_ids"], movies["id"].to_numpy(), "u.item")
    titles = movies["title"].to_numpy().astype(str)[rows]
    side["item_text"] = np.where(titles == "unknown", "", titles)  # movie 267 has no title
    flags = movies[list(ML_GENRES)].to_numpy().astype(np.int8)[rows] == 1
    side["item_attr_indptr"], side["item_attr_ids"] = flags_csr(flags)

    # u.user: user|age|gender|occupation|zip -> [scaled age, gender one-hot, occupation one-hot]
    users = read_table(files["u.user"], "|", ["user", "age", "gender", "occupation", "zip"], encoding="latin-1")
    occupations = tuple(
        line.strip() for line in read_text(files["u.occupation"], encoding="latin-1").splitlines() if line.strip()
    )
    rows = align(side["user_ids"], users["user"].to_numpy(), "u.user")
    features = np.concatenate(
        [
            minmax(users["age"].to_numpy().astype(np.float32))[:, None],
            one_hot(users["gender"].to_numpy(), ML_GENDERS, "u.user gender"),
            one_hot(users["occupation"].to_numpy(), occupations, "u.user occupation"),
        ],
        axis=1,
    )
    side["user_features"] = features[rows].astype(np.float32)
    return columns, side


# ------------------------------------------------------------------------------- lastfm-s3rec

#: S3-Rec text format: one line per user, ``user item_1 ... item_n`` oldest to newest; tags
#: repeat once per tagging user, so each item keeps its distinct attribute ids, sorted.
parse_lastfm = s3rec_parser("LastFM.txt", "LastFM_item2attributes.json.gz", distinct=True)


# ------------------------------------------------------------------------------- bookcrossing


def parse_bookcrossing(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``ratings_final.txt``: ``user item label`` (TSV); label 0 rows are sampled negatives."""
    data = read_table(files["ratings_final.txt.gz"], "\t", ["user", "item", "label"], dtype="int64")
    if not data["label"].isin((0, 1)).all():
        raise DataError("ratings_final.txt: labels must be 0 (sampled negative) or 1 (interaction)")
    real = data[data["label"] == 1]
    return canonical(real["user"].to_numpy(), real["item"].to_numpy(), np.zeros(len(real), dtype=np.int64))


# -------------------------------------------------------------------------------- registration


def _movielens_100k() -> DatasetSpec:
    return real_dataset(
        "movielens-100k",
        DOMAIN,
        (f"{ML}/u.data.gz", f"{ML}/u.item", f"{ML}/u.user", f"{ML}/u.occupation"),
        parse_movielens,
        timestamped=True,
        ordered=True,
        description=(
            "MovieLens 100K movie ratings (1-5, kept as `rating`): 943 users, 1,682 items, "
            "100,000 interactions, unix-second timestamps 1997-09-20..1998-04-22; item_text = "
            "title from latin-1 u.item ('' for movie 267, titled 'unknown'); item attributes = "
            "the 19 genre flags (ids 0-18 as in u.genre, 0 = unknown); user_features [943, 24] = "
            "[age min-max scaled to 0..1, gender one-hot F/M, 21 occupations one-hot in "
            "u.occupation order]; zip codes left out"
        ),
        license=(
            "GroupLens research use only: no commercial use, no redistribution without separate "
            "permission, cite Harper & Konstan 2015 (README)"
        ),
        citation=(
            "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and "
            "Context. ACM Transactions on Interactive Intelligent Systems 5(4): 19:1-19:19. "
            "https://doi.org/10.1145/2827872"
        ),
        source=(
            "GroupLens ml-100k original files, copied from github:yushundong/Graph-Mining-Fairness-Data "
            "dataset/ml-100k/ @ 2bd4b5cd9a09d87e93c8efc490773cbfa0a7984e (u.data gzipped in the mirror); "
            "no preprocessing"
        ),
    )


def _lastfm_s3rec() -> DatasetSpec:
    return real_dataset(
        "lastfm-s3rec",
        DOMAIN,
        (f"{LASTFM}/LastFM.txt", f"{LASTFM}/LastFM_item2attributes.json.gz"),
        parse_lastfm,
        family=LASTFM_FAMILY,
        timestamped=False,
        ordered=True,
        description=(
            "Last.fm artist sequences (hetrec2011 tag assignments, S3-Rec preprocessing): 1,090 users, "
            "3,646 artists, 52,551 interactions, each user line oldest->newest with no timestamps "
            "(order = 0-based position in the sequence); item attributes = the artist's distinct "
            "tag ids (1-388; the JSON repeats a tag once per tagging, duplicates removed)"
        ),
        license="hetrec2011 Last.fm data: non-commercial use only",
        citation=S3REC_PAPER + " (Data: Cantador, Brusilovsky, Kuflik, HetRec 2011 workshop, RecSys 2011.)",
        source=(
            f"github:RUCAIBox/CIKM2020-S3Rec data/LastFM.txt and data/LastFM_item2attributes.json @ {S3REC_COMMIT} "
            "(S3-Rec preprocessing of hetrec2011-lastfm-2k; the JSON gzipped in the mirror)"
        ),
    )


def _bookcrossing() -> DatasetSpec:
    return real_dataset(
        "bookcrossing",
        DOMAIN,
        (f"{BX}/ratings_final.txt.gz",),
        parse_bookcrossing,
        timestamped=False,
        ordered=False,
        description=(
            "Book-Crossing user-book interactions (RippleNet/KGCN preprocessing; every BX rating incl. "
            "implicit 0 counts as an interaction): 17,860 users, 14,910 books, 69,873 interactions "
            "after dropping the 69,873 label-0 rows, which are uniformly sampled negatives, not data; "
            "no time or order (order = 0: use the random-holdout split); item ids are the file's "
            "item indices (the ISBN map is left out: it numbers items 0..14966, "
            "ratings_final 1..14967, so its alignment cannot be checked)"
        ),
        license=(
            "Book-Crossing: freely available for research use when acknowledged (cite Ziegler et al. "
            "WWW 2005); no LICENSE in Hank-Kuo/CKAN"
        ),
        citation=(
            "Cai-Nicolas Ziegler, Sean M. McNee, Joseph A. Konstan, Georg Lausen. 2005. Improving "
            "Recommendation Lists Through Topic Diversification. WWW 2005. (Preprocessing: Hongwei Wang "
            "et al. 2018. RippleNet. CIKM 2018.)"
        ),
        source=(
            "github:Hank-Kuo/CKAN data/book/ratings_final.txt @ 479bbea5b8dfccda7cd884c0b076e6e3a8cfbb97 "
            "(RippleNet/KGCN preprocessing of the BX-Book-Ratings CSV; gzipped in the mirror); label-0 "
            "sampled negatives dropped here"
        ),
    )


@hookimpl
def flm_bench_register_datasets(register):
    for make in (_movielens_100k, _lastfm_s3rec, _bookcrossing):
        register(make())
