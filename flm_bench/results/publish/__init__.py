"""Publishing: validate result records and merge them into a leaderboard folder (or git repository).

``publish(paths, to)`` takes record files, record folders or folders of records and, only if
*every* record passes every check, copies them to ``<to>/records/<record_id>/`` (the layout the
runner writes, so boards render from it with :func:`flm_bench.results.records.load_records`).

- :mod:`.validate`: the checks (schema, provenance, artifacts, ranx recomputation of the
  metrics and per-user scores, dataset and split fingerprints recomputed through the plugins).
- :mod:`.place`: conflicts with already-published cells, staging, the swap under a file lock.
- :mod:`.journal`: the commit point of a publish, and recovery: a publisher killed at any
  instant leaves a board that the next publisher, or a reader inside :func:`settled`, finishes
  (killed after the journal was written) or undoes (killed before): the board then holds every
  record of the call or none of them, never some.
- :mod:`.git`: running git, work trees, remotes, committing only the record folders.
- :mod:`.remote`: publishing into a git remote (clone, install, push, retry).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flm_bench.results.publish.errors import GitError, PublishError
from flm_bench.results.publish.git import is_remote, work_tree
from flm_bench.results.publish.journal import JOURNAL, LOCK_NAME, settled
from flm_bench.results.publish.place import DEFAULT_BOARD, PublishReport, install
from flm_bench.results.publish.remote import publish_remote
from flm_bench.results.publish.validate import Validator, ValidRecord, validate

if TYPE_CHECKING:
    from flm_bench.plugins import Plugins

__all__ = [
    "DEFAULT_BOARD",
    "JOURNAL",
    "LOCK_NAME",
    "GitError",
    "PublishError",
    "PublishReport",
    "ValidRecord",
    "Validator",
    "install",
    "is_remote",
    "publish",
    "settled",
    "validate",
    "work_tree",
]


def publish(
    paths: Sequence[Path | str],
    to: Path | str = DEFAULT_BOARD,
    *,
    replace: bool = False,
    plugins: Plugins | None = None,
    commit: bool | None = None,
    subdir: str = str(DEFAULT_BOARD),
    message: str | None = None,
) -> PublishReport:
    """Validate every record at ``paths``, then publish them all into ``to`` (or none).

    :param paths: record files, record folders or folders of records.
    :param to: the leaderboard folder (committed to git when inside a work tree), or a git
        remote (URL or bare repository), which is cloned, published into, committed and pushed.
    :param replace: replace already published records of the same cells.
    :param plugins: the plugins that load the datasets (default: a fresh :func:`load_plugins`).
    :param commit: force (``True``) or prevent (``False``) the git commit of a local folder.
    :param subdir: for a remote: the leaderboard folder inside the repository.
    :param message: commit message (default: one naming every record).
    :returns: what was published (``record.json`` files; for a remote, paths inside the repository), what
        was replaced, and the commit made.
    :raises RecordError: a record failed a check; nothing was written.
    :raises GitError: cloning, committing or pushing failed; nothing was published.
    """
    valid = validate(paths, plugins=plugins)
    if is_remote(to):
        return publish_remote(valid, str(to), replace=replace, commit=commit, subdir=subdir, message=message)
    return install(valid, Path(to), replace=replace, commit=commit, message=message)
