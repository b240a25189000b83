"""Placing validated records into a leaderboard folder, atomically and under a file lock.

Validation finishes before anything is written, so a rejected call changes nothing. Under a
:class:`filelock.FileLock` on ``<to>/.publish.lock`` each record is copied to a temporary
folder inside ``<to>/records/`` (staging) and renamed into place (the swap); a replaced folder
is first renamed aside and deleted only once everything (including the git commit) succeeded,
otherwise every change is rolled back. A publisher killed mid-way leaves only ``.tmp-``
folders (which :func:`~flm_bench.results.records.load_records` ignores); the next publisher
clears them, putting back a published folder that was moved aside if nothing took its place.

No record's cell (or record id) may already be published, unless ``replace``: then the
published record(s) of that cell are replaced. When the folder lies inside a git work tree,
the new (and removed) record folders are committed (see :mod:`.git`).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flm_bench.errors import RecordError
from flm_bench.results.publish import git
from flm_bench.results.publish.errors import GitError, PublishError
from flm_bench.results.publish.validate import Cell, ValidRecord, cell_of, cell_text
from flm_bench.results.records import RECORD_FILE, RECORDS_DIR, TMP_PREFIX, load_record

log = logging.getLogger(__name__)

DEFAULT_BOARD = Path("leaderboards")
LOCK_NAME = ".publish.lock"
LOCK_TIMEOUT = 600.0  # seconds to wait for another publisher


@dataclass
class PublishReport:
    """What one publish call did."""

    published: list[Path] = field(default_factory=list)  # record.json files in the target
    replaced: list[str] = field(default_factory=list)  # folder names of records replaced
    commit: str | None = None  # the commit made, when publishing into git
    target: str = ""


def _published(board: Path, *, strict: bool) -> tuple[dict[Cell, list[Path]], dict[str, Path]]:
    """Published records: cell -> folders, and folder name -> folder.

    Without ``strict`` (a look without the lock, while another publisher may be renaming
    folders), records that cannot be read are skipped; with it, they are an error.
    """
    root = board / RECORDS_DIR
    cells: dict[Cell, list[Path]] = {}
    folders: dict[str, Path] = {}
    if not root.is_dir():
        return cells, folders
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(TMP_PREFIX) or not folder.is_dir():
            continue
        folders[folder.name] = folder
        try:
            record = load_record(folder / RECORD_FILE)
        except RecordError:
            if strict and folder.exists():
                raise RecordError(
                    f"{folder / RECORD_FILE}: the published record is unreadable; "
                    "repair the leaderboard before publishing into it"
                ) from None
            continue
        cells.setdefault(cell_of(record), []).append(folder)
    return cells, folders


def _conflicts(
    valid: Sequence[ValidRecord], board: Path, replace: bool, *, strict: bool = True
) -> dict[str, list[Path]]:
    """record_id -> published folders it replaces; raise on a duplicate without ``replace``."""
    cells, folders = _published(board, strict=strict)
    out: dict[str, list[Path]] = {}
    for v in valid:
        hits = list(cells.get(v.cell, []))
        same_id = folders.get(v.record.record_id)
        if same_id is not None and same_id not in hits:
            hits.append(same_id)
        if hits and not replace:
            raise RecordError(
                f"{v.source}: already published as {hits[0]} ({cell_text(v.cell)}); use --replace to replace it"
            )
        out[v.record.record_id] = hits
    return out


def install(
    valid: Sequence[ValidRecord],
    to: Path | str = DEFAULT_BOARD,
    *,
    replace: bool = False,
    commit: bool | None = None,
    message: str | None = None,
) -> PublishReport:
    """Copy validated records into the leaderboard folder ``to``, atomically and under a lock.

    :param valid: records from :func:`~flm_bench.results.publish.validate.validate`.
    :param to: the leaderboard folder (records go to ``<to>/records/<record_id>/``).
    :param replace: replace published records of the same cells instead of rejecting them.
    :param commit: commit the change to git; ``None``: when ``to`` is inside a git work tree.
    :param message: commit message (default: one naming every record).
    :raises RecordError: a cell is already published (and not ``replace``); nothing changed.
    """
    from filelock import FileLock, Timeout

    board = Path(to)
    if not valid:
        return PublishReport(target=str(board))
    if board.exists():
        _conflicts(valid, board, replace, strict=False)  # fail fast, before touching anything
    top = git.work_tree(board) if commit is not False else None
    if commit and top is None:
        raise GitError(f"{board} is not inside a git work tree, so there is nothing to commit to")
    try:
        (board / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        with FileLock(str(board / LOCK_NAME), timeout=LOCK_TIMEOUT):
            return _install_locked(valid, board, replace=replace, top=top, message=message)
    except Timeout:
        raise PublishError(f"another publisher has held {board / LOCK_NAME} for over {LOCK_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise PublishError(f"cannot write into {board}: {exc}") from exc


def _recover(root: Path) -> None:
    """Clear what a killed publisher left (we hold the lock): staged copies are removed, and a
    published folder it had moved aside is put back if nothing took its place."""
    for stale in sorted(root.glob(f"{TMP_PREFIX}*")):
        if stale.name.startswith(f"{TMP_PREFIX}old-"):
            name = stale.name[len(TMP_PREFIX) + len("old-") :].rsplit("-", 2)[0]
            if name and not (root / name).exists():
                log.warning("restoring %s, moved aside by an interrupted publish", name)
                os.rename(stale, root / name)
                continue
        shutil.rmtree(stale, ignore_errors=True)


def _stage(v: ValidRecord, root: Path, tag: str) -> Path:
    """Copy one record and its artifacts into a temporary folder beside the published ones."""
    tmp = root / f"{TMP_PREFIX}{v.record.record_id}-{tag}"
    tmp.mkdir()
    shutil.copy2(v.source, tmp / RECORD_FILE)
    for name in v.artifacts:
        shutil.copy2(v.source.parent / name, tmp / name)
    return tmp


@dataclass
class _Swap:
    """What one install has changed so far, to finish or to undo."""

    staged: list[Path] = field(default_factory=list)  # temporary copies
    aside: list[tuple[Path, Path]] = field(default_factory=list)  # (published folder, where it was moved)
    placed: list[Path] = field(default_factory=list)  # new published folders

    @property
    def changed(self) -> list[Path]:
        return self.placed + [old for old, _ in self.aside]

    def rollback(self) -> None:
        for final in self.placed:
            shutil.rmtree(final, ignore_errors=True)
        for old, backup in reversed(self.aside):
            os.rename(backup, old)
        for tmp in self.staged:
            shutil.rmtree(tmp, ignore_errors=True)

    def finish(self) -> None:
        for _, backup in self.aside:
            shutil.rmtree(backup, ignore_errors=True)


def _install_locked(
    valid: Sequence[ValidRecord], board: Path, *, replace: bool, top: Path | None, message: str | None
) -> PublishReport:
    """Install ``valid`` into ``board``; the caller holds the board's lock."""
    root = board / RECORDS_DIR
    _recover(root)
    conflicts = _conflicts(valid, board, replace)  # authoritative, under the lock
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    swap, committed = _Swap(), False
    report = PublishReport(target=str(board))
    try:
        for v in valid:
            swap.staged.append(_stage(v, root, tag))
        for v, tmp in zip(valid, swap.staged):
            for old in conflicts[v.record.record_id]:
                backup = root / f"{TMP_PREFIX}old-{old.name}-{tag}"
                os.rename(old, backup)
                swap.aside.append((old, backup))
                report.replaced.append(old.name)
            final = root / v.record.record_id
            os.rename(tmp, final)
            swap.placed.append(final)
        if top is not None:
            text = message or git.message(
                [v.record.record_id for v in valid], {rid: [p.name for p in old] for rid, old in conflicts.items()}
            )
            report.commit = git.commit(top, swap.changed, text)
            committed = True
    except BaseException:
        if top is not None and not committed:
            git.unstage(top, swap.changed)
        swap.rollback()
        raise
    swap.finish()
    report.published = [final / RECORD_FILE for final in swap.placed]
    return report
