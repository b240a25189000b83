"""Shared by the real-data plugins: their declared files, the one loader they all use, and
the readers and encoders their parsers have in common.

File declarations (mirror path, sha256, size, original URL and digest) come from
``sources.json``, derived from ``shared/datasets/manifest.json``: metadata only, never the
data. A plugin describes a dataset with :func:`real_dataset` (:func:`flm_bench.api.files_dataset`
over these declarations), giving a ``parse`` function that turns the fetched files into
canonical columns (:func:`flm_bench.api.canonical`) and side data.

Importing this module reads no data file and imports numpy only: pandas is imported inside
the functions that need it, which run inside ``load()``.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.api import DataError, DatasetSpec, Domain, Parser, SourceFile, canonical, files_dataset, open_text

if TYPE_CHECKING:
    import pandas as pd

Columns = dict[str, np.ndarray]
SideData = dict[str, np.ndarray]
#: A CSR matrix as (indptr [n_rows + 1], ids [nnz]), both int64.
CSR = tuple[np.ndarray, np.ndarray]

#: S3-Rec (Zhou et al., CIKM 2020), whose preprocessed sequence files several plugins read.
S3REC_PAPER = (
    "Kun Zhou, Hui Wang, Wayne Xin Zhao, Yutao Zhu, Sirui Wang, Fuzheng Zhang, Zhongyuan Wang, "
    "Ji-Rong Wen. 2020. S3-Rec: Self-Supervised Learning for Sequential Recommendation with "
    "Mutual Information Maximization. CIKM 2020."
)
#: The commit of github:RUCAIBox/CIKM2020-S3Rec the S3-Rec files were taken from.
S3REC_COMMIT = "2a81540ae18615d88ef88227b0c066e5b74781e5"


# ------------------------------------------------------------------------------- declarations


#: hetrec2011-lastfm-2k: lastfm-hetrec reads it, lastfm-s3rec is S3-Rec's preprocessing of its tags.
LASTFM_FAMILY = "hetrec2011-lastfm"


@functools.cache
def _declared() -> dict[str, dict]:
    return json.loads(resources.files("flm_bench_plugins").joinpath("sources.json").read_text())


def source_files(*paths: str) -> tuple[SourceFile, ...]:
    """The declared files at these mirror paths."""
    return tuple(SourceFile(path=p, **_declared()[p]) for p in paths)


def real_dataset(name: str, domain: Domain, paths: Sequence[str], parse: Parser, **kwargs: Any) -> DatasetSpec:
    """:func:`flm_bench.api.files_dataset` over the declared files at these mirror paths."""
    return files_dataset(name, domain, source_files(*paths), parse, **kwargs)


# ------------------------------------------------------------------------------------ readers


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole text of a file, gzipped or not."""
    with open_text(path, encoding=encoding) as f:
        return f.read()


def read_json(path: Path) -> Any:
    """A JSON file, gzipped or not."""
    with open_text(path) as f:
        return json.load(f)


