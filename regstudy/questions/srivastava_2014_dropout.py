"""Question 08: Srivastava et al. (2014), Table 9 — does dropout beat L2 and max-norm, in the paper's order?"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from regstudy import PLUGINS, significance
from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, two_figures
from regstudy.questions.constraints import PLUGINS_BY_LABEL
from regstudy.report import CLIPPED
from regstudy.validation import Constraint, MappingOf

EXPERIMENT = experiment_of(__name__)

PAPER_TEST_ERROR = {
    "L2": 1.62,
    "L2 + L1 applied towards the end of training": 1.60,
    "L2 + KL-sparsity": 1.55,
    "Max-norm": 1.35,
    "Dropout + L2": 1.25,
    "Dropout + Max-norm": 1.05,
}
"""Table 9 of Srivastava et al. (2014, JMLR): MNIST test error (%) of a 784-1024-1024-2048-10 ReLU network."""

COMPARED = ("L2", "Max-norm", "Dropout + L2", "Dropout + Max-norm")
"""The methods reproduced here, in the paper's order from worst to best."""


PARAMETERS: dict[str, Constraint] = {"methods": MappingOf(PLUGINS_BY_LABEL)}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(methods: dict[str, dict[str, dict]], seeds: list[int], experiment: str = EXPERIMENT, **training: Any) -> Answer:
    """Train each method at each candidate strength over seeds; pick each method's strength on validation accuracy.

    Args:
        methods: one of `COMPARED` → candidate label → plugins, e.g.
            `{"L2": {"1e-4": {"l2": {"l2": 1e-4}}},
            "Dropout + Max-norm": {"c=2": {"dropout": {...}, "max_norm": {...}}}}`.
        seeds: the training seeds (at least three to say how sure the ordering is).
        **training: parameters of every run (dataset, hidden_units, epochs, ...).
    """
    with Question(experiment, {"methods": methods, "seeds": seeds, **training}) as question:
        for method, candidates in methods.items():
            for candidate, plugins in candidates.items():
                for seed in seeds:
                    question.train({"method": method, "candidate": candidate}, plugins=plugins, seed=seed, **training)
        table = question.table()
        table["test_error"] = 100 * (1 - table["test_accuracy"])
        means = (
            table.groupby(["method", "candidate"], sort=False)[["validation_accuracy", "test_error"]]
            .mean()
            .reset_index()
        )
        chosen = means.loc[means.groupby("method", sort=False)["validation_accuracy"].idxmax()].reset_index(drop=True)
        selected = table.merge(chosen[["method", "candidate"]], on=["method", "candidate"])
        comparison = _comparison(selected)
        pairs = _pairs(selected)
        answer = _answer(comparison, pairs, len(seeds)) + inactive_bounds(table, methods, chosen)
        figure = _figure(comparison)
        tables = {"runs": table, "chosen_strengths": chosen, "table9": comparison, "pairs": pairs}
        found = question.log_result(answer, tables, figures={"table9": figure})
    return found


def _comparison(selected: pd.DataFrame) -> pd.DataFrame:
    """Our test error (mean ± std over seeds) beside the paper's, with each one's rank."""
    ours = selected.groupby("method", sort=False)["test_error"].agg(["mean", "std"])
    comparison = pd.DataFrame(
        {
            "paper_test_error": [PAPER_TEST_ERROR[m] for m in ours.index],
            "our_test_error": ours["mean"],
            "our_std": ours["std"],
        },
        index=ours.index,
    )
    comparison["paper_rank"] = comparison["paper_test_error"].rank().astype(int)
    comparison["our_rank"] = comparison["our_test_error"].rank(method="min").astype(int)
    return comparison


def _pairs(selected: pd.DataFrame) -> pd.DataFrame:
    """For each pair ordered by the paper (worse, better): how often, by how much and how surely ours agrees.

    Seeds are paired (same initialisation seed, same splits); the comparison is `significance.paired` of the
    paper's worse method's test error minus its better one's (positive: the paper's way), two-sided, with
    Holm's correction across the pairs, as every comparison of regstudy states it.
    """
    errors = selected.pivot_table(index="seed", columns="method", values="test_error")
    present = [m for m in sorted(errors.columns, key=lambda m: -PAPER_TEST_ERROR[m])]
    pairs = list(itertools.combinations(present, 2))
    # Scores where higher is better (minus the error), the paper's better method first: a positive difference
    # is the paper's way, and the verdict names the method that wins.
    comparisons = significance.holm(
        [
            significance.paired(-errors[better].to_numpy(), -errors[worse].to_numpy(), (better, worse))
            for worse, better in pairs
        ]
    )
    return pd.DataFrame(
        [
            {
                "paper_worse": worse,
                "paper_better": better,
                "mean_difference": comparison.mean_difference,
                "ci_low": comparison.low,
                "ci_high": comparison.high,
                "seeds_agreeing": int((errors[worse] - errors[better] > 0).sum()),
                "seeds": comparison.pairs,
                "p_holm": comparison.p_holm,
                "detectable": comparison.detectable,
                "verdict": _in_order(comparison.verdict, worse, better),
            }
            for (worse, better), comparison in zip(pairs, comparisons)
        ]
    )


