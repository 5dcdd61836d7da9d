"""Question 09: Ng (2004) — L1 against L2 logistic regression as irrelevant features multiply.

"Feature selection, L1 vs. L2 regularization, and rotational invariance" (ICML 2004) shows that with L1
the number of training examples needed grows only with the logarithm of the number of irrelevant
features, and with L2 (rotationally invariant) at least linearly: at a fixed 100 examples, L1's test error
stays nearly flat as irrelevant features are added while L2's climbs.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, sureness
from regstudy.questions.constraints import STRENGTH_GRID
from regstudy.questions.crossval import choose, cross_validate
from regstudy.validation import SEED, Constraint, Interval, ListOf, MappingOf

EXPERIMENT = experiment_of(__name__)


PARAMETERS: dict[str, Constraint] = {
    "irrelevant": ListOf(Interval(int, 0, 100_000, limit=True)),
    "strengths": MappingOf(STRENGTH_GRID, keys=("l1", "l2")),
    "trials": ListOf(SEED),
}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    irrelevant: list[int],
    strengths: dict[str, list[float]],
    folds: int,
    trials: list[int],
    experiment: str = EXPERIMENT,
    **training: Any,
) -> Answer:
    """For each number of irrelevant features, trial and penalty: choose λ by k-fold CV, train, measure test error.

    A trial draws a new data set (`irrelevant_features` with `seed = trial`). The model is logistic
    regression: `hidden_units = []`, softmax over two classes. L1 is the `l1` plugin's proximal method.

    Args:
        irrelevant: numbers of irrelevant features.
        strengths: "l1" and "l2" → candidate λ for cross-validation.
        folds: k of the cross-validation.
        trials: data seeds; Ng averages over many.
        **training: parameters of every run (train_size, epochs, batch_size, learning_rate, ...).
    """
    rows = []
    with Question(
        experiment, {"irrelevant": irrelevant, "strengths": strengths, "folds": folds, "trials": trials, **training}
    ) as question:
        for count in irrelevant:
            for trial in trials:
                for penalty, grid in strengths.items():
                    rows.append(_chosen_and_tested(question, count, trial, penalty, grid, folds, training))
        table = pd.DataFrame(rows)
        summary = table.groupby(["irrelevant", "penalty"])["test_error"].agg(["mean", "std"]).unstack("penalty")
        summary.columns = [f"{penalty}_{statistic}" for statistic, penalty in summary.columns]
        largest = table[table["irrelevant"] == max(irrelevant)].assign(accuracy=lambda t: 100 - t["test_error"])
        versus = (
            against(largest, "penalty", "l2", "accuracy", paired_by=("trial",))
            if {"l1", "l2"} <= set(strengths)
            else None
        )
        answer = _answer(summary, versus)
        figure = _figure(summary)
        tables = {"trials": table, "test_error": summary}
        if versus is not None:
            tables["l1_against_l2_at_the_most_irrelevant"] = versus
        found = question.log_result(answer, tables=tables, figures={"test_error": figure})
    return found


def _chosen_and_tested(
    question: Question, count: int, trial: int, penalty: str, grid: list[float], folds: int, training: dict[str, Any]
) -> dict[str, Any]:
    """Choose `penalty`'s λ from `grid` by k-fold CV on trial `trial`'s data with `count` irrelevant features,
    train on the whole training set at that λ, and return the row of its test error (%)."""
    data = {
        "dataset": "irrelevant_features",
        "dataset_options": {"n_irrelevant": count, "seed": trial},
        "hidden_units": [],
    }
    labelled = functools.partial(_train_labelled, question, {"irrelevant": count, "trial": trial, "penalty": penalty})
    candidates = {f"{value:g}": {"plugins": _penalty(penalty, value)} for value in grid}
    chosen, _ = choose(cross_validate(labelled, candidates, folds, **data, **training))
    final = labelled({"candidate": chosen, "fold": "all"}, **data, **training, **candidates[chosen])
    return {
        "irrelevant": count,
        "trial": trial,
        "penalty": penalty,
        "chosen": float(chosen),
        "test_error": 100 * (1 - final.metrics["test_accuracy"]),
    }


def _train_labelled(question: Question, fixed: dict[str, Any], labels: dict[str, Any], **parameters: Any):
    """`question.train` with the labels of the data set and penalty added to those cross-validation gives."""
    return question.train({**fixed, **labels}, **parameters)


def growth(summary: pd.DataFrame, penalty: str) -> float:
    """The slope of test error (points) per decade of irrelevant features: a least-squares line against
    log10(count); NaN with fewer than two counts, where there is no line to fit."""
    counts = summary.index.to_numpy(dtype=float)
    if len(np.unique(counts)) < 2:
        return float("nan")
    return float(np.polyfit(np.log10(counts), summary[f"{penalty}_mean"].to_numpy(), 1)[0])


def _answer(summary: pd.DataFrame, versus: pd.DataFrame | None = None) -> str:
    first, last = summary.index[0], summary.index[-1]
    l1, l2 = growth(summary, "l1"), growth(summary, "l2")
    if np.isnan(l1) or np.isnan(l2):
        growths = "with one number of irrelevant features, there is no growth to compare"
    else:
        growths = f"per tenfold increase in irrelevant features L1 gained {l1:.1f} points and L2 {l2:.1f}: " + (
            "as Ng (2004) predicts, L1's error grows more slowly"
            if l1 < l2
            else "here L1's error did not grow more slowly than L2's, as Ng (2004) found it did"
        )
    return (
        f"From {first} to {last} irrelevant features (100 training examples, λ by cross-validation), L1's test error "
        "went "
        f"{summary.loc[first, 'l1_mean']:.1f} % → {summary.loc[last, 'l1_mean']:.1f} % and L2's "
        f"{summary.loc[first, 'l2_mean']:.1f} % → "
        f"{summary.loc[last, 'l2_mean']:.1f} %; {growths}."
        + (
            f" At {last} irrelevant features, L1's test accuracy against L2's, paired by trial: "
            f"{sureness(versus.iloc[0], scale=1.0)}."
            if versus is not None and len(versus)
            else ""
        )
    )


def _penalty(name: str, strength: float) -> dict:
    """The plugins of one penalty: L1 by its proximal method, whose weights reach exact zeros as Ng's do."""
    return {name: {name: strength, "method": "proximal"} if name == "l1" else {name: strength}}


def _figure(summary: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(6, 3.8))
    axes = figure.subplots()
    for penalty in ("l1", "l2"):
        mean, std = summary[f"{penalty}_mean"], summary[f"{penalty}_std"].fillna(0)
        axes.errorbar(summary.index, mean, yerr=std, marker="o", capsize=3, label=penalty.upper())
    axes.set(
        xscale="log",
        xlabel="irrelevant features",
        ylabel="test error (%)",
        title="Logistic regression, 1 relevant feature",
    )
    axes.legend()
    return figure
