"""The board on the terminal: summary rows as a rich table (``run`` and ``publish`` print it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from flm_bench.results.summary import Row


_LEFT = ("dataset", "model", "strategy", "corpus")


def board_table(rows: list[Row], metrics: list[str], headline: str, width: int | None = None) -> Table:
    """The leaderboard as a rich table; with ``width`` (the terminal's), the gain's CI moves below
    it and the columns that do not fit are left out, least important first (costs, other
    metrics, seeds, corpus), so that the headline metric, its gain, CI and p are never cut."""
    from flm_bench.results.render.ablation import has_ablations
    from flm_bench.results.render.base import CAP_MARK, SAT_MARK, SAT_NOTE, SIG_MARK
    from flm_bench.results.render.cold import NOT_MEASURED, has_cold_gains

    columns, first = _columns(rows, metrics, headline, ci_below=False)
    if width is not None and _need(columns, first) > width:  # too narrow: the CI on a line of its own
        columns, first = _columns(rows, metrics, headline, ci_below=True)
    shown = _fitting(columns, first, width)
    left_out = [c for c in columns if c not in shown]
    caption = (
        f"gain = {headline}(strategy) − {headline}(scratch), the test user as the unit (scores averaged "
        "over seeds), (% of scratch), [95% bootstrap CI]; p: paired t-test across users, Holm-adjusted; "
        "seeds: per-seed gains agreeing in sign"
    )
    if any(r.capped_seeds for r in rows):
        caption += (
            f"; {CAP_MARK} k/n: a budget (epoch cap or time) ended k of n seeds, "
            f"and no gain over such a control is {SIG_MARK}"
        )
    if any(r.levels for r in rows):
        caption += (
            f"; random, popularity: {headline} of a uniformly random ranking (expected) and of ranking by "
            f"popularity, on the same users; lift = {headline} / popularity; {SAT_MARK} {SAT_NOTE}"
        )
    if has_cold_gains(rows):
        caption += (
            f"; gain cold-start items: the gain in {headline} over scratch on the row's cold-start-item users only "
            "(the same users on both sides), [95% CI], p Holm-adjusted among these gains alone; "
            f"{NOT_MEASURED}: the records do not mark the slice's users or they differ from the control's"
        )
    if has_ablations(rows):
        caption += (
            f"; over its ablation: {headline} minus that of the same model without one ingredient, same cell "
            f"otherwise, [95% CI], p Holm-adjusted among these gains alone, never {SIG_MARK} where {CAP_MARK}"
        )
    if left_out:
        caption += f"; left out for the terminal's width: {', '.join(left_out)}"
    synthetic = any(r.synthetic for r in rows)
    table = Table(title="leaderboard" + (" — SYNTHETIC data" if synthetic else ""), caption=caption)
    for col in shown:  # names fold onto more lines before a number is ever cut
        left = col in _LEFT
        table.add_column(col, justify="left" if left else "right", no_wrap=not left, overflow="fold")
    previous = None
    for i, r in enumerate(rows):
        if previous is not None and r.key.dataset != previous:
            table.add_section()
        previous = r.key.dataset
        table.add_row(*(Text(columns[c][i]) for c in shown))  # Text: names and brackets are never rich markup
    return table


def _columns(
    rows: list[Row], metrics: list[str], headline: str, *, ci_below: bool
) -> tuple[dict[str, list[str]], list[str]]:
    """Header -> cells in display order, and the columns that always show (names, headline
    metric, gain with its CI, p, the headline of the cold-start-item users and the gain on them
    when a row has them, and the gain over the model's ablation when a row has one); the rest give
    way to the terminal's width from the last one back."""
    from flm_bench.results.render.ablation import fmt_ablation, has_ablations
    from flm_bench.results.render.base import fmt_model, fmt_p, fmt_params, fmt_seconds, fmt_stat

    gain = f"gain {headline} (%)" + ("\n[95% CI]" if ci_below else " [95% CI]")
    kept = _cold(rows, headline, ci_below)
    if has_ablations(rows):
        kept[f"{headline} over its ablation"] = [fmt_ablation(r, headline, ci_below) for r in rows]
    columns = {
        "dataset": [r.key.dataset for r in rows],
        "model": [fmt_model(r) for r in rows],
        "strategy": [r.key.strategy for r in rows],
        "corpus": [r.key.corpus or "" for r in rows],
        "seeds": [str(len(r.seeds)) for r in rows],
        **{m: [fmt_stat(r.metrics[m]) if m in r.metrics else "" for r in rows] for m in metrics},
        **(_levels(rows, headline) if any(r.levels for r in rows) else {}),
        gain: [_gain(r, headline, ci_below) for r in rows],
        "p · seeds": [fmt_p(r, headline) for r in rows],
        **kept,
        "adapt s": [fmt_seconds(r.adapt_seconds) for r in rows],
        "pretrain s": [fmt_seconds(r.pretrain_seconds) for r in rows],
        "trainable": [fmt_params(r.trainable_parameters) for r in rows],
    }
    return columns, ["dataset", "model", "strategy", metrics[0], gain, "p · seeds", *kept]


def _cold(rows: list[Row], headline: str, stacked: bool) -> dict[str, list[str]]:
    """The headline on the cold-start-item users (when a row has them) and the gain on them (when a
    row has one, ``fmt_cold_gain``): two columns, or with ``stacked`` (a narrow terminal) one column
    whose cells have each number on a line of its own."""
    from flm_bench.data.transfer import COLD_START_ITEMS
    from flm_bench.results.render.base import fmt_slice
    from flm_bench.results.render.cold import fmt_cold_gain, has_cold_gains, has_cold_slices

    if not has_cold_slices(rows):
        return {}
    values = [fmt_slice(r, COLD_START_ITEMS, headline) for r in rows]
    if not has_cold_gains(rows):
        return {f"{headline}\ncold-start items": values}
    gains = [fmt_cold_gain(r, headline, ci_below=stacked) for r in rows]
    if not stacked:
        return {f"{headline}\ncold-start items": values, f"gain {headline}\ncold-start items": gains}
    cells = ["\n".join(c for c in (v.replace(" (", "\n("), g) if c) for v, g in zip(values, gains)]
    return {f"{headline} (users),\ngain · p [95% CI]\ncold-start items": cells}


def _levels(rows: list[Row], headline: str) -> dict[str, list[str]]:
    """The random and popularity columns and the lift (``fmt_levels``), for rows that carry levels."""
    from flm_bench.results.render.base import fmt_levels

    cells = [fmt_levels(r, headline) for r in rows]
    return {name: [c[i] for c in cells] for i, name in enumerate(("random", "popularity", "lift"))}


def _gain(row: Row, metric: str, ci_below: bool) -> str:
    """The gain cell: absolute (relative) [CI] †, or with ``ci_below`` the CI on a second line."""
    from flm_bench.results.render.base import fmt_ci, fmt_gain

    if not ci_below or metric not in row.gain:
        return fmt_gain(row, metric)
    return f"{fmt_gain(row, metric, ci=False)}\n{fmt_ci(row.gain[metric].ci)}"


def _need(columns: dict[str, list[str]], names: list[str]) -> int:
    """Characters the ``names`` columns take unwrapped: widest line of a cell or header, padding and
    a separator each."""
    return 4 + sum(max(len(line) for cell in [n, *columns[n]] for line in cell.split("\n")) + 3 for n in names)


def _fitting(columns: dict[str, list[str]], first: list[str], width: int | None) -> list[str]:
    """The columns to show, in display order: ``first`` always (names fold if need be), then the
    others in display order while they fit in ``width`` characters (all when None)."""
    shown = list(first)
    for name in columns:
        if name not in shown and (width is None or _need(columns, [*shown, name]) <= width):
            shown.append(name)
    return [c for c in columns if c in shown]


def headline_metrics(rows: list[Row]) -> list[str]:
    """The metrics at the smallest cutoff every row has (the first is the headline), leaving out the
    cutoffs added for small catalogues unless every row is one: then @3, as ``run``'s board."""
    from flm_bench.results.render.base import metric_key

    names = sorted({m for r in rows for m in r.metrics}, key=metric_key)
    shared = set.intersection(*({int(m.split("@")[1]) for m in r.metrics if "@" in m} for r in rows)) if rows else set()
    added = {k for r in rows for k in r.scaled_cutoffs}
    small = bool(rows) and all(3 in r.scaled_cutoffs for r in rows) and 3 in shared
    cutoffs = [3] if small else sorted(shared - added) or sorted(shared)
    return [m for m in names if cutoffs and m.endswith(f"@{cutoffs[0]}")] or names
