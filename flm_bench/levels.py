"""Reference levels of an evaluation: what a uniformly random ranking and popularity score on
exactly the cell's test users, candidates and history rule, and the cutoffs a small catalogue adds.

``random`` is the exact expectation of each metric under a uniformly random order of a user's
candidates (the catalogue less the distinct items of the user's history when history is excluded;
the whole catalogue otherwise), averaged over users. The harness ranks excluded items last, by
ascending index (their scores are -inf, :func:`flm_bench.evaluation.top_k`'s tie rule), so when a
cutoff exceeds a user's candidates the positions after them hold the excluded items in that fixed
order, and a relevant item among them counts as ranx counts it. With ``n`` candidates, ``r`` of them
relevant, ``R`` relevant items in all and ``m = min(k, n)``, by linearity of expectation a candidate
position holds a relevant item with probability ``r/n``, so

- ``hits@k`` (recall = hits/R, precision = hits/k) has expectation ``m·r/n`` plus the fixed tail;
- ``DCG@k`` has ``(r/n)·Σ_{i≤m} 1/log2(i+1)`` plus the tail, divided by ranx's fixed IDCG@k;
- ``hit_rate@k`` is ``1 − Π_{j<m} (n−r−j)/(n−j)`` (no relevant item in the first m);
- ``mrr@k`` is ``Σ_{i≤m} P(first relevant at i)/i``, ``P = q_{i−1}·r/(n−i+1)`` with ``q`` as above;
- ``map@k`` (ranx: Σ over relevant ranked items of precision there, divided by R) is
  ``(1/R)·Σ_{i≤m} (1/i)·(r/n + (i−1)·r(r−1)/(n(n−1)))`` plus the tail, because
  ``E[rel_i·Σ_{j≤i} rel_j] = P(rel_i) + (i−1)·P(rel_i ∧ rel_j)``.

Every metric of :data:`flm_bench.evaluation.METRICS` has its random level.

``popularity`` ranks by training-interaction count (:func:`popularity_counts`, the ``popularity``
baseline's scores) with the harness's tie rule and history exclusion (:func:`popularity_ranking`, one
shared order instead of a full ranking per user), scored by the same ranx metrics as the cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flm_bench.data.splits import EvalSet, Sequences, Split
from flm_bench.evaluation import depth, per_user_metrics, qrels_array

#: A catalogue with fewer items than this is evaluated at :data:`SCALED_CUTOFFS` too.
SMALL_CATALOGUE = 50
SCALED_CUTOFFS = (1, 3)


def scaled_cutoffs(n_items: int, cutoffs: Sequence[int]) -> list[int]:
    """The cutoffs a catalogue of ``n_items`` adds to ``cutoffs``: @1 and @3 below :data:`SMALL_CATALOGUE`."""
    return [k for k in SCALED_CUTOFFS if k not in cutoffs] if n_items < SMALL_CATALOGUE else []


def popularity_counts(train: Sequences, n_items: int) -> np.ndarray:
    """Each item's number of training interactions (float32): the ``popularity`` baseline's scores."""
    return np.bincount(train.items, minlength=n_items).astype(np.float32)


def popularity_ranking(counts: np.ndarray, eval_set: EvalSet, k: int, *, exclude_history: bool) -> np.ndarray:
    """Top-``k`` items ``[users, min(k, n_items)]`` by ``counts``, exactly as :func:`~flm_bench.evaluation.rank`
    ranks a model whose scores are ``counts`` for everyone, without scoring the catalogue per user.

    Every user shares one order (count descending, then index ascending: the tie rule). A user's j-th
    candidate (0-based) is at position ``j + c`` of it, ``c`` the number of the user's history items
    at sorted positions ``s_i`` with ``s_i − i ≤ j``; when history is excluded and the candidates run
    out, the excluded items follow by ascending index (their -inf scores tie).
    """
    n_items, users = len(counts), len(eval_set)
    length = min(k, n_items)
    order = np.lexsort((np.arange(n_items), -counts.astype(np.float64)))
    if not exclude_history:
        return np.broadcast_to(order[:length], (users, length)).copy()
    owner, items = _distinct_pairs(eval_set.history)
    first = np.searchsorted(owner, np.arange(users))  # each user's first (owner, item) pair
    where = np.empty(n_items, dtype=np.int64)
    where[order] = np.arange(n_items)
    by_position = np.lexsort((where[items], owner))
    shifted = where[items][by_position] - (np.arange(len(owner)) - first[owner])  # nondecreasing per user
    span = n_items + length + 1  # keys of different users never interleave
    j = np.arange(length)
    c = np.searchsorted(owner * span + shifted, np.arange(users)[:, None] * span + j, side="right") - first[:, None]
    candidates = n_items - np.bincount(owner, minlength=users)
    inside = j < candidates[:, None]
    ranked = np.empty((users, length), dtype=np.int64)
    ranked[inside] = order[(j + c)[inside]]
    ranked[~inside] = items[(first[:, None] + j - candidates[:, None])[~inside]]
    return ranked


def popularity_levels(
    train: Sequences, eval_set: EvalSet, n_items: int, names: Sequence[str], *, exclude_history: bool
) -> dict[str, float]:
    """Each metric's mean over ``eval_set``'s users when items are ranked by :func:`popularity_counts`."""
    ranked = popularity_ranking(
        popularity_counts(train, n_items), eval_set, depth(names), exclude_history=exclude_history
    )
    per_user = per_user_metrics(ranked, eval_set.targets, names)
    return {n: float(v.mean()) if len(v) else 0.0 for n, v in per_user.items()}


def split_levels(
    split: Split, names: Sequence[str], *, exclude_history: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """The random and popularity levels of ``names`` on ``split``'s test users (a record's ``levels``)."""
    test, n = split.test, split.n_items
    return (
        random_levels(test, n, names, exclude_history=exclude_history),
        popularity_levels(split.train, test, n, names, exclude_history=exclude_history),
    )


def _distinct_pairs(seqs: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """(owner row, item) of every distinct item of each sequence, sorted by owner then item."""
    lo, hi = int(seqs.indptr[0]), int(seqs.indptr[-1])
    owner = np.repeat(np.arange(len(seqs)), seqs.lengths())
    items = seqs.items[lo:hi].astype(np.int64)
    order = np.lexsort((items, owner))
    owner, items = owner[order], items[order]
    keep = np.ones(len(items), dtype=bool)
    keep[1:] = (owner[1:] != owner[:-1]) | (items[1:] != items[:-1])
    return owner[keep], items[keep]


def _users(
    eval_set: EvalSet, n_items: int, length: int, exclude_history: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per user: candidates ``n``, relevant items ``R``, relevant candidates ``r``, and the tail
    ``[users, length]`` (1 where a position after the candidates holds a relevant excluded item)."""
    users = len(eval_set)
    qrels = qrels_array(eval_set.targets)
    relevant = qrels[:, :, 1] > 0
    total = relevant.sum(1).astype(np.float64)
    tail = np.zeros((users, length))
    if not exclude_history:
        return np.full(users, float(n_items)), total, total, tail
    owner, items = _distinct_pairs(eval_set.history)
    targets = np.where(relevant, np.arange(users)[:, None] * n_items + qrels[:, :, 0].astype(np.int64), -1)
    seen = owner * n_items + items
    n = n_items - np.bincount(owner, minlength=users).astype(np.float64)
    in_history = np.isin(targets, seen) & relevant
    # excluded items follow the candidates by ascending index: the j-th (0-based) at position n + j
    position = n[owner].astype(np.int64) + np.arange(len(owner)) - np.searchsorted(owner, owner)
    hit = np.isin(seen, targets[relevant]) & (position < length)
    tail[owner[hit], position[hit]] = 1.0
    return n, total, total - in_history.sum(1), tail


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _expected(family: str, k: int, n: np.ndarray, total: np.ndarray, r: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Per user: the metric's expectation at cutoff ``k`` under a random order of the candidates."""
    kk = min(k, tail.shape[1])
    i = np.arange(1, kk + 1, dtype=np.float64)
    cand = i[None, :] <= n[:, None]  # positions 1..min(kk, n) hold candidates
    t = tail[:, :kk]
    expected_rel = cand * _ratio(r, n)[:, None] + t
    discount = 1.0 / np.log2(i + 1)
    if family in ("recall", "precision"):
        hits = expected_rel.sum(1)
        return _ratio(hits, total) if family == "recall" else hits / k
    if family == "ndcg":
        ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1))])
        return _ratio(expected_rel @ discount, ideal[np.minimum(total, k).astype(np.int64)])
    # q[:, i-1]: no relevant candidate in the first i positions
    factors = np.where(cand, np.clip(_ratio(n[:, None] - r[:, None] - (i - 1), n[:, None] - (i - 1)), 0, 1), 1.0)
    q = np.cumprod(factors, axis=1)
    no_candidate = (r == 0)[:, None]
    if family == "hit_rate":
        return np.where(r > 0, 1.0 - q[:, -1], t.any(1)) if kk else np.zeros(len(n))
    if family == "mrr":
        before = np.concatenate([np.ones((len(n), 1)), q[:, :-1]], axis=1)
        first = cand * before * _ratio(r[:, None], n[:, None] - (i - 1)) / i
        first_tail = np.where(no_candidate & (np.cumsum(t, 1) == 1) & (t > 0), 1.0 / i, 0.0)
        return first.sum(1) + first_tail.sum(1)
    pair = _ratio(r * (r - 1), n * (n - 1))
    ap = (cand * (_ratio(r, n)[:, None] + (i - 1) * pair[:, None]) / i).sum(1)
    ap += (t * (r[:, None] + np.cumsum(t, 1)) / i).sum(1)
    return _ratio(ap, total)


def random_levels(eval_set: EvalSet, n_items: int, names: Sequence[str], *, exclude_history: bool) -> dict[str, float]:
    """Each metric's exact expectation under a uniformly random ranking, averaged over users."""
    cutoffs = {n: int(n.split("@")[1]) for n in names}
    length = min(depth(names), n_items)  # the ranked list's length (see top_k)
    n, total, r, tail = _users(eval_set, n_items, length, exclude_history)
    return {
        name: float(_expected(name.split("@")[0], k, n, total, r, tail).mean()) if len(n) else 0.0
        for name, k in cutoffs.items()
    }
