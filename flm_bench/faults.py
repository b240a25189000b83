"""Named fault points, for fault-injection tests (``tests/test_faults.py``) and nothing else.

``point(name)`` kills the current process with SIGKILL, at once and without cleanup, when the
environment variable ``FLM_BENCH_FAULT`` equals ``name``; otherwise it does nothing. Code calls
it at the instants where a kill would leave something half-done, so a test can kill a real
``flm-bench`` process exactly there and check what the next process makes of it.
"""

from __future__ import annotations

import os
import signal

ENV = "FLM_BENCH_FAULT"

#: Every point, and the instant it marks.
POINTS = {
    "publish.staged": "every record copied beside the board; no journal yet (recovery rolls back)",
    "publish.journaled": "the journal written (the commit point); nothing renamed yet (recovery rolls forward)",
    "publish.between-renames": "after each rename of a publish: a replaced folder moved aside, or a record placed",
    "publish.before-unjournal": "everything renamed, committed and cleaned up, but the journal not yet removed",
    "record.before-rename": "a run's record folder complete under its temporary name, not yet renamed into place",
    "pretrain.weights-written": "a pretrained checkpoint's weights written, its metadata not yet",
}


def point(name: str) -> None:
    """SIGKILL this process if ``FLM_BENCH_FAULT`` is ``name`` (one of :data:`POINTS`)."""
    assert name in POINTS, f"unknown fault point {name!r}"
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
