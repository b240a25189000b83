"""Reference levels on the board: random and popularity levels, lift, the saturated flag beside a
significant gain, records without levels, and the cutoffs a small catalogue adds."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from flm_bench.cli.board import board_table, headline_metrics
from flm_bench.cli.run import _print_board
from flm_bench.plugins import load_plugins
from flm_bench.results import render
from flm_bench.results.compare import compare
from flm_bench.results.levels import SATURATED_AT, headroom_taken, lift, saturated
from flm_bench.results.records import load_records
from flm_bench.results.render.base import SAT_MARK, SIG_MARK, build_board, fmt_delta, fmt_gain
from flm_bench.results.render.story import domain_sentences
from flm_bench.results.summary import summarize
from flm_bench.runner import Runner
from flm_bench.suite import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::numba.NumbaTypeSafetyWarning")


def test_saturated_rule_on_hand_made_numbers() -> None:
    # coil2000's ndcg@10: popularity has 83% of the headroom above random
    assert headroom_taken(0.233, 0.8666) == pytest.approx((0.8666 - 0.233) / (1 - 0.233))
    assert saturated(0.233, 0.8666)
    assert saturated(0.2, 0.2 + SATURATED_AT * 0.8)  # the boundary is saturated
    assert not saturated(0.2, 0.2 + SATURATED_AT * 0.8 - 1e-9)
    assert not saturated(0.0057, 0.0283)
    assert saturated(1.0, 1.0)  # random already perfect: nothing to gain
    assert lift(0.8800, 0.8666) == pytest.approx(1.01546, abs=1e-5)
    assert lift(0.1, 0.0) is None


def _boards(records: Path) -> dict[str, str]:
    return {name: content.decode() for name, content in render.render_files(records).items()}


def _set_level(folder: Path, metric: str, random: float, popularity: float) -> None:
    path = folder / "record.json"
    doc = json.loads(path.read_text())
    doc["levels"]["random"][metric], doc["levels"]["popularity"][metric] = random, popularity
    path.write_text(json.dumps(doc))


@pytest.mark.slow
def test_board_shows_levels_and_lift_beside_every_row(board_records: Path, tmp_path: Path) -> None:
    records = load_records(board_records)
    assert all(r.levels is not None and r.levels.random.keys() == r.metrics.keys() for _, r in records)
    boards = _boards(board_records)
    table = [line for line in boards["finance.md"].splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[6:9] == ["random ndcg@10", "popularity ndcg@10", "lift"]
    rows = {c[0] + "/" + c[1]: c for c in ([x.strip() for x in line.strip("|").split("|")] for line in table[2:])}
    popularity = rows["popularity/scratch"]
    assert popularity[8] == "×1.000"  # the popularity row scores its own level
    assert popularity[7] == popularity[4]  # popularity level = the popularity model's ndcg@10
    assert all(re.fullmatch(r"×\d\.\d{3}", c[8]) and c[6] == popularity[6] for c in rows.values())
    assert "Levels of ndcg@10" in boards["overall.md"] and "×1.000" in boards["overall.md"]
    assert "random: the metric's exact expected value" in boards["overall.md"]
    assert 'data-col="lift"' in boards["index.html"] and "lift: metric / popularity level" in boards["index.html"]
    row = next(r for r in json.loads(boards["leaderboard.json"])["rows"] if r.get("model") == "popularity")
    assert row["levels"]["ndcg@10"]["lift"] == 1.0 and row["levels"]["ndcg@10"]["saturated"] is False
    exported = list(csv.DictReader(io.StringIO(render.export_board(board_records, "csv"))))
    pop_row = next(r for r in exported if r["model"] == "popularity" and r["dataset"] == "synthetic-finance")
    assert pop_row["lift"] == "1.0" and pop_row["saturated"] == "False" and float(pop_row["random"]) > 0
    console = Console(width=320, record=True)  # wide enough for every column, the cold-start gain's too
    console.print(board_table(summarize(records), ["ndcg@10", "recall@10"], "ndcg@10", 320))
    text = console.export_text()
    assert "random" in text and "popularity" in text and "×1.000" in text
    narrow = Console(width=160, record=True)  # the levels give way to the always-shown columns, and say so
    narrow.print(board_table(summarize(records), ["ndcg@10", "recall@10"], "ndcg@10", 160))
    cut = narrow.export_text()
    assert "×1.000" not in cut and "popularity, lift" in " ".join(cut.split())


@pytest.mark.slow
def test_records_without_levels_show_a_dash_and_boards_without_any_are_unchanged(
    board_records: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    shutil.copytree(board_records, records)
    for folder in records.iterdir():  # as written before schema 5
        doc = json.loads((folder / "record.json").read_text())
        doc.pop("levels")
        doc["evaluation"].pop("scaled_cutoffs")
        (folder / "record.json").write_text(json.dumps({**doc, "schema_version": 4}))
    old = _boards(records)
    new_words = ("random ndcg@10", "Levels of", 'data-col="lift"', '"levels"', SAT_MARK, "lift: metric")
    assert not any(w in text for text in old.values() for w in new_words)
    one = next(f for f in sorted(records.iterdir()) if "finance" in f.name and "popularity" not in f.name)
    shutil.rmtree(one)
    shutil.copytree(board_records / one.name, one)  # a cell whose one seed carries levels: still "—"
    mixed = _boards(records)
    assert "random ndcg@10" not in mixed["finance.md"]
    first, second = one.name.replace("seed1", "seed0"), one.name.replace("seed0", "seed1")
    for name in (first, second):
        shutil.rmtree(records / name)
        shutil.copytree(board_records / name, records / name)
    boards = _boards(records)
    cells = [line for line in boards["finance.md"].splitlines() if line.startswith("| ")]
    assert "random ndcg@10" in cells[0] and len(cells) == 4
    # the other rows of the same split and rule take the levels of the one whose records carry them
    assert all(re.search(r"\| ×\d\.\d{3} \|", line) for line in cells[1:]), cells
    rows = [r for r in json.loads(boards["leaderboard.json"])["rows"] if r.get("dataset") == "synthetic-finance"]
    assert sorted(r.get("levels_from", "") for r in rows) == ["", *[rows[0]["suite"]] * (len(rows) - 1)]
    assert len({json.dumps(r["levels"]["ndcg@10"]["random"]) for r in rows}) == 1
    others = [r for r in json.loads(boards["leaderboard.json"])["rows"] if r.get("domain") not in (None, "finance")]
    assert others and not any("levels" in r for r in others)  # another split: nothing to take


def test_a_significant_gain_on_a_saturated_row_carries_the_mark(board_records: Path, tmp_path: Path) -> None:
    board = build_board(load_records(board_records))
    (row,) = [r for r in board.rows if r.gain and r.key.dataset == "synthetic-finance"]
    row.p_value["ndcg@10"], row.control_capped_seeds = 0.001, 0
    row.gain["ndcg@10"] = dataclasses.replace(row.gain["ndcg@10"], mean=0.005)
    assert fmt_gain(row, "ndcg@10").endswith(f" {SIG_MARK}") and SAT_MARK not in fmt_gain(row, "ndcg@10")
    row.levels["ndcg@10"] = (0.233, 0.8666)
    assert fmt_gain(row, "ndcg@10").endswith(f"{SIG_MARK} {SAT_MARK}")
    assert fmt_delta(row, "ndcg@10", relative=True).endswith(f"{SIG_MARK} {SAT_MARK}")
    assert row.to_json()["gain"]["ndcg@10"]["saturated"] is True
    assert "helps most" in domain_sentences(board, "finance")[0]
    assert (
        f"({SAT_MARK} saturated: popularity alone scores 0.8666, random 0.2330)"
        in domain_sentences(board, "finance")[0]
    )
    # compare --json says so too, from the control's levels
    records = tmp_path / "records"
    shutil.copytree(board_records, records)
    control = [f for f in records.iterdir() if "synthetic-finance__sasrec__scratch" in f.name]
    treated = [f for f in records.iterdir() if "synthetic-finance__sasrec__finetune" in f.name]
    assert len(control) == len(treated) == 2
    assert [c.saturated for c in compare([control[0], treated[0]]).comparisons] == [False]
    for folder in control:
        _set_level(folder, "ndcg@10", 0.233, 0.8666)
    result = compare([control[0], treated[0]]).to_json()
    assert result["comparisons"][0]["saturated"] is True and result["comparisons"][0]["gain"]["saturated"] is True


SMALL_SUITE = """
name = "small-catalogue"
targets = ["small"]
models = ["popularity"]
strategies = ["scratch"]
seeds = [0]