def _in_order(verdict: str, worse: str, better: str) -> str:
    """A pair's verdict in the paper's terms. Matched whole: "Max-norm is better" is the end of "Dropout +
    Max-norm is better" too, which a replacement inside the text once turned into nonsense."""
    return {
        f"{worse} is better": "the paper's order is reversed",
        f"{better} is better": "the paper's order holds",
    }.get(verdict, verdict)


def _answer(comparison: pd.DataFrame, pairs: pd.DataFrame, seeds: int) -> str:
    """Our order beside the paper's, and whether the paper's order holds as far as the paired tests can tell:
    it holds only if every pair goes its way significantly, fails if any pair is significantly reversed, and
    otherwise cannot be concluded at these seeds (with the differences the design could have detected)."""
    ours = list(comparison.sort_values("our_test_error", ascending=False).index)
    paper = list(comparison.sort_values("paper_test_error", ascending=False).index)
    tau = stats.kendalltau(comparison["paper_test_error"], comparison["our_test_error"]).statistic
    agreeing = int((pairs["mean_difference"] > 0).sum())
    ours_text = " > ".join(f"{m} ({comparison.loc[m, 'our_test_error']:.2f} %)" for m in ours)
    sure = pairs[pairs["verdict"] == "the paper's order holds"]
    reversed_ = pairs[pairs["verdict"] == "the paper's order is reversed"]
    undecided = pairs.drop(index=sure.index.union(reversed_.index))
    if len(reversed_):
        named = "; ".join(f"{row.paper_better} worse than {row.paper_worse}" for row in reversed_.itertuples())
        verdict = f"The paper's ordering does not hold here: {named}, significantly."
    elif len(sure) == len(pairs):
        verdict = "The paper's ordering holds here: every pair goes its way, significantly."
    else:
        could = undecided["detectable"].dropna()
        detect = (
            f" (these could detect {two_figures(could.min())} to {two_figures(could.max())} points)"
            if len(could)
            else ""
        )
        verdict = (
            f"Whether the paper's ordering holds cannot be concluded at {seeds} seeds: no pair is significantly "
            f"reversed, and {len(undecided)} of {len(pairs)} cannot be told apart{detect}."
        )
    return (
        f"{verdict} Our mean test errors, worst to best: {ours_text}, Kendall's τ = {tau:+.2f} against the paper's "
        f"order ({' > '.join(paper)}). Of the {len(pairs)} pairs, {agreeing} go the paper's way on average over "
        f"{seeds} seeds, {len(sure)} of them significantly and {len(reversed_)} significantly the other way (paired "
        f"t-test, two-sided, Holm-corrected p < {significance.ALPHA})."
    )


def inactive_bounds(table: pd.DataFrame, methods: dict[str, dict[str, dict]], chosen: pd.DataFrame) -> str:
    """The max-norm candidates whose bound no unit ever reached (`unit_norm_peak`, the largest norm of a unit's
    incoming weights after any epoch, below the bound by more than `report.CLIPPED`), in words: they trained as
    without max-norm, which a comparison of max-norm must know ("" where every bound clipped)."""
    if "unit_norm_peak" not in table:
        return ""
    picked = set(zip(chosen["method"], chosen["candidate"]))
    idle = []
    for method, candidates in methods.items():
        for candidate, plugins in candidates.items():
            if "max_norm" not in plugins:
                continue
            bound = float({**PLUGINS.get("max_norm").hyperparameters(), **plugins["max_norm"]}["max_value"])
            rows = table[(table["method"] == method) & (table["candidate"] == candidate)]
            peak = float(rows["unit_norm_peak"].max())
            if peak < bound * (1 - CLIPPED):
                mark = ", the one chosen" if (method, candidate) in picked else ""
                idle.append(f"{method} at {candidate} (largest unit norm {peak:.3g}{mark})")
    if not idle:
        return ""
    return (
        f" Max-norm never reached its bound in {'; '.join(idle)}: those networks trained as if without it, and a "
        "method chosen at one of them is compared without max-norm."
    )


def _figure(comparison: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(10, 3.8))
    paper_axes, our_axes = figure.subplots(1, 2)
    positions = np.arange(len(comparison))
    paper_axes.barh(positions, comparison["paper_test_error"])
    paper_axes.set(
        yticks=positions, yticklabels=comparison.index, xlabel="test error (%)", title="Srivastava et al. 2014, MNIST"
    )
    our_axes.barh(
        positions, comparison["our_test_error"], xerr=comparison["our_std"].fillna(0), capsize=3, color="tab:orange"
    )
    our_axes.set(
        yticks=positions, yticklabels=comparison.index, xlabel="test error (%)", title="regstudy, mnist_5k (mean ± std)"
    )
    return figure
