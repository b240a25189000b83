"""The board's answer in words and its plots' encoding, on hand-made rows (no records needed)."""

from __future__ import annotations

import dataclasses
import re

from flm_bench.results.records import CellKey
from flm_bench.results.render.base import Board, rank_rows
from flm_bench.results.render.domains import domain_summaries
from flm_bench.results.render.plots import PALETTE, gain_plot
from flm_bench.results.render.story import board_sentence, domain_sentences
from flm_bench.results.stats import Gain
from flm_bench.results.summary import Row, Stat

METRIC = "ndcg@10"


def row(strategy: str, ndcg: float, gain: float | None = None, p: float = 1.0, seconds: float = 10.0) -> Row:
    """A row of dataset ``d`` in domain ``media``; with ``gain``, over a control scoring 0.10."""
    key = CellKey("s", "d", "split", "m", strategy, None if strategy == "scratch" else "corpus")
    made = Row(
        key=key,
        domain="media",
        synthetic=False,
        split_protocol="leave-one-out",
        model_plugin="p",
        strategy_plugin="p",
        seeds=[0, 1],
        record_ids=[f"{strategy}-0", f"{strategy}-1"],
        exclude_history=True,
        metrics={METRIC: Stat(ndcg, 0.0 if strategy == "scratch" else 0.01)},
        pretrain_seconds=0.0 if strategy == "scratch" else 100.0,
        adapt_seconds=seconds,
    )
    if gain is not None:
        made.gain[METRIC] = Gain(gain, 0.10, (gain - 0.01, gain + 0.01), p, 500, (0, 1), (gain, gain))
        made.p_value[METRIC] = p
    return made


def board(rows: list[Row]) -> Board:
    ranks, best = rank_rows(rows, METRIC)
    return Board(rows, [], [METRIC], METRIC, ["media"], {"media": "media"}, 6, None, 2, ranks, best)


ROWS = [row("scratch", 0.10, seconds=5.0), row("finetune", 0.12, 0.02, p=0.003), row("probe", 0.07, -0.03, p=2e-9)]


def test_a_domain_sentence_says_what_helps_by_how_much_at_what_cost_and_the_tally() -> None:
    b = board(ROWS)
    sentence = domain_sentences(b, "media")[0]
    assert sentence.startswith("media: finetune of m pretrained on corpus on d helps most: +0.0200 ndcg@10 (+20.0%")
    assert "95% CI [+0.0100, +0.0300], p = 0.0030" in sentence
    assert "110.0 s to pretrain and adapt vs 5.0 s for scratch" in sentence
    assert sentence.endswith("1 significant win and 1 significant loss among 2 gains tested.")
    assert board_sentence(b).startswith("Across 1 domain, 1 of 2 transfer gains in ndcg@10 are significant wins and 1")


def test_no_significant_help_is_said_so() -> None:
    rows = [ROWS[0], row("finetune", 0.12, 0.02, p=0.2), row("probe", 0.07, -0.03, p=0.4)]
    (sentence,) = domain_sentences(board(rows), "media")
    assert "nothing helps significantly; the largest gain, finetune" in sentence and "p = 0.20" in sentence
    assert sentence.endswith("0 significant wins and 0 significant losses among 2 gains tested.")
    (losing,) = domain_sentences(board([ROWS[0], row("probe", 0.07, -0.03, p=2e-9)]), "media")
    assert "pretraining does not help; the best, probe" in losing and "p < 1e-4" in losing


def test_rank_and_best_within_the_dataset() -> None:
    b = board(ROWS)
    assert b.ranks == [2, 1, 3] and [METRIC in best for best in b.best] == [False, True, False]


BAR = r'<g id="flm-gain-media-(\d)">\s*<title>.*?</title>\s*<path [^>]*style="fill: ([^;]+);'


def test_significance_is_the_fill_and_colours_are_the_strategies() -> None:
    svg = gain_plot(board(ROWS), "media")
    assert svg is not None
    assert dict(re.findall(BAR, svg, re.S)) == {"0": PALETTE[0].lower(), "1": PALETTE[1].lower()}  # both significant
    hollow = gain_plot(board([ROWS[0], row("finetune", 0.12, 0.02, p=0.2)]), "media")
    assert hollow is not None and dict(re.findall(BAR, hollow, re.S)) == {"0": "#ffffff"}  # not significant
    assert not {"#d55e00", "#0072b2", "#d62728", "#1f77b4"} & {c.lower() for c in PALETTE}  # never "worse"/"better"


def test_rows_that_rank_history_items_are_ranked_apart() -> None:
    """Same dataset and split, another history rule: neither rank nor bold crosses the rules."""
    kept = dataclasses.replace(row("scratch", 0.30), exclude_history=False)
    ranks, best = rank_rows([*ROWS, kept], METRIC)
    assert ranks == [2, 1, 3, 1]  # 0.30 would outrank every excluded-history row
    assert best == [frozenset(), frozenset({METRIC}), frozenset(), frozenset({METRIC})]


def test_the_tally_says_how_many_wins_and_losses_are_on_saturated_rows() -> None:
    """Issue 14: a significant gain on a saturated metric is counted, and said to be saturated."""
    saturated = {METRIC: (0.23, 0.87)}  # coil2000-like: popularity takes ~83% of the headroom
    wins = [row(s, 0.12, 0.02, p=0.003) for s in ("finetune", "adapter")]
    for r in wins:
        r.levels = saturated
    loss = row("probe", 0.07, -0.03, p=2e-9)
    b = board([ROWS[0], *wins, loss])
    note = "saturated: popularity already takes ≥ 75% of the headroom"
    assert domain_sentences(b, "media")[0].endswith(
        f"2 significant wins (both {note}) and 1 significant loss among 3 gains tested."
    )
    assert f"2 of 3 transfer gains in ndcg@10 are significant wins (both {note}) and 1 significant loss " in (
        board_sentence(b)
    )
    loss.levels = saturated
    wins[1].levels = {}
    b = board([ROWS[0], *wins, loss])
    assert f"2 significant wins (1 {note}) and 1 significant loss ({note}) among" in domain_sentences(b, "media")[0]


def test_a_domain_measured_by_two_suites_gets_one_sentence_and_one_summary_per_suite() -> None:
    """Suites have different budgets: their gains are never pooled into one best or one tally."""
    other = [dataclasses.replace(r, key=dataclasses.replace(r.key, suite="v2")) for r in ROWS]
    other[1] = dataclasses.replace(other[1], gain={METRIC: dataclasses.replace(ROWS[1].gain[METRIC], mean=-0.01)})
    one, two = domain_sentences(board([*ROWS, *other]), "media")
    assert one.startswith("media · suite s: finetune of m") and "helps most: +0.0200" in one
    assert two.startswith("media · suite v2: ") and "among 2 gains tested" in two and "+0.0200" not in two
    (single,) = domain_sentences(board(ROWS), "media")
    assert single.startswith("media: ")

    one, two = domain_summaries(board([*ROWS, *other]), "media")
    assert (one["suite"], one["gains"], one["significant_positive"], one["best_gain"]) == ("s", 2, 1, 0.02)
    assert (two["suite"], two["gains"], two["significant_positive"], two["significant_negative"]) == ("v2", 2, 0, 2)
    (none,) = domain_summaries(board([ROWS[0]]), "media")
    assert none["suite"] is None and none["gains"] == 0 and none["mean_gain"] is None
