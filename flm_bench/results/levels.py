"""What the board makes of a record's reference levels (:mod:`flm_bench.levels`): the lift over
popularity and the ``saturated`` flag, each defined here once, and which rows share levels.

- lift = metric / popularity level (×1.00: the row scores what ranking by popularity scores);
- headroom taken = (popularity − random) / (1 − random): the share of what a ranking can gain over
  random that popularity already has; a metric is **saturated** when it is at least
  :data:`SATURATED_AT` (coil2000: (0.8666 − 0.2333) / (1 − 0.2333) ≈ 0.83 in ndcg@10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from flm_bench.results.records import CellKey

#: Popularity has this share of the headroom above random or more: the metric is saturated.
SATURATED_AT = 0.75


def headroom_taken(random: float, popularity: float) -> float | None:
    """(popularity − random) / (1 − random); None when random already scores 1."""
    return (popularity - random) / (1.0 - random) if random < 1.0 else None


def saturated(random: float, popularity: float) -> bool:
    """Whether popularity already takes :data:`SATURATED_AT` of the headroom above random."""
    taken = headroom_taken(random, popularity)
    return taken is None or taken >= SATURATED_AT


def lift(value: float, popularity: float) -> float | None:
    """value / popularity; None when popularity scores 0."""
    return value / popularity if popularity > 0 else None


class LevelsRow(Protocol):
    """What :func:`share` reads and sets of a board row (:class:`flm_bench.results.summary.Row`)."""

    levels: dict[str, tuple[float, float]]  # metric -> (random, popularity)
    levels_from: str | None

    @property
    def key(self) -> CellKey: ...

    @property
    def exclude_history(self) -> bool: ...

    @property
    def metrics(self) -> Mapping[str, object]: ...


def share(rows: Sequence[LevelsRow]) -> None:
    """Rows whose records predate levels take them from a row measured on the same test users,
    candidates and history rule (same dataset, split fingerprint, target fraction and rule): the
    levels depend on nothing else. ``levels_from`` names the suite whose records gave them."""

    def evaluation(r: LevelsRow) -> tuple[str, str, float, bool]:
        return r.key.dataset, r.key.split, r.key.fraction, r.exclude_history

    donors: dict[tuple[str, str, float, bool], LevelsRow] = {}
    for r in sorted(rows, key=lambda r: r.key.suite):
        if r.levels:  # rows' own levels: share runs once, before any row borrows
            donors.setdefault(evaluation(r), r)
    for r in rows:
        if not r.levels and (donor := donors.get(evaluation(r))):
            r.levels = {m: v for m, v in donor.levels.items() if m in r.metrics}
            r.levels_from = donor.key.suite if r.levels else None
