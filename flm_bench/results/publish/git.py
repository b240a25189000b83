"""The git helpers of publishing: run git, find a work tree, tell a remote, commit and unstage.

Publishing commits only the record folders it changed (other staged changes are left alone).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from flm_bench.results.publish.errors import GitError, one_line

_SCP_LIKE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:")


def run_git(args: Sequence[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``git args`` in ``cwd`` (never prompting); with ``check``, a failure is a :class:`GitError`."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    if check and proc.returncode != 0:
        detail = one_line(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
        raise GitError(f"git {' '.join(args[:2])} failed in {cwd}: {detail}")
    return proc


def work_tree(path: Path) -> Path | None:
    """The top of the git work tree holding ``path`` (or its nearest existing parent), if any."""
    probe = Path(path).absolute()
    while not probe.exists():
        probe = probe.parent
    try:
        proc = run_git(["rev-parse", "--show-toplevel"], probe if probe.is_dir() else probe.parent, check=False)
    except GitError:  # no git installed: not a work tree as far as we can tell
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def is_remote(to: str | Path) -> bool:
    """Whether ``to`` names a git remote: a URL, ``user@host:path``, or a bare repository folder."""
    text = str(to)
    if "://" in text or _SCP_LIKE.match(text):
        return True
    path = Path(text)
    if path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir():
        proc = run_git(["rev-parse", "--is-bare-repository"], path, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "true"
    return False


def message(ids: Sequence[str], replaced: Mapping[str, Sequence[str]]) -> str:
    """The commit message naming every published record id and the folders each replaces."""
    subject = f"Publish {len(ids)} record{'s' if len(ids) != 1 else ''}" + (f": {ids[0]}" if len(ids) == 1 else "")
    lines = []
    for rid in ids:
        old = list(replaced.get(rid, []))
        lines.append(f"- {rid}" + (f" (replaces {', '.join(old)})" if old else ""))
    return subject + "\n\n" + "\n".join(lines) + "\n\nValidated and published by flm-bench publish.\n"


def commit(top: Path, paths: Sequence[Path], text: str) -> str | None:
    """Add and commit exactly ``paths`` (new, replaced and removed folders); return the commit."""
    rel = sorted({os.path.relpath(p, top) for p in paths})
    present = [
        r for r in rel if (top / r).exists() or run_git(["ls-files", "--", r], top).stdout.strip()
    ]  # a removed folder git knew about
    if not present:
        return None
    run_git(["add", "-A", "--", *present], top)
    if run_git(["diff", "--cached", "--quiet", "--", *present], top, check=False).returncode == 0:
        return None  # byte-identical replacement: nothing to commit
    run_git(["commit", "--quiet", "-m", text, "--", *present], top)
    return run_git(["rev-parse", "HEAD"], top).stdout.strip()


def unstage(top: Path, paths: Sequence[Path]) -> None:
    """Take ``paths`` out of the index again (after a failed commit), leaving the rest staged."""
    rel = sorted({os.path.relpath(p, top) for p in paths})
    if run_git(["rev-parse", "--verify", "--quiet", "HEAD"], top, check=False).returncode == 0:
        run_git(["reset", "--quiet", "--", *rel], top, check=False)
    else:
        run_git(["rm", "--cached", "-r", "--quiet", "--ignore-unmatch", "--", *rel], top, check=False)
