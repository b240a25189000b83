"""Transfer gains with the test user as the unit of analysis, and the multiple-comparison correction.

Seeds re-use the same test users, so one user is never counted once per seed. Each side's
per-user scores are averaged over its seeds (:func:`user_average`); a seed whose per-user scores
are identical to another seed's counts once, so a deterministic model run under several seeds
is one sample, not several. The two sides are then tested paired across users
(:func:`paired_test`): the two-sided paired Student t-test (the default; scipy's ``ttest_rel``,
which ranx's t-test calls too), the Wilcoxon signed-rank test (scipy; users whose two scores tie
are dropped, Wilcoxon's rule) or Fisher's randomization test
(:func:`~flm_bench.results.resampling.randomization_p`: numpy, seeded, so repeatable; ranx's
parallel version seeds only one thread and is not).

:func:`measure_gain` reports a :class:`Gain`: the mean gain, its relative size, a 95% CI from a
paired bootstrap over users (:func:`~flm_bench.results.resampling.bootstrap_ci`), the raw p-value, and the
per-seed gains of the seeds both sides have. When several gains are tested, p-values are
adjusted with Holm–Bonferroni (:func:`holm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from flm_bench.errors import IncomparableError
from flm_bench.results.resampling import bootstrap_ci, randomization_p

StatTest = Literal["student", "wilcoxon", "fisher"]
TESTS: tuple[str, ...] = ("student", "wilcoxon", "fisher")
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


# ------------------------------------------------------------------------------- users and seeds


def _by_user(side: Mapping[int, SeedScores], users: np.ndarray, names: tuple[str, str]) -> dict[int, np.ndarray]:
    """seed -> scores in the order of ``users`` (sorted ids of ``names[0]``'s test users).

    :raises IncomparableError: when a seed of ``names[1]`` was evaluated on other test users.
    """
    out = {}
    for seed in sorted(side):
        su, scores = side[seed]
        order = np.argsort(su, kind="stable")
        if len(su) != len(users) or not np.array_equal(su[order], users):
            only_a, only_b = np.setdiff1d(users, su), np.setdiff1d(su, users)
            raise IncomparableError(
                f"seed {seed}: the test users differ ({len(users)} vs {len(su)} users; "
                f"{len(only_a)} only in {names[0]}, {len(only_b)} only in {names[1]})"
            )
        out[seed] = np.asarray(scores, dtype=np.float64)[order]
    return out


def _users(side: Mapping[int, SeedScores], name: str) -> np.ndarray:
    """The sorted test users of ``side``'s first seed."""
    if not side:
        raise IncomparableError(f"{name} has no records")
    return np.sort(side[min(side)][0], kind="stable")


def _within(side: Mapping[int, SeedScores], name: str) -> tuple[str, str]:
    """How :func:`_by_user` names the first seed of ``side`` and ``side`` when checking its own seeds."""
    return f"{name} seed {min(side)}", name


def distinct_seeds(scores: Mapping[int, np.ndarray]) -> dict[int, int]:
    """seed -> the first seed (in order) whose score vector is identical to this seed's."""
    out: dict[int, int] = {}
    for seed in sorted(scores):
        out[seed] = next((s for s in dict.fromkeys(out.values()) if np.array_equal(scores[s], scores[seed])), seed)
    return out


def _mean_over_seeds(scores: Mapping[int, np.ndarray]) -> np.ndarray:
    """Per-user mean over the distinct score vectors of ``scores`` (seed -> aligned scores)."""
    return np.mean([scores[s] for s in sorted(set(distinct_seeds(scores).values()))], axis=0)


def user_average(side: Mapping[int, SeedScores], name: str = "record set") -> tuple[np.ndarray, np.ndarray]:
    """(sorted test users, each user's score averaged over the seeds; identical seeds count once).

    :raises IncomparableError: no seed, or seeds evaluated on different test users.
    """
    users = _users(side, name)
    return users, _mean_over_seeds(_by_user(side, users, _within(side, name)))


# ------------------------------------------------------------------------------------------ tests


def paired_test(
    control: np.ndarray,
    treatment: np.ndarray,
    test: StatTest = "student",
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_TEST_SEED,
) -> float:
    """Two-sided p-value of a paired test that ``control`` and ``treatment`` (one score per user) agree.

    Identical scores (or fewer than two users) give 1.0; scores that differ by the same
    non-zero amount for every user give 0.0 under the t-test.
    """
    x = np.ascontiguousarray(control, dtype=np.float64)
    y = np.ascontiguousarray(treatment, dtype=np.float64)
    if x.shape != y.shape:
        raise IncomparableError(f"paired test needs equally many scores, got {len(x)} and {len(y)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {list(TESTS)}")
    diff = y - x
    if len(x) < 2 or not diff.any():
        return 1.0
    if test == "fisher":
        return randomization_p(diff, permutations=n_permutations, seed=seed)
    if test == "wilcoxon":
        from scipy.stats import wilcoxon

        p = wilcoxon(x, y, zero_method="wilcox", alternative="two-sided").pvalue
    else:
        from scipy.stats import ttest_rel

        if np.all(diff == diff[0]):  # zero variance: scipy's t is ±inf or undefined
            return 0.0
        p = ttest_rel(x, y, alternative="two-sided").pvalue
    return float(p) if np.isfinite(p) else 1.0


# ------------------------------------------------------------------------------------------ gains


@dataclass(frozen=True)
class Gain:
    """treatment − control on one metric, the test user as the unit.

    ``mean``: mean over users of the difference of their seed-averaged scores; ``control``: the
    control's mean; ``ci``: 95% paired bootstrap CI of ``mean``; ``p_value``: raw two-sided
    p-value of the paired test across users; ``seeds``/``per_seed``: the seeds both sides have
    (a seed identical on both sides to an earlier one is left out) and their gains.
    """

    mean: float
    control: float
    ci: tuple[float, float]
    p_value: float
    users: int
    seeds: tuple[int, ...] = ()
    per_seed: tuple[float, ...] = ()

    @property
    def relative(self) -> float | None:
        """The gain in % of the control's mean (None when that is 0)."""
        return 100.0 * self.mean / self.control if self.control else None

    @property
    def seed_std(self) -> float | None:
        """Standard deviation (ddof = 1) of the per-seed gains; None for fewer than two."""
        return float(np.std(self.per_seed, ddof=1)) if len(self.per_seed) > 1 else None

    @property
    def agreeing(self) -> int:
        """How many per-seed gains have the sign of the mean gain."""
        return int(np.sum(np.sign(self.per_seed) == np.sign(self.mean)))


def _per_seed(control: dict[int, np.ndarray], treatment: dict[int, np.ndarray]) -> dict[int, float]:
    """seed -> gain, for the seeds both sides have; a (control, treatment) pair identical to an
    earlier seed's (a deterministic pair of models) counts once."""
    c_first, t_first = distinct_seeds(control), distinct_seeds(treatment)
    out: dict[int, float] = {}
    seen: set[tuple[int, int]] = set()
    for seed in sorted(set(control) & set(treatment)):
        if (c_first[seed], t_first[seed]) not in seen:
            seen.add((c_first[seed], t_first[seed]))
            out[seed] = float(treatment[seed].mean() - control[seed].mean())
    return out


def measure_gain(
    control: Mapping[int, SeedScores],
    treatment: Mapping[int, SeedScores],
    test: StatTest = "student",
    *,
    names: tuple[str, str] = ("control", "treatment"),
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_TEST_SEED,
) -> Gain:
    """The gain of ``treatment`` over ``control`` (each: seed -> (users, per-user scores)).

    Seeds need not match: each side is averaged per user over its own seeds; only the per-seed
    gains pair seeds, those both sides have. ``names`` name the sides in errors.

    :raises IncomparableError: a side without seeds, or a seed evaluated on other test users than
        the control's first seed.
    """
    users = _users(control, names[0])
    if not len(users):
        raise IncomparableError(f"{names[0]} has no test users")
    if not treatment:
        raise IncomparableError(f"{names[1]} has no records")
    c, t = _by_user(control, users, _within(control, names[0])), _by_user(treatment, users, names)
    x, y = _mean_over_seeds(c), _mean_over_seeds(t)
    per_seed = _per_seed(c, t)
    return Gain(
        mean=float(np.mean(y - x)),
        control=float(np.mean(x)),
        ci=bootstrap_ci(y - x),
        p_value=paired_test(x, y, test, n_permutations=n_permutations, seed=seed),
        users=len(users),
        seeds=tuple(per_seed),
        per_seed=tuple(per_seed.values()),
    )
