"""Where the board's numbers come from: the provenance of its records, summarized for the page.

Everything here is read from the records (``provenance`` and ``cost``); a field the records do
not carry (e.g. thread counts) is reported as not recorded, never guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flm_bench.results.records import Record
from flm_bench.text import printable


@dataclass(frozen=True)
class Origin:
    """Provenance of a board's records: each field lists ``(value, how many records)``, most common first."""

    records: int
    first: str | None  # earliest and latest creation time
    last: str | None
    harness: list[tuple[str, int]]  # flm-bench versions
    plugins: list[tuple[str, int]]  # "distribution version"
    git: list[tuple[str, int]]  # flm-bench source commits
    runtime: list[tuple[str, int]]  # python and torch versions
    platform: list[tuple[str, int]]  # the machine the costs were measured on
    device: list[tuple[str, int]]  # torch device and how memory was measured


def _count(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(printable(v) for v in values).items(), key=lambda kv: (-kv[1], kv[0]))


def origin(records: list[tuple[Path, Record]]) -> Origin:
    """The provenance of ``records``, summarized."""
    recs = [rec for _, rec in records]
    created = sorted(printable(r.provenance.created) for r in recs)
    return Origin(
        records=len(recs),
        first=created[0] if created else None,
        last=created[-1] if created else None,
        harness=_count(r.provenance.flm_bench_version for r in recs),
        plugins=_count(f"{name} {version}" for r in recs for name, version in r.provenance.plugins.items()),
        git=_count((r.provenance.git_sha or "not a git checkout")[:12] for r in recs),
        runtime=_count(f"python {r.provenance.python}, torch {r.provenance.torch}" for r in recs),
        platform=_count(r.provenance.platform for r in recs),
        device=_count(f"{r.cost.device} (memory: {r.cost.memory_kind})" for r in recs),
    )


def fmt_counted(values: list[tuple[str, int]]) -> str:
    """``a (3 records); b (1 record)``."""
    return "; ".join(f"{v} ({n} record{'s' if n != 1 else ''})" for v, n in values) or "—"
