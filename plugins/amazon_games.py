"""Amazon 2018 Video_Games ("Games") with item titles, in LLMRank's UniSRec-style preprocessing.

The largest text-rich Amazon category in ``shared/datasets`` (see its SOURCES.md): every item has
a title, kept as ``item_text``, so a sentence encoder can represent items that IDs cannot carry
across catalogues. Users and items are numbered by the source (no reviewerIDs or ASINs survive),
so the dataset declares no id space. Its reviews are another crawl of the same Amazon category as
the 2014 Video Games set: both belong to the :data:`VIDEO_GAMES_FAMILY` source family.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flm_bench.api import DataError, DatasetSpec
from flm_bench_plugins.realdata import Columns, SideData, canonical, read_table, read_text, real_dataset

GAMES = "ecommerce/amazon2018-games-llmrank"
LLMRANK = "RUCAIBox/LLMRank"
#: Amazon's Video Games reviews, crawled in 2014 and again in 2018
VIDEO_GAMES_FAMILY = "amazon-video-games"


def _parse_games(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """``Games.user_seqs.txt``: a ``#`` comment, then line k = user k's items, oldest first;
    ``Games.item_title.tsv``: ``item_id<TAB>title`` with a header."""
    lines = read_text(files["Games.user_seqs.txt.gz"]).splitlines()
    if not lines or not lines[0].startswith("#"):
        raise DataError("Games.user_seqs.txt: the first line should be the '#' comment")
    sequences = [line.split() for line in lines[1:]]
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if (lengths == 0).any():
        raise DataError(f"Games.user_seqs.txt: user {int(np.argmax(lengths == 0))} has no items")
    users = np.repeat(np.arange(len(sequences)).astype(str), lengths)
    items = np.array([i for s in sequences for i in s], dtype=str)
    position = np.arange(len(items), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    columns, side = canonical(users, items, position)
    titles = read_table(files["Games.item_title.tsv.gz"], "\t", ["item", "title"], header=["item_id", "title"])
    by_id = dict(zip(titles["item"].to_numpy().tolist(), titles["title"].fillna("").str.strip().tolist()))
    missing = sorted(set(side["item_ids"].tolist()) - set(by_id))
    if missing:
        raise DataError(f"Games.item_title.tsv: {len(missing)} items have no row, e.g. {missing[:3]}")
    side["item_text"] = np.array([by_id[i] for i in side["item_ids"].tolist()], dtype=str)
    return columns, side


def amazon_games() -> DatasetSpec:
    """The ``amazon-games`` dataset."""
    return real_dataset(
        "amazon-games",
        "ecommerce",
        (f"{GAMES}/Games.user_seqs.txt.gz", f"{GAMES}/Games.item_title.tsv.gz"),
        _parse_games,
        timestamped=False,
        ordered=True,
        family=VIDEO_GAMES_FAMILY,
        description=(
            "Amazon 2018 Video_Games (LLMRank's UniSRec-style preprocessing): 50,546 users, 16,859 "
            "items, 440,264 interactions (histories capped at the last 50 items by the source: 371 "
            "users lose 12,725 older ones); no timestamps, order = position; item_text = title (every "
            "item); ids numbered by the source (no reviewerID / ASIN)"
        ),
        license=(
            f"research use only: Amazon Review Data 2018 (Ni, Li, McAuley), upstream terms not restated "
            f"in {LLMRANK} (its MIT LICENSE covers the code only)"
        ),
        citation=(
            "Y. Hou, J. Zhang, Z. Lin, H. Lu, R. Xie, J. McAuley, W. X. Zhao. Large Language Models are "
            "Zero-Shot Rankers for Recommender Systems. ECIR 2024; data: J. Ni, J. Li, J. McAuley. "
            "Justifying Recommendations using Distantly-Labeled Reviews and Fine-Grained Aspects. EMNLP 2019"
        ),
        source=(
            f"github:{LLMRANK}@2d2384ff7d44f89ca147b54d99f36e6b8e7948cc llmrank/dataset/Games-6k/"
            "Games-6k.test.inter (history + target per user, rebuilt as one line per user) and "
            f"github:{LLMRANK}@b8c29660f3f7e87b323379d15f8f69edddfd9794 llmrank/dataset/Games/Games.item "
            "(reduced to id + title); the stored files are derived, so only a mirror of them can serve them"
        ),
    )
