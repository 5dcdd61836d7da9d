"""The statistics of every comparison, on fixed tables, against hand computations and published values."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regstudy import significance
from regstudy.significance import Comparison, paired

FIRST = np.array([0.912, 0.931, 0.925, 0.940, 0.918])
SECOND = np.array([0.901, 0.920, 0.926, 0.925, 0.910])


def test_the_paired_t_test_is_the_textbook_statistic_on_the_differences():
    comparison = paired(FIRST, SECOND, ("a", "b"))
    differences = FIRST - SECOND
    t = differences.mean() / (differences.std(ddof=1) / math.sqrt(len(differences)))
    assert comparison.p_t == pytest.approx(2 * stats.t.sf(abs(t), len(differences) - 1))
    assert comparison.mean_difference == pytest.approx(differences.mean())
    assert comparison.effect == pytest.approx(differences.mean() / differences.std(ddof=1))
    assert comparison.low < comparison.mean_difference < comparison.high


def test_wilcoxon_is_exact_and_drops_zero_differences():
    # Four positive differences of distinct sizes and one zero: the zero is dropped, and the exact two-sided
    # p-value is the chance that four fair signs all agree, 2 / 2**4.
    first = np.array([0.95, 0.94, 0.93, 0.92, 0.90])
    second = np.array([0.94, 0.92, 0.90, 0.88, 0.90])
    assert paired(first, second).p_wilcoxon == pytest.approx(2 / 2**4)


def test_one_seed_cannot_conclude_and_identical_seeds_show_no_difference():
    single = paired(np.array([0.9]), np.array([0.8]), ("a", "b"))
    assert single.verdict == "cannot conclude: one seed" and math.isnan(single.p_t)
    same = paired(FIRST, FIRST, ("a", "b"))
    assert same.verdict == "no difference at any seed" and same.mean_difference == 0


def test_a_noisy_difference_is_called_noise_and_says_how_many_seeds_would_show_it():
    comparison = paired(np.array([0.91, 0.90, 0.93]), np.array([0.90, 0.91, 0.91]), ("a", "b"))
    assert comparison.p_t > 0.05
    assert comparison.verdict == (
        f"not distinguishable from noise at 3 seeds (it could detect {comparison.detectable:.3g} or more); "
        f"about {comparison.seeds_needed} seeds would show this one"
    )


def test_the_smallest_detectable_difference_has_the_planned_power_by_the_noncentral_t():
    """The reference is scipy's noncentral t distribution: a paired t-test over n pairs with differences of
    standard deviation s detects a mean difference D with power P(|T| > t_crit), T ~ nct(n − 1, D·√n / s)."""
    differences = FIRST - SECOND
    comparison = paired(FIRST, SECOND)
    n, spread = len(differences), differences.std(ddof=1)
    critical = stats.t.ppf(1 - significance.ALPHA / 2, n - 1)
    shift = comparison.detectable * math.sqrt(n) / spread
    power = stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift)
    assert power == pytest.approx(significance.POWER, abs=1e-4)
    # Corrected for 10 comparisons, Holm's first level is 0.005: a larger difference is needed to be seen.
    corrected = significance.holm([comparison] * 10)[0]
    assert corrected.detectable > comparison.detectable


@pytest.mark.parametrize("seeds", [3, 6])
def test_the_same_difference_at_every_seed_is_an_exact_sign_test_not_a_huge_effect(seeds):
    """Two methods that err on the same examples at every seed (as l2 and label smoothing did): the spread of
    the differences is rounding, so there is no effect size; the exact test is the sign test (scipy's
    `binomtest`), p = 2 / 2**seeds, which needs 6 seeds to reach 0.05."""
    first = 0.9 + np.arange(seeds) * 1e-3
    second = first - 0.01 + np.arange(seeds) * 1e-12  # one hundredth less at every seed, up to rounding
    comparison = paired(first, second, ("l2", "label_smoothing"))
    assert comparison.constant and math.isnan(comparison.effect)
    assert comparison.p_t == pytest.approx(stats.binomtest(seeds, seeds, 0.5).pvalue) == pytest.approx(2 / 2**seeds)
    if seeds == 3:
        assert comparison.verdict.startswith("the same difference at each of 3 seeds: too few for an exact sign")
    else:
        assert comparison.verdict == "l2 is better"


def test_seeds_needed_matches_cohens_table_for_a_medium_effect():
    # Cohen (1988) and G*Power: a paired t-test needs 34 pairs for d_z = 0.5 at α = 0.05 (two-sided), power 0.8.
    assert significance.seeds_needed(0.5) == 34
    assert significance.seeds_needed(-0.5) == 34
    assert significance.seeds_needed(0.0) is None
    # Large effects need few seeds, never fewer than the two a paired test needs, and fewer as they grow.
    assert 2 <= significance.seeds_needed(25.0) <= significance.seeds_needed(2.0) < significance.seeds_needed(1.0)


def test_holm_multiplies_the_sorted_p_values_by_the_remaining_count_and_keeps_them_monotone():
    comparisons = [Comparison("a", "z", 3, 0.1, 0, 0.2, 1, p_t, p_t) for p_t in (0.01, 0.04, 0.03)] + [
        Comparison("b", "z", 1, 0.1, math.nan, math.nan, math.nan, math.nan, math.nan)
    ]
    corrected = [c.p_holm for c in significance.holm(comparisons)]
    # Sorted: 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 → 0.06 (never below the one before).
    assert corrected[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(corrected[3])  # no p-value: left out of the correction
    # The seeds each would need are planned at α / 3, the level Holm's correction asks of its first test.
    assert [c.seeds_needed for c in significance.holm(comparisons)][:3] == [significance.seeds_needed(1, 0.05 / 3)] * 3
    assert significance.seeds_needed(1, 0.05 / 3) > significance.seeds_needed(1)


def test_the_confidence_band_is_the_student_t_interval_and_collapses_for_one_seed():
    values = np.array([0.90, 0.92, 0.94])
    mean, low, high, count = significance.confidence_band(values)
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    assert (mean, low, high, count) == pytest.approx((0.92, 0.92 - half, 0.92 + half, 3))
    assert significance.confidence_band(np.array([0.9])) == (0.9, 0.9, 0.9, 1)


def test_friedman_and_the_critical_difference_ranking_on_a_planted_table():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.7, 0.9, size=12)
    scores = pd.DataFrame({"best": base + 0.05, "middle": base + 0.02, "worst": base}, index=range(12))
    statistic, p_value = significance.friedman(scores)
    assert (statistic, p_value) == pytest.approx(tuple(stats.friedmanchisquare(*scores.T.to_numpy())))
    assert p_value < 0.001
    assert significance.mean_ranks(scores).to_dict() == {"best": 1.0, "middle": 2.0, "worst": 3.0}
    assert significance.mean_ranks(scores, higher_is_better=False).index[0] == "worst"
    figure = significance.critical_difference_figure(scores)
    assert "12 data sets" in figure.axes[0].get_title()
