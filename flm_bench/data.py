"""The canonical interaction table, on Hugging Face ``datasets`` (Arrow), and its numpy views.

Every dataset becomes one table with columns ``user`` and ``item`` (dense int64 indices),
``order`` (int64: a timestamp when ``timestamped``, else the position in the user's
sequence) and optionally ``rating`` (float32). Optional item side data is a dense
``[n_items, d]`` float32 feature matrix. Tables are cached on disk by a fingerprint of what
produced them, so a second load is a memory-mapped read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.errors import DataError

if TYPE_CHECKING:
    import datasets

COLUMNS = ("user", "item", "order")
CACHE_ENV = "FLM_BENCH_CACHE_DIR"
FEATURES_FILE = "item_features.npy"


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


def table_column(table: datasets.Dataset, name: str) -> np.ndarray:
    """A column of an Arrow-backed dataset as numpy, without per-row formatting."""
    return table.data.column(name).to_numpy()


@dataclass(frozen=True)
class InteractionData:
    """A dataset's interactions (an Arrow table) plus optional item features."""

    name: str
    domain: str
    table: datasets.Dataset
    n_users: int
    n_items: int
    timestamped: bool
    fingerprint: str
    item_features: np.ndarray | None = None
    synthetic: bool = False

    def column(self, name: str) -> np.ndarray:
        """One column as a numpy array (zero-copy where Arrow allows)."""
        return table_column(self.table, name)

    @property
    def n_interactions(self) -> int:
        return self.table.num_rows


def build_table(
    key: Mapping[str, Any],
    make: Callable[[], tuple[dict[str, np.ndarray], np.ndarray | None]],
) -> tuple[datasets.Dataset, np.ndarray | None]:
    """The table and item features ``make()`` builds, cached under a fingerprint of ``key``.

    ``key`` must name everything the table depends on (source digests, options, versions).
    The cache entry is written to a temporary folder and renamed into place, so a killed
    process never leaves a half-written table; the second load is a memory-mapped read.
    """
    import datasets

    datasets.disable_progress_bars()
    digest = fingerprint(dict(key))
    target = cache_dir() / "tables" / digest
    if not target.exists():
        columns, item_features = make()
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            raise DataError(f"table {key.get('name', digest[:12])!r} lacks columns {missing}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=target.parent))
        try:
            table = datasets.Dataset.from_dict({k: np.asarray(v) for k, v in columns.items()})
            table.save_to_disk(str(tmp / "table"))
            if item_features is not None:
                np.save(tmp / FEATURES_FILE, np.asarray(item_features, dtype=np.float32))
            os.replace(tmp, target)
        except OSError:
            if not target.exists():  # a concurrent writer may have won the rename
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    features_path = target / FEATURES_FILE
    features = np.load(features_path) if features_path.exists() else None
    return datasets.load_from_disk(str(target / "table")), features


def merge(name: str, parts: list[InteractionData]) -> InteractionData:
    """One table holding several datasets with disjoint user and item index ranges.

    Used for pretraining corpora. Item features are kept only if every part has them with
    the same width; otherwise the merged data has none.
    """
    import datasets

    if not parts:
        raise DataError(f"corpus {name!r} has no datasets")
    tables, feats, u_off, i_off = [], [], 0, 0
    for part in parts:
        cols = {c: part.column(c) for c in COLUMNS}
        cols["user"] = cols["user"] + u_off
        cols["item"] = cols["item"] + i_off
        tables.append(datasets.Dataset.from_dict(cols))
        feats.append(part.item_features)
        u_off += part.n_users
        i_off += part.n_items
    widths = {f.shape[1] if f is not None else None for f in feats}
    features = np.concatenate(feats) if len(widths) == 1 and None not in widths else None
    return InteractionData(
        name=name,
        domain="mixed",
        table=datasets.concatenate_datasets(tables),
        n_users=u_off,
        n_items=i_off,
        timestamped=all(p.timestamped for p in parts),
        fingerprint=fingerprint([p.fingerprint for p in parts]),
        item_features=features,
        synthetic=all(p.synthetic for p in parts),
    )


def from_table(
    name: str,
    domain: str,
    table: datasets.Dataset,
    *,
    timestamped: bool,
    item_features: np.ndarray | None = None,
    synthetic: bool = False,
) -> InteractionData:
    """Wrap a canonical table, checking its columns and fingerprinting its content."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"dataset {name!r} lacks columns {missing}; expected {list(COLUMNS)}")
    user, item, order = (np.asarray(table_column(table, c), dtype=np.int64) for c in COLUMNS)
    if len(user) == 0:
        raise DataError(f"dataset {name!r} has no interactions")
    if user.min() < 0 or item.min() < 0:
        raise DataError(f"dataset {name!r} has negative user or item indices")
    n_items = int(item.max()) + 1
    if item_features is not None and item_features.shape[0] != n_items:
        raise DataError(
            f"dataset {name!r}: item_features has {item_features.shape[0]} rows, expected {n_items}"
        )
    return InteractionData(
        name=name,
        domain=domain,
        table=table,
        n_users=int(user.max()) + 1,
        n_items=n_items,
        timestamped=timestamped,
        fingerprint=fingerprint(user, item, order, item_features if item_features is not None else 0),
        item_features=item_features,
        synthetic=synthetic,
    )
