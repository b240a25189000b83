"""The canonical interaction table, on Hugging Face ``datasets`` (Arrow), and its numpy views.

Every dataset becomes one table with columns ``user`` and ``item`` (dense int64 indices),
``order`` (int64: a timestamp when ``timestamped``, else the position in the user's
sequence) and optionally ``rating`` (float32) and ``fold`` (int8: 0 train, 1 valid, 2 test,
for datasets published with their own split). Side data are numpy arrays keyed by the
names in :data:`SIDE_KEYS`. Tables and side data are cached on disk by a fingerprint of
what produced them, so a second load is a memory-mapped read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.errors import DataError

if TYPE_CHECKING:
    import datasets
    import pandas as pd

COLUMNS = ("user", "item", "order")
CACHE_ENV = "FLM_BENCH_CACHE_DIR"
SIDE_DIR = "side"
CACHE_LAYOUT = 2  # bump when what build_table writes changes, so old cache entries are not read

#: Side data a dataset may carry, and what each array holds.
SIDE_KEYS: dict[str, str] = {
    "item_features": "[n_items, d] float32 dense item features",
    "item_text": "[n_items] str: title / description text per item ('' when unknown)",
    "item_attr_indptr": "[n_items + 1] int64 CSR row pointers into item_attr_ids",
    "item_attr_ids": "[nnz] int64 attribute ids (categories, genres, tags, brands) per item",
    "item_ids": "[n_items] str: the item's id in the source files",
    "user_ids": "[n_users] str: the user's id in the source files",
    "user_features": "[n_users, d] float32 dense user profile features",
    "social_edges": "[n_edges, 2] int64 directed user -> user edges (trust, friendship)",
}

Side = Mapping[str, np.ndarray]


def cache_dir() -> Path:
    """Where parsed tables and checkpoints are cached (``FLM_BENCH_CACHE_DIR`` overrides)."""
    import platformdirs

    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("flm-bench"))


def fingerprint(*parts: Any) -> str:
    """A stable sha256 hex digest of numpy arrays and JSON-able values."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def index_ids(raw: np.ndarray, *, hashed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dense int64 codes for raw ids, and the vocabulary (the raw id of each code, as str).

    With ``hashed``, codes follow a hash of the raw id, so indices carry no information about
    when an id first appeared (use it for items: ties are broken by item index). Otherwise
    codes follow the sorted raw ids.
    """
    vocab, codes = np.unique(np.asarray(raw).astype(str), return_inverse=True)
    if hashed:
        keys = np.array([hashlib.blake2b(v.encode(), digest_size=8).digest() for v in vocab.tolist()], dtype="S8")
        perm = np.argsort(keys, kind="stable")
        rank = np.empty_like(perm)
        rank[perm] = np.arange(len(perm))
        return rank[codes].astype(np.int64), vocab[perm]
    return codes.astype(np.int64), vocab


def table_column(table: datasets.Dataset, name: str) -> np.ndarray:
    """A column of an Arrow-backed dataset as numpy, without per-row formatting."""
    return table.data.column(name).to_numpy()


@dataclass(frozen=True)
class InteractionData:
    """A dataset's interactions (an Arrow table) plus optional side data."""

    name: str
    domain: str
    table: datasets.Dataset
    n_users: int
    n_items: int
    timestamped: bool
    fingerprint: str
    ordered: bool = True  # ``order`` means something (time or sequence position)
    side: Side = field(default_factory=dict)
    synthetic: bool = False

    def column(self, name: str) -> np.ndarray:
        """One column as a numpy array (zero-copy where Arrow allows)."""
        return table_column(self.table, name)

    def has_column(self, name: str) -> bool:
        return name in self.table.column_names

    @property
    def item_features(self) -> np.ndarray | None:
        return self.side.get("item_features")

    @property
    def n_interactions(self) -> int:
        return self.table.num_rows


