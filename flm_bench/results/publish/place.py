"""Placing validated records into a leaderboard folder: all of them or none, also when killed.

Validation finishes before anything is written, so a rejected call changes nothing. Under a
:class:`filelock.FileLock` on ``<to>/.publish.lock`` a publish first recovers what an earlier,
interrupted one left (:func:`.journal.recover`), checks for conflicts, copies each record to a
temporary folder inside ``<to>/records/`` (staging), and writes the journal, its commit point
(:mod:`.journal`). Then it renames replaced folders aside and the staged copies into place,
commits, and deletes the replaced folders and the journal.

What is guaranteed: every record of the call ends up published, or none does, whether the call
returns, raises (everything is undone, the git commit too) or is killed at any instant (the
next publish, or a reader entering :func:`.journal.settled`, finishes or undoes it: forward
from the commit point on, back before it). Temporary folders are never read as records
(:func:`~flm_bench.results.records.load_records` skips them); only a reader that reads the board
outside :func:`.journal.settled` while a publisher is renaming may see the publish part-way.

No record's cell (or record id) may already be published, unless ``replace``: then the
published record(s) of that cell are replaced. When the folder lies inside a git work tree,
the new (and removed) record folders are committed (see :mod:`.git`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flm_bench import faults
from flm_bench.errors import RecordError
from flm_bench.results.publish import git
from flm_bench.results.publish.errors import GitError, PublishError
from flm_bench.results.publish.journal import Journal, complete, fsync, locked, recover
from flm_bench.results.publish.validate import Cell, ValidRecord, cell_of, cell_text
from flm_bench.results.records import RECORD_FILE, RECORDS_DIR, TMP_PREFIX, Record, load_record
from flm_bench.results.seeds import parameter_differences

DEFAULT_BOARD = Path("leaderboards")


@dataclass
class PublishReport:
    """What one publish call did."""

    published: list[Path] = field(default_factory=list)  # record.json files in the target
    replaced: list[str] = field(default_factory=list)  # folder names of records replaced
    commit: str | None = None  # the commit made, when publishing into git
    target: str = ""


def _published(board: Path, *, strict: bool) -> tuple[dict[Cell, list[tuple[Path, Record]]], dict[str, Path]]:
    """Published records: cell -> (folder, record) pairs, and folder name -> folder.

    Without ``strict`` (a look without the lock, while another publisher may be renaming
    folders), records that cannot be read are skipped; with it, they are an error.
    """
    root = board / RECORDS_DIR
    cells: dict[Cell, list[tuple[Path, Record]]] = {}
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
        cells.setdefault(cell_of(record), []).append((folder, record))
    return cells, folders


def _conflicts(
    valid: Sequence[ValidRecord], board: Path, replace: bool, *, strict: bool = True
) -> dict[str, list[Path]]:
    """record_id -> published folders it replaces; raise on a duplicate without ``replace``."""
    cells, folders = _published(board, strict=strict)
    out: dict[str, list[Path]] = {}
    for v in valid:
        hits = [folder for folder, _ in cells.get(v.cell, [])]
        same_id = folders.get(v.record.record_id)
        if same_id is not None and same_id not in hits:
            hits.append(same_id)
        if hits and not replace:
            raise RecordError(
                f"{v.source}: already published as {hits[0]} ({cell_text(v.cell)}); use --replace to replace it"
            )
        key, seed = v.cell
        _check_siblings(v, [pair for (k, s), pairs in cells.items() if k == key and s != seed for pair in pairs])
        out[v.record.record_id] = hits
    return out


def _check_siblings(v: ValidRecord, siblings: Sequence[tuple[Path, Record]]) -> None:
    """Refuse ``v`` when a published record of its cell (another seed, in ``siblings``) has other
    model or strategy parameters: the board would count them as seeds of one row."""
    for folder, other in siblings:
        if diff := parameter_differences(other, v.record):
            raise RecordError(
                f"{v.source}: its cell is published as {folder.name} with other parameters ({'; '.join(diff)}); "
                "a board row's seeds differ in their seed alone, so publish it under another suite name"
            )


def install(
    valid: Sequence[ValidRecord],
    to: Path | str = DEFAULT_BOARD,
    *,
    replace: bool = False,
    commit: bool | None = None,
    message: str | None = None,
) -> PublishReport:
    """Copy validated records into the leaderboard folder ``to``: all or none, under a lock.

    :param valid: records from :func:`~flm_bench.results.publish.validate.validate`.
    :param to: the leaderboard folder (records go to ``<to>/records/<record_id>/``).
    :param replace: replace published records of the same cells instead of rejecting them.
    :param commit: commit the change to git; ``None``: when ``to`` is inside a git work tree.
    :param message: commit message (default: one naming every record).
    :raises RecordError: a cell is already published (and not ``replace``); nothing changed.
    :raises PublishError: the folder is not writable, or the git commit failed; nothing changed.
    """
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
        with locked(board):
            recover(board)
            conflicts = _conflicts(valid, board, replace)  # authoritative, under the lock
            journal = _prepare(valid, board, conflicts, commit=top is not None, message=message)
            faults.point("publish.journaled")
            sha = complete(board, journal, top)
    except OSError as exc:
        raise PublishError(f"cannot write into {board}: {exc}") from exc
    root = board / RECORDS_DIR
    return PublishReport(
        published=[root / final / RECORD_FILE for _, final in journal.place],
        replaced=[old for old, _ in journal.aside],
        commit=sha,
        target=str(board),
    )


def _stage(v: ValidRecord, tmp: Path) -> None:
    """Copy one record and its artifacts into the temporary folder ``tmp``, flushed to the disk."""
    tmp.mkdir()
    copies = {v.source: tmp / RECORD_FILE, **{v.source.parent / name: tmp / name for name in v.artifacts}}
    for source, copy in copies.items():
        shutil.copy2(source, copy)
        fsync(copy)
    fsync(tmp)


def _prepare(
    valid: Sequence[ValidRecord],
    board: Path,
    conflicts: Mapping[str, Sequence[Path]],
    *,
    commit: bool,
    message: str | None,
) -> Journal:
    """Stage a copy of every record beside the published ones, then write the journal (the
    commit point); on any failure before it, delete the copies."""
    root = board / RECORDS_DIR
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ids = [v.record.record_id for v in valid]
    olds = list(dict.fromkeys(old.name for rid in ids for old in conflicts[rid]))  # a folder moves once
    journal = Journal(
        place=[(f"{TMP_PREFIX}{rid}-{tag}", rid) for rid in ids],
        aside=[(old, f"{TMP_PREFIX}old-{old}-{tag}") for old in olds],
        commit=commit,
        message=message or git.message(ids, {rid: [p.name for p in old] for rid, old in conflicts.items()}),
    )
    try:
        for v, (staged, _) in zip(valid, journal.place):
            _stage(v, root / staged)
        fsync(root)
        faults.point("publish.staged")
        journal.write(board)
    except BaseException:
        for staged, _ in journal.place:
            shutil.rmtree(root / staged, ignore_errors=True)
        raise
    return journal
