"""Like-for-like reproduction: a ratio to a published number only under the reference's rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flm_bench.params import parse_params
from flm_bench.plan import plan
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.results.render.base import read_references
from flm_bench.results.reproduction import ReferenceRules, differences
from flm_bench.suite import load_suite

BOARD = Path(__file__).resolve().parents[1] / "leaderboards"


def _scientific_sasrec():
    return next(
        r
        for _, r in load_records(BOARD / "records")
        if (r.suite, r.dataset.name, r.model.name, r.seed) == ("reproduction", "amazon-scientific", "sasrec", 0)
    )


def _rules(name: str, dataset: str) -> ReferenceRules | None:
    return next(r.rules for r in read_references(BOARD / "references.json") if (r.model, r.dataset) == (name, dataset))


def test_the_published_scientific_sasrec_differs_from_recboles_rules_in_history_and_width() -> None:
    assert differences(_rules("SASRec", "amazon-scientific"), _scientific_sasrec()) == [
        "exclude_history: published False, ours True",
        "dim: published 300, ours 64",
    ]


def test_a_record_under_the_same_rules_is_like_for_like() -> None:
    record = _scientific_sasrec()
    record = record.model_copy(
        update={
            "evaluation": record.evaluation.model_copy(update={"exclude_history": False}),
            "model": record.model.model_copy(update={"parameters": {**record.model.parameters, "dim": 300}}),
        }
    )
    assert differences(_rules("SASRec", "amazon-scientific"), record) == []


def test_bce_must_match_and_unstated_rules_are_never_like_for_like() -> None:
    record = _scientific_sasrec()  # 50 items, 64-d, history excluded, cross-entropy: S3-Rec's sizes
    s3rec = _rules("SASRec", "amazon-beauty")
    assert differences(s3rec, record) == ["loss: published bce, ours ce"]
    bce = record.model.model_copy(update={"parameters": {**record.model.parameters, "loss": "bce"}})
    assert differences(s3rec, record.model_copy(update={"model": bce})) == []
    assert differences(_rules("SASRec (ICSRec run)", "amazon-beauty"), record) == ["loss: not stated by the source"]
    assert differences(None, record) == ["the source states no rules"]


def test_the_table_prints_a_ratio_only_for_the_published_like_for_like_records() -> None:
    """Of the published records only reproduction-recbole (Scientific) and reproduction-s3rec (Toys,
    against TIGER's BCE row) ran under their references' rules: those rows carry a ratio, every
    other row a reason and no ratio (ICSRec's row states no loss, so Toys is not like for like there)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "reproduction_table.py"
    done = subprocess.run([sys.executable, str(script), str(BOARD / "records")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines()[2:] if "(no published" not in line]
    like = [r for r in rows if r[-1].startswith("yes")]
    recbole = {("amazon-scientific", "reproduction-recbole", f"{m}@{k}") for m in ("recall", "ndcg") for k in (10, 50)}
    s3rec = {("amazon-toys", "reproduction-s3rec", f"{m}@{k}") for m in ("recall", "ndcg") for k in (5, 10)}
    assert {(r[0].strip("| "), r[4], r[1]) for r in like} == recbole | s3rec, done.stdout
    assert all(r[-2] != "—" and "Rajput" in r[3] for r in like if r[4] == "reproduction-s3rec"), done.stdout
    others = [r for r in rows if r not in like]
    assert others and all(r[-2] == "—" and r[-1].startswith("no: ") for r in others), done.stdout


@pytest.mark.parametrize("name", ["reproduction-recbole", "reproduction-s3rec"])
def test_each_like_for_like_suite_measures_under_its_references_rules(name: str) -> None:
    """The suites' settings are what the references' rules say (else their ratio would be refused)."""
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / f"{name}.toml")
    cells = plan(suite, load_plugins())
    params = parse_params("sasrec", load_plugins().models.get("sasrec").params, suite.model_params["sasrec"])
    ours = {"exclude_history": suite.evaluation.exclude_history, **params.model_dump()}
    for target in suite.targets:
        rules = _rules("SASRec", target)
        assert rules is not None and {c.dataset for c in cells} == set(suite.targets)
        assert {k: ours[k] for k in ("exclude_history", "loss", "max_len", "dim")} == {
            k: getattr(rules, k) for k in ("exclude_history", "loss", "max_len", "dim")
        }, target


def test_every_external_row_for_a_dataset_we_hold_says_where_it_comes_from_and_under_which_rules() -> None:
    """A published row for one of our datasets is only usable with its citation, its protocol and
    the rules it was measured under (each read from a named source)."""
    datasets = load_plugins().datasets
    held = [r for r in read_references(BOARD / "references.json") if r.dataset in datasets]
    assert {"amazon-scientific", "amazon-beauty"} <= {r.dataset for r in held}
    missing = [
        (r.dataset, r.model)
        for r in held
        if not (r.citation.strip() and r.protocol.strip() and r.rules is not None and r.rules.source.strip())
    ]
    assert missing == []


def test_the_transfer_docs_table_of_published_rows_is_the_references_file() -> None:
    """docs/transfer.md's table of external Scientific rows: each value and gain over the paper's
    own SASRec row is the one references.json holds."""
    text = (BOARD.parent / "docs" / "transfer.md").read_text(encoding="utf-8")
    section = text.split("## Published transfer results (external rows)", 1)[1]
    refs = {r.model: r.metrics for r in read_references(BOARD / "references.json") if r.dataset == "amazon-scientific"}
    control = refs["SASRec"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    shown = {row[0]: row for row in rows if row[0] in refs}
    assert set(shown) == set(refs)
    for model, row in shown.items():
        assert (float(row[2]), float(row[3])) == (refs[model]["ndcg@10"], refs[model]["recall@10"]), model
        for cell, metric in ((row[4], "ndcg@10"), (row[5], "recall@10")):
            gain = refs[model][metric] - control[metric]
            expected = f"{gain:+.4f} ({gain / control[metric]:+.1%})" if model != "SASRec" else "(control)"
            assert cell == expected, (model, metric)
