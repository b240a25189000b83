"""The publish journal: the commit point of a publish, and recovery from a killed publisher.

A publisher (holding the board's lock, ``<board>/.publish.lock``) first stages a copy of every
record beside the published ones (``<board>/records/.tmp-<record_id>-<tag>/``), then writes the
journal ``<board>/.publish-journal.json`` atomically (a temporary file, fsynced, renamed over,
the folder fsynced): the renames to do, the published folders to move aside (those replaced),
whether to commit to git and with which message. The journal's appearance is the commit point:

- before it, recovery rolls the publish back: staged copies are deleted;
- after it, recovery rolls it forward: it moves aside what is still to move, renames what is
  still staged into place, commits, deletes the moved-aside folders, and removes the journal.

Each step looks before it acts, so recovery may itself be killed and run again. A publish
whose git commit fails is undone instead (renames reversed from the journal), in the publisher
(which raises) as in recovery (which logs it). Recovery runs under the lock at the start of
every publish and whenever a reader enters :func:`settled`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from flm_bench import faults
from flm_bench.results.publish import git
from flm_bench.results.publish.errors import GitError, PublishError
from flm_bench.results.records import RECORDS_DIR, TMP_PREFIX

log = logging.getLogger(__name__)

LOCK_NAME = ".publish.lock"
LOCK_TIMEOUT = 600.0  # seconds to wait for another publisher
JOURNAL = ".publish-journal.json"


def fsync(path: Path) -> None:
    """Flush a file's content, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Journal:
    """One publish's plan; names are folder names inside ``<board>/records/``."""

    place: list[tuple[str, str]]  # (staged copy, record folder it becomes)
    aside: list[tuple[str, str]]  # (published folder replaced, where it is moved until the end)
    commit: bool  # commit the change to git
    message: str  # the commit message

    def changed(self, root: Path) -> list[Path]:
        """The record folders the publish adds or removes (what its commit holds)."""
        return [root / final for _, final in self.place] + [root / old for old, _ in self.aside]

    def write(self, board: Path) -> None:
        """Write the journal atomically: from here on, the publish happens."""
        path, tmp = board / JOURNAL, board / f"{JOURNAL}.tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync(board)

    @classmethod
    def read(cls, board: Path) -> Journal | None:
        path = board / JOURNAL
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
            return cls(
                place=[(str(a), str(b)) for a, b in doc["place"]],
                aside=[(str(a), str(b)) for a, b in doc["aside"]],
                commit=bool(doc["commit"]),
                message=str(doc["message"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"{path}: unreadable publish journal ({exc}); repair the leaderboard") from None


def _forward(root: Path, journal: Journal) -> None:
    """Do the renames still to do: move replaced folders aside, then staged copies into place."""
    if any((root / staged).exists() for staged, _ in journal.place):  # none left: asides are done too
        for old, backup in journal.aside:
            if (root / old).exists() and not (root / backup).exists():
                os.rename(root / old, root / backup)
                faults.point("publish.between-renames")
    for staged, final in journal.place:
        if (root / staged).exists():
            os.rename(root / staged, root / final)
            faults.point("publish.between-renames")
    fsync(root)


def _unjournal(board: Path) -> None:
    (board / JOURNAL).unlink(missing_ok=True)
    fsync(board)


def _backward(board: Path, journal: Journal) -> None:
    """Undo the renames (placed records back to staged, moved-aside folders back), then drop the
    journal and the staged copies. Killed part-way, recovery rolls forward from where it stopped."""
    root = board / RECORDS_DIR
    for staged, final in reversed(journal.place):
        if (root / final).exists() and not (root / staged).exists():
            os.rename(root / final, root / staged)
    for old, backup in reversed(journal.aside):
        if (root / backup).exists() and not (root / old).exists():
            os.rename(root / backup, root / old)
    _unjournal(board)
    for staged, _ in journal.place:
        shutil.rmtree(root / staged, ignore_errors=True)


def complete(board: Path, journal: Journal, top: Path | None) -> str | None:
    """Finish a journaled publish: renames, the git commit (in the work tree ``top``), clean-up.

    :returns: the commit made, if any.
    :raises: whatever failed (the git commit, a rename), after undoing the publish.
    """
    root = board / RECORDS_DIR
    changed = journal.changed(root)
    try:
        _forward(root, journal)
        sha = git.commit(top, changed, journal.message) if top is not None else None
    except BaseException:
        if top is not None:
            git.unstage(top, changed)
        _backward(board, journal)
        raise
    for _, backup in journal.aside:
        shutil.rmtree(root / backup, ignore_errors=True)
    faults.point("publish.before-unjournal")
    _unjournal(board)
    return sha


def recover(board: Path) -> None:
    """Roll an interrupted publish forward (journal written) or back (not); the caller holds the lock."""
    journal = Journal.read(board)
    (board / f"{JOURNAL}.tmp").unlink(missing_ok=True)  # a journal never written: before the commit point
    if journal is not None:
        log.warning("%s: finishing a publish that was interrupted after its commit point", board)
        top = git.work_tree(board) if journal.commit else None
        try:
            complete(board, journal, top)
        except GitError as exc:
            log.warning("%s: the interrupted publish could not be committed, so it was undone: %s", board, exc)
    _sweep(board / RECORDS_DIR)


def _sweep(root: Path) -> None:
    """Remove what a publisher killed before its commit point left: staged copies. A folder a
    publisher of an older flm-bench (without a journal) had moved aside is put back if nothing
    took its place."""
    for stale in sorted(root.glob(f"{TMP_PREFIX}*")) if root.is_dir() else []:
        if stale.name.startswith(f"{TMP_PREFIX}old-"):
            name = stale.name[len(TMP_PREFIX) + len("old-") :].rsplit("-", 2)[0]
            if name and not (root / name).exists():
                log.warning("restoring %s, moved aside by an interrupted publish", name)
                os.rename(stale, root / name)
                continue
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def locked(board: Path) -> Iterator[None]:
    """Hold the board's publish lock (creating the lock file if need be) for the block."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(board / LOCK_NAME), timeout=LOCK_TIMEOUT):
            yield
    except Timeout:
        raise PublishError(f"another publisher has held {board / LOCK_NAME} for over {LOCK_TIMEOUT:.0f} s") from None


@contextmanager
def settled(board: Path | str) -> Iterator[None]:
    """Read a board whole: finish or undo an interrupted publish, and keep publishers out of the
    board until the block ends.

    A board that was never published into (no lock file and no journal) has nothing to recover:
    it is read as it is, and nothing is created (so a read-only check writes nothing); so is a
    board without a journal whose lock cannot be taken (a read-only copy).
    """
    board = Path(board)
    if not (board / LOCK_NAME).exists() and not (board / JOURNAL).exists():
        yield
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(locked(board))
            recover(board)
        except OSError as exc:
            if (board / JOURNAL).exists():
                raise PublishError(f"cannot finish the interrupted publish in {board}: {exc}") from exc
            log.info("%s read without its lock (%s): no publish to finish", board, exc)  # e.g. read-only
        yield
