"""``flm-bench list datasets|corpora|models|strategies``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from flm_bench.cli.common import out, plugins, print_json
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
            left_out = exclusions(spec, plugins().datasets)
            row["exclusions"] = left_out if as_json else _family_exclusions(left_out)
        elif kind is Kind.models:
            row |= {"pretrainable": spec.pretrainable, "item_representation": spec.item_representation}
            row["params"] = (
                spec.params.model_json_schema().get("properties", {})
                if as_json
                else ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
            )
        else:
            row["needs_pretraining"] = spec.needs_pretraining
        row["description"] = spec.description
        rows.append(row)
    return rows


def _family_exclusions(left_out: dict[str, dict[str, str]]) -> str:
    """``target: member, ...`` for the targets that lose more than themselves (their source family)."""
    lines = [f"{t}: {', '.join(m for m in ms if m != t)}" for t, ms in left_out.items() if set(ms) - {t}]
    return "; ".join(lines) or "-"


def list_command(
    kind: Annotated[Kind, typer.Argument(metavar="KIND", help=f"What to list: {', '.join(Kind)}.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array on stdout.")] = False,
) -> None:
    """List the registered datasets, corpora, models or strategies (and the plugin of each).

    Models show their parameters' defaults; with --json, each parameter's type, default, range and search space.

    Corpora show, per target, the members it may not pretrain on: itself and its source family
    (with --json, every target and the reason for each member).
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
