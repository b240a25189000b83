"""Datasets read from files: declared, checksummed files (the helper behind every real dataset
plugin), and a user's own CSV file (a suite's ``[csv.NAME]`` table or ``run --csv``).

A plugin declares its files (:class:`~flm_bench.data.sources.SourceFile`: where they come
from, with sha256 and size) and a ``parse`` function turning the fetched files into canonical
columns and side data (build them with :func:`flm_bench.data.table.canonical`);
:func:`files_dataset` makes the :class:`~flm_bench.specs.DatasetSpec` whose ``load`` fetches,
verifies, parses and caches them::

    files = (SourceFile(path="mydata/ratings.csv", sha256="…", size=123, url="https://…/ratings.csv"),)

    def parse(paths):  # file name -> local path
        df = pandas.read_csv(paths["ratings.csv"])
        return canonical(df.user, df.item, df.timestamp)

    register(files_dataset("my-ratings", "media", files, parse, timestamped=True, ordered=True, …))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from flm_bench.data.sources import DataLocation, SourceFile, fetch, sha256_of
from flm_bench.data.table import InteractionData, build_table, canonical, epoch_seconds, from_table
from flm_bench.errors import DataError
from flm_bench.specs import DatasetSpec, Domain
from flm_bench.suite import CsvDataset

CSV_READER_VERSION = 2  # bump when read_csv changes what it produces (2: dates in seconds under pandas 3)

#: parse(files) -> (columns, side data); ``files`` maps each declared file's name to a local
#: path, which may hold the stored (gzipped) or the original bytes: read it with
#: :func:`flm_bench.data.sources.open_text`.
Parser = Callable[[Mapping[str, Path]], tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]


def files_dataset(
    name: str,
    domain: Domain,
    files: Sequence[SourceFile],
    parse: Parser,
    *,
    timestamped: bool,
    ordered: bool,
    description: str,
    license: str,
    citation: str,
    source: str,
    family: str = "",
    user_id_space: str = "",
    item_id_space: str = "",
    version: int = 1,
) -> DatasetSpec:
    """A :class:`DatasetSpec` whose ``load`` fetches, verifies, parses and caches ``files``.

    The parsed table is cached under the files' digests, the parser ``version`` (bump it
    when ``parse`` changes) and the dataset name. A file whose digest is not declared (one the
    user brings, see :attr:`SourceFile.obtain`) is fetched and hashed at every load.
    """
    files = tuple(files)

    def load(location: DataLocation) -> InteractionData:
        unknown = {f.name: fetch(f, location) for f in files if f.sha256 is None}
        digests = {f.path: f.sha256 or sha256_of(unknown[f.name]) for f in files}
        key = {"name": name, "parser": version, "files": digests}
        table, side = build_table(
            key, lambda: parse({f.name: unknown.get(f.name) or fetch(f, location) for f in files})
        )
        return from_table(name, domain, table, timestamped=timestamped, ordered=ordered, side=side)

    return DatasetSpec(
        name,
        domain,
        load,
        description,
        files=files,
        license=license,
        citation=citation,
        source=source,
        family=family,
        user_id_space=user_id_space,
        item_id_space=item_id_space,
    )


def read_csv(cfg: CsvDataset) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Canonical columns from a CSV file of interactions (see :class:`~flm_bench.suite.CsvDataset`)."""
    import pandas as pd

    wanted = [c for c in (cfg.user, cfg.item, cfg.timestamp, cfg.rating) if c]
    try:
        frame = pd.read_csv(cfg.path, sep=cfg.sep, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{cfg.path}: not a readable CSV file: {exc}") from None
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{cfg.path}: no column(s) {missing}; the header has {list(frame.columns)}")
    if frame.empty:
        raise DataError(f"{cfg.path}: holds no interactions")
    if cfg.timestamp:
        times = pd.to_numeric(frame[cfg.timestamp], errors="coerce")
        order = times.to_numpy()
        if times.isna().any():  # not numbers: dates
            parsed = pd.to_datetime(frame[cfg.timestamp], errors="coerce", utc=True)
            if parsed.isna().any():
                raise DataError(
                    f"{cfg.path}: column {cfg.timestamp!r} holds values that are neither numbers nor "
                    f"dates (row {int(parsed.isna().to_numpy().argmax()) + 2})"
                )
            order = epoch_seconds(parsed)
        order = order.astype(np.int64)
    else:  # a position per user (the file's row order) or nothing
        order = frame.groupby(cfg.user).cumcount().to_numpy() if cfg.ordered else np.zeros(len(frame), np.int64)
    rating = None
    if cfg.rating:
        rating = pd.to_numeric(frame[cfg.rating], errors="coerce").to_numpy(dtype=np.float32)
        if np.isnan(rating).any():
            raise DataError(f"{cfg.path}: column {cfg.rating!r} holds values that are not numbers")
    return canonical(frame[cfg.user].to_numpy(), frame[cfg.item].to_numpy(), order, rating=rating)


def csv_dataset(name: str, cfg: CsvDataset) -> DatasetSpec:
    """A :class:`DatasetSpec` reading ``cfg.path``; its parsed table is cached under the file's sha256."""

    def load(location: DataLocation) -> InteractionData:
        if not cfg.path.is_file():
            raise DataError(f"dataset {name!r}: no CSV file at {cfg.path}")
        key = {
            "csv": name,
            "reader": CSV_READER_VERSION,
            "sha256": sha256_of(cfg.path),
            **cfg.model_dump(mode="json", exclude={"path"}),
        }
        table, side = build_table(key, lambda: read_csv(cfg))
        return from_table(
            name,
            cfg.domain,
            table,
            timestamped=cfg.timestamp is not None,
            ordered=cfg.timestamp is not None or cfg.ordered,
            side=side,
        )

    return DatasetSpec(name=name, domain=cfg.domain, load=load, description=f"read from {cfg.path}")
