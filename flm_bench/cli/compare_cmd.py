"""``flm-bench compare``: paired significance tests between record sets (seeds of a cell)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from typer.models import OptionInfo

from flm_bench.cli.common import out, print_json

if TYPE_CHECKING:
    from flm_bench.results.compare import CompareResult, Comparison, RecordSet


class Test(StrEnum):
    student = "student"
    wilcoxon = "wilcoxon"
    fisher = "fisher"


_TEST_NAMES = {"student": "t-test", "wilcoxon": "Wilcoxon signed-rank test", "fisher": "randomization test"}
_PAIR_COLS = ("Δ", "Δ %", "95% CI", "seeds agree", "p", "p adjusted", "significant")


def _verdict(c: Comparison) -> tuple[str, ...]:
    from flm_bench.results.render.base import SAT_MARK

    g = c.gain
    return (
        f"{g.mean:+.4f}",
        f"{g.relative:+.1f}%" if g.relative is not None else "",
        f"[{g.ci[0]:+.4f}, {g.ci[1]:+.4f}]",
        f"{g.agreeing}/{len(g.per_seed)}" if g.per_seed else "",
        f"{g.p_value:.3g}",
        f"{c.p_adjusted:.3g}",
        ("yes" if c.significant else "no") + (f" {SAT_MARK}" if c.saturated else ""),
    )


def compare_table(result: CompareResult) -> RenderableType:
    """The comparison for the terminal: one row per set against the control, or (all pairs)
    a table of sets followed by a table of pairs."""
    from flm_bench.results.render.base import SAT_MARK, SAT_NOTE

    correction = "Holm–Bonferroni" if result.correction == "holm" else "none (one pair)"
    title = f"{result.metric}: paired {_TEST_NAMES[result.test]} across test users (scores averaged over seeds)"
    caption = (
        "Δ = set − control (% of control), 95% CI from a paired bootstrap over users; seeds agree: per-seed "
        f"gains (seeds both sets have) with the sign of Δ; correction: {correction}; "
        f"significant: adjusted p < {result.alpha:g}"
        + (
            f"; {SAT_MARK} {SAT_NOTE} (the control's popularity level)"
            if any(c.saturated for c in result.comparisons)
            else ""
        )
    )
    if not result.all_pairs:
        table = Table(title=title, caption=caption)
        for col in ("set", "seeds", "users", "mean", *_PAIR_COLS):
            table.add_column(col, justify="left" if col in ("set", "significant") else "right", no_wrap=True)
        by_set = {c.treatment: c for c in result.comparisons}
        for i, s in enumerate(result.sets):
            cells = ("(control)", *[""] * 6) if i == 0 else _verdict(by_set[s.label])
            table.add_row(Text(s.label), str(len(s.seeds)), str(s.users), f"{s.mean:.4f}", *map(Text, cells))
        return table
    sets = Table(title=title)
    for col in ("set", "seeds", "users", "mean"):
        sets.add_column(col, justify="left" if col == "set" else "right", no_wrap=True)
    for s in result.sets:
        sets.add_row(Text(s.label), str(len(s.seeds)), str(s.users), f"{s.mean:.4f}")
    pairs = Table(caption=caption.replace("set − control", "set − against"))
    for col in ("set", "against", *_PAIR_COLS):
        pairs.add_column(col, justify="left" if col in ("set", "against", "significant") else "right", no_wrap=True)
    for c in result.comparisons:
        pairs.add_row(Text(c.treatment), Text(c.control), *map(Text, _verdict(c)))
    return Group(sets, pairs)


def _record_sets(paths: list[Path], selection: dict[str, list[str] | None]) -> list[RecordSet] | list[Path]:
    """The sets to compare: each path one set, or with a selector the matching cells of the records at the paths."""
    from flm_bench.errors import ConfigError
    from flm_bench.results.compare import select_sets

    if not any(selection.values()):
        if len(paths) < 2:
            raise ConfigError("compare needs at least two record sets (the first is the control)")
        return paths
    chosen = select_sets(paths, {k: v or [] for k, v in selection.items()})
    if len(chosen) < 2:
        raise ConfigError(f"the selection matches one cell ({chosen[0].source}); compare needs two or more")
    return chosen


def _selector(name: str, what: str) -> OptionInfo:
    return typer.Option(
        f"--{name}", metavar="NAME", help=f"Compare the cells of this {what} among the records (repeatable)."
    )


_FRACTION = typer.Option(
    "--fraction",
    metavar="F",
    min=0.0,
    max=1.0,
    help="Compare the cells of this target fraction (repeatable, e.g. 0.05).",
)


def compare_command(
    sets: Annotated[
        list[Path],
        typer.Argument(
            metavar="RECORD_SET",
            help="Two or more record sets: record files, record folders or folders holding "
            "the seeds of one cell; the first is the control. With a selector (--dataset, --model, "
            "--strategy, --corpus, --fraction): folders of records, each selected cell a set, scratch first.",
        ),
    ],
    dataset: Annotated[list[str] | None, _selector("dataset", "dataset")] = None,
    model: Annotated[list[str] | None, _selector("model", "model")] = None,
    strategy: Annotated[list[str] | None, _selector("strategy", "strategy")] = None,
    corpus: Annotated[list[str] | None, _selector("corpus", "pretraining corpus")] = None,
    fraction: Annotated[list[float] | None, _FRACTION] = None,
    metric: Annotated[
        str, typer.Option("--metric", metavar="NAME", help="ranx metric name stored per user.")
    ] = "ndcg@10",
    test: Annotated[
        Test,
        typer.Option(
            "--test",
            metavar="TEST",
            help="Paired test across users: student (t-test), wilcoxon (signed-rank) or fisher (randomization).",
        ),
    ] = Test.student,
    all_pairs: Annotated[
        bool, typer.Option("--all-pairs", help="Test every pair, not just each set against the first.")
    ] = False,
    alpha: Annotated[
        float, typer.Option("--alpha", metavar="P", min=0.0, max=1.0, help="Significance level (adjusted p).")
    ] = 0.05,
    permutations: Annotated[
        int, typer.Option("--permutations", metavar="N", min=1, help="Permutations of the Fisher test.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Random seed of the Fisher test.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
) -> None:
    """Compare record sets with paired tests across test users, Holm-adjusted when several pairs.

    A record set is the seeds of one cell; each user's score is averaged over a set's seeds
    (seeds with identical per-user scores count once), then the sets are paired by user.
    The table's seeds column counts a set's seeds, as the board's does.

    Sets must share their test users (the same split fingerprint and user arrays; their seeds may differ)
    and their target fraction.
    """
    from flm_bench.results.compare import compare

    fractions = [f"{f:g}" for f in fraction or []]  # as select_sets names them
    chosen = _record_sets(
        sets, dict(dataset=dataset, model=model, strategy=strategy, corpus=corpus, fraction=fractions)
    )
    result = compare(
        chosen, metric=metric, test=test.value, all_pairs=all_pairs, alpha=alpha, n_permutations=permutations, seed=seed
    )
    if as_json:
        print_json(result.to_json())
        return
    out.print(compare_table(result))
