"""``flm-bench list datasets|corpora|models|strategies``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from flm_bench.cli.common import out, plugins, print_json
from flm_bench.data.sources import DataLocation, local_copy
from flm_bench.errors import DataError
from flm_bench.exclusion import exclusions


class Kind(StrEnum):
    datasets = "datasets"
    corpora = "corpora"
    models = "models"
    strategies = "strategies"


def _rows(kind: Kind, as_json: bool) -> list[dict[str, Any]]:
    registry = getattr(plugins(), kind.value)
    rows = []
    for entry in registry:
        spec = entry.spec
        row: dict[str, Any] = {"name": spec.name, "plugin": entry.plugin}
        if kind is Kind.datasets:
            row |= {"domain": spec.domain, "synthetic": spec.synthetic}
        elif kind is Kind.corpora:
            row["datasets"] = list(spec.datasets)
            left_out = exclusions(spec, plugins().datasets, _raw_ids)
            unchecked = _unchecked(spec.datasets)
            if as_json:
                row |= {"exclusions": left_out, "overlap_unchecked": unchecked}
            else:
                row["exclusions"] = _more_than_the_target(left_out) + (
                    f" (id overlap not checked, data not here: {', '.join(unchecked)})" if unchecked else ""
                )
        elif kind is Kind.models:
            row |= {"pretrainable": spec.pretrainable, "item_representation": spec.item_representation}
        else:
            row["needs_pretraining"] = spec.needs_pretraining
        if kind in (Kind.models, Kind.strategies):
            row["params"] = (
                spec.params.model_json_schema().get("properties", {})
                if as_json
                else ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
            )
        row["description"] = spec.description
        rows.append(row)
    return rows


@functools.cache
def _raw_ids(name: str) -> tuple[np.ndarray | None, np.ndarray | None] | None:
    """A dataset's raw ids, when its files are already here (listing never downloads)."""
    spec = plugins().datasets.get(name)
    location = DataLocation.from_env()
    if not (spec.user_id_space or spec.item_id_space):
        return None, None
    try:
        if not all(local_copy(f, location.data_dir) for f in spec.files):
            return None
        side = spec.load_data(location).side
    except DataError:
        return None
    return side.get("user_ids"), side.get("item_ids")


def _unchecked(members: Sequence[str]) -> list[str]:
    """The datasets with an id space whose ids could not be read (none when no member has an id
    space): their overlaps with the corpus went unchecked."""
    spaced = [e.spec.name for e in plugins().datasets if e.spec.user_id_space or e.spec.item_id_space]
    if not set(spaced) & set(members):
        return []
    return [n for n in spaced if _raw_ids(n) is None]


def _more_than_the_target(left_out: dict[str, dict[str, str]]) -> str:
    """``target: member, ...`` for the targets that lose more than themselves (family, id overlap)."""
    lines = [f"{t}: {', '.join(m for m in ms if m != t)}" for t, ms in left_out.items() if set(ms) - {t}]
    return "; ".join(lines) or "-"


def list_command(
    kind: Annotated[Kind, typer.Argument(metavar="KIND", help=f"What to list: {', '.join(Kind)}.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array on stdout.")] = False,
) -> None:
    """List the registered datasets, corpora, models or strategies (and the plugin of each).

    Models and strategies show their parameters' defaults; with --json, each parameter's type, default,
    range and search space.

    Corpora show, per target, the members it may not pretrain on: itself, its source family and
    the datasets whose raw ids overlap its own, where their files are here (with --json, every
    target and the reason for each member, and the datasets whose overlap went unchecked).
    """
    rows = _rows(kind, as_json)
    if as_json:
        print_json(rows)
        return
    table = Table(title=kind.value)
    for col in rows[0] if rows else ["name", "plugin"]:
        table.add_column(col)
    for row in rows:
        table.add_row(*(", ".join(v) if isinstance(v, list) else str(v) for v in row.values()))
    out.print(table)
