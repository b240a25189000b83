"""Real finance datasets (files from shared/datasets; see SOURCES.md).

Both are customer x insurance-product holdings with no per-product time, so they are
unordered (``order`` = 0) and are split with the ``random-holdout`` protocol: per customer,
one owned product is the test target and another the validation target, which is the
"rank the held-out product" task of the original Zimnat challenge.

- ``zimnat``: Zimnat Insurance Recommendation Challenge (Zindi 2020), Train.csv: 29,132
  customers x 21 products, with the customer profile (join date, sex, marital status, birth
  year, branch, occupation) as user features.
- ``coil2000``: COIL 2000 / Caravan (Insurance Company Benchmark): 5,822 customers x 22
  policy types (the 21 "A..." number-of-policies columns and the caravan policy), with the
  43 zip-code-level sociodemographic "M..." columns as user features.

Parsers run only inside ``load()``; registering reads no file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flm_bench.api import DataError, DatasetSpec, hookimpl
from flm_bench_plugins.realdata import Columns, SideData, align, canonical, minmax, one_hot, real_dataset

DOMAIN = "finance"
ZIMNAT = "finance/zimnat-insurance-zindi"
COIL = "finance/coil2000-caravan-islp"

ZIMNAT_PROFILE = (
    "ID",
    "join_date",
    "sex",
    "marital_status",
    "birth_year",
    "branch_code",
    "occupation_code",
    "occupation_category_code",
)
ZIMNAT_PRODUCTS = (
    "P5DA",
    "RIBP",
    "8NN1",
    "7POT",
    "66FJ",
    "GYSR",
    "SOP4",
    "RVSZ",
    "PYUQ",
    "LJR9",
    "N2MW",
    "AHXO",
    "BSTQ",
    "FM3X",
    "K6QO",
    "QBOL",
    "JWFN",
    "JZ9D",
    "J9JW",
    "GHYX",
    "ECY3",
)
#: Categorical profile columns one-hot encoded (vocabulary: sorted distinct values of Train.csv).
ZIMNAT_CATEGORICAL = ("sex", "marital_status", "branch_code", "occupation_category_code", "occupation_code")

#: COIL 2000 categorical sociodemographics (one-hot); the other "M..." columns are ordinal levels.
COIL_CATEGORICAL = {"MOSTYPE": 41, "MOSHOOFD": 10}  # customer subtype 1-41, customer main type 1-10
CARAVAN = "CARAVAN"  # the policy type of the ``Purchase`` column (mobile home policy, Yes/No)


def _holdings(ids: np.ndarray, owned: np.ndarray, products: tuple[str, ...]) -> tuple[Columns, SideData]:
    """Canonical (customer, product) rows of a dense 0/1 ownership matrix, customer-major."""
    rows, cols = np.nonzero(owned)
    return canonical(ids[rows], np.asarray(products)[cols], np.zeros(len(rows), dtype=np.int64))


# ---------------------------------------------------------------------------------------- zimnat


def zimnat_user_features(profile) -> tuple[np.ndarray, list[str]]:
    """Dense float32 features of the Zimnat profile columns, and the name of each column.

    ``join_date`` is a d/m/Y string (2 rows empty): encoded as days since 1970 min-max scaled
    to [0, 1] (0 when missing) plus a missing flag. ``birth_year`` is min-max scaled. The
    categorical columns are one-hot over their sorted distinct values (``marital_status``
    keeps the lower-case ``f`` of the file as its own value).
    """
    import pandas as pd

    joined = pd.to_datetime(profile["join_date"], format="%d/%m/%Y", errors="raise")
    days = (joined - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(days)
    parts = [
        np.nan_to_num(minmax(days), nan=0.0)[:, None],
        missing.astype(np.float32)[:, None],
        minmax(profile["birth_year"].to_numpy(np.float64))[:, None],
    ]
    names = ["join_date_scaled", "join_date_missing", "birth_year_scaled"]
    for col in ZIMNAT_CATEGORICAL:
        values = profile[col].to_numpy().astype(str)
        vocabulary = sorted(set(values.tolist()))
        parts.append(one_hot(values, vocabulary, f"Train.csv {col}"))
        names += [f"{col}={v}" for v in vocabulary]
    return np.concatenate(parts, axis=1).astype(np.float32), names


def parse_zimnat(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """Train.csv: one row per customer, profile columns then 21 product columns (0/1 owned)."""
    import pandas as pd

    from flm_bench.data.sources import open_text

    with open_text(files["Train.csv.gz"]) as f:
        table = pd.read_csv(f, dtype={c: str for c in ZIMNAT_PROFILE if c != "birth_year"}, engine="c")
    if tuple(table.columns) != ZIMNAT_PROFILE + ZIMNAT_PRODUCTS:
        raise DataError(f"Train.csv: unexpected columns {list(table.columns)}")
    ids = table["ID"].to_numpy().astype(str)
    if len(set(ids.tolist())) != len(ids):
        raise DataError("Train.csv: duplicate customer IDs")
    owned = table[list(ZIMNAT_PRODUCTS)].to_numpy()
    if not np.isin(owned, (0, 1)).all():
        raise DataError("Train.csv: product columns must be 0/1")
    columns, side = _holdings(ids, owned, ZIMNAT_PRODUCTS)
    features, _ = zimnat_user_features(table)
    side["user_features"] = features[align(side["user_ids"], ids, "Train.csv")]
    return columns, side


# -------------------------------------------------------------------------------------- coil2000


def coil_user_features(table) -> tuple[np.ndarray, list[str]]:
    """The 43 "M..." columns: MOSTYPE / MOSHOOFD one-hot, the other 41 (ordinal levels) min-max scaled."""
    parts, names = [], []
    for col in [c for c in table.columns if c.startswith("M")]:
        if col in COIL_CATEGORICAL:
            vocabulary = [str(v) for v in range(1, COIL_CATEGORICAL[col] + 1)]
            parts.append(one_hot(table[col].to_numpy(), vocabulary, f"Caravan.csv {col}"))
            names += [f"{col}={v}" for v in vocabulary]
        else:
            parts.append(minmax(table[col].to_numpy())[:, None])
            names.append(col)
    return np.concatenate(parts, axis=1).astype(np.float32), names


def parse_coil2000(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """Caravan.csv: 43 M* + 21 P* (contribution level) + 21 A* (number of policies) + Purchase."""
    import pandas as pd

    from flm_bench.data.sources import open_text

    with open_text(files["Caravan.csv.gz"]) as f:
        table = pd.read_csv(f, engine="c")
    counts = [c for c in table.columns if c.startswith("A")]
    if len(table.columns) != 86 or len(counts) != 21 or table.columns[-1] != "Purchase":
        raise DataError(f"Caravan.csv: unexpected columns {list(table.columns)}")
    purchase = table["Purchase"].to_numpy().astype(str)
    if not np.isin(purchase, ("Yes", "No")).all():
        raise DataError("Caravan.csv: Purchase must be Yes/No")
    owned = np.concatenate([table[counts].to_numpy() > 0, (purchase == "Yes")[:, None]], axis=1)
    ids = np.arange(1, len(table) + 1).astype(str)  # no ID column: the customer's 1-based row
    columns, side = _holdings(ids, owned, (*counts, CARAVAN))
    features, _ = coil_user_features(table)
    side["user_features"] = features[side["user_ids"].astype(np.int64) - 1]
    return columns, side


# ---------------------------------------------------------------------------------- registration


def _zimnat() -> DatasetSpec:
    return real_dataset(
        "zimnat",
        DOMAIN,
        (f"{ZIMNAT}/Train.csv.gz",),
        parse_zimnat,
        timestamped=False,
        ordered=False,
        description=(
            "Zimnat (Zimbabwe insurer) customer x product holdings, Train.csv of the Zindi 2020 "
            "challenge: 29,132 customers, 21 products, 66,353 owned (customer, product) pairs (every "
            "customer owns >= 2); no per-product time (order = 0: use the random-holdout split, "
            "= the challenge's hold-one-owned-product-out ranking). Test.csv is left out: its "
            "10,000 customers each had one owned product removed by the organisers (the removed "
            "products are in neither file), so their holdings are incomplete. user_features [29132, 267] "
            "float32: join_date (d/m/Y; 2 empty) as scaled days + missing flag, scaled birth_year, "
            "one-hot sex (2), marital_status (8, incl. the file's lower-case 'f'), branch_code (15), "
            "occupation_category_code (6), occupation_code (233)"
        ),
        license=(
            "Not stated in the source repository (its MIT license covers code only); Zindi competition "
            "data, Zindi rules apply: research / non-commercial use, do not publish"
        ),
        citation=(
            "Zindi. 2020. Zimnat Insurance Recommendation Challenge. "
            "https://zindi.africa/competitions/zimnat-insurance-recommendation-challenge"
        ),
        source=(
            "github:Tixonmavrin/Zindi-Zimnat-Insurance-Recommendation-Challenge Train.csv @ "
            "af842e2f58c6c7b04e800eb13fefb2330fd35fe9 (the competition file as published; gzipped in "
            "the mirror); no preprocessing"
        ),
    )


def _coil2000() -> DatasetSpec:
    return real_dataset(
        "coil2000",
        DOMAIN,
        (f"{COIL}/Caravan.csv.gz",),
        parse_coil2000,
        timestamped=False,
        ordered=False,
        description=(
            "COIL 2000 Insurance Company Benchmark (Caravan, 5,822 Dutch customers) read as customer x "
            "policy-type holdings: an interaction = a policy type the customer holds, i.e. one of "
            "the 21 'A...' number-of-policies columns > 0, or Purchase == 'Yes' (the caravan policy, "
            "item 'CARAVAN'); 22 items, 10,622 interactions, 5,213 users (609 customers hold no "
            "policy and drop out; raw user id = 1-based CSV row, as there is no ID column; 602 "
            "rows are exact duplicates of others but are distinct customers and are kept). The "
            "'P...' contribution columns repeat the A... ones (P > 0 iff A > 0) and are not used. "
            "No time (order = 0: use the random-holdout split). user_features [5213, 92] float32: "
            "MOSTYPE (41) and MOSHOOFD (10) one-hot, the other 41 'M...' zip-code-level "
            "sociodemographic levels min-max scaled"
        ),
        license=(
            "Sentient Machine Research dataset: non-commercial research and education use only "
            "(ISLP package itself: BSD)"
        ),
        citation=(
            "Peter van der Putten and Maarten van Someren (eds.). 2000. CoIL Challenge 2000: The "
            "Insurance Company Case. Sentient Machine Research, Amsterdam / Leiden Institute of "
            "Advanced Computer Science, Technical Report 2000-09."
        ),
        source=(
            "PyPI wheel ISLP 0.6.0 (sha256 ca772cecca1747a2f84ee799a5503ddddbdf0e98f90c235494790c1d036c694b), "
            "ISLP/data/Caravan.csv (the COIL 2000 training set ticdata2000 with named columns and "
            "CARAVAN as Purchase Yes/No; gzipped in the mirror)"
        ),
    )


@hookimpl
def flm_bench_register_datasets(register):
    for make in (_zimnat, _coil2000):
        register(make())