def read_table(
    path: Path,
    sep: str,
    names: Sequence[str],
    *,
    header: bool | Sequence[str] = False,
    dtype: Any = str,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """A delimited file (gzipped or not) as a DataFrame whose columns are ``names``.

    ``header``: False, the file has no header line; True, its header line must be ``names``;
    a sequence, its header line must be that (the columns are renamed to ``names``).
    ``dtype``: one dtype, or a dict keyed by ``names``. Nothing is unquoted (titles hold stray
    quotes) and nothing becomes NaN ("NA" and "" stay strings). A file whose header or number
    of fields differs raises :class:`DataError`.
    """
    import pandas as pd

    names = list(names)
    expected = None if header is False else names if header is True else list(header)
    if isinstance(dtype, Mapping):  # keyed by ``names``: rekey by the labels pandas gives the columns
        labels = expected if expected is not None else list(range(len(names)))
        dtype = {labels[names.index(k)]: v for k, v in dtype.items()}
    with open_text(path, encoding=encoding) as f:
        frame = pd.read_csv(
            f,
            sep=sep,
            header=None if expected is None else 0,
            dtype=dtype,
            engine="c",
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_filter=False,
        )
    if expected is not None and list(frame.columns) != expected:
        raise DataError(f"{path.name}: header {list(frame.columns)}, expected {expected}")
    if frame.shape[1] != len(names):
        raise DataError(f"{path.name}: {frame.shape[1]} fields per line, expected {len(names)}")
    frame.columns = names
    return frame


def explode(lists: Mapping[str, Sequence[Any]]) -> tuple[np.ndarray, list, np.ndarray]:
    """``{key: [value, ...]}`` -> one row per value, in order: (key, value, position in its list)."""
    counts = np.fromiter((len(v) for v in lists.values()), dtype=np.int64, count=len(lists))
    keys = np.repeat(np.array(list(lists.keys()), dtype=str), counts)
    values = [x for v in lists.values() for x in v]
    position = np.arange(len(values), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return keys, values, position


# -------------------------------------------------------------------------------- id alignment


def index_of(vocab: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Canonical index of each raw id in a ``user_ids`` / ``item_ids`` vocabulary, -1 where the
    id has no interaction."""
    import pandas as pd

    return pd.Index(np.asarray(vocab).astype(str)).get_indexer(np.asarray(raw).astype(str))


def align(vocab: np.ndarray, raw_ids: np.ndarray, what: str) -> np.ndarray:
    """Row of ``raw_ids`` (a side file's id column) holding each id of ``vocab``; every id must
    be present."""
    rows = index_of(raw_ids, vocab)
    if (rows < 0).any():
        missing = np.asarray(vocab)[rows < 0][:5].tolist()
        raise DataError(f"{what}: ids {missing} have interactions but no row in the side file")
    return rows


def social_edges(user_ids: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[n, 2] int64 directed edges over canonical users, in file order; an edge is dropped when
    either end has no interaction."""
    a, b = index_of(user_ids, source), index_of(user_ids, target)
    keep = (a >= 0) & (b >= 0)
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)


# ------------------------------------------------------------------------ attribute encoding


def attribute_csr(item: np.ndarray, attr: np.ndarray, n_items: int, *, distinct: bool = True) -> CSR:
    """CSR of each item's attributes from (canonical item, attribute id) pairs.

    Pairs whose item is -1 (no interactions) are dropped. ``distinct``: each item's distinct
    ids, sorted; otherwise every pair, in the given order within an item.
    """
    item, attr = np.asarray(item, np.int64), np.asarray(attr, np.int64)
    keep = item >= 0
    item, attr = item[keep], attr[keep]
    if distinct:
        pairs = np.unique(np.stack([item, attr], axis=1), axis=0)
        item, ids = pairs[:, 0], pairs[:, 1]
    else:
        ids = attr[np.argsort(item, kind="stable")]
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(item, minlength=n_items), out=indptr[1:])
    return indptr, ids.astype(np.int64)


def attribute_map_csr(item2attr: Mapping[str, Sequence[int]], item_ids: np.ndarray, *, distinct: bool) -> CSR:
    """CSR of an ``{raw item id: [attribute id, ...]}`` map (e.g. ``item2attributes.json``),
    rows aligned to the canonical items; see :func:`attribute_csr`."""
    keys, attrs, _ = explode(item2attr)
    return attribute_csr(index_of(item_ids, keys), np.asarray(attrs, dtype=np.int64), len(item_ids), distinct=distinct)


def flags_csr(flags: np.ndarray) -> CSR:
    """CSR of a dense boolean [n, k] matrix: row i holds the columns set in it."""
    flags = np.asarray(flags, dtype=bool)
    indptr = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int64)
    return indptr, np.nonzero(flags)[1].astype(np.int64)


# -------------------------------------------------------------------------- feature encoding


def one_hot(values: np.ndarray, vocabulary: Iterable, what: str) -> np.ndarray:
    """[n, len(vocabulary)] float32 one-hot of ``values`` (every value must be in the vocabulary;
    both are compared as strings)."""
    import pandas as pd

    values = np.asarray(values).astype(str)
    vocabulary = [str(v) for v in vocabulary]
    codes = pd.Index(vocabulary).get_indexer(values)
    if (codes < 0).any():
        raise DataError(f"{what}: unexpected values {sorted(set(values[codes < 0].tolist()))[:5]}")
    out = np.zeros((len(codes), len(vocabulary)), dtype=np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out


def minmax(x: np.ndarray) -> np.ndarray:
    """float32 scaled to [0, 1] (NaN stays NaN; a constant column becomes 0)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = np.nanmin(x), np.nanmax(x)
    return ((x - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


# ------------------------------------------------------------------------------------- S3-Rec


def s3rec_lines(text: str, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``user item_1 ... item_n`` lines -> (user, item, position) per interaction, file order.

    Vectorised: newlines become a ``|`` marker token, so one ``split`` gives every token and
    the markers give the line boundaries. Blank lines and ``\\r`` are tolerated; a user on two
    lines, or on a line without items, raises :class:`DataError`.
    """
    tokens = np.array(text.replace("\n", " | ").split())
    sep = tokens == "|"
    line = np.cumsum(sep)[~sep]
    tokens = tokens[~sep]
    first = np.ones(len(tokens), dtype=bool)
    first[1:] = line[1:] != line[:-1]
    starts = np.flatnonzero(first)
    users = tokens[starts]
    if (np.diff(np.append(starts, len(tokens))) < 2).any():
        raise DataError(f"{what}: a user line has no items")
    if len(np.unique(users)) != len(users):
        raise DataError(f"{what}: a user appears on more than one line")
    owner = np.cumsum(first) - 1  # line number (0-based, non-blank lines) of each token
    position = np.arange(len(tokens)) - starts[owner] - 1  # -1 for the user token itself
    item = ~first
    return users[owner[item]], tokens[item], position[item]


def s3rec_parser(sequences: str, attributes: str | None = None, *, distinct: bool = False) -> Parser:
    """Parser of the S3-Rec text format: one line per user, ``user item_1 ... item_n`` oldest
    to newest (order = 0-based position in the line), and optionally an
    ``<X>_item2attributes.json`` ``{item: [attribute id, ...]}`` map as the item attribute CSR
    (``distinct``: each item's distinct ids, sorted; otherwise as listed).

    ``sequences`` / ``attributes``: the declared file names (keys of ``files``).
    """

    def parse(files: Mapping[str, Path]) -> tuple[Columns, SideData]:
        user, item, position = s3rec_lines(read_text(files[sequences]), sequences)
        columns, side = canonical(user, item, position)
        if attributes is not None:
            side["item_attr_indptr"], side["item_attr_ids"] = attribute_map_csr(
                read_json(files[attributes]), side["item_ids"], distinct=distinct
            )
        return columns, side

    return parse
