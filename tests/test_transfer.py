"""Transfer protocols: target fractions (nested, seeded training users) and the cold-start-item slice."""

from __future__ import annotations

import json
from pathlib import Path

import datasets_helpers
import numpy as np
import pytest
from console import cli
from hypothesis import given, settings
from hypothesis import strategies as st

from flm_bench.data.splits import leave_one_out
from flm_bench.data.transfer import COLD_START_ITEMS, cold_item_users, kept_users, with_fraction
from flm_bench.errors import ConfigError
from flm_bench.plan import Cell, plan
from flm_bench.plugins import load_plugins
from flm_bench.results.compare import compare, select_sets
from flm_bench.results.records import CellKey, load_records
from flm_bench.results.render.base import build_board, fmt_slice
from flm_bench.results.render.markdown import domain_markdown
from flm_bench.results.summary import Row, SliceStat, Stat, summarize
from flm_bench.runner import Runner
from flm_bench.suite import load_suite

fractions = st.floats(min_value=0.001, max_value=1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    users=st.sets(st.integers(0, 10_000), min_size=1, max_size=300),
    pair=st.tuples(fractions, fractions),
    seed=st.integers(0, 2**32 - 1),
)
def test_fractions_are_nested_seeded_prefixes_of_the_training_users(users: set[int], pair, seed: int) -> None:
    small, large = sorted(pair)
    train = np.array(sorted(users), dtype=np.int64)
    a, b = kept_users(train, small, seed), kept_users(train, large, seed)
    assert set(a) <= set(b) <= users  # nested, among the training users
    assert np.array_equal(a, b[: len(a)])  # a prefix of one seeded draw
    assert len(b) == max(1, round(large * len(users))) and len(set(b)) == len(b)
    assert np.array_equal(kept_users(train[::-1].copy(), small, seed), a)  # the users' order does not matter
    assert np.array_equal(np.sort(kept_users(train, 1.0, seed)), train)  # all of them at 1.0


def test_a_different_seed_draws_other_users() -> None:
    train = np.arange(1000)
    assert set(kept_users(train, 0.1, 0)) != set(kept_users(train, 0.1, 1))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        kept_users(train, 0.0, 0)


def _hand_made(tiny_data):
    """Four users (ordered); test items: u0 -> 9 (never elsewhere), u1 -> 3 (trained by u2),
    u2 -> 8 (only u3's validation target), u3 -> 1 (trained by u0 and u1)."""
    seqs = {0: [1, 2, 5, 9], 1: [1, 4, 6, 3], 2: [3, 5, 7, 8], 3: [2, 4, 8, 1]}
    users = [u for u, items in seqs.items() for _ in items]
    items = [i for s in seqs.values() for i in s]
    orders = [t for s in seqs.values() for t in range(len(s))]
    return leave_one_out(tiny_data(users, items, orders))


def test_cold_start_items_on_a_hand_made_split(tiny_data) -> None:
    split = _hand_made(tiny_data)
    assert split.test.users.tolist() == [0, 1, 2, 3]
    # u0's 9 is nowhere else; u2's 8 is only u3's validation target: cold too (never trained on)
    assert cold_item_users(split).tolist() == [True, False, True, False]
    # with user 2's training dropped, item 3 (u1's target) is seen in no training sequence any more
    kept = with_fraction(split, 0.75, seed=0)
    dropped = set(split.train.users.tolist()) - set(kept.train.users.tolist())
    assert len(dropped) == 1
    expected = [not any(int(t) in set(kept.train.items.tolist()) for t in split.test.targets.get(i)) for i in range(4)]
    assert cold_item_users(kept).tolist() == expected


