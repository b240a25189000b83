"""Where a dataset's files come from, and getting them verified onto this machine.

Each dataset declares its files (:class:`SourceFile`): the path in a mirror laid out like
``shared/datasets``, the sha256 and size of that copy, and the original download URL with
the digest of the original bytes. :func:`fetch` resolves a file in this order:

1. a local data folder (:attr:`DataLocation.data_dir`: ``--data-dir`` or ``FLM_BENCH_DATA_DIR``), read in place;
2. the download cache (``<cache>/downloads``), from an earlier fetch;
3. a mirror base URL (:attr:`DataLocation.mirror`: ``--mirror`` or ``FLM_BENCH_MIRROR``);
4. the original URL.

A file the user brings (:attr:`SourceFile.obtain`: its terms or size keep it out of every
mirror) is read from the data folder only; when it is absent the error says where to put it
and where to get it. Every file is checked (its declared header and row count, size and
sha256, as far as they are known) before it is used. Downloads go through ``pooch``
to a temporary name and are renamed into the cache only when their digest matches, so a
corrupted download leaves nothing behind.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from flm_bench.data.table import cache_dir
from flm_bench.errors import DataError

log = logging.getLogger(__name__)

DATA_DIR_ENV = "FLM_BENCH_DATA_DIR"
MIRROR_ENV = "FLM_BENCH_MIRROR"
MANIFEST = "manifest.json"  # the index at the top of a mirror (the layout of shared/datasets)

#: Called with (what, bytes so far, total bytes) while downloading.
DownloadProgress = Callable[[str, int, int], None]
#: The progress callback used when :func:`fetch` is not given one (the CLI sets it).
download_progress: ContextVar[DownloadProgress | None] = ContextVar("download_progress", default=None)


@dataclass(frozen=True)
class DataLocation:
    """Where a dataset's files are looked for before they are downloaded; every dataset's
    ``load`` gets one from the harness."""

    data_dir: Path | None = None  # a local folder laid out like the mirror (shared/datasets)
    mirror: str | None = None  # base URL of a mirror laid out the same way

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DataLocation:
        """From ``FLM_BENCH_DATA_DIR`` and ``FLM_BENCH_MIRROR`` (unset or empty: none)."""
        env = os.environ if environ is None else environ
        return cls(Path(env[DATA_DIR_ENV]) if env.get(DATA_DIR_ENV) else None, env.get(MIRROR_ENV) or None)


class ChecksumError(DataError):
    """A file's size or sha256 differs from what its dataset declares."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset, as stored in a mirror and as published originally."""

    path: str  # relative to a mirror / data folder, e.g. "media/movielens-100k/u.data.gz"
    sha256: str | None  # None only for a file the user brings whose digest is not published
    size: int | None
    url: str | None = None  # the original location (may hold the uncompressed bytes)
    url_sha256: str | None = None
    url_size: int | None = None
    obtain: str = ""  # set for a file the user brings: where to get it (e.g. a DOI); never downloaded
    columns: tuple[str, ...] = ()  # the header line a CSV file must have
    rows: int | None = None  # the number of lines after that header

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def brought(self) -> bool:
        """Whether the user brings this file into the data folder (no mirror or download has it)."""
        return bool(self.obtain)

    @property
    def original_path(self) -> str | None:
        """Where the original bytes go: beside ``path``, under the URL's file name."""
        if not self.url or self.url_sha256 in (None, self.sha256):
            return None
        folder = self.path.rsplit("/", 1)[0]
        return f"{folder}/{unquote(self.url.rsplit('/', 1)[-1])}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, sha256: str | None, size: int | None, what: str) -> None:
    """Raise :class:`ChecksumError` naming ``what`` unless ``path`` has this size and digest
    (either may be unknown: None)."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{what}: {path} has {actual_size} bytes, expected {size}")
    if sha256 is None:
        return
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumError(f"{what}: {path} has sha256 {actual}, expected {sha256}")


def verify_table(path: Path, file: SourceFile, what: str) -> None:
    """Raise :class:`ChecksumError` naming ``what`` unless the CSV file at ``path`` has the header
    (``file.columns``) and the number of rows after it (``file.rows``) that ``file`` declares."""
    if not file.columns and file.rows is None:
        return
    with open_text(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the header
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if file.columns and header != file.columns:
            raise ChecksumError(f"{what}: {path} has columns {list(header)}, expected {list(file.columns)}")
        rows = sum(1 for _ in reader) if file.rows is not None else None
    if rows != file.rows:
        raise ChecksumError(f"{what}: {path} has {rows:,} rows after its header, expected {file.rows:,}")


def expected_path(file: SourceFile, data_dir: Path | None) -> str:
    """Where ``file`` goes in the data folder (``<data folder>/...`` when none is set)."""
    return str(Path(data_dir) / file.path) if data_dir else f"<data folder>/{file.path}"


def bring_hint(file: SourceFile, data_dir: Path | None) -> str:
    """What to do about a missing file the user brings: where to put it, where to get it."""
    hint = f"put {file.name} at {expected_path(file, data_dir)} (get it from {file.obtain})"
    return hint if data_dir else f"{hint} and pass --data-dir or set {DATA_DIR_ENV}"


def _candidates(file: SourceFile, root: Path) -> list[tuple[Path, str | None, int | None]]:
    """The stored copy, and the original (e.g. uncompressed) bytes under the same folder."""
    found: list[tuple[Path, str | None, int | None]] = [(root / file.path, file.sha256, file.size)]
    if file.original_path and file.url_sha256:  # original_path implies a different url_sha256
        found.append((root / file.original_path, file.url_sha256, file.url_size))
    return found


def local_copy(file: SourceFile, data_dir: Path | None = None) -> Path | None:
    """The verified local copy of ``file`` (data folder, then download cache), or None."""
    roots = ([Path(data_dir)] if data_dir else []) + [cache_dir() / "downloads"]
    for root in roots:
        for path, digest, size in _candidates(file, root):
            if path.exists():
                try:
                    if path == root / file.path:  # the header and rows are declared for the stored copy
                        verify_table(path, file, f"file {file.path!r}")
                    verify(path, digest, size, f"file {file.path!r}")
                except ChecksumError as exc:
                    if file.brought:  # say where the right one is
                        raise ChecksumError(f"{exc}; the published file: {file.obtain}") from None
                    raise
                return path
    return None


def _download(
    url: str, target: Path, digest: str, size: int | None, what: str, progress: DownloadProgress | None
) -> Path:
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # the CLI reports downloads itself
    target.parent.mkdir(parents=True, exist_ok=True)
    downloader = pooch.HTTPDownloader(progressbar=_PoochBar(what, progress) if progress else False, timeout=60)
    try:
        pooch.retrieve(url, known_hash=f"sha256:{digest}", fname=target.name, path=target.parent, downloader=downloader)
    except ValueError as exc:  # pooch: digest mismatch; the temporary file is already removed
        if " but got " not in str(exc):  # a bad URL (requests' MissingSchema, InvalidURL, ... are ValueErrors)
            raise DataError(f"{what}: download from {url} failed: {type(exc).__name__}: {exc}") from exc
        actual = str(exc).split(" but got ")[1].split(".")[0]
        raise ChecksumError(f"{what}: download from {url} has sha256 {actual}, expected {digest}") from exc
    except Exception as exc:  # network errors come from requests, urllib3, ...
        raise DataError(f"{what}: download from {url} failed: {type(exc).__name__}: {exc}") from exc
    if size is not None and target.stat().st_size != size:
        target.unlink()
        raise ChecksumError(f"{what}: download from {url} has the wrong size, expected {size} bytes")
    return target


def _known(file: SourceFile) -> str:
    """The digest a download is checked against: every file that can be downloaded declares one."""
    if file.sha256 is None:
        raise DataError(f"file {file.path!r} declares no sha256, so it cannot be downloaded")
    return file.sha256


def fetch(file: SourceFile, location: DataLocation | None = None, *, progress: DownloadProgress | None = None) -> Path:
    """A verified local path for ``file``, downloading it if needed (see the module doc);
    ``location`` defaults to :meth:`DataLocation.from_env`."""
    location = location or DataLocation.from_env()
    found = local_copy(file, location.data_dir)
    if found is not None:
        return found
    what = f"file {file.path!r}"
    if file.brought:
        raise DataError(f"{what} is missing: {bring_hint(file, location.data_dir)}")
    progress = progress or download_progress.get()
    downloads = cache_dir() / "downloads"
    mirror = location.mirror
    errors = []
    if mirror:
        try:
            return _download(
                f"{mirror.rstrip('/')}/{file.path}", downloads / file.path, _known(file), file.size, what, progress
            )
        except ChecksumError:
            raise
        except DataError as exc:
            errors.append(str(exc))
    if file.url:
        target = downloads / (file.original_path or file.path)
        try:
            return _download(file.url, target, file.url_sha256 or _known(file), file.url_size, what, progress)
        except ChecksumError:
            raise
        except DataError as exc:
            errors.append(str(exc))
    where = f"{DATA_DIR_ENV} / --data-dir" + ("" if mirror else f", {MIRROR_ENV}")
    raise DataError(
        f"{what} is not available: not in the data folder or cache (set {where})"
        + (f"; {'; '.join(errors)}" if errors else "")
    )


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """Open a text file, transparently un-gzipping it (by its magic bytes, not its name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


class _PoochBar:
    """The tqdm-like object pooch drives, forwarding to a plain callback."""

    def __init__(self, what: str, callback: DownloadProgress) -> None:
        self.what, self.callback, self.total, self.n = what, callback, 0, 0

    def update(self, n: int) -> None:
        self.n += n
        self.callback(self.what, self.n, self.total)

    def reset(self) -> None:
        self.n = 0

    def close(self) -> None:
        pass
