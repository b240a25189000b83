"""Paired comparisons of record sets: users as the unit (seeds averaged per user), tests, Holm, refusals, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from console import cli
from scipy.stats import ttest_rel, wilcoxon
from typer.testing import CliRunner

from flm_bench.cli.compare_cmd import compare_command
from flm_bench.errors import IncomparableError, RecordError
from flm_bench.results.compare import compare, load_set
from flm_bench.results.records import load_record, load_records
from flm_bench.results.stats import holm, paired_test, user_average
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


def user_means(folder: Path, metric: str) -> np.ndarray:
    """Each user's score averaged over the set's seeds, by sorted user id (by hand)."""
    arrays = [
        (users[np.argsort(users)], scores[np.argsort(users)]) for users, scores in seed_scores(folder, metric).values()
    ]
    assert all(np.array_equal(u, arrays[0][0]) for u, _ in arrays)
    return np.mean([s for _, s in arrays], axis=0)


def test_seeds_are_averaged_per_user_then_paired_across_users(sets, tmp_path: Path) -> None:
    result = compare([sets["popularity"], sets["sasrec"]], metric="ndcg@10")
    x, y = user_means(sets["popularity"], "ndcg@10"), user_means(sets["sasrec"], "ndcg@10")
    assert [s.users for s in result.sets] == [1200, 1200]  # users, not (seed, user) pairs
    assert [s.seeds for s in result.sets] == [[0, 1], [0, 1]]
    assert result.sets[0].mean == pytest.approx(x.mean()) and result.sets[1].mean == pytest.approx(y.mean())
    (c,) = result.comparisons
    assert (c.control, c.treatment) == ("popularity/scratch", "sasrec/scratch")
    g = c.gain
    assert g.mean == pytest.approx(y.mean() - x.mean()) and g.users == 1200
    assert g.relative == pytest.approx(100 * (y.mean() - x.mean()) / x.mean())
    assert g.p_value == pytest.approx(ttest_rel(x, y).pvalue, rel=1e-9) and c.p_adjusted == g.p_value
    assert result.correction == "none" and c.significant == (g.p_value < 0.05)
    assert g.ci[0] < g.mean < g.ci[1]
    control, treatment = (load_set(sets[m]).records for m in ("popularity", "sasrec"))
    by_seed = [t.metrics["ndcg@10"] - c_.metrics["ndcg@10"] for (_, c_), (_, t) in zip(control, treatment)]
    assert g.seeds == (0, 1) and g.per_seed == pytest.approx(by_seed, abs=1e-9)
    assert g.agreeing == sum(np.sign(by_seed) == np.sign(g.mean))

    # pairing is by user id, not by position: shuffling one record's per-user file changes nothing
    shuffled = copy_set(sets["sasrec"], tmp_path, "shuffled")
    npz_path = next(shuffled.glob("*seed1*/per_user.npz"))
    with np.load(npz_path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    perm = np.random.default_rng(0).permutation(len(arrays["users"]))
    np.savez_compressed(npz_path, **{k: v[perm] for k, v in arrays.items()})
    again = compare([sets["popularity"], shuffled], metric="ndcg@10")
    assert again.comparisons[0].gain.p_value == pytest.approx(g.p_value, rel=1e-12)


def test_several_pairs_are_holm_adjusted(sets) -> None:
    paths = [sets["popularity"], sets["itemknn"], sets["sasrec"]]
    result = compare(paths, metric="recall@10")
    assert result.correction == "holm"
    assert [(c.control, c.treatment) for c in result.comparisons] == [
        ("popularity/scratch", "itemknn/scratch"),
        ("popularity/scratch", "sasrec/scratch"),
    ]
    raw = [c.gain.p_value for c in result.comparisons]
    assert [c.p_adjusted for c in result.comparisons] == pytest.approx(holm(raw))

    every = compare(paths, metric="recall@10", all_pairs=True)
    assert [(c.control, c.treatment) for c in every.comparisons][-1] == ("itemknn/scratch", "sasrec/scratch")
    assert len(every.comparisons) == 3
    raw = [c.gain.p_value for c in every.comparisons]
    assert [c.p_adjusted for c in every.comparisons] == pytest.approx(holm(raw))
    assert all(c.p_adjusted >= p for c, p in zip(every.comparisons, raw))


def test_randomization_and_wilcoxon_tests(sets) -> None:
    result = compare([sets["popularity"], sets["sasrec"]], test="fisher", n_permutations=200)
    p = result.comparisons[0].gain.p_value
    assert 1 / 201 <= p <= 1 and round(p * 201) == p * 201  # (count + 1) / (n + 1), never 0
    again = compare([sets["popularity"], sets["sasrec"]], test="fisher", n_permutations=200)
    assert again.comparisons[0].gain.p_value == p  # seeded: the same p every time
    same = compare([sets["itemknn"], sets["itemknn"]], test="fisher", n_permutations=200)
    assert same.comparisons[0].gain.p_value == 1.0 and same.comparisons[0].gain.mean == 0.0
    assert same.sets[0].label != same.sets[1].label  # labels fall back to the paths when cells repeat
    signed_rank = compare([sets["popularity"], sets["sasrec"]], test="wilcoxon").comparisons[0].gain
    x, y = user_means(sets["popularity"], "ndcg@10"), user_means(sets["sasrec"], "ndcg@10")
    assert signed_rank.p_value == pytest.approx(wilcoxon(x, y).pvalue, rel=1e-9)


def test_paired_test_edge_cases() -> None:
    x = np.array([0.125, 0.25, 0.375, 0.5])
    assert paired_test(x, x) == 1.0 and paired_test(x, x, "fisher") == 1.0
    assert paired_test(x, x + 0.5) == 0.0  # exactly the same gain for every user
    assert paired_test(x[:1], x[:1] + 1) == 1.0
    with pytest.raises(IncomparableError, match="equally many"):
        paired_test(x, x[:3])
    users, means = user_average({0: (np.array([3, 1, 2]), np.array([0.3, 0.1, 0.2]))})
    assert users.tolist() == [1, 2, 3] and means.tolist() == [0.1, 0.2, 0.3]


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

    one_seed = copy_set(sets["sasrec"], tmp_path, "one-seed")  # seeds need not match: users are the unit
    shutil.rmtree(next(one_seed.glob("*seed1*")))
    (c,) = compare([sets["popularity"], one_seed]).comparisons
    both = compare([sets["popularity"], sets["sasrec"]]).comparisons[0].gain
    assert c.gain.seeds == (0,) and c.gain.per_seed == both.per_seed[:1] and c.gain.seed_std is None
    assert c.gain.mean != both.mean and c.gain.users == 1200


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
    raw = [compare([sets["sasrec"], treated], metric=m).comparisons[0].gain.p_value for m in ("ndcg@10", "recall@10")]
    assert [row.p_value["ndcg@10"], row.p_value["recall@10"]] == pytest.approx(holm(raw))


def test_a_gain_over_a_control_the_epoch_cap_stopped_is_never_significant(sets, tmp_path: Path) -> None:
    """The board's rule: a control that did not converge makes no verdict, however small p is."""
    plain = compare([sets["itemknn"], sets["popularity"]]).comparisons[0]
    assert plain.significant and plain.control_capped_seeds == 0, plain
    capped = copy_set(sets["itemknn"], tmp_path, "capped")
    training = {"epochs": 12, "best_epoch": 12, "valid_metric": "ndcg@10", "best_valid": 0.1, "epochs_cap": 12}
    edit_records(capped, lambda d: d.update(training={**training, "optimizer_steps": 24, "stopped_by": "cap"}))
    result = compare([capped, sets["popularity"]]).comparisons[0]
    assert result.p_adjusted == plain.p_adjusted and not result.significant and result.control_capped_seeds == 2


