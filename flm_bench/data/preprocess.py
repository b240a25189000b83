"""Optional preprocessing of a dataset before it is split: duplicates, implicit feedback, k-core.

Every option is recorded in each record and changes the dataset's fingerprint. The default
(:class:`Preprocess` with no fields set) leaves the raw data untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flm_bench.data.table import InteractionData, fingerprint, from_table
from flm_bench.errors import DataError


class Preprocess(BaseModel):
    """What to do to the raw interactions (all off by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicates: Literal["keep", "first", "last"] = Field(
        "keep", description="repeated (user, item) pairs: keep all, or only the first / last by order"
    )
    rating_threshold: float | None = Field(
        None, description="implicit feedback: keep interactions with rating >= this value"
    )
    min_user_interactions: int = Field(0, ge=0, description="k-core: users need at least this many")
    min_item_interactions: int = Field(0, ge=0, description="k-core: items need at least this many")

    @property
    def is_identity(self) -> bool:
        return self == Preprocess()


def preprocess_options(options: Preprocess | Mapping[str, Any]) -> Preprocess:
    """``options`` as a :class:`Preprocess` (e.g. a record's ``dataset.preprocess``)."""
    if isinstance(options, Preprocess):
        return options
    try:
        return Preprocess.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise DataError(f"{dict(options)} is not a valid preprocessing: field {where}: {error['msg']}") from None


def prepare_data(loaded: InteractionData, options: Preprocess | Mapping[str, Any]) -> InteractionData:
    """A loaded dataset made ready to split: the one preparation ``run`` and ``publish`` share."""
    return apply(loaded, preprocess_options(options))


def _k_core(user: np.ndarray, item: np.ndarray, keep: np.ndarray, min_user: int, min_item: int) -> np.ndarray:
    """Drop users and items below their minimum until every remaining one meets it."""
    while True:
        u_count = np.bincount(user[keep], minlength=user.max() + 1)
        i_count = np.bincount(item[keep], minlength=item.max() + 1)
        ok = keep & (u_count[user] >= min_user) & (i_count[item] >= min_item)
        if (ok == keep).all():
            return keep
        keep = ok


def _compact(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """New dense codes keeping relative order, and the old code of each new one."""
    present = np.flatnonzero(np.bincount(codes, minlength=n))
    remap = np.full(n, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    return remap, present


def apply(data: InteractionData, options: Preprocess) -> InteractionData:
    """``data`` with ``options`` applied (the same object when nothing is asked for)."""
    if options.is_identity:
        return data
    user, item, order = (np.asarray(data.column(c), dtype=np.int64) for c in ("user", "item", "order"))
    rows = np.arange(len(user))
    keep = np.ones(len(user), dtype=bool)
    if options.rating_threshold is not None:
        if not data.has_column("rating"):
            raise DataError(f"dataset {data.name!r} has no ratings; preprocess.rating_threshold needs them")
        keep &= np.asarray(data.column("rating")) >= options.rating_threshold
    if options.duplicates != "keep":
        sort = np.lexsort((rows, order, item, user))
        same_next = np.r_[(user[sort][1:] == user[sort][:-1]) & (item[sort][1:] == item[sort][:-1]), False]
        same_prev = np.r_[False, same_next[:-1]]
        drop = same_prev if options.duplicates == "first" else same_next
        keep[sort[drop]] = False
    keep = _k_core(user, item, keep, options.min_user_interactions, options.min_item_interactions)
    if not keep.any():
        raise DataError(
            f"dataset {data.name!r}: preprocessing {options.model_dump(exclude_defaults=True)} "
            "removed every interaction"
        )
    user_map, users_kept = _compact(user[keep], data.n_users)
    item_map, items_kept = _compact(item[keep], data.n_items)
    columns = {c: np.asarray(data.column(c))[keep] for c in data.table.column_names}
    columns["user"], columns["item"] = user_map[user[keep]], item_map[item[keep]]
    import datasets

    table = datasets.Dataset.from_dict(columns)
    side = _subset_side(data, users_kept, items_kept, user_map)
    out = from_table(
        data.name,
        data.domain,
        table,
        timestamped=data.timestamped,
        ordered=data.ordered,
        side=side,
        synthetic=data.synthetic,
    )
    return InteractionData(**{**out.__dict__, "fingerprint": fingerprint(out.fingerprint, options.model_dump())})


def _subset_side(
    data: InteractionData, users: np.ndarray, items: np.ndarray, user_map: np.ndarray
) -> dict[str, np.ndarray]:
    side: dict[str, np.ndarray] = {}
    for key, array in data.side.items():
        if key in ("item_features", "item_text", "item_ids"):
            side[key] = array[items]
        elif key in ("user_features", "user_ids"):
            side[key] = array[users]
        elif key == "social_edges":
            mapped = user_map[array] if len(array) else array
            side[key] = mapped[(mapped >= 0).all(axis=1)] if len(array) else array
        elif key == "item_attr_indptr":
            ids = data.side["item_attr_ids"]
            parts = [ids[array[i] : array[i + 1]] for i in items]
            side["item_attr_indptr"] = np.r_[0, np.cumsum([len(p) for p in parts])].astype(np.int64)
            side["item_attr_ids"] = np.concatenate(parts) if parts else ids[:0]
    return side
