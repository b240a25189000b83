"""A model against its ablation on the board (flm_bench.results.ablation): which rows pair, the
statistics, the Holm family of their own, the cap rule, and records from before schema 7."""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest
from board_helpers import edit_record, publish
from rich.console import Console

from flm_bench.cli.board import board_table
from flm_bench.results.ablation import AblationGain, measure_ablations
from flm_bench.results.migration import migrate
from flm_bench.results.records import AblationInfo, CellKey, Record, load_records
from flm_bench.results.render.ablation import fmt_ablation
from flm_bench.results.render.base import build_board
from flm_bench.results.render.export import to_csv
from flm_bench.results.render.md_text import md_escape
from flm_bench.results.stats import SeedScores, holm, measure_gain

USERS = np.arange(200)
HL = "ndcg@10"


@dataclass
class FakeRow:
    key: CellKey
    declared_ablation: AblationInfo | None = None
    capped_seeds: int = 0
    metrics: dict[str, object] = field(default_factory=lambda: {"ndcg@10": None, "recall@10": None})
    ablation: AblationGain | None = None


def _key(model: str, strategy: str = "scratch", dataset: str = "ciaodvd") -> CellKey:
    return CellKey("social", dataset, "fp", model, strategy, None)


def _scores(level: dict[str, float]):
    """Per-user scores: every model's users score around its level (seeded noise, two seeds)."""

    def scores(key: CellKey, metric: str) -> dict[int, SeedScores]:
        base = level[key.model] + (0.1 if metric == "recall@10" else 0.0)
        rng = np.random.default_rng(zlib.crc32(f"{key.model}/{metric}".encode()))
        return {s: (USERS, base + rng.normal(0, 0.05, len(USERS))) for s in (0, 1)}

    return scores


def _rows(*rows: FakeRow) -> dict[CellKey, FakeRow]:
    return {r.key: r for r in rows}


SOCIAL = AblationInfo(model="lightgcn", removes="the social graph")


def test_a_model_is_measured_against_its_ablation_like_a_transfer_gain() -> None:
    full, ablated = FakeRow(_key("sociallgn"), SOCIAL), FakeRow(_key("lightgcn"))
    scores = _scores({"sociallgn": 0.30, "lightgcn": 0.20})
    measure_ablations(_rows(full, ablated), scores)
    assert ablated.ablation is None and full.ablation is not None
    a = full.ablation
    assert (a.model, a.removes, a.capped) == ("lightgcn", "the social graph", False)
    for metric in ("ndcg@10", "recall@10"):
        expected = measure_gain(scores(ablated.key, metric), scores(full.key, metric))
        assert a.gain[metric] == expected and a.gain[metric].mean == pytest.approx(0.10, abs=0.02)
        assert a.significant(metric)
    raw = [a.gain[m].p_value for m in ("ndcg@10", "recall@10")]
    assert [a.p_value[m] for m in ("ndcg@10", "recall@10")] == holm(raw)


def test_only_the_row_with_everything_else_equal_is_the_ablation() -> None:
    """Another strategy or dataset is not the ablation; a model whose ablation has no row gets no gain."""
    full = FakeRow(_key("sociallgn"), SOCIAL)
    rows = _rows(full, FakeRow(_key("lightgcn", strategy="finetune")), FakeRow(_key("lightgcn", dataset="filmtrust")))
    measure_ablations(rows, _scores({"sociallgn": 0.3, "lightgcn": 0.2}))
    assert full.ablation is None


def test_all_ablation_gains_share_one_holm_family() -> None:
    a = FakeRow(_key("sociallgn"), SOCIAL)
    b = FakeRow(_key("sociallgn", dataset="filmtrust"), SOCIAL)
    rows = _rows(a, b, FakeRow(_key("lightgcn")), FakeRow(_key("lightgcn", dataset="filmtrust")))
    measure_ablations(rows, _scores({"sociallgn": 0.21, "lightgcn": 0.20}))
    assert a.ablation is not None and b.ablation is not None
    raw = [g.gain[m].p_value for g in (a.ablation, b.ablation) for m in ("ndcg@10", "recall@10")]
    adjusted = [g.p_value[m] for g in (a.ablation, b.ablation) for m in ("ndcg@10", "recall@10")]
    assert adjusted == holm(raw) and adjusted != raw


@pytest.mark.parametrize("capped", ["full", "ablation"])
def test_a_side_stopped_by_the_cap_is_never_significant(capped: str) -> None:
    full = FakeRow(_key("sociallgn"), SOCIAL, capped_seeds=int(capped == "full"))
    ablated = FakeRow(_key("lightgcn"), capped_seeds=int(capped == "ablation"))
    measure_ablations(_rows(full, ablated), _scores({"sociallgn": 0.30, "lightgcn": 0.20}))
    assert full.ablation is not None and full.ablation.capped
    assert full.ablation.p_value["ndcg@10"] < 1e-6 and not full.ablation.significant("ndcg@10")


def test_records_from_before_schema_7_read_as_naming_no_ablation(board_records) -> None:
    doc = Record.model_validate_json((next(board_records.iterdir()) / "record.json").read_text()).model_dump()
    doc["model"].pop("ablation")
    old = {**doc, "schema_version": 6}
    record = Record.model_validate(migrate(old))
    assert record.schema_version == 7 and record.model.ablation is None


def test_a_declared_ablation_pairs_rows_on_the_board_and_its_names_stay_inert(board_records, tmp_path) -> None:
    """sasrec's records are edited to name popularity as their ablation: the board pairs sasrec/scratch
    with popularity/scratch (popularity has no finetune row: no pair); the names come from records, so a
    control character is shown escaped and markup stays text."""
    records, boards = publish(board_records, tmp_path)
    for folder in records.iterdir():
        if "__sasrec__" in folder.name:
            edit_record(folder, model__ablation={"model": "popularity", "removes": "<b>x</b>\u202e|"})
    board = build_board(load_records(boards))
    paired = {(r.key.dataset, r.key.strategy) for r in board.rows if r.ablation}
    assert paired == {("synthetic-finance", "scratch"), ("synthetic-media", "scratch")}
    row = next(r for r in board.rows if r.ablation)
    assert row.ablation is not None and row.ablation.removes == "<b>x</b>\\u202e|"
    shown = md_escape(fmt_ablation(row, "ndcg@10"))
    assert shown.startswith("vs popularity (without &lt;b&gt;x&lt;/b&gt;\\\\u202e\\|): ") and "<b>" not in shown
    exported = {(r["dataset"], r["model"], r["strategy"]): r for r in csv.DictReader(io.StringIO(to_csv(board)))}
    cells = exported[(row.key.dataset, "sasrec", "scratch")]
    significant = str(row.ablation.significant(HL))
    assert cells["ablation_model"] == "popularity" and cells["ablation_significant"] == significant
    assert float(cells["ablation_gain"]) == pytest.approx(row.ablation.gain[HL].mean, abs=1e-6)
    assert exported[(row.key.dataset, "sasrec", "finetune")]["ablation_gain"] == ""
    console = Console(width=400, record=True)
    console.print(board_table(board.rows, [HL], HL, 400))
    text = console.export_text()
    assert f"{HL} over its ablation" in text and "vs popularity (without" in text
