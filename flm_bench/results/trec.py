"""TREC artifacts of a record: its ranked lists and judgements, gzipped when the name ends in ``.gz``
(``ranx`` reads gzip by the suffix: ``Run.from_file(path)``, ``Qrels.from_file(path)``)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

import numpy as np


def open_text(path: Path) -> IO[str]:
    """A text artifact opened for reading, gunzipped when its name ends in ``.gz``."""
    return gzip.open(path, "rt") if Path(path).suffix == ".gz" else open(path)


def write_text(path: Path, text: str) -> None:
    """Write a text artifact, gzipped when its name ends in ``.gz`` (the gzip header carries no
    time, so equal content gives equal bytes)."""
    data = text.encode()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if Path(path).suffix == ".gz" else data)


def trec_kind(name: str) -> str:
    """ranx's ``kind`` for a TREC artifact file name."""
    return "gz" if name.endswith(".gz") else "trec"


def write_trec_run(path: Path, users: np.ndarray, ranked: np.ndarray, tag: str) -> None:
    """TREC run lines ``user Q0 item rank score tag``; score = k - rank + 1 (strictly decreasing)."""
    k = ranked.shape[1]
    write_text(
        path,
        "".join(
            f"{u} Q0 {it} {r + 1} {k - r} {tag}\n"
            for u, items in zip(users.tolist(), ranked.tolist())
            for r, it in enumerate(items)
        ),
    )


def write_trec_qrels(path: Path, users: np.ndarray, targets: list[np.ndarray]) -> None:
    """TREC qrels lines ``user 0 item 1`` for each distinct relevant item."""
    write_text(
        path, "".join(f"{u} 0 {it} 1\n" for u, t in zip(users.tolist(), targets) for it in np.unique(t).tolist())
    )
