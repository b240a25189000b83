"""The seeds of one cell: records of one :class:`~flm_bench.results.records.CellKey` count as seeds
of one board row only if they differ in their seed alone, never in the model's or the strategy's
parameters (which the key does not hold: records of ``-p sasrec.dim=128`` and of the default can
share a suite, a folder and a cell key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flm_bench.errors import RecordError
from flm_bench.results.records import Record


def parameter_differences(a: Record, b: Record) -> list[str]:
    """What differs between the model and strategy parameters of ``a`` and ``b``, one entry a field
    (``model dim: 64 vs 128``); empty when they are the same."""
    sides: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("model", a.model.parameters, b.model.parameters),
        ("strategy", a.strategy.parameters, b.strategy.parameters),
    ]
    return [
        f"{side} {name}: {x.get(name)!r} vs {y.get(name)!r}"
        for side, x, y in sides
        for name in sorted(x.keys() | y.keys())
        if x.get(name) != y.get(name)
    ]


def check_seeds(records: Sequence[Record], where: str) -> None:
    """Refuse ``records`` (one cell's) as its seeds when a seed comes twice or their parameters differ.

    :raises RecordError: naming ``where``, the two records and what differs.
    """
    seen: dict[int, Record] = {}
    for rec in records:
        if rec.seed in seen:
            raise RecordError(
                f"{where}: records {seen[rec.seed].record_id} and {rec.record_id} are the same cell (seed {rec.seed}) "
                "with different configurations; keep one of them"
            )
        seen[rec.seed] = rec
    for rec in records[1:]:
        if diff := parameter_differences(records[0], rec):
            raise RecordError(
                f"{where}: records {records[0].record_id} and {rec.record_id} are seeds of one cell with different "
                f"parameters ({'; '.join(diff)}); keep such runs in separate suites"
            )
