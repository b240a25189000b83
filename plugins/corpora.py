"""Pretraining corpora over the real datasets.

A corpus used for a target never contains that target: the runner removes it and records
what it removed (``strategy.excluded`` in the record).
"""

from __future__ import annotations

from flm_bench.api import CorpusSpec, hookimpl

AMAZON_2014 = ("amazon-beauty", "amazon-sports", "amazon-toys", "amazon-videogames", "amazon-office", "amazon-tools")

#: the Amazon datasets whose items carry text (titles): what a sentence encoder can transfer
AMAZON_TEXT = ("amazon-games", "amazon-scientific")

MIXED_SMALL = ("amazon-office", "lastfm-s3rec", "diginetica-sample", "zimnat")


@hookimpl
def flm_bench_register_corpora(register):
    register(
        CorpusSpec(
            name="amazon-2014",
            datasets=AMAZON_2014,
            description="the six Amazon 2014 5-core categories (separate item catalogues)",
        )
    )
    register(
        CorpusSpec(
            name="amazon-text",
            datasets=AMAZON_TEXT,
            description="the Amazon 2018 categories with item titles (Games, Scientific): text-based transfer "
            "between catalogues; the target and its source family are left out",
        )
    )
    register(
        CorpusSpec(
            name="mixed-small",
            datasets=MIXED_SMALL,
            description="four small catalogues from three domains (office supplies, music, shop sessions, "
            "insurance), cheap enough to pretrain on two CPU cores",
        )
    )
    register(
        CorpusSpec(
            name="all-domains",
            datasets=(
                *AMAZON_2014,
                "amazon-instruments",
                "yelp",
                "ciao",
                "ciaodvd",
                "lastfm-hetrec",
                "movielens-100k",
                "lastfm-s3rec",
                "bookcrossing",
                "zimnat",
            ),
            description="a mix of every domain: e-commerce, social, media and finance",
        )
    )
