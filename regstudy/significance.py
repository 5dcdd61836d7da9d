"""Whether a difference between two methods is real: paired tests over seeds, a bootstrap confidence interval,
an effect size, Holm's correction, the seeds a difference would need, and ranks across data sets.

Runs of one study are paired: the same split and the same seed, so a method's score minus another's at each
seed is one paired difference. Every procedure is a kept library's (scipy for the tests and the bootstrap,
statsmodels for Holm's correction and the power of the paired t-test, scikit-posthocs for Nemenyi's test and
Demšar's critical-difference diagram); this module chooses them and says what they found in words.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
"""The significance level of every test, after Holm's correction."""
POWER = 0.8
"""The power `seeds_needed` plans for."""
CONFIDENCE = 0.95
CONSTANT = 1e-6
"""Differences whose spread is below this share of their mean are the same difference, up to rounding."""


def same_difference(mean, spread):
    """Whether paired differences of this `mean` and `spread` (their standard deviation) are the same at every
    pair, up to rounding (`CONSTANT`): then `paired` and the sequential looks answer with the exact sign test.
    Elementwise on arrays."""
    spread = np.asarray(spread)
    return (spread <= CONSTANT * np.abs(mean)) | (spread == 0)


@dataclass(frozen=True)
class Comparison:
    """Method `first` against method `second` over `pairs` paired seeds; differences are first − second.

    `p_t` and `p_wilcoxon` are two-sided (paired t-test; Wilcoxon's signed-rank test, zero differences
    dropped, NaN when every difference is zero), `p_holm` the t-test's p-value after Holm's correction across
    the comparisons it was corrected with (NaN until then), `effect` Cohen's d_z (the mean difference over the
    differences' standard deviation), `low`/`high` the bootstrap (BCa) confidence interval of the mean
    difference, `seeds_needed` the pairs a paired t-test needs to detect a difference of this effect with
    power 0.8 at level 0.05 (None where no effect was seen), and `detectable` the smallest mean difference
    this design could detect: with these pairs and the differences' spread, the one a paired t-test finds
    with power 0.8 at the level used (Holm's first, after `holm`).

    When every pair differs by the same amount (`constant`: a spread below a millionth of the difference, as
    when two methods err on the same examples at every seed) there is no spread for a t-test or an effect
    size: `effect` is NaN and `p_t` is the exact two-sided sign test's, `2 / 2**pairs` (scipy's `binomtest`),
    which needs 6 pairs to reach 0.05.
    """

    first: str
    second: str
    pairs: int
    mean_difference: float
    low: float
    high: float
    effect: float
    p_t: float
    p_wilcoxon: float
    p_holm: float = math.nan
    seeds_needed: int | None = None
    unit: str = "seed"
    spread: float = math.nan
    """The standard deviation of the paired differences."""
    detectable: float = math.nan
    constant: bool = False
    """What pairs the scores: a seed (the default), a fold, a trial, ..."""

    @property
    def verdict(self) -> str:
        """In words: which is better, or why it cannot be told."""
        if self.pairs < 2:
            return f"cannot conclude: one {self.unit}"
        if self.mean_difference == 0 and self.low == self.high == 0:
            return f"no difference at any {self.unit}"
        p_value = self.p_holm if not math.isnan(self.p_holm) else self.p_t
        if self.constant and p_value >= ALPHA:
            return (
                f"the same difference at each of {self.pairs} {self.unit}s: too few for an exact sign test to "
                f"conclude (p = {p_value:.3g})"
            )
        if math.isnan(p_value) or p_value >= ALPHA:
            # Power analysis plans for a fresh study; it cannot ask for fewer seeds than were not enough here.
            more = max(self.seeds_needed, self.pairs + 1) if self.seeds_needed else None
            could = f" (it could detect {self.detectable:.3g} or more)" if math.isfinite(self.detectable) else ""
            needed = f"; about {more} {self.unit}s would show this one" if more else ""
            return f"not distinguishable from noise at {self.pairs} {self.unit}s{could}{needed}"
        return f"{self.first if self.mean_difference > 0 else self.second} is better"


