"""Paired comparisons of record sets: pooling seeds by (seed, user), tests, Holm, refusals, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy.stats import ttest_rel
from typer.testing import CliRunner

from flm_bench.cli.compare_cmd import compare_command
from flm_bench.errors import IncomparableError, RecordError
from flm_bench.results.compare import compare, load_set
from flm_bench.results.records import load_record, load_records
from flm_bench.results.stats import holm, pair_scores, paired_test
from flm_bench.results.summary import summarize

SUITE = """
name = "cmp"
targets = ["synthetic-finance"]
models = ["popularity", "itemknn", "sasrec"]
strategies = ["scratch"]
seeds = [0, 1]

[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]

[training]
epochs = 1
batch_size = 256
device = "cpu"

[model_params.sasrec]
dim = 8
layers = 1
heads = 1
"""


@pytest.fixture(scope="module")
def run_output(run_suite) -> Path:
    """popularity, itemknn and a tiny sasrec, seeds 0 and 1, on the synthetic finance data."""
    output = run_suite(SUITE)
    assert len(load_records(output)) == 6
    return output


@pytest.fixture(scope="module")
def sets(run_output: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """model -> a folder holding that model's two seed records (one record set)."""
    root = tmp_path_factory.mktemp("sets")
    out: dict[str, Path] = {}
    for path, record in load_records(run_output):
        out[record.model.name] = root / record.model.name
        shutil.copytree(path.parent, root / record.model.name / path.parent.name)
    return out