[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]

[csv.small]
path = "small.csv"
domain = "finance"
timestamp = "t"
"""


@pytest.mark.parametrize("n_items, scaled", [(30, [1, 3]), (60, [])])
def test_small_catalogues_are_evaluated_at_scaled_cutoffs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n_items: int, scaled: list[int]
) -> None:
    rng = np.random.default_rng(0)
    lines = ["user,item,t"] + [
        f"u{u},i{i},{t}" for u in range(60) for t, i in enumerate(rng.choice(n_items, size=6, replace=False))
    ]
    lines += [f"u0,i{i},99" for i in range(n_items)]  # every item occurs
    (tmp_path / "small.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "suite.toml").write_text(SMALL_SUITE)
    suite = load_suite(tmp_path / "suite.toml")
    result = Runner(suite, load_plugins(), tmp_path / "out").run()
    _print_board(suite, result, as_json=False)  # run's terminal board leads with @3 for a small catalogue
    assert ("ndcg@3" in capsys.readouterr().out) == bool(scaled)
    ((_, record),) = load_records(tmp_path / "out")
    assert record.evaluation.scaled_cutoffs == scaled
    expected = ["ndcg@10", "recall@10"] + [f"{m}@{k}" for k in scaled for m in ("ndcg", "recall")]
    assert record.evaluation.metrics == expected and list(record.metrics) == expected
    assert record.levels is not None and record.levels.random.keys() == record.levels.popularity.keys() == {*expected}
    assert record.levels.popularity == pytest.approx(record.metrics)  # the popularity model is its own level
    board = _boards(tmp_path / "out" / "records")["finance.md"]
    assert ("| random ndcg@3 |" in board) == bool(scaled)  # a small catalogue's table leads with @3
    assert build_board(load_records(tmp_path / "out")).headline == "ndcg@10"  # the board keeps its own


def test_the_terminal_board_of_mixed_catalogues_leads_with_a_cutoff_every_row_has(board_records: Path) -> None:
    """publish's board: a small catalogue's added @1/@3 do not become the headline of rows without them."""
    rows = summarize(load_records(board_records.parent))
    stat = rows[0].metrics["ndcg@10"]
    small = dataclasses.replace(
        rows[0], metrics={**rows[0].metrics, "ndcg@1": stat, "ndcg@3": stat}, scaled_cutoffs=[1, 3]
    )
    assert headline_metrics([small, rows[1]]) == ["ndcg@10", "recall@10"]
    assert headline_metrics([small])[0] == "ndcg@3"  # small catalogues only: @3, as run's board
    assert headline_metrics([rows[1]]) == ["ndcg@10", "recall@10"]