def build_table(
    key: Mapping[str, Any],
    make: Callable[[], tuple[dict[str, np.ndarray], Side]],
) -> tuple[datasets.Dataset, dict[str, np.ndarray]]:
    """The table and side data ``make()`` builds, cached under a fingerprint of ``key``.

    ``key`` must name everything the table depends on (source digests, options, versions).
    The cache entry is written to a temporary folder and renamed into place, so a killed
    process never leaves a half-written table; the second load is a memory-mapped read.
    Side arrays are saved with ``np.save`` (no pickles: numbers and strings only).
    """
    import datasets

    datasets.disable_progress_bars()
    digest = fingerprint(dict(key), CACHE_LAYOUT)
    target = cache_dir() / "tables" / digest
    if not target.exists():
        columns, side = make()
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            raise DataError(f"table {key.get('name', digest[:12])!r} lacks columns {missing}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=target.parent))
        try:
            table = datasets.Dataset.from_dict({k: np.asarray(v) for k, v in columns.items()})
            table.save_to_disk(str(tmp / "table"))
            (tmp / SIDE_DIR).mkdir()
            for name, array in side.items():
                np.save(tmp / SIDE_DIR / f"{name}.npy", _storable(name, array), allow_pickle=False)
            os.replace(tmp, target)
        except OSError:
            if not target.exists():  # a concurrent writer may have won the rename
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    side = {p.stem: np.load(p, allow_pickle=False) for p in sorted((target / SIDE_DIR).glob("*.npy"))}
    return datasets.load_from_disk(str(target / "table")), side


def _storable(name: str, array: np.ndarray) -> np.ndarray:
    if name not in SIDE_KEYS:
        raise DataError(f"unknown side data {name!r}; expected one of {list(SIDE_KEYS)}")
    array = np.asarray(array)
    if array.dtype.kind == "O":
        array = array.astype(str)
    return array


def merge(name: str, parts: list[InteractionData]) -> InteractionData:
    """One table holding several datasets with disjoint user and item index ranges.

    Used for pretraining corpora. Of the side data, item features are kept only if every part
    has them with the same width; item text is kept when any part has it ('' for the others);
    item attributes are kept when any part has them (no attributes for the others), their
    ids offset per part so that one dataset's attribute 3 is not another's.
    """
    import datasets

    if not parts:
        raise DataError(f"corpus {name!r} has no datasets")
    tables, feats, u_off, i_off = [], [], 0, 0
    texts, indptrs, attrs, a_off = [], [np.zeros(1, np.int64)], [], 0
    for part in parts:
        cols = {c: part.column(c) for c in COLUMNS}
        cols["user"] = cols["user"] + u_off
        cols["item"] = cols["item"] + i_off
        tables.append(datasets.Dataset.from_dict(cols))
        feats.append(part.item_features)
        texts.append(np.asarray(part.side.get("item_text", np.full(part.n_items, "")), dtype=str))
        ptr = np.asarray(part.side.get("item_attr_indptr", np.zeros(part.n_items + 1, np.int64)), dtype=np.int64)
        ids = np.asarray(part.side.get("item_attr_ids", np.zeros(0, np.int64)), dtype=np.int64)
        indptrs.append(ptr[1:] + indptrs[-1][-1])
        attrs.append(ids + a_off)
        a_off += int(ids.max()) + 1 if len(ids) else 0
        u_off += part.n_users
        i_off += part.n_items
    widths = {f.shape[1] if f is not None else None for f in feats}
    side: dict[str, np.ndarray] = {}
    if len(widths) == 1 and None not in widths:
        side["item_features"] = np.concatenate([f for f in feats if f is not None])
    if any("item_text" in p.side for p in parts):
        side["item_text"] = np.concatenate(texts)
    if any("item_attr_indptr" in p.side for p in parts):
        side["item_attr_indptr"], side["item_attr_ids"] = np.concatenate(indptrs), np.concatenate(attrs)
    return InteractionData(
        name=name,
        domain="mixed",
        table=datasets.concatenate_datasets(tables),
        n_users=u_off,
        n_items=i_off,
        timestamped=all(p.timestamped for p in parts),
        fingerprint=fingerprint([p.fingerprint for p in parts]),
        ordered=all(p.ordered for p in parts),
        side=side,
        synthetic=all(p.synthetic for p in parts),
    )


def from_table(
    name: str,
    domain: str,
    table: datasets.Dataset,
    *,
    timestamped: bool,
    ordered: bool | None = None,
    side: Side | None = None,
    synthetic: bool = False,
) -> InteractionData:
    """Wrap a canonical table, checking columns and side data and fingerprinting the content."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"dataset {name!r} lacks columns {missing}; expected {list(COLUMNS)}")
    user, item, order = (np.asarray(table_column(table, c), dtype=np.int64) for c in COLUMNS)
    if len(user) == 0:
        raise DataError(f"dataset {name!r} has no interactions")
    if user.min() < 0 or item.min() < 0:
        raise DataError(f"dataset {name!r} has negative user or item indices")
    side = dict(side or {})
    n_users = max(int(user.max()) + 1, len(side.get("user_ids", ())))
    n_items = max(int(item.max()) + 1, len(side.get("item_ids", ())))
    _check_side(name, side, n_users, n_items)
    extra = [table_column(table, c) for c in table.column_names if c not in COLUMNS]
    digest = fingerprint(user, item, order, *extra, *(side[k] for k in sorted(side)), sorted(side))
    is_ordered = timestamped if ordered is None else ordered
    return InteractionData(name, domain, table, n_users, n_items, timestamped, digest, is_ordered, side, synthetic)


def _check_side(name: str, side: Side, n_users: int, n_items: int) -> None:
    rows = {
        "item_features": n_items,
        "item_text": n_items,
        "item_ids": n_items,
        "item_attr_indptr": n_items + 1,
        "user_ids": n_users,
        "user_features": n_users,
    }
    for key, array in side.items():
        if key not in SIDE_KEYS:
            raise DataError(f"dataset {name!r}: unknown side data {key!r}; expected one of {list(SIDE_KEYS)}")
        if key in rows and len(array) != rows[key]:
            raise DataError(f"dataset {name!r}: side data {key!r} has {len(array)} rows, expected {rows[key]}")
    edges = side.get("social_edges")
    if edges is not None and len(edges) and (edges.ndim != 2 or edges.shape[1] != 2 or edges.max() >= n_users):
        raise DataError(f"dataset {name!r}: social_edges must be [n, 2] user indices below {n_users}")


def epoch_seconds(parsed: pd.Series) -> np.ndarray:
    """Parsed UTC datetimes as int64 seconds since 1970, whatever pandas' resolution (pandas 3
    parses to microseconds, so integer casts of the raw values are not nanoseconds)."""
    import pandas as pd

    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def canonical(
    users: Sequence[Any] | np.ndarray,
    items: Sequence[Any] | np.ndarray,
    order: Sequence[Any] | np.ndarray,
    *,
    rating: np.ndarray | None = None,
    fold: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Canonical columns (``user``, ``item``, ``order`` [, ``rating``, ``fold``]) from raw ids, plus
    side data with the ``user_ids`` / ``item_ids`` vocabularies (raw id of each index).

    Users are numbered in sorted raw-id order; items by a hash of the raw id, so an item's
    index says nothing about when it first appeared. Row order is kept as given.
    """
    user, user_ids = index_ids(np.asarray(users), hashed=False)
    item, item_ids = index_ids(np.asarray(items), hashed=True)
    columns = {"user": user, "item": item, "order": np.asarray(order, dtype=np.int64)}
    if rating is not None:
        columns["rating"] = np.asarray(rating, dtype=np.float32)
    if fold is not None:
        columns["fold"] = np.asarray(fold, dtype=np.int8)
    return columns, {"user_ids": user_ids, "item_ids": item_ids}
