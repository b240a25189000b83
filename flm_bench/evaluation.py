"""Full-ranking evaluation: score the whole catalogue, exclude history, take top-k, ranx metrics.

Tie rule: items with equal scores are ranked by ascending item index. Item indices carry no
temporal meaning (dataset plugins must not assign them by first appearance), so a model
that scores everything alike gains nothing from index order. The rule is applied exactly,
including ties that straddle the k-th position.

Metrics are computed by ``ranx.evaluate`` on numpy arrays (one row per user: ``[k, 2]``
item/score for the run, ``[n_rel, 2]`` item/relevance for the judgements, padded with
relevance 0), never through per-user Python dicts. The run's scores are ``k - position``,
so ranx sees exactly the order decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from flm_bench.errors import ConfigError
from flm_bench.splits import EvalSet, Sequences

if TYPE_CHECKING:
    import torch

ScoreFn = Callable[[list[np.ndarray], np.ndarray], "torch.Tensor"]
METRICS = ("ndcg", "recall", "mrr", "hit_rate", "map", "precision")


def metric_names(metrics: Sequence[str], cutoffs: Sequence[int]) -> list[str]:
    """ranx metric names, e.g. ``["ndcg@10", "recall@10"]``."""
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"unknown metric {m!r}; expected one of {list(METRICS)}")
    if not cutoffs or any(int(k) < 1 for k in cutoffs):
        raise ConfigError(f"metric cutoffs must be positive integers, got {list(cutoffs)}")
    return [f"{m}@{k}" for k in cutoffs for m in metrics]


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, k]`` of the best-scoring items: score descending, then index ascending."""
    import torch

    k = min(k, scores.shape[1])
    values, idx = torch.topk(scores, k, dim=1)
    if torch.isnan(values).any():
        raise ValueError("model produced NaN scores")
    # rows where items tied with the k-th score were left out: redo those exactly
    straddling = ((scores >= values[:, -1:]).sum(dim=1) > k).nonzero().flatten()
    if len(straddling):
        order = torch.sort(scores[straddling], dim=1, descending=True, stable=True).indices
        idx[straddling] = order[:, :k]
        values[straddling] = scores[straddling].gather(1, idx[straddling])
    # within the top k, equal scores by ascending index
    idx, perm = idx.sort(dim=1)
    values = values.gather(1, perm)
    return idx.gather(1, torch.sort(values, dim=1, descending=True, stable=True).indices)


def _exclude(scores: torch.Tensor, histories: list[np.ndarray]) -> None:
    import torch

    lengths = [len(h) for h in histories]
    if not sum(lengths):
        return
    rows = torch.from_numpy(np.repeat(np.arange(len(histories)), lengths))
    cols = torch.from_numpy(np.concatenate(histories))
    scores[rows, cols] = float("-inf")


def rank(
    score: ScoreFn,
    eval_set: EvalSet,
    k: int,
    *,
    exclude_history: bool = True,
    batch_size: int = 2048,
) -> np.ndarray:
    """Top-``k`` item indices ``[n_users, k]`` for every user of ``eval_set``."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(eval_set), batch_size):
            pos = np.arange(start, min(start + batch_size, len(eval_set)))
            histories = eval_set.history.take(pos)
            scores = score(histories, eval_set.users[pos]).float()
            if exclude_history:
                _exclude(scores, histories)
            out.append(top_k(scores, k).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def run_array(ranked: np.ndarray) -> np.ndarray:
    """ranx run array ``[n, k, 2]``: item index and score ``k - position``."""
    n, k = ranked.shape
    run = np.empty((n, k, 2), dtype=np.float64)
    run[:, :, 0] = ranked
    run[:, :, 1] = np.arange(k, 0, -1)
    return run


def qrels_array(targets: Sequences) -> np.ndarray:
    """ranx judgement array ``[n, max_rel, 2]``: distinct relevant items, relevance 1, padded."""
    rel = [np.unique(targets.get(i)) for i in range(len(targets))]
    width = max((len(r) for r in rel), default=1)
    qrels = np.zeros((len(rel), width, 2), dtype=np.float64)
    qrels[:, :, 0] = -1
    for i, r in enumerate(rel):
        qrels[i, : len(r), 0] = r
        qrels[i, : len(r), 1] = 1
    return qrels


def per_user_metrics(ranked: np.ndarray, targets: Sequences, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each metric's score per user (rows aligned with ``targets.users``)."""
    import ranx

    if len(ranked) == 0:
        return {n: np.zeros(0) for n in names}
    # ranx 0.3 returns a per-user array for one metric under a mangled key; asking for the
    # metric twice keeps the dict form.
    asked = list(names) if len(names) > 1 else [names[0], names[0]]
    result = ranx.evaluate(qrels_array(targets), run_array(ranked), asked, return_mean=False)
    return {n: np.asarray(result[n], dtype=np.float64) for n in names}


def evaluate(
    score: ScoreFn,
    eval_set: EvalSet,
    names: Sequence[str],
    *,
    exclude_history: bool = True,
    batch_size: int = 2048,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rank the full catalogue for ``eval_set`` and score it: ``(ranked, per-user metrics)``."""
    k = max(int(n.split("@")[1]) for n in names)
    ranked = rank(score, eval_set, k, exclude_history=exclude_history, batch_size=batch_size)
    return ranked, per_user_metrics(ranked, eval_set.targets, names)
