"""Question 05: how should λ be chosen? k-fold cross-validation on the training set, judged on the test set."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, percent, sureness
from regstudy.questions.constraints import STRENGTH_GRID
from regstudy.questions.crossval import choose, cross_validate
from regstudy.validation import Constraint

EXPERIMENT = experiment_of(__name__)


PARAMETERS: dict[str, Constraint] = {"l2_grid": STRENGTH_GRID}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(l2_grid: list[float], folds: int, experiment: str = EXPERIMENT, **training: Any) -> Answer:
    """Cross-validate an L2 strength on the training set, then train every strength on the whole training set.

    The test accuracy of every strength shows which would have been best had we peeked; the chosen one
    never sees the test set.

    Args:
        l2_grid: the candidate strengths.
        folds: k, the number of stratified folds.
        **training: parameters of every run (dataset, train_size, hidden_units, epochs, seed, ...).
    """
    candidates = {f"{l2:g}": {"plugins": {"l2": {"l2": l2}}} for l2 in l2_grid}
    with Question(experiment, {"l2_grid": l2_grid, "folds": folds, **training}) as question:
        scores = cross_validate(question.train, candidates, folds, **training)
        chosen, summary = choose(scores)
        summary = summary.rename(columns={"mean": "cv_accuracy_mean", "std": "cv_accuracy_std"})
        for label, parameters in candidates.items():
            result = question.train({"candidate": label, "fold": "all"}, **training, **parameters)
            summary.loc[label, "test_accuracy"] = result.metrics["test_accuracy"]
        best_on_test = summary["test_accuracy"].idxmax()
        cost = summary.loc[best_on_test, "test_accuracy"] - summary.loc[chosen, "test_accuracy"]
        answer = (
            f"{folds}-fold cross-validation chose λ = {chosen} (mean validation accuracy "
            f"{percent(summary.loc[chosen, 'cv_accuracy_mean'])} "
            f"± {percent(summary.loc[chosen, 'cv_accuracy_std'])}); on the test set the best λ would have been "
            f"{best_on_test} "
            f"({percent(summary.loc[best_on_test, 'test_accuracy'])}). "
            + (
                "Cross-validation found it, so the choice cost nothing."
                if chosen == best_on_test
                else f"The choice cost {100 * cost:.1f} points of test accuracy "
                f"({percent(summary.loc[chosen, 'test_accuracy'])})."
            )
        )
        # How surely the folds told the chosen λ from each other candidate: the same folds, paired.
        versus = against(scores, "candidate", chosen, "validation_accuracy", paired_by=("fold",))
        runner_up = summary.drop(index=chosen)["cv_accuracy_mean"].idxmax() if len(summary) > 1 else None
        if runner_up is not None:
            row = versus[versus["candidate"] == runner_up].iloc[0]
            answer += f" The runner-up, λ = {runner_up}, against the chosen λ, paired by fold: {sureness(row)}."
        figure = _figure(summary, chosen)
        found = question.log_result(
            answer,
            tables={"fold_scores": scores, "summary": summary, "against_chosen": versus},
            figures={"cross_validation": figure},
            chosen=float(chosen),
            best_on_test=float(best_on_test),
        )
    return found


def _figure(summary: pd.DataFrame, chosen: str) -> Figure:
    figure = Figure(figsize=(6, 3.8))
    axes = figure.subplots()
    strengths = [float(label) for label in summary.index]
    axes.errorbar(
        strengths,
        summary["cv_accuracy_mean"],
        yerr=summary["cv_accuracy_std"].fillna(0),
        marker="o",
        capsize=3,
        label="cross-validation (mean ± std over folds)",
    )
    axes.plot(strengths, summary["test_accuracy"], marker="s", label="test (whole training set)")
    axes.axvline(float(chosen), color="grey", linestyle="--", label=f"chosen λ = {chosen}")
    axes.set(xscale="log", xlabel="λ (L2)", ylabel="accuracy")
    axes.legend()
    return figure