def test_cli_compare(sets) -> None:
    app = typer.Typer()
    app.command("compare")(compare_command)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    args = ["compare", str(sets["popularity"]), str(sets["itemknn"]), str(sets["sasrec"])]
    result = runner.invoke(app, [*args, "--json", "--metric", "recall@10"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "flm-bench.board/2" and data["metric"] == "recall@10" and data["correction"] == "holm"
    first = data["comparisons"][0]
    assert len(data["comparisons"]) == 2 and set(first) == {
        "control", "treatment", "mean_control", "mean_treatment", "control_capped_seeds", "saturated", "p_value", "gain"
    }  # fmt: skip
    assert first["saturated"] is False and first["gain"]["saturated"] is False  # synthetic data: far from saturated
    gain = first["gain"]
    assert gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1] and gain["p_holm"] >= first["p_value"]
    assert gain["per_seed"]["seeds"] == [0] and gain["per_seed"]["std"] is None  # two deterministic models: one seed
    assert data["comparisons"][1]["gain"]["per_seed"]["seeds"] == [0, 1]  # sasrec: its seeds differ
    assert gain["users"] == 1200 and data["sets"][0]["users"] == 1200
    assert first["mean_treatment"] - first["mean_control"] == pytest.approx(gain["mean"], abs=1e-6)

    table = runner.invoke(app, [*args, "--test", "fisher", "--permutations", "100"])
    assert table.exit_code == 0, table.output
    for text in ("sasrec/scratch", "(control)", "Holm–Bonferroni", "randomization", "95% CI", "seeds agree", "/2"):
        assert text in table.stdout
    signed_rank = runner.invoke(app, [*args, "--test", "wilcoxon"])
    assert signed_rank.exit_code == 0 and "Wilcoxon signed-rank test across test users" in signed_rank.stdout
    pairs = runner.invoke(app, [*args, "--all-pairs"])
    assert pairs.exit_code == 0 and pairs.stdout.count("itemknn/scratch") >= 3

    single = runner.invoke(app, ["compare", str(sets["popularity"])])
    assert single.exit_code != 0 and "at least two" in str(single.exception)


def test_cli_compare_selects_cells_in_a_records_folder(run_output: Path, sets, tmp_path: Path) -> None:
    """A records folder plus selectors gives one set per cell, in the order asked; the seeds column is
    a count, as on the board."""
    folder = str(run_output)
    done = cli("compare", folder, "--model", "sasrec", "--model", "itemknn", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [s["label"] for s in data["sets"]] == ["sasrec/scratch", "itemknn/scratch"]
    by_folder = compare([sets["sasrec"], sets["itemknn"]]).comparisons[0]
    assert data["comparisons"][0]["p_value"] == by_folder.gain.p_value

    table = cli(
        "compare", folder, "--model", "popularity", "--model", "sasrec", "--dataset", "synthetic-finance", cwd=tmp_path
    )
    assert table.returncode == 0, table.stderr
    assert re.search(r"popularity/scratch\s*│\s*2\s*│\s*1200\s*│", table.stdout), table.stdout

    one = cli("compare", folder, "--model", "sasrec", cwd=tmp_path)
    assert one.returncode == 2 and one.stderr.count("\n") == 1 and "matches one cell" in one.stderr, one.stderr
    none = cli("compare", folder, "--model", "als", cwd=tmp_path)
    assert none.returncode == 1 and none.stderr.count("\n") == 1 and "no record in" in none.stderr, none.stderr
