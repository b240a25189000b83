"""Reference levels: the random level against brute force and Monte Carlo, the popularity level
against the popularity model, and the cutoffs a small catalogue adds."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_helpers import default_split, load
from test_evaluation import eval_set, seqs, table_score

from flm_bench.data.splits import EvalSet
from flm_bench.evaluation import METRICS, evaluate, metric_names, rank
from flm_bench.levels import (
    SMALL_CATALOGUE,
    popularity_counts,
    popularity_levels,
    popularity_ranking,
    random_levels,
    scaled_cutoffs,
)
from flm_bench.suite import EvalConfig
from flm_bench_plugins.baselines import Popularity

pytestmark = pytest.mark.filterwarnings("ignore::numba.NumbaTypeSafetyWarning")

N_ITEMS = 6
#: (history, targets): one and several relevant items, a target in the history, a user left with
#: two candidates (so cutoffs reach the excluded items ranked after them), repeated history items
USERS = [
    ([0, 2], [1]),
    ([1], [1, 3]),
    ([], [0, 4, 5]),
    ([0, 1, 2, 3], [0, 5]),
    ([2, 2, 4], [3, 4]),
    ([0, 1, 2, 3, 4], [0]),
]
NAMES = metric_names(METRICS, [1, 2, 3, 5, 10])


def brute_force(users: list[tuple[list[int], list[int]]], exclude_history: bool) -> dict[str, float]:
    """The mean over users of each metric averaged over every order of the user's candidates, each
    order ranked and scored by the harness itself."""
    per_user: dict[str, list[float]] = {n: [] for n in NAMES}
    for history, targets in users:
        candidates = [i for i in range(N_ITEMS) if not (exclude_history and i in history)]
        orders = list(itertools.permutations(candidates))
        table = torch.zeros((len(orders), N_ITEMS))
        for row, order in enumerate(orders):
            table[row, list(order)] = torch.arange(len(order), 0, -1, dtype=torch.float32)
        repeated = eval_set([history] * len(orders), [targets] * len(orders))
        _, scores = evaluate(table_score(table), repeated, NAMES, exclude_history=exclude_history)
        for n in NAMES:
            per_user[n].append(float(scores[n].mean()))
    return {n: float(np.mean(v)) for n, v in per_user.items()}


@pytest.mark.parametrize("exclude_history", [True, False])
def test_random_level_equals_enumeration_of_every_ranking(exclude_history: bool) -> None:
    expected = brute_force(USERS, exclude_history)
    histories, targets = zip(*USERS)
    got = random_levels(eval_set(histories, targets), N_ITEMS, NAMES, exclude_history=exclude_history)
    assert got.keys() == expected.keys()
    for name in NAMES:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name


def test_random_level_of_one_relevant_item_is_the_closed_form() -> None:
    # 3 of 6 items in the history: 3 candidates, one relevant
    got = random_levels(eval_set([[0, 1, 2]], [[4]]), N_ITEMS, ["ndcg@2", "recall@2", "mrr@10"], exclude_history=True)
    assert got["ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 3)
    assert got["recall@2"] == pytest.approx(2 / 3)
    assert got["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def _random_rankings_mean(test: EvalSet, n_items: int, names: list[str], draws: int, seed: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(seed)
    sums = dict.fromkeys(names, 0.0)
    for _ in range(draws):
        table = torch.rand((len(test), n_items), generator=gen)
        score = lambda histories, users, t=table: t[: len(histories)].clone()  # noqa: E731
        _, scores = evaluate(score, test, names, batch_size=len(test) + 1)
        for n in names:
            sums[n] += float(scores[n].mean())
    return {n: s / draws for n, s in sums.items()}


def test_random_level_matches_random_rankings_on_coil2000(real_data: Path) -> None:
    data = load("coil2000")
    split = default_split(data)
    names = metric_names(METRICS, [1, 3, 10, 20])
    exact = random_levels(split.test, split.n_items, names, exclude_history=True)
    sampled = _random_rankings_mean(split.test, split.n_items, names, draws=10, seed=0)
    for n in names:  # 10 draws over ~1,000 users: standard errors near 0.003
        assert exact[n] == pytest.approx(sampled[n], abs=0.01), n
    assert 0 < exact["ndcg@10"] < exact["recall@10"] < 1


def test_popularity_level_equals_the_popularity_model_on_coil2000(real_data: Path) -> None:
    split = default_split(load("coil2000"))
    names = metric_names(METRICS, [1, 3, 10])
    model = Popularity(split.n_items)
    model.fit(split.train)
    _, scores = evaluate(model.score, split.test, names)
    level = popularity_levels(split.train, split.test, split.n_items, names, exclude_history=True)
    assert level == {n: pytest.approx(float(scores[n].mean()), abs=1e-12) for n in names}
    random = random_levels(split.test, split.n_items, names, exclude_history=True)
    assert level["ndcg@10"] > random["ndcg@10"]  # most customers hold the popular policies


@pytest.mark.parametrize("exclude_history", [True, False])
def test_popularity_ranking_equals_ranking_the_popularity_model(exclude_history: bool) -> None:
    # counts 2, 2, 1, 2, 0, 1: ties among the top three and at the bottom, across every cutoff
    train = seqs([0, 1, 2], [[0, 1, 3], [0, 1, 2], [3, 5]])
    histories, targets = zip(*USERS)
    test = eval_set(histories, targets)
    model = Popularity(N_ITEMS)
    model.fit(train)
    for k in (1, 2, 3, 5, 10):
        expected = rank(model.score, test, k, exclude_history=exclude_history)
        got = popularity_ranking(popularity_counts(train, N_ITEMS), test, k, exclude_history=exclude_history)
        assert got.tolist() == expected.tolist(), k
    level = popularity_levels(train, test, N_ITEMS, NAMES, exclude_history=exclude_history)
    _, scores = evaluate(model.score, test, NAMES, exclude_history=exclude_history)
    assert level == {n: pytest.approx(float(scores[n].mean()), abs=1e-12) for n in NAMES}


def test_popularity_level_uses_training_counts_and_the_tie_rule() -> None:
    # items 1 and 3 tie on two training interactions: the lower index ranks first
    train = seqs([0, 1], [[3, 1, 2], [1, 3]])
    test = eval_set([[], [1]], [[3], [3]])
    level = popularity_levels(train, test, 4, ["mrr@3"], exclude_history=True)
    assert level["mrr@3"] == pytest.approx((1 / 2 + 1) / 2)


def test_scaled_cutoffs_only_for_small_catalogues() -> None:
    assert scaled_cutoffs(SMALL_CATALOGUE - 1, [10, 20]) == [1, 3]
    assert scaled_cutoffs(22, [3, 10]) == [1]
    assert scaled_cutoffs(SMALL_CATALOGUE, [10, 20]) == []
    evaluation = EvalConfig(metrics=["ndcg"], cutoffs=[10])
    assert evaluation.names_for(22) == ["ndcg@10", "ndcg@1", "ndcg@3"]
    assert evaluation.names_for(5_000) == ["ndcg@10"]
