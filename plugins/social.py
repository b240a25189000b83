"""Real social datasets (files from shared/datasets; see SOURCES.md).

- ``ciao``: Ciao product ratings (Tang et al. 2012) with unix-second timestamps, the
  directed trust network, and each product's category as an item attribute. The mirror
  holds lossless TSV conversions of the original MATLAB files; a ``.mat`` downloaded from
  the original URL is read too (``scipy.io.loadmat``).
- ``ciaodvd``: CiaoDVD ratings (Guo et al. 2014) with YYYY-MM-DD dates, trust network, genre.
- ``filmtrust``: FilmTrust ratings (Guo et al. 2013), no time (``random-holdout`` split), trust.
- ``lastfm-hetrec``: Last.fm hetrec2011-lastfm-2k listening counts (no time), the friend graph,
  artist names and the artists' user-assigned tags.
- ``yelp``: Yelp business-review sequences as preprocessed by S3-Rec (chronological per user,
  no timestamps), business categories as item attributes. No social graph in this version.

Raw data are kept as published: duplicate (user, item) rows stay (deduplication is a
preprocessing option of the core). Social edges are directed user -> user pairs over
canonical user indices, in file order; an edge is dropped when either end has no
interaction. Parsers run only inside ``load()``; registering reads no file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flm_bench.api import DataError, DatasetSpec, hookimpl
from flm_bench_plugins.realdata import (
    LASTFM_FAMILY,
    S3REC_COMMIT,
    S3REC_PAPER,
    Columns,
    SideData,
    attribute_csr,
    canonical,
    index_of,
    read_table,
    real_dataset,
    s3rec_parser,
    social_edges,
)

if TYPE_CHECKING:
    import pandas as pd

DOMAIN = "social"
CIAO = "social/ciao-tang2012"
CIAODVD = "social/ciaodvd-guo2014"
FILMTRUST = "social/filmtrust-guo2013"
LASTFM = "social/lastfm-hetrec2011"
YELP = "social/yelp-s3rec"
#: Ciao and CiaoDVD are two crawls of one site (ciao.co.uk): their users and items may overlap.
CIAO_FAMILY = "ciao"

#: Columns of Ciao's ``rating`` matrix (MATLAB) and of its TSV conversion's header.
CIAO_RATING_COLUMNS = ("userid", "productid", "categoryid", "rating", "helpfulness", "timestamp")
CIAO_TRUST_COLUMNS = ("truster", "trustee")


# ------------------------------------------------------------------------------------ helpers


def _is_mat(path: Path) -> bool:
    """Whether ``path`` holds a MATLAB file (the original Ciao download) rather than text."""
    if path.suffix.lower() == ".mat":
        return True
    with open(path, "rb") as f:
        return f.read(6) == b"MATLAB"


def _mat_matrix(path: Path, variable: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """Integer matrix ``variable`` of a MATLAB (v5) file as a DataFrame with these columns."""
    import pandas as pd
    from scipy.io import loadmat

    mat = loadmat(path, variable_names=[variable])
    if variable not in mat:
        raise DataError(f"{path.name}: no variable {variable!r} in the MATLAB file")
    array = np.asarray(mat[variable])
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise DataError(f"{path.name}: {variable!r} has shape {array.shape}, expected [n, {len(columns)}]")
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise DataError(f"{path.name}: {variable!r} holds non-integer values")
    return pd.DataFrame(array.astype(np.int64), columns=list(columns))


def _rated_and_trusted(
    ratings: pd.DataFrame, order: np.ndarray, trust: pd.DataFrame, *, attribute: str | None = None
) -> tuple[Columns, SideData]:
    """Canonical rows of ``ratings`` (columns ``user``, ``item``, ``rating``) in file order,
    the distinct values of its ``attribute`` column per item as item attributes, and the
    (source, target) pairs in the first two columns of ``trust`` as social edges."""
    columns, side = canonical(
        ratings["user"].to_numpy(), ratings["item"].to_numpy(), order, rating=ratings["rating"].to_numpy(np.float32)
    )
    if attribute is not None:
        side["item_attr_indptr"], side["item_attr_ids"] = attribute_csr(
            columns["item"], ratings[attribute].to_numpy(), len(side["item_ids"])
        )
    side["social_edges"] = social_edges(side["user_ids"], trust.iloc[:, 0].to_numpy(), trust.iloc[:, 1].to_numpy())
    return columns, side


# ----------------------------------------------------------------------------------------- ciao


def _ciao_matrix(path: Path, variable: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """Ciao's ``rating`` or ``trust`` matrix, from its TSV conversion or the original ``.mat``."""
    if _is_mat(path):
        return _mat_matrix(path, variable, columns)
    return read_table(path, "\t", columns, header=True, dtype="int64")


