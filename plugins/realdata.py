"""Shared by the real-data plugins: their declared files and the one loader they all use.

File declarations (mirror path, sha256, size, original URL and digest) come from
``sources.json``, derived from ``shared/datasets/manifest.json``: metadata only, never the
data. A plugin describes a dataset with :func:`real_dataset`, giving a ``parse`` function
that turns the fetched files into canonical columns (see :func:`canonical`) and side data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from flm_bench.specs import DatasetSpec
from flm_bench.sources import SourceFile

Columns = dict[str, np.ndarray]
SideData = dict[str, np.ndarray]
#: parse(files) -> (columns, side); ``files`` maps each declared file's name to a local path,
#: which may hold the stored (gzipped) or the original bytes: read it with ``sources.open_text``.
Parser = Callable[[Mapping[str, Path]], tuple[Columns, SideData]]


@functools.cache
def _declared() -> dict[str, dict]:
    return json.loads(resources.files("flm_bench_plugins").joinpath("sources.json").read_text())


def source_files(*paths: str) -> tuple[SourceFile, ...]:
    """The declared files at these mirror paths."""
    return tuple(SourceFile(path=p, **_declared()[p]) for p in paths)


def canonical(users: Sequence | np.ndarray, items: Sequence | np.ndarray, order: Sequence | np.ndarray,
              *, rating: np.ndarray | None = None, fold: np.ndarray | None = None) -> tuple[Columns, SideData]:
    """Canonical columns from raw ids, plus the ``user_ids`` / ``item_ids`` vocabularies.

    Users are numbered in sorted raw-id order; items by a hash of the raw id, so an item's
    index says nothing about when it first appeared. Row order is kept as given.
    """
    from flm_bench.data import index_ids

    user, user_ids = index_ids(np.asarray(users), hashed=False)
    item, item_ids = index_ids(np.asarray(items), hashed=True)
    columns: Columns = {"user": user, "item": item, "order": np.asarray(order, dtype=np.int64)}
    if rating is not None:
        columns["rating"] = np.asarray(rating, dtype=np.float32)
    if fold is not None:
        columns["fold"] = np.asarray(fold, dtype=np.int8)
    return columns, {"user_ids": user_ids, "item_ids": item_ids}


def real_dataset(
    name: str,
    domain: str,
    paths: Sequence[str],
    parse: Parser,
    *,
    timestamped: bool,
    ordered: bool,
    description: str,
    license: str,
    citation: str,
    source: str,
    version: int = 1,
) -> DatasetSpec:
    """A :class:`DatasetSpec` whose ``load`` fetches, verifies, parses and caches the files.

    The parsed table is cached under the files' digests, the parser ``version`` (bump it
    when ``parse`` changes) and the dataset name.
    """
    files = source_files(*paths)

    def load():
        from flm_bench.data import build_table, from_table
        from flm_bench.sources import fetch

        key = {"name": name, "parser": version, "files": {f.path: f.sha256 for f in files}}
        table, side = build_table(key, lambda: parse({f.name: fetch(f) for f in files}))
        return from_table(name, domain, table, timestamped=timestamped, ordered=ordered, side=side)

    return DatasetSpec(name=name, domain=domain, load=load, description=description, files=files,
                       license=license, citation=citation, source=source)
