"""Shared by the real-dataset tests (``tests/test_data_*.py``): loading, lookups and checks.

A plain module (``from datasets_helpers import ...``): pytest puts ``tests/`` on ``sys.path``.
The tests that use :func:`load` request the ``real_data`` fixture, which points the loaders
at ``../shared/datasets``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from flm_bench.data.sources import open_text
from flm_bench.data.splits import Split, make_split
from flm_bench.data.table import InteractionData
from flm_bench.errors import DataError
from flm_bench.plugins import load_plugins
from flm_bench.specs import DatasetSpec

_STORE: dict[str, InteractionData] = {}


def spec(name: str) -> DatasetSpec:
    """The registered spec of a dataset."""
    return load_plugins().datasets.get(name)


def load(name: str) -> InteractionData:
    """A dataset loaded through its registered spec, once per test session (later calls return
    the same object; the table cache is session-wide too)."""
    if name not in _STORE:
        _STORE[name] = spec(name).load_data()
    return _STORE[name]


def index_of(vocab: np.ndarray, raw: str) -> int:
    """The canonical index of a raw id in a ``user_ids`` / ``item_ids`` vocabulary (exactly one)."""
    (found,) = np.flatnonzero(vocab == raw)
    return int(found)


def rows_of(data: InteractionData, user_raw: str) -> np.ndarray:
    """Table rows of one raw user, in table order."""
    return np.flatnonzero(np.asarray(data.column("user")) == index_of(data.side["user_ids"], user_raw))


def attrs(data: InteractionData, item_raw: str) -> list[int]:
    """The attribute ids of one raw item (its row of the item attribute CSR)."""
    i = index_of(data.side["item_ids"], item_raw)
    indptr = data.side["item_attr_indptr"]
    return data.side["item_attr_ids"][indptr[i] : indptr[i + 1]].tolist()


def check_dataset(name: str, domain: str, counts: tuple[int, int, int]) -> tuple[DatasetSpec, InteractionData]:
    """Check what every real dataset must satisfy, and return its spec and loaded data.

    The spec: its domain, non-empty description, license, citation and source, and files under
    ``<domain>/``. The data: (users, items, interactions) == ``counts``, the domain, not
    synthetic, int64 ``user`` / ``item`` / ``order`` columns, and vocabularies of distinct raw
    ids holding exactly the users and items that have interactions.
    """
    dataset = spec(name)
    assert dataset.domain == domain
    assert dataset.description and dataset.license and dataset.citation and dataset.source
    assert all(f.path.startswith(f"{domain}/") for f in dataset.files)
    data = load(name)
    assert (data.n_users, data.n_items, data.n_interactions) == counts
    assert data.domain == domain and not data.synthetic
    for column in ("user", "item", "order"):
        assert np.asarray(data.column(column)).dtype == np.int64
    assert len(data.side["user_ids"]) == data.n_users and len(data.side["item_ids"]) == data.n_items
    assert len(set(data.side["item_ids"].tolist())) == data.n_items
    assert len(np.unique(data.column("user"))) == data.n_users
    assert len(np.unique(data.column("item"))) == data.n_items
    return dataset, data


def default_split(data: InteractionData) -> Split:
    """The split a dataset gets by default: leave-one-out when it is ordered; otherwise
    leave-one-out must refuse it, naming random-holdout, which is used instead."""
    if data.ordered:
        return make_split(data, "leave-one-out")
    with pytest.raises(DataError, match="random-holdout"):
        make_split(data, "leave-one-out")
    return make_split(data, "random-holdout")


# --------------------------------------------------------------------- S3-Rec text format


def check_user_lines(data: InteractionData, lines: Sequence[str]) -> None:
    """Each ``user item_1 ... item_n`` line (S3-Rec text format) is that user's rows, in table
    order, with order 0 .. n-1."""
    for line in lines:
        user, *items = line.split()
        rows = rows_of(data, user)
        assert data.side["item_ids"][data.column("item")[rows]].tolist() == items
        assert data.column("order")[rows].tolist() == list(range(len(items)))


def check_distinct_attributes(data: InteractionData, item2attributes: Path, items: Sequence[str]) -> None:
    """These items' attribute ids are the distinct ids the ``item2attributes`` JSON lists, sorted."""
    with open_text(item2attributes) as f:
        item2attr = json.load(f)
    for item in items:
        assert attrs(data, item) == sorted(set(item2attr[item]))


def check_last_item_held_out(data: InteractionData, lines: Sequence[str]) -> Split:
    """The leave-one-out split of S3-Rec-format data, checked on its first and last test user:
    the target is the last item of the user's line, the history the items before it."""
    split = make_split(data, "leave-one-out")
    by_user = {line.split()[0]: line.split()[1:] for line in lines}
    for k in (0, len(split.test) - 1):
        raw = data.side["user_ids"][split.test.users[k]]
        assert data.side["item_ids"][split.test.targets.get(k)].tolist() == by_user[raw][-1:]
        assert data.side["item_ids"][split.test.history.get(k)].tolist() == by_user[raw][:-1]
    return split