def test_a_fraction_changes_training_only(tiny_data) -> None:
    split = _hand_made(tiny_data)
    half = with_fraction(split, 0.5, seed=3)
    assert with_fraction(split, 1.0, seed=3) is split
    assert half.valid is split.valid and half.test is split.test
    assert (half.fingerprint, half.n_items) == (split.fingerprint, split.n_items)
    assert set(half.train.users.tolist()) == set(kept_users(split.train.users, 0.5, 3).tolist())
    for i, u in enumerate(half.train.users.tolist()):  # a kept user keeps every training interaction
        j = split.train.users.tolist().index(u)
        assert np.array_equal(half.train.get(i), split.train.get(j))
        assert np.array_equal(
            half.train.rows[half.train.indptr[i] : half.train.indptr[i + 1]],
            split.train.rows[split.train.indptr[j] : split.train.indptr[j + 1]],
        )


@pytest.mark.parametrize("fraction", [1.0, 0.2])
def test_cold_start_items_equal_the_brute_force_definition_on_real_data(real_data: Path, fraction: float) -> None:
    split = with_fraction(leave_one_out(datasets_helpers.load("movielens-100k")), fraction, seed=0)
    trained = set(split.train.items.tolist())
    brute = [all(int(t) not in trained for t in split.test.targets.get(i)) for i in range(len(split.test))]
    mask = cold_item_users(split)
    assert mask.tolist() == brute
    assert fraction == 1.0 or mask.sum() > 0  # a fifth of the users leaves some test items untrained


SUITE = """
name = "fractions"
targets = ["synthetic-finance"]
corpora = ["synthetic-general"]
models = ["sasrec"]
strategies = ["scratch", "finetune"]
seeds = [0]

[protocol]
target_fractions = [0.2, 1.0]

[evaluation]
cutoffs = [10]

[training]
epochs = 1
batch_size = 512
windows = "last"
max_valid_users = 200
device = "cpu"

[pretraining]
epochs = 1
batch_size = 512
windows = "last"
max_valid_users = 200
device = "cpu"

[model_params.sasrec]
dim = 8
layers = 1
heads = 1
max_len = 10
"""


def test_record_ids_at_fraction_one_are_unchanged(tmp_path: Path) -> None:
    """:data:`BEFORE_FRACTIONS` is the id the code made before fractions existed (commit 4e59e7d) for
    this cell of :data:`SUITE` without its ``[protocol]`` table: recompute it there when SUITE changes."""
    (tmp_path / "a.toml").write_text(SUITE)
    (tmp_path / "b.toml").write_text(SUITE.replace("[0.2, 1.0]", "[1.0]"))
    (tmp_path / "c.toml").write_text(SUITE.replace("[protocol]\ntarget_fractions = [0.2, 1.0]\n", ""))
    ids = {
        name: Cell("synthetic-finance", "sasrec", "finetune", "synthetic-general", 0, f).record_id(
            load_suite(tmp_path / name), {"dim": 8}, ["data", "split"]
        )
        for name, f in (("a.toml", 1.0), ("b.toml", 1.0), ("c.toml", 1.0), ("a.toml", 0.2))
    }
    before = "fractions__synthetic-finance__sasrec__finetune__synthetic-general__seed0__"
    assert ids["c.toml"] == ids["b.toml"] == before + BEFORE_FRACTIONS
    assert ids["a.toml"] != ids["c.toml"]


BEFORE_FRACTIONS = "58dfcf9aff"


def test_control_and_adapted_cells_at_one_fraction_share_their_training_users(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SUITE)
    suite = load_suite(tmp_path / "s.toml")
    runner = Runner(suite, load_plugins(), tmp_path / "out", device="cpu")
    cells = plan(suite, runner.plugins)
    assert sorted({c.fraction for c in cells}) == [0.2, 1.0] and len(cells) == 4
    users = {c: runner.split(c.dataset, c.fraction).train.users.tolist() for c in cells}
    for f in (0.2, 1.0):
        at = [users[c] for c in cells if c.fraction == f]
        assert at[0] == at[1]
    small, full = (next(users[c] for c in cells if c.fraction == f) for f in (0.2, 1.0))
    assert set(small) < set(full) and len(small) == round(0.2 * len(full))


