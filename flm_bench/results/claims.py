"""Claims: one lock per record (and per checkpoint), so any number of processes, on one host or
on hosts sharing a filesystem, can work on one output folder.

A process works on a cell only while it holds the cell's lock (``<output>/locks/<record_id>.lock``,
a :class:`filelock.FileLock`): it writes the record under a temporary name and renames it into
place before it lets go. So a temporary folder whose lock nobody holds belongs to a process that
is gone, and only such folders are removed; a folder being written is never touched, whatever its
age or name.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from flm_bench.results.records import TMP_PREFIX, records_dir

log = logging.getLogger(__name__)

LOCKS_DIR = "locks"


def lock_path(output: Path, name: str) -> Path:
    """The lock file of ``name`` (a record id) in the output folder ``output``."""
    return Path(output) / LOCKS_DIR / f"{name}.lock"


@contextmanager
def claim(lock: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the lock at ``lock`` for the block; yields ``False`` at once, holding nothing, when
    another process holds it and ``wait`` is false."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(lock))
    try:
        held.acquire(timeout=-1 if wait else 0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        held.release()


def owner_of(tmp: Path) -> str:
    """The record id a temporary record folder (``.tmp-<record_id>-<pid>``) is written for."""
    return tmp.name[len(TMP_PREFIX) :].rpartition("-")[0]


def clean_partial(output: Path) -> list[Path]:
    """Remove the temporary record folders whose writer is gone (its record's lock is free);
    return what was removed. Folders of live writers are left alone."""
    root = records_dir(output)
    removed = []
    for tmp in sorted(root.glob(f"{TMP_PREFIX}*")) if root.exists() else []:
        with claim(lock_path(output, owner_of(tmp)), wait=False) as free:
            if free:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
    return removed