def seed_scores(folder: Path, metric: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for rec_file in sorted(folder.glob("*/record.json")):
        record = load_record(rec_file)
        with np.load(rec_file.parent / "per_user.npz") as npz:
            out[record.seed] = (npz["users"], npz[metric])
    return out


def copy_set(folder: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def edit_records(folder: Path, change) -> None:
    for rec in folder.glob("*/record.json"):
        doc = json.loads(rec.read_text())
        change(doc)
        rec.write_text(json.dumps(doc))


def test_seeds_are_pooled_by_seed_and_user(sets, tmp_path: Path) -> None:
    result = compare([sets["popularity"], sets["sasrec"]], metric="ndcg@10")
    control, treatment = (seed_scores(sets[m], "ndcg@10") for m in ("popularity", "sasrec"))
    x = np.concatenate([control[s][1] for s in (0, 1)])
    y = np.concatenate([treatment[s][1] for s in (0, 1)])
    assert [s.pairs for s in result.sets] == [2 * 1200, 2 * 1200]
    assert [s.seeds for s in result.sets] == [[0, 1], [0, 1]]
    assert result.sets[0].mean == pytest.approx(x.mean()) and result.sets[1].mean == pytest.approx(y.mean())
    (c,) = result.comparisons
    assert (c.control, c.treatment) == ("popularity/scratch", "sasrec/scratch")
    assert c.difference == pytest.approx(y.mean() - x.mean())
    assert c.p_value == pytest.approx(ttest_rel(x, y).pvalue) and c.p_adjusted == c.p_value
    assert result.correction == "none" and c.significant == (c.p_value < 0.05)

    # pairing is by user id, not by position: shuffling one record's per-user file changes nothing
    shuffled = copy_set(sets["sasrec"], tmp_path, "shuffled")
    npz_path = next(shuffled.glob("*seed1*/per_user.npz"))
    with np.load(npz_path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    perm = np.random.default_rng(0).permutation(len(arrays["users"]))
    np.savez_compressed(npz_path, **{k: v[perm] for k, v in arrays.items()})
    again = compare([sets["popularity"], shuffled], metric="ndcg@10")
    assert again.comparisons[0].p_value == pytest.approx(c.p_value, rel=1e-12)


def test_several_pairs_are_holm_adjusted(sets) -> None:
    paths = [sets["popularity"], sets["itemknn"], sets["sasrec"]]
    result = compare(paths, metric="recall@10")
    assert result.correction == "holm"
    assert [(c.control, c.treatment) for c in result.comparisons] == [
        ("popularity/scratch", "itemknn/scratch"),
        ("popularity/scratch", "sasrec/scratch"),
    ]
    raw = [c.p_value for c in result.comparisons]
    assert [c.p_adjusted for c in result.comparisons] == pytest.approx(holm(raw))

    every = compare(paths, metric="recall@10", all_pairs=True)
    assert [(c.control, c.treatment) for c in every.comparisons][-1] == ("itemknn/scratch", "sasrec/scratch")
    assert len(every.comparisons) == 3
    assert [c.p_adjusted for c in every.comparisons] == pytest.approx(holm([c.p_value for c in every.comparisons]))
    assert all(c.p_adjusted >= c.p_value for c in every.comparisons)


@pytest.mark.slow
def test_fisher_randomization_test(sets) -> None:
    result = compare([sets["popularity"], sets["sasrec"]], test="fisher", n_permutations=200)
    p = result.comparisons[0].p_value
    assert 1 / 201 <= p <= 1 and round(p * 201) == p * 201  # (count + 1) / (n + 1), never 0
    same = compare([sets["itemknn"], sets["itemknn"]], test="fisher", n_permutations=200)
    assert same.comparisons[0].p_value == 1.0 and same.comparisons[0].difference == 0.0
    assert same.sets[0].label != same.sets[1].label  # labels fall back to the paths when cells repeat


def test_paired_test_edge_cases() -> None:
    x = np.array([0.125, 0.25, 0.375, 0.5])
    assert paired_test(x, x) == 1.0 and paired_test(x, x, "fisher") == 1.0
    assert paired_test(x, x + 0.5) == 0.0  # exactly the same gain for every user
    assert paired_test(x[:1], x[:1] + 1) == 1.0
    with pytest.raises(IncomparableError, match="equally many"):
        paired_test(x, x[:3])
    users = np.array([3, 1, 2])
    x_al, y_al = pair_scores(
        {0: (users, np.array([0.3, 0.1, 0.2]))}, {0: (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))}
    )
    assert x_al.tolist() == [0.1, 0.2, 0.3] and y_al.tolist() == [1.0, 2.0, 3.0]


def test_refuses_records_on_other_test_users(sets, tmp_path: Path) -> None:
    other_split = copy_set(sets["sasrec"], tmp_path, "other-split")
    edit_records(other_split, lambda d: d["split"].update(fingerprint="0" * 64))
    with pytest.raises(IncomparableError, match="different test users: split fingerprints"):
        compare([sets["popularity"], other_split])

    fewer_users = copy_set(sets["sasrec"], tmp_path, "fewer-users")
    npz_path = next(fewer_users.glob("*seed0*/per_user.npz"))
    with np.load(npz_path) as npz:
        arrays = {k: npz[k][1:] for k in npz.files}
    np.savez_compressed(npz_path, **arrays)
    with pytest.raises(IncomparableError, match=r"seed 0: the test users differ \(1200 vs 1199 users"):
        compare([sets["popularity"], fewer_users])

    one_seed = copy_set(sets["sasrec"], tmp_path, "one-seed")
    shutil.rmtree(next(one_seed.glob("*seed1*")))
    with pytest.raises(IncomparableError, match=r"different seeds \(\[0, 1\] vs \[0\]\)"):
        compare([sets["popularity"], one_seed])


def test_refuses_ambiguous_sets(sets, run_output: Path) -> None:
    with pytest.raises(RecordError, match="holds records of 3 different cells"):
        load_set(run_output)
    with pytest.raises(RecordError, match=r"no metric 'mrr@10'"):
        compare([sets["popularity"], sets["sasrec"]], metric="mrr@10")
    with pytest.raises(RecordError, match="at least two"):
        compare([sets["popularity"]])


def test_leaderboard_gain_p_values_are_compare_p_values(sets, tmp_path: Path) -> None:
    """The board's Holm-adjusted gain p-value is compare's raw p-values, Holm-adjusted over the board."""
    treated = copy_set(sets["itemknn"], tmp_path, "finetuned")  # pose as sasrec finetune
    edit_records(treated, lambda d: (d["model"].update(name="sasrec"), d["strategy"].update(name="finetune")))
    records = [
        (p, load_record(p)) for folder in (sets["sasrec"], treated) for p in sorted(folder.glob("*/record.json"))
    ]
    (row,) = [r for r in summarize(records) if r.key.strategy == "finetune"]
    raw = [compare([sets["sasrec"], treated], metric=m).comparisons[0].p_value for m in ("ndcg@10", "recall@10")]
    assert [row.p_value["ndcg@10"], row.p_value["recall@10"]] == pytest.approx(holm(raw))


def test_cli_compare(sets) -> None:
    app = typer.Typer()
    app.command("compare")(compare_command)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    args = ["compare", str(sets["popularity"]), str(sets["itemknn"]), str(sets["sasrec"])]
    result = runner.invoke(app, [*args, "--json", "--metric", "recall@10"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metric"] == "recall@10" and data["correction"] == "holm" and len(data["comparisons"]) == 2
    assert {"control", "treatment", "difference", "p_value", "p_adjusted", "significant"} <= set(data["comparisons"][0])

    table = runner.invoke(app, [*args, "--test", "fisher", "--permutations", "100"])
    assert table.exit_code == 0, table.output
    for text in ("sasrec/scratch", "(control)", "Holm–Bonferroni", "randomization"):
        assert text in table.stdout
    pairs = runner.invoke(app, [*args, "--all-pairs"])
    assert pairs.exit_code == 0 and pairs.stdout.count("itemknn/scratch") >= 3

    single = runner.invoke(app, ["compare", str(sets["popularity"])])
    assert single.exit_code != 0 and "at least two" in str(single.exception)
