"""``sociallgn`` and its ablation ``lightgcn``: propagation, refusal, early stopping, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from console import cli

from flm_bench.api import BuildInputs, ConfigError, EvalSet, PreparesForTest, Sequences
from flm_bench.data.splits import leave_one_out
from flm_bench.params import parse_params
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.results.summary import summarize
from flm_bench.runner import Runner
from flm_bench.suite import TrainConfig, load_suite
from flm_bench.train.loop import fit
from flm_bench_plugins.sociallgn_net import Graph, SocialLGN, normalised_adjacency

# 4 users, 5 items; user 3 shares no item with user 0
HISTORIES = [[0, 1], [1, 2], [2, 3, 0], [4]]


def _sequences(histories: list[list[int]]) -> Sequences:
    items = np.array([i for h in histories for i in h], dtype=np.int64)
    indptr = np.r_[0, np.cumsum([len(h) for h in histories])].astype(np.int64)
    return Sequences(np.arange(len(histories), dtype=np.int64), indptr, items, np.arange(len(items)))


TRAIN = _sequences(HISTORIES)


MODELS = load_plugins().models  # loaded once: the builds below are the tests


def _graph_model(model: str, edges: list[tuple[int, int]] | None, seed: int = 0, **params) -> SocialLGN:
    side = {} if edges is None else {"social_edges": np.array(edges, dtype=np.int64).reshape(-1, 2)}
    spec = MODELS.get(model)
    torch.manual_seed(seed)
    inputs = BuildInputs(
        5, None, parse_params(model, spec.params, {"dim": 4, **params}), seed, "cpu", side, n_users=4, dataset="tiny"
    )
    built = spec.build(inputs)
    assert isinstance(built, SocialLGN)
    built.prepare(TRAIN)
    return built


def test_lightgcn_propagation_is_the_mean_of_normalised_adjacency_powers() -> None:
    model = _graph_model("lightgcn", None, layers=2)
    a = np.zeros((9, 9))
    for u, h in enumerate(HISTORIES):
        for i in h:
            a[u, 4 + i] = a[4 + i, u] = 1.0
    d = a.sum(1) ** -0.5
    norm = d[:, None] * a * d[None, :]
    x = torch.cat([model.user_table.weight, model.item_table.weight]).detach().double().numpy()
    expected = (x + norm @ x + norm @ norm @ x) / 3
    users, items = model.propagate()
    np.testing.assert_allclose(torch.cat([users, items]).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_without_social_edges_sociallgn_is_lightgcn_exactly() -> None:
    social, plain = _graph_model("sociallgn", []), _graph_model("lightgcn", None)
    assert social.fusion is None
    assert torch.equal(social.score([], np.arange(4)), plain.score([], np.arange(4)))
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    for a, b in zip(social.epoch_losses(TRAIN, 2, rng_a), plain.epoch_losses(TRAIN, 2, rng_b), strict=True):
        assert torch.equal(a, b)


def test_a_friend_changes_the_users_embedding_and_starts_from_the_same_weights() -> None:
    one, two = _graph_model("sociallgn", [(0, 1)]), _graph_model("sociallgn", [(0, 1), (0, 3)])
    plain = _graph_model("lightgcn", None)
    assert torch.equal(one.user_table.weight, plain.user_table.weight)  # the graph is the only difference
    users_one, users_two = one.propagate()[0], two.propagate()[0]
    assert not torch.allclose(users_one[0], users_two[0])
    with torch.no_grad():  # a self-loop is no friendship
        assert torch.equal(_graph_model("sociallgn", [(0, 1), (2, 2)]).propagate()[0], users_one)


def test_sociallgn_on_a_dataset_without_social_edges_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"'sociallgn' needs social edges .* dataset 'tiny' does not carry") as err:
        _graph_model("sociallgn", None)
    assert "\n" not in str(err.value)


def test_negatives_are_never_training_positives_and_scores_are_deterministic() -> None:
    model = _graph_model("sociallgn", [(0, 1), (1, 0)])
    users = np.repeat(np.arange(4), 50)
    negatives = model.negatives(users, np.random.default_rng(0))
    assert not any(n in HISTORIES[u] for u, n in zip(users, negatives, strict=True))
    first = model.score([], np.array([3, 0]))
    assert first.shape == (2, 5)
    assert torch.equal(first, _graph_model("sociallgn", [(0, 1), (1, 0)]).score([], np.array([3, 0])))
    assert torch.allclose(first[1], model.score([], np.array([0]))[0])  # a user's scores do not depend on the batch


def _valid() -> EvalSet:
    return EvalSet(TRAIN, _sequences([[3], [4], [1], [0]]))


@pytest.mark.parametrize(
    "training,stopped_by", [({"epochs": 3, "patience": 10}, "cap"), ({"epochs": 50, "patience": 1}, "patience")]
)
def test_the_harness_loop_trains_it_and_says_why_it_stopped(training: dict, stopped_by: str) -> None:
    model = _graph_model("sociallgn", [(0, 1), (1, 0)])
    cfg = TrainConfig(batch_size=3, learning_rate=0.5, device="cpu", **training)
    result = fit(model, model.parameters(), TRAIN, _valid(), cfg, seed=0)
    assert result.stopped_by == stopped_by and result.windows is None
    assert result.optimizer_steps == 3 * result.epochs  # 8 distinct pairs in batches of 3
    assert result.epochs == (3 if stopped_by == "cap" else result.best_epoch + 1)
    assert result.valid_curve[result.best_epoch - 1] == max(result.valid_curve)


SUITE = """
name = "social-tiny"
targets = ["filmtrust"]
models = ["lightgcn", "sociallgn"]
strategies = ["scratch", "finetune"]
corpora = ["mixed-small"]
[split]
protocol = "random-holdout"
[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]
[training]
device = "cpu"
epochs = 2
batch_size = 4096
learning_rate = 0.01
max_valid_users = 300
[model_params.lightgcn]
dim = 8
layers = 1
[model_params.sociallgn]
dim = 8
layers = 1
"""


@pytest.mark.slow
def test_a_social_suite_runs_both_models_from_scratch_on_real_trust_data(real_data: Path, tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    result = cli("run", "--suite", "suite.toml", "--output", "out", "--data-dir", str(real_data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = {r.model.name: r for _, r in load_records(tmp_path / "out")}
    assert set(records) == {"lightgcn", "sociallgn"}  # finetune does not apply to an ID-bound graph model
    for record in records.values():
        assert record.strategy.name == "scratch" and record.training is not None
        assert (record.training.stopped_by, record.training.epochs) == ("cap", 2)
        assert 1 <= record.training.best_epoch <= 2 and record.training.optimizer_steps > 0
        assert 0 < record.metrics["ndcg@10"] < 1
    assert records["sociallgn"].metrics != records["lightgcn"].metrics
    ablation = records["sociallgn"].model.ablation
    assert ablation is not None and (ablation.model, ablation.removes) == ("lightgcn", "the social graph")
    assert records["lightgcn"].model.ablation is None
    _the_board_shows_sociallgn_against_its_ablation(tmp_path, records)


def _the_board_shows_sociallgn_against_its_ablation(tmp_path: Path, records: dict) -> None:
    """One seed: the ablation gain is the difference of the two rows' means; both stopped at the cap, so
    it is never significant and carries the cap mark."""
    done = cli("leaderboard", "render", "--from", "out/records", "--output", "board", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["model"]: r for r in json.loads((tmp_path / "board/leaderboard.json").read_text())["rows"]}
    assert "ablation" not in rows["lightgcn"]
    got = rows["sociallgn"]["ablation"]
    assert (got["model"], got["removes"], got["capped"]) == ("lightgcn", "the social graph", True)
    diff = records["sociallgn"].metrics["ndcg@10"] - records["lightgcn"].metrics["ndcg@10"]
    assert got["gain"]["ndcg@10"]["mean"] == pytest.approx(diff, abs=1e-6)
    assert got["gain"]["ndcg@10"]["significant"] is False and got["gain"]["ndcg@10"]["users"] > 1000
    social = (tmp_path / "board/social.md").read_text()
    assert "gain ndcg@10 over its ablation" in social and "Gain over its ablation:" in social
    line = next(x for x in social.splitlines() if x.startswith("| sociallgn "))
    assert f"vs lightgcn (without the social graph): {diff:+.4f}" in line and "⚠cap" in line


def test_sociallgn_on_real_data_without_edges_is_refused_naming_the_dataset(real_data: Path, tmp_path: Path) -> None:
    suite = 'name = "no-edges"\ntargets = ["movielens-100k"]\nmodels = ["sociallgn"]\nstrategies = ["scratch"]\n'
    (tmp_path / "suite.toml").write_text(suite + '[training]\ndevice = "cpu"\n')
    runner = Runner(load_suite(tmp_path / "suite.toml"), load_plugins(), tmp_path / "out", device="cpu")
    with pytest.raises(ConfigError, match="'sociallgn' needs social edges .* dataset 'movielens-100k' does not carry"):
        runner.run()


def _edges(model: SocialLGN) -> set[tuple[int, int]]:
    """The (user, item) pairs of the model's user–item graph."""
    assert model.graph is not None
    rows, cols = model.graph.coo.indices().numpy()
    users = rows < model.n_users
    return {(int(u), int(i) - model.n_users) for u, i in zip(rows[users], cols[users], strict=True)}


