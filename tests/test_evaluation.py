"""Full-ranking evaluation: tie rule, history exclusion, metric values, name validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flm_bench.data.splits import EvalSet, Sequences
from flm_bench.errors import ConfigError
from flm_bench.evaluation import evaluate, metric_names, per_user_metrics, qrels_array, rank, top_k

pytestmark = pytest.mark.filterwarnings("ignore::numba.NumbaTypeSafetyWarning")


# helpers ----------------------------------------------------------------------------------


def reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The documented rule, spelt out: score descending, then item index ascending."""
    n = scores.shape[1]
    return np.stack([np.lexsort((np.arange(n), -row))[: min(k, n)] for row in scores])


def seqs(users, lists) -> Sequences:
    lengths = [len(x) for x in lists]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = (
        np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
        if sum(lengths)
        else (np.zeros(0, dtype=np.int64))
    )
    return Sequences(np.asarray(users, dtype=np.int64), indptr, items, np.arange(len(items)))


def eval_set(histories, targets) -> EvalSet:
    users = np.arange(len(targets))
    return EvalSet(seqs(users, histories), seqs(users, targets))


def table_score(table: torch.Tensor):
    """A score function that looks scores up in a fixed ``[n_users, n_items]`` table."""
    return lambda histories, users: table[torch.from_numpy(np.asarray(users))].clone()


# top_k tie rule ---------------------------------------------------------------------------


def test_top_k_orders_by_score_then_ascending_index():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.9, 0.5, 0.2]])
    assert top_k(scores, 4).tolist() == [[1, 3, 2, 4]]


def test_top_k_tie_straddling_kth_position_takes_lowest_indices():
    # the 3rd place is a three-way tie (items 1, 4, 6) of which only one fits
    scores = torch.tensor([[0.5, 0.7, 0.9, 0.1, 0.7, 0.3, 0.7], [0.7, 0.7, 0.7, 0.7, 0.9, 0.9, 0.1]])
    assert top_k(scores, 3).tolist() == [[2, 1, 4], [4, 5, 0]]
    assert top_k(scores, 2).tolist() == [[2, 1], [4, 5]]


def test_top_k_constant_rows_rank_by_index():
    scores = torch.full((3, 50), 0.25)
    assert top_k(scores, 7).tolist() == [list(range(7))] * 3
    scores[1] = float("-inf")
    assert top_k(scores, 7).tolist() == [list(range(7))] * 3


def test_top_k_k_larger_than_catalogue():
    scores = torch.tensor([[0.3, 0.3, 0.9, 0.1], [1.0, 1.0, 1.0, 1.0]])
    out = top_k(scores, 10)
    assert out.shape == (2, 4)
    assert out.tolist() == [[2, 0, 1, 3], [0, 1, 2, 3]]


def test_top_k_mixed_rows_match_reference_rule():
    rng = np.random.default_rng(7)
    for hi, n, k in [(3, 40, 5), (2, 300, 20), (1000, 60, 12), (5, 17, 17), (4, 9, 30)]:
        raw = rng.integers(0, hi, size=(25, n)).astype(np.float32)
        raw[rng.random(raw.shape) < 0.2] = -np.inf
        raw[3] = 1.0  # a constant row
        got = top_k(torch.from_numpy(raw.copy()), k).numpy()
        np.testing.assert_array_equal(got, reference_top_k(raw, k))


def test_top_k_nan_raises():
    scores = torch.rand(4, 30)
    scores[2, 11] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        top_k(scores, 5)
    with pytest.raises(ValueError, match="NaN"):
        top_k(torch.full((2, 8), float("nan")), 3)


def test_top_k_does_not_modify_scores():
    scores = torch.tensor([[0.5, 0.5, 0.5, 0.2, 0.9]])
    before = scores.clone()
    top_k(scores, 2)
    assert torch.equal(scores, before)


# history exclusion ------------------------------------------------------------------------


def test_history_items_never_ranked_when_excluded():
    n_items = 12
    # every user's history holds the items it scores highest
    table = torch.arange(n_items, dtype=torch.float32).repeat(3, 1)
    histories = [[11, 10], [], [11, 5, 0, 7]]
    es = eval_set(histories, [[3], [4], [6]])
    ranked = rank(table_score(table), es, k=n_items, exclude_history=True)
    for row, hist in zip(ranked, histories):
        assert not set(row[: n_items - len(hist)].tolist()) & set(hist)
    assert ranked[0, :3].tolist() == [9, 8, 7]
    assert ranked[1, :3].tolist() == [11, 10, 9]
    # excluded items (score -inf) trail everything else, tied, so by ascending index
    assert ranked[2, -4:].tolist() == [0, 5, 7, 11]


def test_history_items_can_be_ranked_when_not_excluded():
    table = torch.arange(12, dtype=torch.float32).repeat(2, 1)
    es = eval_set([[11, 10], [11]], [[3], [4]])
    ranked = rank(table_score(table), es, k=3, exclude_history=False)
    assert ranked.tolist() == [[11, 10, 9], [11, 10, 9]]


def test_exclusion_across_batches_matches_single_batch():
    rng = np.random.default_rng(3)
    n_users, n_items = 37, 25
    table = torch.from_numpy(rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32))
    histories = [rng.integers(0, n_items, size=rng.integers(0, 6)).tolist() for _ in range(n_users)]
    es = eval_set(histories, [[int(rng.integers(n_items))] for _ in range(n_users)])
    one = rank(table_score(table), es, k=8, batch_size=1000)
    for bs in (1, 5, 16):
        np.testing.assert_array_equal(rank(table_score(table), es, k=8, batch_size=bs), one)
    for row, hist in zip(one, histories):
        assert not set(row.tolist()) & set(hist)
    masked = table.clone().numpy()
    for u, hist in enumerate(histories):
        masked[u, hist] = -np.inf
    np.testing.assert_array_equal(one, reference_top_k(masked, 8))