@pytest.mark.slow
def test_a_run_with_two_fractions_gives_a_row_and_a_gain_per_fraction(tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    done = cli("run", "--suite", "suite.toml", "--output", "out", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = load_records(tmp_path / "out")
    assert len(records) == 4
    by_fraction = {(r.fraction, r.strategy.name): r for _, r in records}
    for f in (0.2, 1.0):
        control, adapted = by_fraction[(f, "scratch")], by_fraction[(f, "finetune")]
        assert control.target_fraction == adapted.target_fraction and control.target_fraction is not None
        assert control.target_fraction.fraction == f
        assert control.slices[COLD_START_ITEMS].users == adapted.slices[COLD_START_ITEMS].users
        assert control.split.fingerprint == adapted.split.fingerprint
    assert by_fraction[(0.2, "scratch")].split.fingerprint == by_fraction[(1.0, "scratch")].split.fingerprint
    rows = summarize(records)
    gains = {r.key.fraction: r for r in rows if not r.is_control}
    assert sorted(gains) == [0.2, 1.0] and all(r.gain for r in gains.values())
    board = json.loads(done.stdout)
    assert sorted(r.get("target_fraction", 1.0) for r in board["rows"]) == [0.2, 0.2, 1.0, 1.0]
    sets = select_sets([tmp_path / "out"], {"fraction": ["0.2"]})
    assert [s.first.strategy.name for s in sets] == ["scratch", "finetune"]
    result = compare(sets)
    assert result.comparisons[0].gain.users == by_fraction[(0.2, "scratch")].evaluation.users
    again = cli("run", "--suite", "suite.toml", "--output", "out", cwd=tmp_path)  # all complete: the board
    table = " ".join(again.stdout.split())
    assert "sasrec @20% train" in table and "cold-start items" in table and " users)" in table
    markdown = domain_markdown(build_board(records), "finance")
    assert "ndcg@10 cold-start items (users)" in markdown and "sasrec @20% train" in markdown
    mixed = cli("compare", "out/records", "--strategy", "scratch", cwd=tmp_path)
    assert mixed.returncode == 1 and "different target fractions" in mixed.stderr
    same = cli("compare", "out/records", "--fraction", "0.2", cwd=tmp_path)
    assert same.returncode == 0, same.stderr


def test_an_empty_slice_shows_as_0_users_and_a_missing_one_as_nothing() -> None:
    key = CellKey("s", "d", "split", "m", "scratch", None, fraction=0.05)
    row = Row(key, "media", False, "leave-one-out", "p", "p", [0], ["r"], True, {"ndcg@10": Stat(0.1, None)})
    assert fmt_slice(row, COLD_START_ITEMS, "ndcg@10") == ""
    row.slices[COLD_START_ITEMS] = SliceStat(0, {})
    assert fmt_slice(row, COLD_START_ITEMS, "ndcg@10") == "0 users"
    row.slices[COLD_START_ITEMS] = SliceStat(7, {"ndcg@10": Stat(0.25, 0.01)})
    assert fmt_slice(row, COLD_START_ITEMS, "ndcg@10") == "0.2500 ± 0.0100 (7 users)"
    assert row.to_json()["target_fraction"] == 0.05 and row.to_json()["slices"][COLD_START_ITEMS]["users"] == 7
    assert key.control().fraction == 0.05 and key.label() == "m/scratch @5%"


def _bad_suite(tmp_path: Path, fractions: str) -> Path:
    text = 'name = "x"\ntargets = ["synthetic-finance"]\nmodels = ["popularity"]\n'
    (tmp_path / "suite.toml").write_text(text + f"[protocol]\ntarget_fractions = {fractions}\n")
    return tmp_path / "suite.toml"


@pytest.mark.parametrize(
    "fractions, problem",
    [("[0.0, 1.0]", "greater than 0"), ("[1.5]", "less than or equal to 1"), ("[0.5, 0.5]", "distinct"), ("[]", "")],
)
def test_a_bad_fraction_is_refused_naming_the_setting(tmp_path: Path, fractions: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"field protocol\.target_fractions.*{problem}"):
        load_suite(_bad_suite(tmp_path, fractions))


def test_a_bad_fraction_exits_2_with_one_line_through_the_console_script(tmp_path: Path) -> None:
    _bad_suite(tmp_path, "[0.05, 0.0]")
    done = cli("run", "--suite", "suite.toml", "--output", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "field protocol.target_fractions.1: Input should be greater than 0" in (
        done.stderr
    )


@pytest.mark.parametrize("name, cells", [("transfer", 108), ("transfer-zero-shot", 54)])
def test_the_transfer_suites_plan_every_fraction(name: str, cells: int) -> None:
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / f"{name}.toml")
    planned = plan(suite, load_plugins())
    assert len(planned) == cells and {c.fraction for c in planned} == {0.05, 0.2, 1.0}
    assert {c.seed for c in planned} == {0, 1, 2} and "scratch" in {c.strategy for c in planned}


def test_the_cpu_transfer_suite_and_its_zero_shot_half_share_every_setting() -> None:
    """Run into one folder, the zero-shot half reuses transfer-cpu's checkpoints and scratch records:
    record ids and checkpoint keys hash the settings and the model's parameters, never the lists of
    models and strategies, so every other setting must be the same."""
    suites = Path(__file__).resolve().parents[1] / "suites"
    full, zero = load_suite(suites / "transfer-cpu.toml"), load_suite(suites / "transfer-cpu-zero-shot.toml")
    differ = {"models", "strategies", "model_params"}
    assert full.model_dump(exclude=differ) == zero.model_dump(exclude=differ)
    assert zero.model_params["unisrec"] == full.model_params["unisrec"] and zero.models == ["unisrec"]
    assert full.pretraining.seed is not None  # one checkpoint per model and corpus for every seed
    plugins = load_plugins()
    scratch = {c for c in plan(full, plugins) if c.model == "unisrec" and c.strategy == "scratch"}
    assert scratch == {c for c in plan(zero, plugins) if c.strategy == "scratch"}
    assert {c.strategy for c in plan(zero, plugins)} == {"scratch", "zero-shot"}


def test_published_cpu_transfer_records_converged_and_used_minilm() -> None:
    """What the published transfer-cpu board rests on: every trained cell stopped by patience (the
    200-epoch cap never bound), every fine-tuned cell adapted from the one seed-0 checkpoint of its
    model and corpus, unisrec read its items through MiniLM, and zero-shot cells are unisrec's only."""
    root = Path(__file__).resolve().parents[1]
    suite = load_suite(root / "suites" / "transfer-cpu.toml")
    records = [r for _, r in load_records(root / "leaderboards" / "records") if r.suite == suite.name]
    assert records, f"no published {suite.name} record"
    trained = [r for r in records if r.training is not None]
    assert trained and {r.training.stopped_by for r in trained} == {"patience"}
    adapted = [r for r in records if r.strategy.corpus]
    assert adapted and all(f"__seed{suite.pretraining.seed}__" in (r.strategy.checkpoint or "") for r in adapted)
    assert {(r.model.text_encoder or {}).get("name") for r in records if r.model.name == "unisrec"} == {
        "all-MiniLM-L6-v2"
    }
    assert {r.model.name for r in records if r.strategy.name == "zero-shot"} == {"unisrec"}
    for fraction in suite.protocol.target_fractions:
        cells = {(r.dataset.name, r.model.name, r.strategy.name) for r in records if r.fraction == fraction}
        for dataset in {d for d, _, _ in cells}:
            assert {("sasrec", "scratch"), ("sasrec", "finetune"), ("unisrec", "finetune")} <= {
                (m, s) for d, m, s in cells if d == dataset
            }, (dataset, fraction)
