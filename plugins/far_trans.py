"""FAR-Trans (Sanz-Cruzado, Droukas, McCreadie 2024): a European bank's retail investors buying
stocks, bonds and mutual funds, Jan 2018 - Nov 2022. A dataset whose interaction log the user brings.

Files. The asset catalogue (``asset_information.csv``) is in the mirror (``finance/far-trans-partial``).
The transaction log and the customer file are in no mirror: the user downloads them from the DOI
(CC-BY 4.0) and puts them, as published, at ``<data folder>/finance/far-trans/``. Their header and
row count are declared (and the customer file's sha256, the only digest published), and checked
before anything is read: ``flm-bench data info far-trans`` / ``data verify far-trans`` show them.

Interactions: the ``Buy`` rows of ``transactions.csv`` (customer -> ISIN, order = the transaction
date as epoch seconds: same-day buys tie, and the split's tie rule applies), every buy kept
(repeats too: ``duplicates = "first"`` in a suite's preprocessing keeps the first buy of an asset).

Item side data: the static attributes of the catalogue (category, sub-category, sector, industry,
market; each ISIN's earliest row) as one-hot ``item_features``, the same values as attribute ids,
and name + attributes as ``item_text``. Asset prices are not used: ``limit_prices.csv`` holds the
return between an asset's first and last price of the whole period, which includes every test
date, so it would leak the future; a leak-free return needs ``close_prices.csv`` cut at each split's
cutoff, which this dataset does not read.

User side data: ``customerType``, ``riskLevel`` and ``investmentCapacity`` one-hot, from the
customer's profile as of their first buy (the latest row dated on or before it); a customer with
no such row gets the empty value (the ``=`` columns), so no profile from after the customer's
first interaction is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flm_bench.api import DataError, DatasetSpec, SourceFile, epoch_seconds, files_dataset, hookimpl, open_text
from flm_bench_plugins.realdata import Columns, SideData, canonical, flags_csr, index_of, one_hot, source_files

if TYPE_CHECKING:
    import pandas as pd

NAME = "far-trans"
DOI = "https://doi.org/10.5525/gla.researchdata.1658"
CATALOGUE = "finance/far-trans-partial/asset_information.csv.gz"
BROUGHT = "finance/far-trans"  # where the user's two files go, in the data folder

# Columns as the release's FAR-Trans-Data/README.txt lists them, in file order (read in the copy at
# github:serval-uni-lu/counterfactualFAR @ 6e934da3afd5d69c391eb835e0d125c2f70aa7c3); row counts and
# the customer file's size and sha256 as shared/datasets/SOURCES.md records them (finance/far-trans-partial).
TRANSACTIONS = SourceFile(
    path=f"{BROUGHT}/transactions.csv",
    sha256=None,  # not published; the row count and header are checked instead
    size=None,
    obtain=DOI,
    columns=(
        "customerID",
        "ISIN",
        "transactionID",
        "transactionType",
        "timestamp",
        "totalValue",
        "units",
        "channel",
        "marketID",
    ),
    rows=388_049,
)
CUSTOMERS = SourceFile(
    path=f"{BROUGHT}/customer_information.csv",
    sha256="c4ad52ebca90e32bf3df5eb64f362b7a3437b77d978b22627cc46927fe7064af",
    size=2_408_798,
    obtain=DOI,
    columns=("customerID", "customerType", "riskLevel", "investmentCapacity", "lastQuestionnaireDate", "timestamp"),
    rows=32_468,
)
ITEM_ATTRIBUTES = ("assetCategory", "assetSubCategory", "sector", "industry", "marketID")
USER_ATTRIBUTES = ("customerType", "riskLevel", "investmentCapacity")


def _read(path: Path) -> pd.DataFrame:
    """A FAR-Trans CSV file (quoted fields, UTF-8) with every value a string ('' when empty)."""
    import pandas as pd

    with open_text(path, encoding="utf-8-sig") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False, na_filter=False)


def _seconds(values: pd.Series, what: str) -> np.ndarray:
    """Dates (YYYY-MM-DD, a time of day allowed) as int64 epoch seconds."""
    import pandas as pd

    parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise DataError(f"{what}: {values.iloc[row]!r} (row {row + 2}) is not a date")
    return epoch_seconds(parsed)


def _one_hot(values: pd.DataFrame, vocabulary: pd.DataFrame, what: str) -> tuple[np.ndarray, list[str]]:
    """float32 one-hot of each column of ``values`` over the sorted distinct values of that column of
    ``vocabulary`` plus '' (unknown), and the ``column=value`` name of each feature."""
    parts, names = [], []
    for col in values.columns:
        vocab = sorted({"", *vocabulary[col].tolist()})
        parts.append(one_hot(values[col].to_numpy(), vocab, f"{what} {col}"))
        names += [f"{col}={v}" for v in vocab]
    return np.concatenate(parts, axis=1).astype(np.float32), names


def item_side(catalogue: pd.DataFrame, item_ids: np.ndarray) -> SideData:
    """One-hot attributes, attribute ids and text of each ISIN (its earliest catalogue row; an ISIN
    without a row has every attribute unknown)."""
    first = catalogue.sort_values("timestamp", kind="stable").drop_duplicates("ISIN")
    rows = index_of(first["ISIN"].to_numpy(), item_ids)
    known = first.iloc[np.maximum(rows, 0)].reset_index(drop=True)
    fields = known[["assetName", *ITEM_ATTRIBUTES]].where(np.repeat((rows >= 0)[:, None], 6, axis=1), "")
    features, names = _one_hot(fields[list(ITEM_ATTRIBUTES)], first, "asset_information.csv")
    indptr, ids = flags_csr(features[:, [not n.endswith("=") for n in names]] > 0)
    text = [" | ".join(v for v in row if v) for row in fields.itertuples(index=False)]
    return {"item_features": features, "item_attr_indptr": indptr, "item_attr_ids": ids, "item_text": np.array(text)}


def user_features(customers: pd.DataFrame, first_buy: pd.Series) -> np.ndarray:
    """One-hot profile of each customer of ``first_buy`` (customer id -> epoch seconds of their first
    buy), from their latest profile row dated on or before that buy; in ``first_buy``'s order."""
    import pandas as pd

    profiles = customers.assign(at=_seconds(customers["timestamp"], "customer_information.csv timestamp"))
    users = pd.DataFrame({"customerID": first_buy.index.astype(str), "at": first_buy.to_numpy(np.int64)})
    matched = pd.merge_asof(
        users.reset_index().sort_values("at", kind="stable"),
        profiles.sort_values("at", kind="stable"),
        on="at",
        by="customerID",
    ).sort_values("index")
    values = matched[list(USER_ATTRIBUTES)].fillna("").reset_index(drop=True)
    return _one_hot(values, customers, "customer_information.csv")[0]


