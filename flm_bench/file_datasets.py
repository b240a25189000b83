"""Datasets read from declared files: the helper behind every real dataset plugin.

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

from flm_bench.data.sources import DataLocation, SourceFile, fetch
from flm_bench.data.table import InteractionData, build_table, from_table
from flm_bench.specs import DatasetSpec

#: parse(files) -> (columns, side data); ``files`` maps each declared file's name to a local
#: path, which may hold the stored (gzipped) or the original bytes: read it with
#: :func:`flm_bench.data.sources.open_text`.
Parser = Callable[[Mapping[str, Path]], tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]


def files_dataset(name: str, domain: str, files: Sequence[SourceFile], parse: Parser, *, timestamped: bool,
                  ordered: bool, description: str, license: str, citation: str, source: str,
                  version: int = 1) -> DatasetSpec:
    """A :class:`DatasetSpec` whose ``load`` fetches, verifies, parses and caches ``files``.

    The parsed table is cached under the files' digests, the parser ``version`` (bump it
    when ``parse`` changes) and the dataset name.
    """
    files = tuple(files)

    def load(location: DataLocation) -> InteractionData:
        key = {"name": name, "parser": version, "files": {f.path: f.sha256 for f in files}}
        table, side = build_table(key, lambda: parse({f.name: fetch(f, location) for f in files}))
        return from_table(name, domain, table, timestamped=timestamped, ordered=ordered, side=side)

    return DatasetSpec(name=name, domain=domain, load=load, description=description, files=files,
                       license=license, citation=citation, source=source)
