"""The real finance datasets of ``plugins/finance.py``, loaded from ``../shared/datasets``.

Both are customer x product holdings without order, split with ``random-holdout`` (hold one
owned product out per customer, as in the Zimnat challenge). Spot checks compare canonical
rows with raw rows of the CSV files, read here independently of the parsers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datasets_helpers import check_dataset, default_split, index_of, load

from flm_bench.data.sources import open_text
from flm_bench.data.splits import make_split

pytestmark = pytest.mark.realdata  # every test reads ../shared/datasets

COUNTS = {  # users, items, interactions
    "zimnat": (29_132, 21, 66_353),  # SOURCES.md: Train.csv
    "coil2000": (5_213, 22, 10_622),  # SOURCES.md gives customers only (5,822); see the plugin
}


def holdings(data) -> dict[str, set[str]]:
    """Raw customer id -> raw product ids owned, from the canonical table."""
    users = data.side["user_ids"][data.column("user")]
    items = data.side["item_ids"][data.column("item")]
    out: dict[str, set[str]] = {}
    for u, i in zip(users.tolist(), items.tolist()):
        out.setdefault(u, set()).add(i)
    return out


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_schema_and_metadata(real_data: Path, name: str) -> None:
    _, data = check_dataset(name, "finance", COUNTS[name])
    assert (data.timestamped, data.ordered) == (False, False)
    assert data.table.column_names == ["user", "item", "order"]
    assert not data.column("order").any()
    feats = data.side["user_features"]
    assert feats.dtype == np.float32 and len(feats) == data.n_users
    assert np.isfinite(feats).all() and feats.min() >= 0 and feats.max() <= 1
    default_split(data)  # unordered: leave-one-out refuses, naming random-holdout


def _check_holdout(data, n_evaluated: int) -> None:
    """Every evaluated customer has exactly one test product, owned and not in their history."""
    owned = np.zeros((data.n_users, data.n_items), dtype=bool)
    owned[data.column("user"), data.column("item")] = True
    split = make_split(data, "random-holdout")
    assert len(split.test) == n_evaluated
    assert split.test.targets.lengths().tolist() == [1] * n_evaluated
    target = split.test.targets.items
    assert owned[split.test.users, target].all()
    for k in range(0, n_evaluated, max(1, n_evaluated // 50)):
        history = split.test.history.get(k)
        assert target[k] not in history
        assert len(history) + 1 == owned[split.test.users[k]].sum()  # the rest of the basket


def test_zimnat(real_data: Path) -> None:
    data = load("zimnat")
    with open_text(real_data / "finance/zimnat-insurance-zindi/Train.csv.gz") as f:
        raw = pd.read_csv(f, dtype={"ID": str, "join_date": str})
    products = list(raw.columns[8:])
    assert sorted(data.side["item_ids"].tolist()) == sorted(products) and len(products) == 21
    # first row: 4WKQSBB,1/2/2019,F,M,1987,1X1H,2A7I,T4MS, owns RVSZ and K6QO
    assert data.side["user_ids"][data.column("user")[0]] == "4WKQSBB"
    basket = holdings(data)
    assert basket["4WKQSBB"] == {"RVSZ", "K6QO"}
    for row in (1, 1000, len(raw) - 1):
        assert basket[raw["ID"][row]] == {p for p in products if raw[p][row] == 1}
    # user features: [join scaled, join missing, birth_year scaled, sex F/M, marital (8), ...]
    feats = data.side["user_features"]
    assert feats.shape == (29_132, 3 + 2 + 8 + 15 + 6 + 233)
    first = feats[index_of(data.side["user_ids"], "4WKQSBB")]
    born = raw["birth_year"]
    assert first[2] == pytest.approx((1987 - born.min()) / (born.max() - born.min()))
    assert first[3:5].tolist() == [1.0, 0.0]  # sex F
    assert first[5:13].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]  # marital M of D M P R S U W f
    assert feats[:, 3:].sum(axis=1).tolist() == [5.0] * 29_132  # five one-hot groups
    # join_date is d/m/Y: 1/2/2019 is 1 February 2019; the two empty dates are flagged
    days = (pd.to_datetime(raw["join_date"], format="%d/%m/%Y") - pd.Timestamp("1970-01-01")).dt.days
    assert first[0] == pytest.approx((17_928 - days.min()) / (days.max() - days.min()), abs=1e-6)
    assert pd.Timestamp("1970-01-01") + pd.Timedelta(days=17_928) == pd.Timestamp("2019-02-01")
    missing = {data.side["user_ids"][u] for u in np.flatnonzero(feats[:, 1] == 1)}
    assert missing == {"HJJGYKK", "QZFEQGO"}
    assert feats[:, 1].sum() == 2 and (feats[feats[:, 1] == 1, 0] == 0).all()
    _check_holdout(data, n_evaluated=6400)  # customers owning >= 3 products


@pytest.mark.slow
def test_coil2000(real_data: Path) -> None:
    data = load("coil2000")
    with open_text(real_data / "finance/coil2000-caravan-islp/Caravan.csv.gz") as f:
        raw = pd.read_csv(f)
    counts = [c for c in raw.columns if c.startswith("A")]
    assert sorted(data.side["item_ids"].tolist()) == sorted([*counts, "CARAVAN"])
    basket = holdings(data)
    expected = {
        str(k + 1): {c for c in counts if raw[c][k] > 0} | ({"CARAVAN"} if raw["Purchase"][k] == "Yes" else set())
        for k in range(len(raw))
    }
    assert basket == {k: v for k, v in expected.items() if v}
    assert basket["1"] == {"APERSAUT", "ABRAND"}  # first row: one car policy, one fire policy
    caravan = index_of(data.side["item_ids"], "CARAVAN")
    assert (data.column("item") == caravan).sum() == 348  # Purchase == "Yes"
    feats = data.side["user_features"]
    assert feats.shape == (5_213, 41 + 10 + 41)
    first = feats[index_of(data.side["user_ids"], "1")]
    assert np.flatnonzero(first[:41]).tolist() == [33 - 1]  # MOSTYPE 33
    _check_holdout(data, n_evaluated=1695)  # customers holding >= 3 policy types
