"""The errors publishing raises beyond :class:`~flm_bench.errors.RecordError`, and one-line text."""

from __future__ import annotations

from flm_bench.errors import FlmBenchError


class PublishError(FlmBenchError):
    """Valid records could not be written: the target is not writable, locked too long, or git failed."""


class GitError(PublishError):
    """A git command needed for publishing failed (clone, commit or push)."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


class Rejected(Exception):
    """Internal to validation: the reason to reject the record being checked (it becomes a
    :class:`~flm_bench.errors.RecordError` naming the record file)."""