def paired(
    first: np.ndarray,
    second: np.ndarray,
    names: tuple[str, str] = ("first", "second"),
    seed: int = 0,
    unit: str = "seed",
) -> Comparison:
    """Compare two methods' scores, paired by seed (element i of each is seed i's score), or by another `unit`
    (a fold, a trial: whatever both scores share).

    >>> paired(np.array([0.91, 0.93, 0.92]), np.array([0.90, 0.90, 0.91]), ("l2", "none")).verdict
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired scores need the same seeds: got {first.shape} and {second.shape}")
    differences = first - second
    pairs = len(differences)
    mean = float(np.mean(differences)) if pairs else math.nan
    if pairs < 2:
        return Comparison(*names, pairs, mean, math.nan, math.nan, math.nan, math.nan, math.nan, unit=unit)
    spread = float(np.std(differences, ddof=1))
    nonzero = differences[differences != 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's note that an exact test has few pairs
        p_wilcoxon = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) else math.nan
    if same_difference(mean, spread):  # the same difference at every seed, up to rounding
        p_sign = float(stats.binomtest(pairs, pairs, 0.5).pvalue) if mean else 1.0
        effect = math.nan if mean else 0.0
        return Comparison(
            *names, pairs, mean, mean, mean, effect, p_sign, p_wilcoxon, unit=unit, spread=spread, constant=True
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p_t = float(stats.ttest_rel(first, second).pvalue)
        interval = stats.bootstrap(
            (differences,), np.mean, confidence_level=CONFIDENCE, method="BCa", rng=np.random.default_rng(seed)
        ).confidence_interval
    effect = mean / spread
    return Comparison(
        *names,
        pairs,
        mean,
        float(interval.low),
        float(interval.high),
        effect,
        p_t,
        p_wilcoxon,
        seeds_needed=seeds_needed(effect),
        unit=unit,
        spread=spread,
        detectable=detectable_difference(pairs, spread),
    )


def detectable_difference(pairs: int, spread: float, alpha: float = ALPHA) -> float:
    """The smallest mean difference a paired t-test over `pairs` pairs, whose differences spread as `spread`,
    detects with power `POWER` at level `alpha` (two-sided): `spread` times the effect size statsmodels'
    `TTestPower.solve_power` finds; NaN for fewer than 2 pairs or no spread."""
    if pairs < 2 or not spread > 0:
        return math.nan
    from statsmodels.stats.power import TTestPower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' note when the solver starts far from the root
        effect = TTestPower().solve_power(effect_size=None, nobs=pairs, alpha=alpha, power=POWER)
    return float(spread * effect)


def seeds_needed(effect: float, alpha: float = ALPHA) -> int | None:
    """The fewest paired seeds with which a two-sided paired t-test detects effect d_z with power `POWER` at
    level `alpha` (statsmodels' `TTestPower`, searched over whole numbers of seeds from 2), or None for no
    effect."""
    if not effect or not math.isfinite(effect):
        return None
    from statsmodels.stats.power import TTestPower

    def enough(seeds: int) -> bool:
        return TTestPower().power(effect_size=abs(effect), nobs=seeds, alpha=alpha) >= POWER

    low, high = 1, 2  # not enough at `low`; search `high` up by doubling, then the gap by halving
    while not enough(high):
        low, high = high, 2 * high
        if high > 10**9:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def holm(comparisons: list[Comparison]) -> list[Comparison]:
    """The comparisons with `p_holm` set: their t-test p-values corrected together by Holm's step-down method
    (statsmodels' `multipletests`); those without a p-value are left out of the correction. The seeds each
    would need are planned at the level the correction asks of the first it tests, `ALPHA` over the number of
    comparisons, so that the advice holds after the correction too."""
    from statsmodels.stats.multitest import multipletests

    tested = [index for index, comparison in enumerate(comparisons) if not math.isnan(comparison.p_t)]
    corrected = multipletests([comparisons[i].p_t for i in tested], method="holm")[1] if tested else []
    adjusted = dict(zip(tested, corrected))
    level = ALPHA / max(1, len(tested))
    return [
        Comparison(
            **{
                **asdict(comparison),
                "p_holm": float(adjusted.get(index, math.nan)),
                "seeds_needed": seeds_needed(comparison.effect, level)
                if index in adjusted
                else comparison.seeds_needed,
                "detectable": detectable_difference(comparison.pairs, comparison.spread, level)
                if index in adjusted
                else comparison.detectable,
            }
        )
        for index, comparison in enumerate(comparisons)
    ]


def table(comparisons: list[Comparison]) -> pd.DataFrame:
    """The comparisons as a table: one row each, its numbers and its verdict."""
    return pd.DataFrame([{**asdict(comparison), "verdict": comparison.verdict} for comparison in comparisons])


def confidence_band(values: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, the Student-t confidence interval of the mean (`CONFIDENCE`), and the number of values; the
    interval is the mean itself for one value (nothing is known of the spread)."""
    values = np.asarray(values, dtype=float)
    count, mean = len(values), float(np.mean(values))
    if count < 2:
        return mean, mean, mean, count
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, count - 1) * stats.sem(values))
    return mean, mean - half, mean + half, count


def friedman(scores: pd.DataFrame) -> tuple[float, float]:
    """Friedman's test that the methods (columns) rank alike across data sets (rows): statistic, p-value."""
    result = stats.friedmanchisquare(*(scores[column].to_numpy() for column in scores.columns))
    return float(result.statistic), float(result.pvalue)


def mean_ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Each method's mean rank across data sets (1 is the best; ties share their mean rank)."""
    return scores.rank(axis=1, ascending=not higher_is_better).mean().sort_values()


def critical_difference_figure(scores: pd.DataFrame, higher_is_better: bool = True):
    """Demšar's (2006) critical-difference diagram: mean ranks across data sets, with the methods that
    Nemenyi's test (after Friedman's) cannot tell apart joined by a bar (scikit-posthocs draws it)."""
    import scikit_posthocs
    from matplotlib.figure import Figure

    oriented = scores if higher_is_better else -scores
    significance = scikit_posthocs.posthoc_nemenyi_friedman(oriented.to_numpy())
    significance.index = significance.columns = list(scores.columns)
    figure = Figure(figsize=(8, 0.5 + 0.35 * len(scores.columns)))
    axes = figure.subplots()
    scikit_posthocs.critical_difference_diagram(mean_ranks(scores, higher_is_better), significance, ax=axes)
    axes.set_title(f"mean rank over {len(scores)} data sets (Friedman p = {friedman(oriented)[1]:.3g})")
    figure.tight_layout()
    return figure
