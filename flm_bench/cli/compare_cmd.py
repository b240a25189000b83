"""``flm-bench compare``: paired significance tests between record sets (seeds of a cell)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from flm_bench.cli.common import out, print_json

if TYPE_CHECKING:
    from flm_bench.results.compare import CompareResult, Comparison


class Test(StrEnum):
    student = "student"
    fisher = "fisher"


def compare_table(result: CompareResult) -> RenderableType:
    """The comparison for the terminal: one row per set against the control, or (all pairs)
    a table of sets followed by a table of pairs."""
    test = "t-test" if result.test == "student" else "randomization test"
    correction = "Holm–Bonferroni" if result.correction == "holm" else "none (one pair)"
    title = f"{result.metric}: paired {test} over (seed, user)"
    caption = f"Δ = set − control; correction: {correction}; significant: adjusted p < {result.alpha:g}"

    def verdict(c: Comparison) -> tuple[str, str, str, str]:
        return f"{c.difference:+.4f}", f"{c.p_value:.3g}", f"{c.p_adjusted:.3g}", "yes" if c.significant else "no"

    pair_cols = ("Δ", "p", "p adjusted", "significant")
    if not result.all_pairs:
        table = Table(title=title, caption=caption)
        for col in ("set", "seeds", "pairs", "mean", *pair_cols):
            table.add_column(col, justify="left" if col in ("set", "significant") else "right", no_wrap=True)
        by_set = {c.treatment: c for c in result.comparisons}
        for i, s in enumerate(result.sets):
            cells = ("(control)", "", "", "") if i == 0 else verdict(by_set[s.label])
            table.add_row(s.label, ",".join(map(str, s.seeds)), str(s.pairs), f"{s.mean:.4f}", *cells)
        return table
    sets = Table(title=title)
    for col in ("set", "seeds", "pairs", "mean"):
        sets.add_column(col, justify="left" if col == "set" else "right", no_wrap=True)
    for s in result.sets:
        sets.add_row(s.label, ",".join(map(str, s.seeds)), str(s.pairs), f"{s.mean:.4f}")
    pairs = Table(caption=caption.replace("set − control", "set − against"))
    for col in ("set", "against", *pair_cols):
        pairs.add_column(col, justify="left" if col in ("set", "against", "significant") else "right", no_wrap=True)
    for c in result.comparisons:
        pairs.add_row(c.treatment, c.control, *verdict(c))
    return Group(sets, pairs)


def compare_command(
    sets: Annotated[
        list[Path],
        typer.Argument(
            metavar="RECORD_SET",
            help="Two or more record sets: record files, record folders or folders holding "
            "the seeds of one cell. The first is the control.",
        ),
    ],
    metric: Annotated[str, typer.Option("--metric", help="ranx metric name stored per user.")] = "ndcg@10",
    test: Annotated[
        Test, typer.Option("--test", help="Paired test (ranx): Student t-test or Fisher randomization.")
    ] = Test.student,
    all_pairs: Annotated[
        bool, typer.Option("--all-pairs", help="Test every pair, not just each set against the first.")
    ] = False,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0, help="Significance level (adjusted p).")] = 0.05,
    permutations: Annotated[int, typer.Option("--permutations", min=1, help="Permutations of the Fisher test.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the Fisher test.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
) -> None:
    """Compare record sets with paired tests over per-user scores, Holm-adjusted when several pairs.

    A record set is the seeds of one cell; scores are paired on (seed, user).

    Sets must share their test users: the same split fingerprint, seeds and user arrays.
    """
    from flm_bench.errors import ConfigError
    from flm_bench.results.compare import compare

    if len(sets) < 2:
        raise ConfigError("compare needs at least two record sets (the first is the control)")
    result = compare(
        sets, metric=metric, test=test.value, all_pairs=all_pairs, alpha=alpha, n_permutations=permutations, seed=seed
    )
    if as_json:
        print_json(result.to_json())
        return
    out.print(compare_table(result))