def _pairs(seqs: Sequences) -> set[tuple[int, int]]:
    return {(int(u), int(i)) for k, u in enumerate(seqs.users) for i in seqs.get(k)}


@pytest.mark.parametrize("model", ["lightgcn", "sociallgn"])
def test_the_test_graph_adds_the_validation_edges_and_no_test_edge(tiny_data, model: str) -> None:
    """As a sequence model reads the validation item when scoring a test user, the graph models
    score the test split over the training graph plus the test histories (leave-one-out: the
    validation items), and never over a test target."""
    rng = np.random.default_rng(0)
    items = np.concatenate([rng.permutation(8)[:4] for _ in range(6)])  # 6 users, 4 distinct items each
    split = leave_one_out(tiny_data(np.repeat(np.arange(6), 4), items, np.tile(np.arange(4), 6)))
    spec = MODELS.get(model)
    side = {"social_edges": np.array([[0, 1], [1, 2], [2, 0]])}
    params = parse_params(model, spec.params, {"dim": 4})
    built = spec.build(BuildInputs(split.n_items, None, params, 0, "cpu", side, n_users=6, dataset="tiny"))
    assert isinstance(built, SocialLGN) and isinstance(built, PreparesForTest)
    built.prepare(split.train)
    train, valid, test = _pairs(split.train), _pairs(split.valid.targets), _pairs(split.test.targets)
    assert _edges(built) == train and len(valid - train) == 6 and len(test - train - valid) == 6
    before = built.score([], np.arange(6))
    built.before_test(split.test.history)
    assert _edges(built) == train | valid  # the validation edges, no test edge
    assert _pairs(split.train) == {(int(u), int(i)) for u, i in built.pairs.T}  # training pairs unchanged
    assert not torch.allclose(before, built.score([], np.arange(6)))