def parse_ciao(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``rating`` rows: user product category rating helpfulness unix-seconds; ``trust``: truster trustee."""
    ratings = _ciao_matrix(files["rating_with_timestamp.tsv.gz"], "rating", CIAO_RATING_COLUMNS)
    trust = _ciao_matrix(files["trust.tsv.gz"], "trust", CIAO_TRUST_COLUMNS)
    # a product's category: 101 products carry 2-3 categories in different rows, all are kept
    return _rated_and_trusted(
        ratings.rename(columns={"userid": "user", "productid": "item"}),
        ratings["timestamp"].to_numpy(),
        trust,
        attribute="categoryid",
    )


# -------------------------------------------------------------------------------------- ciaodvd


def _days_to_seconds(dates: np.ndarray, what: str) -> np.ndarray:
    """Unix seconds (00:00 UTC) of YYYY-MM-DD strings."""
    try:
        days = np.asarray(dates).astype(str).astype("datetime64[D]")
    except ValueError as exc:
        raise DataError(f"{what}: dates must be YYYY-MM-DD ({exc})") from exc
    return days.astype("datetime64[s]").astype(np.int64)


def parse_ciaodvd(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``movie-ratings.txt``: userID,movieID,genreID,reviewID,movieRating,date (CSV, no header)."""
    ratings = read_table(
        files["movie-ratings.txt.gz"],
        ",",
        ["user", "item", "genre", "review", "rating", "date"],
        dtype={"user": "int64", "item": "int64", "genre": "int64", "review": "int64", "rating": "float32", "date": str},
    )
    trust = read_table(files["trusts.txt.gz"], ",", ["trustor", "trustee", "value"], dtype="int64")
    return _rated_and_trusted(
        ratings, _days_to_seconds(ratings["date"].to_numpy(), "movie-ratings.txt"), trust, attribute="genre"
    )


# ------------------------------------------------------------------------------------ filmtrust


def parse_filmtrust(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``ratings.txt``: user item rating (space separated, no time); ``trust.txt``: trustor trustee value."""
    ratings = read_table(
        files["ratings.txt.gz"],
        r"\s+",
        ["user", "item", "rating"],
        dtype={"user": "int64", "item": "int64", "rating": "float32"},
    )
    trust = read_table(
        files["trust.txt"],
        r"\s+",
        ["trustor", "trustee", "value"],
        dtype={"trustor": "int64", "trustee": "int64", "value": "float64"},
    )
    return _rated_and_trusted(ratings, np.zeros(len(ratings), dtype=np.int64), trust)


# ------------------------------------------------------------------------------- lastfm-hetrec


def parse_lastfm_hetrec(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``user_artists.dat``: userID artistID weight (play count); names, tags and friends beside it."""
    plays = read_table(
        files["user_artists.dat.gz"],
        "\t",
        ["user", "item", "rating"],
        header=["userID", "artistID", "weight"],
        dtype="int64",
    )
    if (plays["rating"].to_numpy() >= 2**24).any():  # float32 holds integers exactly only below 2^24
        raise DataError("user_artists.dat: a play count too large to keep exactly as float32")
    # user_friends.dat: userID friendID, each friendship listed in both directions
    friends = read_table(files["user_friends.dat"], "\t", ["userID", "friendID"], header=True, dtype="int64")
    columns, side = _rated_and_trusted(plays, np.zeros(len(plays), dtype=np.int64), friends)
    n_items = len(side["item_ids"])

    # artists.dat (UTF-8): id name url pictureURL; the name is the item text
    artists = read_table(files["artists.dat.gz"], "\t", ["id", "name", "url", "pictureURL"], header=True)
    item_rows = index_of(side["item_ids"], artists["id"].to_numpy())
    found = item_rows >= 0
    if not (np.bincount(item_rows[found], minlength=n_items) == 1).all():
        raise DataError("artists.dat: every listened artist needs exactly one row")
    text = np.full(n_items, "", dtype=object)
    text[item_rows[found]] = artists["name"].to_numpy()[found]
    side["item_text"] = text.astype(str)

    # user_taggedartists.dat: userID artistID tagID day month year -> each artist's distinct tags
    tagged = read_table(
        files["user_taggedartists.dat.gz"],
        "\t",
        ["userID", "artistID", "tagID", "day", "month", "year"],
        header=True,
        dtype="int64",
    )
    tags = read_table(
        files["tags.dat"],
        "\t",
        ["tagID", "tagValue"],
        header=True,
        encoding="latin-1",
        dtype={"tagID": "int64", "tagValue": str},
    )
    unknown = ~np.isin(tagged["tagID"].to_numpy(), tags["tagID"].to_numpy())
    if unknown.any():
        raise DataError(
            f"user_taggedartists.dat: tag ids {tagged['tagID'].to_numpy()[unknown][:5].tolist()} are not in tags.dat"
        )
    # tags of artists nobody listened to have no item to attach to (index -1: dropped)
    side["item_attr_indptr"], side["item_attr_ids"] = attribute_csr(
        index_of(side["item_ids"], tagged["artistID"].to_numpy()), tagged["tagID"].to_numpy(), n_items
    )
    return columns, side


# -------------------------------------------------------------------------------- registration


def _ciao() -> DatasetSpec:
    return real_dataset(
        "ciao",
        DOMAIN,
        (f"{CIAO}/rating_with_timestamp.tsv.gz", f"{CIAO}/trust.tsv.gz"),
        parse_ciao,
        family=CIAO_FAMILY,
        timestamped=True,
        ordered=True,
        description=(
            "Ciao product ratings (0-5, kept as `rating`; helpfulness left out): 7,375 users, "
            "105,114 products, 284,086 interactions incl. 1,436 duplicate (user, product) rows "
            "kept as published, unix-second timestamps 2000-05-30..2011-04-12 (day resolution, "
            "many same-day ties); item attributes = category ids 1-28 (101 products carry 2-3); "
            "social_edges = directed trust, 57,544 of 57,544 edges kept (all trusters and "
            "trustees rated something). Reads the TSV conversion or the original .mat"
        ),
        license=(
            "No license statement in the source repository (yushundong/Graph-Mining-Fairness-Data, "
            "no LICENSE); original ASU release by Jiliang Tang; research use, cite Tang et al. 2012"
        ),
        citation=(
            "Jiliang Tang, Huiji Gao, Huan Liu. 2012. mTrust: Discerning Multi-Faceted Trust in a "
            "Connected World. WSDM 2012. (Also: Jiliang Tang, Huiji Gao, Huan Liu, Atish Das Sarma. "
            "2012. eTrust: Understanding Trust Evolution in an Online World. KDD 2012.)"
        ),
        source=(
            "github:yushundong/Graph-Mining-Fairness-Data dataset/Epinion&Ciao/ciao/"
            "rating_with_timestamp.mat and trust.mat @ 2bd4b5cd9a09d87e93c8efc490773cbfa0a7984e; "
            "the mirror stores lossless gzipped TSV conversions (variables `rating` [N x 6], "
            "`trust` [M x 2], original row order); no preprocessing"
        ),
    )


def _ciaodvd() -> DatasetSpec:
    return real_dataset(
        "ciaodvd",
        DOMAIN,
        (f"{CIAODVD}/movie-ratings.txt.gz", f"{CIAODVD}/trusts.txt.gz"),
        parse_ciaodvd,
        family=CIAO_FAMILY,
        timestamped=True,
        ordered=True,
        description=(
            "CiaoDVD movie ratings (1-5, kept as `rating`): 17,615 users, 16,121 DVDs, 72,665 "
            "interactions incl. 320 duplicate (user, movie) rows kept as published; YYYY-MM-DD "
            "dates 2000-05-31..2013-11-28 as unix seconds at 00:00 UTC (many same-day ties); item "
            "attributes = genre id 1-17 (one per DVD, see readme.txt); review ids left out; "
            "social_edges = directed trust, 22,484 of 40,133 edges kept (the rest touch users "
            "without ratings)"
        ),
        license=("readme.txt: no license statement; ids anonymised; cite Guo et al. ASONAM 2014; research use only"),
        citation=(
            "Guibing Guo, Jie Zhang, Daniel Thalmann, Neil Yorke-Smith. 2014. ETAF: An Extended Trust "
            "Antecedents Framework for Trust Prediction. ASONAM 2014."
        ),
        source=(
            "github:npxiaoying/Social-Recommendation dataset/CiaoDVD/movie-ratings.txt and trusts.txt @ "
            "7bc4ebcc7c04a1a29bf3d016fa3dc1d01b7c3e93 (gzipped in the mirror); no preprocessing "
            "(review-ratings.txt not included)"
        ),
    )


def _filmtrust() -> DatasetSpec:
    return real_dataset(
        "filmtrust",
        DOMAIN,
        (f"{FILMTRUST}/ratings.txt.gz", f"{FILMTRUST}/trust.txt"),
        parse_filmtrust,
        timestamped=False,
        ordered=False,
        description=(
            "FilmTrust movie ratings (0.5-4.0, kept as `rating`): 1,508 users, 2,071 movies, 35,497 "
            "interactions incl. 3 duplicate (user, movie) rows kept as published; no time or order "
            "(order = 0: use the random-holdout split); social_edges = directed trust, 1,632 of "
            "1,853 edges kept (the rest touch users without ratings)"
        ),
        license='readme.txt: "Copy Right 2013 Guibing Guo"; research use, cite Guo et al. IJCAI 2013',
        citation=(
            "Guibing Guo, Jie Zhang, Neil Yorke-Smith. 2013. A Novel Bayesian Similarity Measure for "
            "Recommender Systems. IJCAI 2013, 2619-2625."
        ),
        source=(
            "github:Coder-Yu/QRec dataset/FilmTrust/ratings.txt and trust.txt @ "
            "a141bb37cb7706b2f53b2eed5843de3269f9f37f (ratings gzipped in the mirror); no preprocessing"
        ),
    )


def _lastfm_hetrec() -> DatasetSpec:
    return real_dataset(
        "lastfm-hetrec",
        DOMAIN,
        (
            f"{LASTFM}/user_artists.dat.gz",
            f"{LASTFM}/user_friends.dat",
            f"{LASTFM}/artists.dat.gz",
            f"{LASTFM}/user_taggedartists.dat.gz",
            f"{LASTFM}/tags.dat",
        ),
        parse_lastfm_hetrec,
        family=LASTFM_FAMILY,
        timestamped=False,
        ordered=False,
        description=(
            "Last.fm hetrec2011-lastfm-2k listening: 1,892 users, 17,632 artists, 92,834 (user, "
            "artist) pairs with the play count as `rating` (1..352,698); play counts have no time "
            "(order = 0: use the random-holdout split; the dated tag assignments cover only "
            "71,064 user-artist pairs, so they are not used as order); item_text = artist name "
            "(UTF-8 artists.dat); item attributes = the artist's distinct tag ids (tags.dat ids, "
            "latin-1 file) from the 184,941 of 186,479 tag assignments on listened artists; "
            "social_edges = friendships in both directions, 25,434 of 25,434 directed pairs kept"
        ),
        license=(
            "readme.txt: made available for non-commercial use; commercial use requires Last.fm "
            "permission; cite HetRec 2011"
        ),
        citation=(
            "Ivan Cantador, Peter Brusilovsky, Tsvi Kuflik. 2011. 2nd Workshop on Information "
            "Heterogeneity and Fusion in Recommender Systems (HetRec 2011). RecSys 2011. "
            "(Data: Last.fm, http://www.lastfm.com)"
        ),
        source=(
            "github:Coder-Yu/QRec dataset/lastfm-2k/ @ 734bcdb59796020fa0f0825ef8ae85703c774967 "
            "(original hetrec2011-lastfm-2k files; user_artists, artists and user_taggedartists "
            "gzipped in the mirror); no preprocessing"
        ),
    )


def _yelp() -> DatasetSpec:
    return real_dataset(
        "yelp",
        DOMAIN,
        (f"{YELP}/Yelp.txt.gz", f"{YELP}/Yelp_item2attributes.json.gz"),
        # S3-Rec text format: ``user item_1 ... item_n`` oldest first; distinct category ids as attributes
        s3rec_parser("Yelp.txt.gz", "Yelp_item2attributes.json.gz", distinct=True),
        timestamped=False,
        ordered=True,
        description=(
            "Yelp business-review sequences (S3-Rec preprocessing): 30,431 users, 20,033 businesses, "
            "316,354 interactions (5-350 per user; 11,830 repeat visits of a business kept as "
            "published), each user line oldest->newest with no timestamps (order = 0-based position "
            "in the sequence); item attributes = the business's distinct category ids (1-1001); "
            "no social graph in this version"
        ),
        license=(
            "Derived from the Yelp academic dataset; Yelp dataset terms (academic / non-commercial use "
            "only); research use only"
        ),
        citation=S3REC_PAPER + " (Data: Yelp Open Dataset.)",
        source=(
            f"github:RUCAIBox/CIKM2020-S3Rec data/Yelp.txt and data/Yelp_item2attributes.json @ {S3REC_COMMIT} "
            "(S3-Rec data_process.py over yelp_academic_dataset_review.json; gzipped in the mirror)"
        ),
    )


@hookimpl
def flm_bench_register_datasets(register):
    for make in (_ciao, _ciaodvd, _filmtrust, _lastfm_hetrec, _yelp):
        register(make())
