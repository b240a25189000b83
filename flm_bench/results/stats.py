"""Significance tests over per-user scores, and the multiple-comparison correction.

Two record sets are compared on one metric by pairing their per-user scores on ``(seed, user)``
(:func:`pair_scores`): the same test user under the same seed. Tests are ranx's
(``ranx.statistical_tests``): the two-sided paired Student t-test, and Fisher's randomization
test. ranx's randomization test returns the share of permutations at least as extreme as the
observed difference, which can be 0; :func:`paired_test` reports ``(count + 1) /
(permutations + 1)`` instead (Phipson & Smyth 2010), so a p-value is never exactly 0.
When several pairs are tested, p-values are adjusted with Holm–Bonferroni (:func:`holm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from flm_bench.errors import IncomparableError

StatTest = Literal["student", "fisher"]
TESTS: tuple[str, ...] = ("student", "fisher")
#: A difference is significant when its adjusted p-value is below this level.
ALPHA = 0.05
DEFAULT_PERMUTATIONS = 1000
DEFAULT_TEST_SEED = 42

#: users and scores of one seed: (users [n], scores [n])
SeedScores = tuple[np.ndarray, np.ndarray]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def pair_scores(
    control: Mapping[int, SeedScores],
    treatment: Mapping[int, SeedScores],
    seeds: Sequence[int] | None = None,
    *,
    names: tuple[str, str] = ("control", "treatment"),
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of both sides aligned on ``(seed, user)``, concatenated over ``seeds``.

    :param control: seed -> (users, scores) of the control.
    :param treatment: the same for the treatment.
    :param seeds: seeds to pool (default: those of ``control``; each must be on both sides).
    :param names: how the two sides are named in errors.
    :raises IncomparableError: when a seed is missing on one side, or a seed's users differ.
    """
    seeds = sorted(control) if seeds is None else list(seeds)
    xs, ys = [], []
    for seed in seeds:
        if seed not in control or seed not in treatment:
            side = names[0] if seed not in control else names[1]
            raise IncomparableError(f"{side} has no record for seed {seed}")
        (cu, cs), (tu, ts) = control[seed], treatment[seed]
        c_order, t_order = np.argsort(cu, kind="stable"), np.argsort(tu, kind="stable")
        if len(cu) != len(tu) or not np.array_equal(cu[c_order], tu[t_order]):
            only_c = np.setdiff1d(cu, tu)
            only_t = np.setdiff1d(tu, cu)
            raise IncomparableError(
                f"seed {seed}: the test users differ ({len(cu)} vs {len(tu)} users; "
                f"{len(only_c)} only in {names[0]}, {len(only_t)} only in {names[1]})"
            )
        xs.append(np.asarray(cs, dtype=np.float64)[c_order])
        ys.append(np.asarray(ts, dtype=np.float64)[t_order])
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def paired_test(
    control: np.ndarray,
    treatment: np.ndarray,
    test: StatTest = "student",
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_TEST_SEED,
) -> float:
    """Two-sided p-value of a paired test (ranx) that ``control`` and ``treatment`` have equal means.

    Identical scores (or fewer than two pairs) give 1.0; scores that differ by the same
    non-zero amount for every pair give 0.0 under the t-test.
    """
    x = np.ascontiguousarray(control, dtype=np.float64)
    y = np.ascontiguousarray(treatment, dtype=np.float64)
    if x.shape != y.shape:
        raise IncomparableError(f"paired test needs equally many scores, got {len(x)} and {len(y)}")
    diff = y - x
    if len(x) < 2 or not diff.any():
        return 1.0
    if test == "student":
        from ranx.statistical_tests import paired_student_t_test

        if np.all(diff == diff[0]):  # zero variance: scipy's t is ±inf or undefined
            return 0.0
        p, _ = paired_student_t_test(x, y)
        return float(p) if np.isfinite(p) else 1.0
    if test == "fisher":
        from ranx.statistical_tests import fisher_randomization_test

        if n_permutations < 1:
            raise ValueError("n_permutations must be at least 1")
        share, _ = fisher_randomization_test(x, y, n_permutations, 0.0, seed)
        count = round(float(share) * n_permutations)
        return (count + 1) / (n_permutations + 1)
    raise ValueError(f"unknown test {test!r}; expected one of {list(TESTS)}")