# metric values ----------------------------------------------------------------------------


@pytest.mark.slow
def test_metrics_match_hand_computed_values():
    # user 0: target ranked 3rd; user 1: target not in the top 10; user 2: two targets at 1, 4
    n_items = 30
    table = torch.arange(n_items, 0, -1, dtype=torch.float32).repeat(3, 1)  # item 0 best
    es = eval_set([[], [], []], [[2], [25], [0, 3]])
    names = metric_names(["ndcg", "mrr", "recall", "hit_rate", "precision", "map"], [10])
    ranked, m = evaluate(table_score(table), es, names)
    assert ranked[0].tolist() == list(range(10))
    assert m["ndcg@10"][0] == pytest.approx(1 / math.log2(4))
    assert m["mrr@10"][0] == pytest.approx(1 / 3)
    assert m["recall@10"][0] == pytest.approx(1.0)
    assert m["hit_rate@10"][0] == pytest.approx(1.0)
    assert m["precision@10"][0] == pytest.approx(0.1)
    assert m["map@10"][0] == pytest.approx(1 / 3)
    for name in names:
        assert m[name][1] == 0.0
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@10"][2] == pytest.approx((1 + 1 / math.log2(5)) / idcg)
    assert m["mrr@10"][2] == pytest.approx(1.0)
    assert m["recall@10"][2] == pytest.approx(1.0)
    assert m["map@10"][2] == pytest.approx((1 + 2 / 4) / 2)


def test_single_metric_and_duplicate_targets():
    table = torch.arange(10, 0, -1, dtype=torch.float32).repeat(2, 1)
    # repeated target items count once
    es = eval_set([[], []], [[4, 4, 4], [1, 9, 1]])
    _, m = evaluate(table_score(table), es, ["recall@5"])
    assert list(m) == ["recall@5"]
    np.testing.assert_allclose(m["recall@5"], [1.0, 0.5])
    q = qrels_array(es.targets)
    assert q.shape == (2, 2, 2)
    assert q[0].tolist() == [[4, 1], [-1, 0]]
    assert q[1].tolist() == [[1, 1], [9, 1]]


@pytest.mark.slow
def test_metrics_agree_with_ranx_dict_path():
    import ranx

    rng = np.random.default_rng(11)
    n_users, n_items, k = 200, 80, 20
    table = torch.from_numpy(rng.normal(size=(n_users, n_items)).astype(np.float32))
    histories = [rng.choice(n_items, size=rng.integers(0, 6), replace=False).tolist() for _ in range(n_users)]
    targets = [rng.integers(0, n_items, size=rng.integers(1, 7)).tolist() for _ in range(n_users)]
    es = eval_set(histories, targets)
    names = metric_names(["ndcg", "recall", "mrr", "hit_rate", "map", "precision"], [5, 10, 20])
    ranked, per_user = evaluate(table_score(table), es, names)
    assert ranked.shape == (n_users, k)

    qrels = {f"u{u}": {f"i{t}": 1 for t in ts} for u, ts in enumerate(targets)}
    run = {
        f"u{u}": {f"i{item}": float(k - pos) for pos, item in enumerate(row)} for u, row in enumerate(ranked.tolist())
    }
    expected = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names)
    for name in names:
        assert per_user[name].shape == (n_users,)
        assert per_user[name].mean() == pytest.approx(expected[name], abs=1e-9), name


def test_per_user_metrics_empty():
    es = eval_set([], [])
    out = per_user_metrics(np.zeros((0, 5), dtype=np.int64), es.targets, ["ndcg@5", "mrr@5"])
    assert {k: v.shape for k, v in out.items()} == {"ndcg@5": (0,), "mrr@5": (0,)}


# no credit from index order beyond the documented rule ------------------------------------


def test_constant_scores_rank_deterministically_by_index_only():
    n_users, n_items = 40, 30
    rng = np.random.default_rng(5)
    histories = [rng.choice(n_items, size=3, replace=False).tolist() for _ in range(n_users)]
    targets = [[int(rng.integers(n_items))] for _ in range(n_users)]
    es = eval_set(histories, targets)

    def constant(hs, users):
        return torch.zeros(len(users), n_items)

    names = ["ndcg@10", "recall@10", "mrr@10"]
    r1, m1 = evaluate(constant, es, names)
    r2, m2 = evaluate(constant, es, names, batch_size=7)
    np.testing.assert_array_equal(r1, r2)
    for name in names:
        np.testing.assert_array_equal(m1[name], m2[name])
    # the ranking is exactly "lowest indices not in the history", nothing else
    for row, hist in zip(r1, histories):
        assert row.tolist() == [i for i in range(n_items) if i not in hist][:10]
    # so a constant model is credited only for targets among those indices
    for u, (row, t) in enumerate(zip(r1, targets)):
        assert m1["recall@10"][u] == float(t[0] in row[:10])


# metric_names validation ------------------------------------------------------------------


def test_metric_names_expands_cutoffs():
    assert metric_names(["ndcg", "recall"], [10, 20]) == ["ndcg@10", "recall@10", "ndcg@20", "recall@20"]


@pytest.mark.parametrize(
    ("metrics", "cutoffs"),
    [(["ndcg", "auc"], [10]), (["NDCG"], [10]), (["ndcg"], []), (["ndcg"], [0]), (["recall"], [10, -5])],
)
def test_metric_names_rejects_bad_input(metrics, cutoffs):
    with pytest.raises(ConfigError):
        metric_names(metrics, cutoffs)
