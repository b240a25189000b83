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

from flm_bench.data.splits import EvalSet, Sequences
from flm_bench.errors import ConfigError

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


def depth(names: Sequence[str]) -> int:
    """How many items a ranked list needs for metrics ``names``: their largest cutoff."""
    return max(int(n.split("@")[1]) for n in names)


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, k]`` of the best-scoring items: score descending, then index ascending."""
    import torch

    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        return torch.zeros((scores.shape[0], 0), dtype=torch.long, device=scores.device)
    # one extra place shows whether the k-th score is tied with an item left out
    values, idx = torch.topk(scores, min(k + 1, n), dim=1)
    if torch.isnan(values).any():  # topk ranks NaN first, so a NaN anywhere shows up here
        raise ValueError("model produced NaN scores")
    if values.shape[1] > k:
        straddling = (values[:, k] == values[:, k - 1]).nonzero().flatten()
        values, idx = values[:, :k].contiguous(), idx[:, :k].contiguous()
        if len(straddling):
            _resolve_straddling(scores, values, idx, straddling)
    # within the top k, equal scores by ascending index
    idx, perm = idx.sort(dim=1)
    values = values.gather(1, perm)
    return idx.gather(1, torch.sort(values, dim=1, descending=True, stable=True).indices)


def _resolve_straddling(
    scores: torch.Tensor,
    values: torch.Tensor,
    idx: torch.Tensor,
    rows: torch.Tensor,
    chunk: int = 512,
) -> None:
    """Exact top k (in place) for ``rows`` whose k-th score ties with items outside the top k.

    Such a row's top k is every item scoring above the k-th score (fewer than k of them,
    already in ``idx``) and then the lowest-index items equal to it. An integer key that is
    2n for the former, ``n - index`` for the latter and 0 otherwise gives that set with one
    ``topk`` (a linear pass) instead of a full stable sort of the row.
    """
    import torch

    n, k = scores.shape[1], idx.shape[1]
    dtype = torch.int32 if 2 * n < 2**31 else torch.int64
    descending = torch.arange(n, 0, -1, dtype=dtype, device=scores.device)
    for start in range(0, len(rows), chunk):
        r = rows[start : start + chunk]
        sub, val, top = scores[r], values[r], idx[r]
        kth = val[:, k - 1 :]
        key = torch.where(sub == kth, descending, 0)
        key.scatter_(1, top, torch.where(val > kth, 2 * n, key.gather(1, top)))
        chosen = torch.topk(key, k, dim=1).indices
        idx[r] = chosen
        values[r] = sub.gather(1, chosen)


def _exclude_range(scores: torch.Tensor, history: Sequences, start: int, stop: int) -> None:
    """Set the scores of users ``start:stop``'s history items to -inf (straight from the CSR arrays)."""
    import torch

    lo, hi = int(history.indptr[start]), int(history.indptr[stop])
    if hi == lo:
        return
    rows = np.repeat(np.arange(stop - start), np.diff(history.indptr[start : stop + 1]))
    cols = history.items[lo:hi]
    scores[torch.from_numpy(rows).to(scores.device), torch.from_numpy(cols).to(scores.device)] = float("-inf")


def rank_batch(scores: torch.Tensor, k: int, history: Sequences | None = None, start: int = 0) -> np.ndarray:
    """Top-``k`` item indices ``[B, k]`` of one batch of scores ``[B, n_items]``.

    With ``history``, the items of its users ``start : start + B`` (aligned with the rows of
    ``scores``) are excluded first, by setting their scores to -inf in place: pass a tensor
    that nothing else needs (``scores.detach().clone()`` when its graph is still used).
    Then :func:`top_k`'s tie rule. :func:`rank` and the prequential stream
    (:mod:`flm_bench.train.online`) both rank through here.
    """
    scores = scores.float()
    if history is not None:
        _exclude_range(scores, history, start, start + scores.shape[0])
    return top_k(scores, k).cpu().numpy()


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
            stop = min(start + batch_size, len(eval_set))
            histories = eval_set.history.take(np.arange(start, stop))
            scores = score(histories, eval_set.users[start:stop].copy())
            out.append(rank_batch(scores, k, eval_set.history if exclude_history else None, start))
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
    n = len(targets)
    lengths = targets.lengths()
    items = targets.items[int(targets.indptr[0]) : int(targets.indptr[-1])] if n else targets.items[:0]
    owner = np.repeat(np.arange(n), lengths)
    order = np.lexsort((items, owner))  # per user, items ascending (as np.unique gives)
    owner, items = owner[order], items[order]
    keep = np.ones(len(items), dtype=bool)
    keep[1:] = (owner[1:] != owner[:-1]) | (items[1:] != items[:-1])
    owner, items = owner[keep], items[keep]
    counts = np.bincount(owner, minlength=n)
    width = int(counts.max()) if n else 1
    qrels = np.zeros((n, width, 2), dtype=np.float64)
    qrels[:, :, 0] = -1
    col = np.arange(len(items)) - np.repeat(np.cumsum(counts) - counts, counts)
    qrels[owner, col, 0] = items
    qrels[owner, col, 1] = 1
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
    k = depth(names)
    ranked = rank(score, eval_set, k, exclude_history=exclude_history, batch_size=batch_size)
    return ranked, per_user_metrics(ranked, eval_set.targets, names)
