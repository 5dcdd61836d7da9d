"""Question 09: Ng (2004) — L1 against L2 logistic regression as irrelevant features multiply.

"Feature selection, L1 vs. L2 regularization, and rotational invariance" (ICML 2004) shows that with L1
the number of training examples needed grows only with the logarithm of the number of irrelevant
features, and with L2 (rotationally invariant) at least linearly: at a fixed 100 examples, L1's test error
stays nearly flat as irrelevant features are added while L2's climbs.

Beside each trained model, scikit-learn's `LogisticRegression` fits the same penalty at the same λ on the same
training split (`C = 1 / (n λ)`, n the training examples: the same objective as the mean cross-entropy plus
λ‖w‖₁, or λ‖W‖² over the two softmax columns, which is λ‖w‖²/2 of their difference): an exact optimum no one
here wrote, so that a method that fails to reach it (as proximal L1 under Adam once did, at every λ) shows.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression

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
        **training: parameters of every run (train_size, optimizer, learning_rate, epochs, batch_size, ...);
            the answer states the optimizer, learning rate and epochs, on which it depends.
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
        summary = (
            table.groupby(["irrelevant", "penalty"])[["test_error", "sklearn_test_error"]]
            .agg(["mean", "std"])
            .unstack("penalty")
        )
        summary.columns = [
            f"{'sklearn_' if column.startswith('sklearn') else ''}{penalty}_{statistic}"
            for column, statistic, penalty in summary.columns
        ]
        largest = table[table["irrelevant"] == max(irrelevant)].assign(accuracy=lambda t: 100 - t["test_error"])
        versus = (
            against(largest, "penalty", "l2", "accuracy", paired_by=("trial",))
            if {"l1", "l2"} <= set(strengths)
            else None
        )
        answer = _answer(summary, versus, training)
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
        "sklearn_test_error": 100 * (1 - reference_accuracy(final.splits, penalty, float(chosen))),
    }


def reference_accuracy(splits, penalty: str, strength: float) -> float:
    """scikit-learn's `LogisticRegression` with `penalty` at λ = `strength` (regstudy's scale: the mean loss
    plus λ‖w‖₁ or λ‖w‖²/2, so `C = 1 / (n λ)`), fitted to `splits`' training set to its own tolerance; its test
    accuracy. The intercept is not penalized (saga), as regstudy's penalties leave the bias alone."""
    model = LogisticRegression(
        l1_ratio=1.0 if penalty == "l1" else 0.0,
        C=1.0 / (len(splits.y_train) * strength),
        solver="saga",
        max_iter=20_000,
        tol=1e-6,
    )
    model.fit(splits.x_train, splits.y_train)
    return float(model.score(splits.x_test, splits.y_test))


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


def _answer(summary: pd.DataFrame, versus: pd.DataFrame | None = None, training: dict[str, Any] | None = None) -> str:
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
        f"From {first} to {last} irrelevant features ({_design(training or {})}, λ by cross-validation), L1's test "
        "error went "
        f"{summary.loc[first, 'l1_mean']:.1f} % → {summary.loc[last, 'l1_mean']:.1f} % and L2's "
        f"{summary.loc[first, 'l2_mean']:.1f} % → "
        f"{summary.loc[last, 'l2_mean']:.1f} %; {growths}."
        + _reference(summary, first, last)
        + (
            f" At {last} irrelevant features, L1's test accuracy against L2's, paired by trial: "
            f"{sureness(versus.iloc[0], scale=1.0)}."
            if versus is not None and len(versus)
            else ""
        )
    )


def _design(training: dict[str, Any]) -> str:
    """What the answer depends on, in words: the training examples and how the model was trained."""
    optimizer = training.get("optimizer", "adam")
    return (
        f"{training.get('train_size', 'all')} training examples, {optimizer} at learning rate "
        f"{training.get('learning_rate', 0.001):g} for {training.get('epochs', 10)} epochs"
    )


def _reference(summary: pd.DataFrame, first: int, last: int) -> str:
    """scikit-learn's exact optima at the same λ and splits, in words ("" without them)."""
    if "sklearn_l1_mean" not in summary:
        return ""
    return (
        f" scikit-learn's LogisticRegression at the same λ on the same splits: L1 "
        f"{summary.loc[first, 'sklearn_l1_mean']:.1f} % → {summary.loc[last, 'sklearn_l1_mean']:.1f} %, L2 "
        f"{summary.loc[first, 'sklearn_l2_mean']:.1f} % → {summary.loc[last, 'sklearn_l2_mean']:.1f} %."
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