def parse_far_trans(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
    """Buys as interactions, the catalogue as item side data, the customer profile as user features."""
    import pandas as pd

    log = _read(files["transactions.csv"])
    kinds = set(log["transactionType"].unique().tolist())
    if not kinds <= {"Buy", "Sell"}:
        raise DataError(f"transactions.csv: transactionType holds {sorted(kinds - {'Buy', 'Sell'})}, expected Buy/Sell")
    buys = log[log["transactionType"] == "Buy"]
    if buys.empty:
        raise DataError("transactions.csv: holds no Buy transaction")
    when = _seconds(buys["timestamp"], "transactions.csv timestamp")
    columns, side = canonical(buys["customerID"].to_numpy(), buys["ISIN"].to_numpy(), when)
    side.update(item_side(_read(files["asset_information.csv.gz"]), side["item_ids"]))
    first_buy = pd.Series(when, index=buys["customerID"].to_numpy()).groupby(level=0).min()
    side["user_features"] = user_features(_read(files["customer_information.csv"]), first_buy.loc[side["user_ids"]])
    return columns, side


def far_trans_dataset(brought: Sequence[SourceFile] = (TRANSACTIONS, CUSTOMERS)) -> DatasetSpec:
    """The ``far-trans`` dataset over the catalogue and the user's ``brought`` files (the defaults
    declare the published release; a test declares the files it generated)."""
    return files_dataset(
        NAME,
        "finance",
        (*source_files(CATALOGUE), *brought),
        parse_far_trans,
        timestamped=True,
        ordered=True,
        family="far-trans",
        description=(
            "FAR-Trans: retail investors of a European bank buying 806 financial assets (stocks, bonds, "
            "mutual funds), 2018-2022; interactions = the Buy transactions, by date (the release: 388,049 "
            "transactions, 228,913 buys, 29,090 customers). Bring transactions.csv and customer_information.csv "
            f"from {DOI} into <data folder>/{BROUGHT}/ (`flm-bench data info far-trans` shows where). "
            "item_features: one-hot category, sub-category, sector, industry, market (earliest catalogue "
            "row), also as attribute ids, name + attributes as item_text; asset returns are not used "
            "(limit_prices.csv spans the whole period, test dates included: future information). "
            "user_features: one-hot customerType, riskLevel, investmentCapacity as of the customer's "
            "first buy"
        ),
        license="CC-BY 4.0 (FAR-Trans-Data/README.txt)",
        citation=(
            "Javier Sanz-Cruzado, Nikolaos Droukas, Richard McCreadie. 2024. FAR-Trans: An Investment "
            "Dataset for Financial Asset Recommendation. IJCAI-2024 Workshop on Recommender Systems in "
            "Finance (Fin-RecSys). arXiv:2407.08692"
        ),
        source=(
            f"{DOI} (University of Glasgow Enlighten: Research Data). asset_information.csv: "
            "github:jash0803/financial-asset-recommendation FAR-Trans-Data/ @ "
            "9c36a37a36ca428828d32138cf4869b2a0217afd (gzipped in the mirror); transactions.csv and "
            "customer_information.csv: brought by the user, unmodified"
        ),
    )


@hookimpl
def flm_bench_register_datasets(register):
    register(far_trans_dataset())
