"""Resampling test users: a bootstrap CI of a mean gain, and Fisher's paired randomization test.

Both draw from ``np.random.default_rng(seed)``, so the same differences always give the same
answer, and both draw in chunks of at most :data:`CHUNK_VALUES` values, so memory stays bounded
for any number of users.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Bootstrap resamples (B), the confidence level and the generator's seed of :func:`bootstrap_ci`.
RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
#: Random values held at once (2 MiB of int64; a chunk holds at least one resample).
CHUNK_VALUES = 1 << 18


def _chunks(total: int, n: int) -> Iterator[tuple[int, int]]:
    """(start, size) of the chunks that draw ``total`` resamples of ``n`` values each."""
    step = max(1, CHUNK_VALUES // n)
    for start in range(0, total, step):
        yield start, min(step, total - start)


def _differences(diff: np.ndarray) -> np.ndarray:
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 1 or not len(d):
        raise ValueError(f"need a non-empty 1-d array of differences, got shape {d.shape}")
    return d


def bootstrap_ci(
    diff: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float]:
    """Percentile interval of the mean of ``diff`` (one treatment − control difference per user).

    Users are resampled with replacement, B = ``resamples`` (2,000) times; resampling the
    differences keeps each user's two scores together (a paired bootstrap). Zero differences
    (most users, for ranking metrics) add nothing to a resample's sum, so only draws that land on
    a non-zero one are made: of a resample's n draws, Binomial(n, m / n) land on the m non-zero
    differences, uniformly — the same distribution as drawing all n, at m / n of the cost.
    """
    d = _differences(diff)
    if resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need resamples >= 1 and 0 < level < 1, got {resamples} and {level}")
    n, nonzero = len(d), d[d != 0]
    if not len(nonzero):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    hits = rng.binomial(n, len(nonzero) / n, size=resamples)
    sums = np.empty(resamples)
    for start, k in _chunks(resamples, n):  # at most n hits per resample
        h = hits[start : start + k]
        values = nonzero[rng.integers(0, len(nonzero), size=int(h.sum()))]
        sums[start : start + k] = np.bincount(np.repeat(np.arange(k), h), weights=values, minlength=k)
    low, high = np.quantile(sums / n, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def randomization_p(diff: np.ndarray, *, permutations: int, seed: int) -> float:
    """Two-sided p-value of Fisher's paired randomization test that the mean of ``diff`` is 0.

    Each permutation swaps each user's two scores with probability ½ (flips the sign of their
    difference; zero differences are left out, flipping them changes nothing); p = (count + 1) /
    (permutations + 1), where count is the number of permutations whose absolute mean difference
    is at least the observed one (Phipson & Smyth 2010: never 0).
    """
    d = _differences(diff)
    if permutations < 1:
        raise ValueError("permutations must be at least 1")
    d = d[d != 0]
    observed = abs(d.sum()) - 1e-12 * max(1.0, float(np.abs(d).sum()))  # sums equal but for rounding count
    rng = np.random.default_rng(seed)
    count = 0
    for _, k in _chunks(permutations, max(1, len(d))):
        signs = rng.integers(0, 2, size=(k, len(d))) * 2 - 1
        count += int(np.sum(np.abs((signs * d).sum(axis=1)) >= observed))
    return (count + 1) / (permutations + 1)
