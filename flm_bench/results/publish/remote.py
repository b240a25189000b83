"""Publishing into a git remote: clone, install, commit, push; retry when the remote moved.

A remote is a URL such as ``https://…``, ``ssh://…``, ``file://…``, ``user@host:path``, or
the path of a bare repository (see :func:`.git.is_remote`). It is cloned to a temporary
folder, the records are installed into ``<clone>/<subdir>``, committed and pushed; a push
rejected because the remote moved is retried on top of the new remote state (so duplicates
are checked again).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flm_bench.results.publish.errors import GitError, one_line
from flm_bench.results.publish.git import run_git
from flm_bench.results.publish.place import PublishReport, install
from flm_bench.results.publish.validate import ValidRecord

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 5
_MOVED = ("rejected", "fetch first", "non-fast-forward")  # what git says when the remote moved


def publish_remote(
    valid: Sequence[ValidRecord], url: str, *, replace: bool, commit: bool | None, subdir: str, message: str | None
) -> PublishReport:
    """Publish ``valid`` into the leaderboard folder ``subdir`` of the git remote ``url``."""
    if commit is False:
        raise GitError(f"{url} is a git remote: publishing there always commits and pushes")
    if Path(subdir).is_absolute() or ".." in Path(subdir).parts:
        raise GitError(f"subdir {subdir!r} must be a relative path inside the repository")
    return _push(valid, url, replace=replace, subdir=subdir, message=message)


def _push(valid: Sequence[ValidRecord], url: str, *, replace: bool, subdir: str, message: str | None) -> PublishReport:
    with tempfile.TemporaryDirectory(prefix="flm-bench-publish-") as tmp:
        clone = Path(tmp) / "repo"
        run_git(["clone", "--quiet", url, str(clone)], Path(tmp))
        branch = run_git(["symbolic-ref", "--short", "HEAD"], clone).stdout.strip()
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            report = install(valid, clone / subdir, replace=replace, commit=True, message=message)
            if report.commit is None:
                break  # nothing changed (identical replacement)
            pushed = run_git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], clone, check=False)
            if pushed.returncode == 0:
                break
            text = (pushed.stderr + pushed.stdout).lower()
            if attempt == PUSH_ATTEMPTS or not any(w in text for w in _MOVED):
                raise GitError(f"git push to {url} failed: {one_line(pushed.stderr or pushed.stdout)}")
            log.info("push to %s rejected (the remote moved); retrying on top of it", url)
            run_git(["fetch", "--quiet", "origin"], clone)
            run_git(["reset", "--quiet", "--hard", f"origin/{branch}"], clone)  # our private clone
        report.target = url
        report.published = [p.relative_to(clone) for p in report.published]
        return report
