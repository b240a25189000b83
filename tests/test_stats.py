"""Statistics at the unit of analysis, the test user: seed averaging, tests, bootstrap CI, per-seed gains."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ttest_rel, wilcoxon

from flm_bench.errors import IncomparableError
from flm_bench.results import resampling
from flm_bench.results.resampling import bootstrap_ci, randomization_p
from flm_bench.results.stats import Gain, SeedScores, distinct_seeds, measure_gain, paired_test, user_average
from flm_bench.results.summary import gain_json

USERS = np.array([4, 2, 9, 7])


def side(*vectors: list[float], users: np.ndarray = USERS, seeds: list[int] | None = None) -> dict[int, SeedScores]:
    """seed -> (users, scores): one score vector per seed (seeds 0, 1, … unless given)."""
    return {s: (users, np.array(v, dtype=np.float64)) for s, v in zip(seeds or range(len(vectors)), vectors)}


def test_t_test_and_wilcoxon_against_hand_computed_and_scipy_values() -> None:
    x = np.array([0.0, 0.0, 0.0])
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3), df = 2, whose two-sided p is 1 - t / sqrt(t² + 2)
    t = 2 * math.sqrt(3)
    assert paired_test(x, x + [1, 2, 3]) == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-12)
    # five positive differences: W− = 0, exact two-sided p = 2 / 2⁵
    assert paired_test(np.zeros(5), np.arange(1.0, 6.0), "wilcoxon") == pytest.approx(2 / 32, rel=1e-12)
    rng = np.random.default_rng(7)
    a = rng.random(300) * (rng.random(300) < 0.3)
    b = a + rng.normal(0.02, 0.1, 300) * (rng.random(300) < 0.5)  # many tied users, as with NDCG
    assert paired_test(a, b) == pytest.approx(ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_test(a, b, "wilcoxon") == pytest.approx(wilcoxon(a, b).pvalue, rel=1e-12)
    assert paired_test(a, a, "wilcoxon") == 1.0 and paired_test(a, a) == 1.0
    with pytest.raises(ValueError, match="unknown test 'sign'"):
        paired_test(a, b, "sign")  # type: ignore[arg-type]


def test_randomization_test_is_repeatable_and_matches_the_exact_test() -> None:
    diff = np.array([0.5, 0.25, -0.125, 0.5, 0.0, 0.25, 0.75])
    signs = np.array(np.meshgrid(*[[-1, 1]] * len(diff))).reshape(len(diff), -1).T  # all 2⁷ sign patterns
    exact = np.mean(np.abs((signs * diff).mean(axis=1)) >= abs(diff.mean()) - 1e-12)
    p = randomization_p(diff, permutations=20_000, seed=3)
    assert p == pytest.approx(exact, abs=0.01) and randomization_p(diff, permutations=20_000, seed=3) == p
    assert paired_test(np.zeros(7), diff, "fisher", n_permutations=20_000, seed=3) == p
    assert randomization_p(np.ones(40), permutations=99, seed=0) == 1 / 100  # never 0


def test_seeds_are_averaged_per_user_and_identical_seeds_count_once() -> None:
    v, w = [0.25, 0.0, 1.0, 0.5], [0.75, 0.5, 0.0, 0.5]
    assert distinct_seeds({0: np.array(v), 1: np.array(w), 2: np.array(v)}) == {0: 0, 1: 1, 2: 0}
    users, means = user_average(side(v, w, v))
    assert users.tolist() == [2, 4, 7, 9]  # sorted ids; scores follow their users
    assert means.tolist() == [0.25, 0.5, 0.5, 0.5]  # (v + w) / 2, not (2v + w) / 3
    shuffled = {0: (USERS[::-1], np.array(v[::-1])), 1: (USERS, np.array(w))}
    assert user_average(shuffled)[1].tolist() == means.tolist()  # paired by user id, not by position


def test_gain_reports_relative_gain_seed_spread_and_seeds_agreeing() -> None:
    control = side([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5])  # deterministic
    treatment = side([0.5, 1.0, 1.0, 0.5], [0.5, 0.5, 0.75, 0.5], [0.25, 0.5, 0.5, 0.5])
    g = measure_gain(control, treatment)
    assert g.per_seed == pytest.approx((0.25, 0.0625, -0.0625)) and g.seeds == (0, 1, 2)
    assert g.mean == pytest.approx(0.25 / 3) and g.control == 0.5 and g.relative == pytest.approx(100 * 0.25 / 3 / 0.5)
    assert g.seed_std == pytest.approx(np.std([0.25, 0.0625, -0.0625], ddof=1))  # ddof = 1, not 0
    assert g.agreeing == 2 and g.users == 4
    assert g.ci[0] <= g.mean <= g.ci[1]
    assert g.p_value == pytest.approx(ttest_rel(np.full(4, 0.5), [1.25 / 3, 2 / 3, 2.25 / 3, 0.5]).pvalue)

    one = measure_gain(side([0.5, 0.5, 0.5, 0.5]), side([1.0, 0.5, 0.5, 0.5]))
    assert one.per_seed == (0.125,) and one.seed_std is None and one.agreeing == 1
    assert measure_gain(side([0.0] * 4), side([0.5] * 4)).relative is None  # no % of a zero control


def test_seeds_need_not_match_but_users_must() -> None:
    control = side([0.5, 0.0, 1.0, 0.5], [0.5, 0.0, 0.0, 0.5], seeds=[0, 1])
    treatment = side([1.0, 0.5, 1.0, 0.5], [1.0, 0.5, 0.5, 0.5], seeds=[1, 2])
    g = measure_gain(control, treatment)
    assert g.seeds == (1,) and g.per_seed == pytest.approx((0.5,))  # per-seed gains: seeds on both sides
    assert g.mean == pytest.approx(np.mean([1.0, 0.5, 0.75, 0.5]) - np.mean([0.5, 0.0, 0.5, 0.5]))
    assert measure_gain(control, side([0.5] * 4, seeds=[5])).seeds == ()

    deterministic = measure_gain(side([0.5] * 4, [0.5] * 4), side([1.0] * 4, [1.0] * 4))
    assert deterministic.seeds == (0,) and deterministic.agreeing == 1  # two identical pairs: one seed

    other = {0: (np.array([4, 2, 9, 8]), np.zeros(4))}
    with pytest.raises(
        IncomparableError, match=r"seed 0: the test users differ \(4 vs 4 users; 1 only in a, 1 only in b"
    ):
        measure_gain(control, other, names=("a", "b"))
    fewer = {**control, 1: (USERS[:3], np.zeros(3))}
    with pytest.raises(IncomparableError, match=r"seed 1: the test users differ \(4 vs 3 users; 1 only in a seed 0"):
        measure_gain(fewer, treatment, names=("a", "b"))
    with pytest.raises(IncomparableError, match="b has no records"):
        measure_gain(control, {}, names=("a", "b"))


def test_bootstrap_ci_is_deterministic_contains_the_mean_and_narrows_with_more_users(monkeypatch) -> None:
    rng = np.random.default_rng(11)
    diff = rng.normal(0.01, 0.2, 500) * (rng.random(500) < 0.4)
    low, high = bootstrap_ci(diff)
    assert low < diff.mean() < high and bootstrap_ci(diff) == (low, high)
    assert bootstrap_ci(diff, seed=1) != (low, high)  # the fixed seed is what makes it repeatable
    more = np.tile(diff, 16)  # the same differences, 16 times the users: about a quarter as wide
    m_low, m_high = bootstrap_ci(more)
    assert m_low < more.mean() < m_high and (m_high - m_low) < 0.4 * (high - low)
    assert bootstrap_ci(np.full(50, 0.125)) == (0.125, 0.125) and bootstrap_ci(np.zeros(9)) == (0.0, 0.0)
    # drawing only the non-zero differences is the plain bootstrap, in distribution
    plain = diff[np.random.default_rng(5).integers(0, len(diff), size=(20_000, len(diff)))].mean(axis=1)
    wide = bootstrap_ci(diff, resamples=20_000)
    assert wide == pytest.approx(tuple(np.quantile(plain, [0.025, 0.975])), abs=0.03 * (high - low))
    monkeypatch.setattr(resampling, "CHUNK_VALUES", 7)  # one resample per chunk: the same interval
    assert bootstrap_ci(diff) == (low, high)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci(np.zeros(0))


def test_gain_json_shape() -> None:
    g = Gain(mean=0.0115, control=0.039, ci=(0.0064, 0.0171), p_value=4e-5, users=943, seeds=(0, 1, 2),
             per_seed=(0.0375, 0.0026, -0.0057))  # fmt: skip
    data = gain_json(g, 0.0039, True)
    assert data == {
        "mean": 0.0115,
        "relative_percent": pytest.approx(29.487, abs=1e-3),
        "ci95": [0.0064, 0.0171],
        "p_holm": 0.0039,
        "significant": True,
        "users": 943,
        "per_seed": {"seeds": [0, 1, 2], "gains": [0.0375, 0.0026, -0.0057], "std": 0.022924, "agreeing": 2},
    }


# ----------------------------------------------------------------------------------- property


@st.composite
def two_sides(draw: st.DrawFn) -> tuple[dict[int, SeedScores], dict[int, SeedScores]]:
    """Two sides over the same users, 1–3 seeds each; scores from a few levels, so users tie."""
    n = draw(st.integers(3, 25))
    users = np.array(draw(st.permutations(range(100, 100 + n))))
    level = st.sampled_from([0.0, 0.0, 0.25, 1 / 3, 0.5, 1.0])

    def one_side() -> dict[int, SeedScores]:
        seeds = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True))
        return {s: (users, np.array(draw(st.lists(level, min_size=n, max_size=n)))) for s in seeds}

    return one_side(), one_side()


def _duplicated(sides, on_treatment: bool, pick: int):
    """Both sides, one of them with a new seed whose per-user scores repeat one of its seeds."""
    control, treatment = sides
    target = dict(treatment if on_treatment else control)
    copied = sorted(target)[pick % len(target)]
    target[max(target) + 1] = target[copied]
    return (control, target) if on_treatment else (target, treatment)


def _check_duplicate_never_lowers_p(sides, on_treatment: bool, pick: int, test: str) -> None:
    before = measure_gain(*sides, test, n_permutations=50)  # type: ignore[arg-type]
    after = measure_gain(*_duplicated(sides, on_treatment, pick), test, n_permutations=50)  # type: ignore[arg-type]
    assert after.p_value >= before.p_value
    assert (after.mean, after.ci, after.relative) == (before.mean, before.ci, before.relative)


@settings(max_examples=60, deadline=None)
@given(two_sides(), st.booleans(), st.integers(0, 2), st.sampled_from(["student", "wilcoxon"]))
def test_duplicating_an_identical_seed_never_lowers_a_p_value(sides, on_treatment: bool, pick: int, test) -> None:
    _check_duplicate_never_lowers_p(sides, on_treatment, pick, test)


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(two_sides(), st.booleans(), st.integers(0, 2))
def test_duplicating_an_identical_seed_never_lowers_a_randomization_p_value(sides, on_treatment, pick) -> None:
    _check_duplicate_never_lowers_p(sides, on_treatment, pick, "fisher")
