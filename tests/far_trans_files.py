"""Generated FAR-Trans files in the published format (real ISINs from the real catalogue, made-up
customers), laid out in a data folder beside a link to the real catalogue, and a plugin that
declares them: the published release is too big for the repository and is not ours to copy."""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from fake_plugins import fake_plugin_env

from flm_bench.api import DatasetSpec, sha256_of
from flm_bench_plugins.far_trans import CATALOGUE, CUSTOMERS, TRANSACTIONS, far_trans_dataset

RISK = ("Conservative", "Income", "Balanced", "Aggressive", "Predicted_Income", "Not_Available")
CAPACITY = ("CAP_LT30K", "CAP_30K_80K", "Predicted_CAP_LT30K", "Not_Available")
TYPES = ("Mass", "Premium", "Professional")
CHANNELS = ("Internet Banking", "Phone Banking", "Branch")


@dataclass(frozen=True)
class FarTransFiles:
    """A data folder holding the generated files, and what was generated."""

    data_dir: Path
    transactions: list[dict[str, str]]
    customers: list[dict[str, str]]

    @property
    def buys(self) -> list[dict[str, str]]:
        return [t for t in self.transactions if t["transactionType"] == "Buy"]


def catalogue_rows(shared_datasets: Path) -> list[dict[str, str]]:
    """The real asset catalogue, one dict per row."""
    with gzip.open(shared_datasets / CATALOGUE, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _customers(ids: list[str], rng: np.random.Generator) -> list[dict[str, str]]:
    """1-3 profile rows per customer (a customer's profile changes over time), the first of most dated 2018-01-02."""
    rows = []
    for i, cid in enumerate(ids):
        dates = ["2018-01-02"] + [f"20{rng.integers(19, 23)}-0{rng.integers(1, 10)}-1{rng.integers(0, 10)}"]
        for when in dates[: 1 + i % 2]:
            risk, cap = RISK[int(rng.integers(len(RISK)))], CAPACITY[int(rng.integers(len(CAPACITY)))]
            rows.append(
                {
                    "customerID": cid,
                    "customerType": TYPES[i % len(TYPES)],
                    "riskLevel": risk,
                    "investmentCapacity": cap,
                    "lastQuestionnaireDate": "2000-01-01" if risk.startswith("Predicted") else when,
                    "timestamp": when,
                }
            )
    return rows


def _transactions(ids: list[str], assets: list[dict[str, str]], rng: np.random.Generator) -> list[dict[str, str]]:
    """4-9 transactions per customer over 2018-2022, mostly buys, assets drawn with a popularity skew."""
    weights = 1.0 / np.arange(1, len(assets) + 1)
    rows = []
    for cid in ids:
        for _ in range(int(rng.integers(4, 10))):
            asset = assets[int(rng.choice(len(assets), p=weights / weights.sum()))]
            units = float(rng.integers(1, 500))
            rows.append(
                {
                    "customerID": cid,
                    "ISIN": asset["ISIN"],
                    "transactionID": f"{len(rows) + 1:08d}",
                    "transactionType": "Sell" if rng.random() < 0.2 else "Buy",
                    "timestamp": f"20{rng.integers(18, 23)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
                    "totalValue": f"{units * float(rng.uniform(1, 90)):.2f}",
                    "units": f"{units:.1f}",
                    "channel": CHANNELS[int(rng.integers(len(CHANNELS)))],
                    "marketID": asset["marketID"],
                }
            )
    return rows


def generate(shared_datasets: Path, data_dir: Path, n_customers: int = 60, seed: int = 0) -> FarTransFiles:
    """Write ``transactions.csv`` and ``customer_information.csv`` under ``data_dir`` and link the
    real catalogue beside them. The last customer has no profile row; one asset is not in the catalogue."""
    rng = np.random.default_rng(seed)
    catalogue = catalogue_rows(shared_datasets)
    picked = rng.choice(len(catalogue), size=40, replace=False)
    assets = [catalogue[int(i)] for i in picked] + [{"ISIN": "XS0000000001", "marketID": "XLUX"}]
    ids = [hashlib.sha1(str(i).encode()).hexdigest()[:20].upper() for i in range(n_customers)]
    transactions, customers = _transactions(ids, assets, rng), _customers(ids[:-1], rng)
    write_csv(data_dir / TRANSACTIONS.path, TRANSACTIONS.columns, transactions)
    write_csv(data_dir / CUSTOMERS.path, CUSTOMERS.columns, customers)
    (data_dir / CATALOGUE).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / CATALOGUE).symlink_to(shared_datasets / CATALOGUE)
    return FarTransFiles(data_dir, transactions, customers)


def declared_spec(data_dir: Path) -> DatasetSpec:
    """``far-trans`` declaring the generated files in ``data_dir`` (their rows, the customer file's
    size and digest) instead of the release's: the loader and its checks are the shipped ones."""
    customers = data_dir / CUSTOMERS.path

    def rows(path: Path) -> int:  # generated lines hold no quoted line breaks
        return len(path.read_text(encoding="utf-8").splitlines()) - 1

    brought = (
        replace(TRANSACTIONS, rows=rows(data_dir / TRANSACTIONS.path)),
        replace(CUSTOMERS, rows=rows(customers), sha256=sha256_of(customers), size=customers.stat().st_size),
    )
    return far_trans_dataset(brought)


#: A plugin registering :func:`declared_spec` of ``$FAR_TRANS_TEST_DIR`` (with ``tests/`` on the
#: path and the built-in ``far_trans`` plugin disabled: see :func:`declaring_env`).
DECLARING_PLUGIN = """
import os
from pathlib import Path
from flm_bench.api import hookimpl
from far_trans_files import declared_spec

@hookimpl
def flm_bench_register_datasets(register):
    register(declared_spec(Path(os.environ["FAR_TRANS_TEST_DIR"])))
"""


def declaring_env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """The environment of a ``flm-bench`` subprocess whose ``far-trans`` declares the generated files."""
    site = tmp_path / "site"
    return fake_plugin_env(
        tmp_path,
        {"fake_far_trans": DECLARING_PLUGIN},
        PYTHONPATH=f"{site}{os.pathsep}{Path(__file__).parent}",
        FLM_BENCH_DISABLE_PLUGINS="far_trans",
        FAR_TRANS_TEST_DIR=str(data_dir),
        OMP_NUM_THREADS="1",
    )