@pytest.mark.slow
def test_the_runner_hands_the_test_histories_to_the_graph_model_once(tmp_path: Path, monkeypatch) -> None:
    """synthetic-social has no social edges: lightgcn only."""
    suite = SUITE.replace('"filmtrust"', '"synthetic-social"').replace(', "sociallgn"', "")
    suite = suite.replace("[model_params.sociallgn]\ndim = 8\nlayers = 1\n", "")
    (tmp_path / "suite.toml").write_text(suite.replace("epochs = 2", "epochs = 1"))
    runner = Runner(load_suite(tmp_path / "suite.toml"), load_plugins(), tmp_path / "out", device="cpu")
    seen: list[Sequences] = []
    monkeypatch.setattr(SocialLGN, "before_test", lambda self, histories: seen.append(histories))
    runner.run()
    split = runner.split("synthetic-social")
    assert [h is split.test.history for h in seen] == [True]
    assert [r.evaluation.users for _, r in load_records(tmp_path / "out")] == [len(split.test)]


def test_the_graph_product_and_its_gradient_equal_the_dense_ones() -> None:
    """``Graph @ x`` (CSR both ways) is ``A @ x`` and passes ``A^T @ g`` back, for a non-symmetric ``A``."""
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 6, 12), rng.integers(0, 4, 12)
    matrix = normalised_adjacency(rows, cols, (6, 4))
    x = torch.randn(4, 3, dtype=torch.float32, requires_grad=True)
    dense = matrix.to_dense()
    out = Graph(matrix) @ x
    torch.testing.assert_close(out, dense @ x)
    grad = torch.randn(6, 3)
    out.backward(grad)
    torch.testing.assert_close(x.grad, dense.T @ grad)


def test_published_social_v2_converged_and_the_board_measures_sociallgn_against_lightgcn() -> None:
    """The social board's claim rests on converged rows: patience ended every trained social-v2 cell,
    and sociallgn's row carries its gain over lightgcn, measured on the same users and seeds."""
    root = Path(__file__).resolve().parents[1] / "leaderboards" / "records"
    records = [(p, r) for p, r in load_records(root) if r.suite == "social-v2"]
    trained = [r for _, r in records if r.training is not None]
    assert trained and {r.training.stopped_by for r in trained} == {"patience"}
    rows = {r.key.model: r for r in summarize(records)}
    social, plain = rows["sociallgn"], rows["lightgcn"]
    assert social.ablation is not None and plain.ablation is None and social.seeds == plain.seeds
    gain = social.ablation.gain["ndcg@10"]
    assert social.ablation.model == "lightgcn" and gain.users == records[0][1].evaluation.users
    assert gain.mean == pytest.approx(social.metrics["ndcg@10"].mean - plain.metrics["ndcg@10"].mean, abs=1e-9)
