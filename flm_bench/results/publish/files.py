"""What publish may read: plain files and folders (no symbolic links, devices or pipes), of bounded
size, and compressed files bounded while they are decompressed, before any parser sees them.

The bounds follow from the record itself (users, cutoffs, interactions), so a file padded with
data the record does not need is refused early and in constant memory.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from flm_bench.results.publish.errors import Rejected
from flm_bench.results.records import Record
from flm_bench.results.slices import SLICE_PREFIX, slice_key

MAX_RECORD_BYTES = 4 << 20  # a record.json is a few kB
MAX_ARTIFACT_BYTES = 1 << 30  # one artifact as stored
LINE_BYTES = 256  # the most a TREC line of ours may take (two ids, rank, score, tag)
SLACK_BYTES = 1 << 20
NPY_HEADER_BYTES = 4096
_CHUNK = 1 << 20


def plain_folder(path: Path, what: str) -> None:
    """``path`` is a real folder, not a symbolic link to one."""
    mode = _lstat(path, what).st_mode
    if stat.S_ISLNK(mode):
        raise Rejected(f"{what} {path.name} is a symbolic link; only plain folders and files are published")
    if not stat.S_ISDIR(mode):
        raise Rejected(f"{what} {path.name} is not a folder")


def plain_file(path: Path, what: str, most: int) -> int:
    """The size of ``path``: a regular file (not a link, device or pipe) of at most ``most`` bytes."""
    info = _lstat(path, what)
    if stat.S_ISLNK(info.st_mode):
        raise Rejected(f"{what} {path.name} is a symbolic link; only plain files are published")
    if not stat.S_ISREG(info.st_mode):
        raise Rejected(f"{what} {path.name} is not a plain file")
    if info.st_size > most:
        raise Rejected(f"{what} {path.name} is {info.st_size:,} bytes, more than the {most:,} it may have")
    return info.st_size


def _lstat(path: Path, what: str) -> os.stat_result:
    try:
        return path.lstat()
    except FileNotFoundError:
        raise Rejected(f"{what} {path.name} is missing from {path.parent}") from None
    except OSError as exc:
        raise Rejected(f"cannot read {what} {path.name}: {exc.strerror}") from None


def read_record_text(path: Path) -> str:
    """The text of a ``record.json``: a plain file of at most :data:`MAX_RECORD_BYTES`, UTF-8."""
    plain_file(path, "record file", MAX_RECORD_BYTES)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_RECORD_BYTES + 1)
        return data.decode("utf-8")
    except OSError as exc:
        raise Rejected(f"cannot read the record: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise Rejected(f"the record is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def text_bound(record: Record, name: str) -> int:
    """The most bytes the (decompressed) run or qrels of ``record`` can need."""
    if name == record.artifacts.run:
        cutoffs = [int(m) for m in re.findall(r"@(\d+)", " ".join(record.evaluation.metrics))]
        lines = record.evaluation.users * max(cutoffs, default=record.dataset.items)
    else:
        lines = record.dataset.interactions
    return lines * LINE_BYTES + SLACK_BYTES


def check_text(path: Path, most: int) -> None:
    """A TREC file (gzipped when it ends in ``.gz``) whose text is at most ``most`` bytes, decompressed
    in constant memory and stopped as soon as it is over."""
    size = plain_file(path, "artifact", MAX_ARTIFACT_BYTES)
    if not path.name.endswith(".gz"):
        if size > most:
            raise Rejected(f"{path.name} is {size:,} bytes, more than the {most:,} the record needs")
        return
    total = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
                if total > most:
                    raise Rejected(f"{path.name} decompresses to over {most:,} bytes, more than the record needs")
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected(f"{path.name} is not a readable gzip file: {type(exc).__name__}: {exc}") from None


def check_npz(path: Path, record: Record) -> None:
    """``per_user.npz`` holds only ``users`` (integers), the record's metrics (numbers) and a mask of
    each of the record's slices (booleans), each a 1-D array of one value per user: read from the
    array headers before any array is loaded."""
    plain_file(path, "artifact", MAX_ARTIFACT_BYTES)
    members = {f"{slice_key(n)}.npy" for n in record.slices}
    expected = {"users.npy", *(f"{m}.npy" for m in record.evaluation.metrics), *members}
    most = 8 * record.evaluation.users + NPY_HEADER_BYTES
    try:
        with zipfile.ZipFile(path) as archive:
            extra = sorted(m.filename for m in archive.infolist() if m.filename not in expected)
            if extra:
                raise Rejected(f"{path.name} holds arrays the record does not name: {extra[:5]}")
            for member in archive.infolist():
                with archive.open(member) as f:
                    _check_header(path.name, member.filename.removesuffix(".npy"), f)
                if member.file_size > most:
                    raise Rejected(
                        f"{path.name}: {member.filename} is {member.file_size:,} bytes decompressed, "
                        f"more than {most:,} for {record.evaluation.users} users"
                    )
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise Rejected(f"{path.name} is not a readable npz file: {type(exc).__name__}: {exc}") from None


def _check_header(name: str, key: str, f: IO[bytes]) -> None:
    """The array's header says: one dimension, integers (``users``) or numbers (metrics) of <= 8 bytes."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if read is None:
        raise Rejected(f"{name}: {key} is in .npy format {version}, expected 1.0 or 2.0")
    shape, _, dtype = read(f)
    kinds, wanted = ("iuf", "numbers")
    if key == "users":
        kinds, wanted = ("iu", "integers")
    elif key.startswith(SLICE_PREFIX):  # a slice's mask
        kinds, wanted = ("b", "booleans")
    if len(shape) != 1 or dtype.kind not in kinds or dtype.itemsize > 8:
        raise Rejected(f"{name}: {key} is a {len(shape)}-D {dtype} array, expected 1-D {wanted}")
