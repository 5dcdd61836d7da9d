"""Question 05: how should λ be chosen? k-fold cross-validation on the training set, judged on the test set."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, percent, sureness
from regstudy.questions.constraints import STRENGTH_GRID
from regstudy.questions.crossval import choose, cross_validate
from regstudy.validation import SEED, Constraint, ListOf

EXPERIMENT = experiment_of(__name__)


PARAMETERS: dict[str, Constraint] = {"l2_grid": STRENGTH_GRID, "seeds": ListOf(SEED)}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(l2_grid: list[float], folds: int, seeds: list[int], experiment: str = EXPERIMENT, **training: Any) -> Answer:
    """At each seed, cross-validate an L2 strength on the training set, then train every strength on the whole
    training set.

    The test accuracy of every strength shows which would have been best had we peeked; the chosen one
    never sees the test set. What the choice cost is the test accuracy of each seed's chosen λ against that
    of the λ best on the test set over all seeds, paired by seed: one seed's folds and test set alone cannot
    tell a real cost from that seed's luck.

    Args:
        l2_grid: the candidate strengths.
        folds: k, the number of stratified folds.
        seeds: the training seeds; each chooses its own λ.
        **training: parameters of every run (dataset, train_size, hidden_units, epochs, ...).
    """
    candidates = {f"{l2:g}": {"plugins": {"l2": {"l2": l2}}} for l2 in l2_grid}
    with Question(experiment, {"l2_grid": l2_grid, "folds": folds, "seeds": seeds, **training}) as question:
        fold_scores, rows = [], []
        for seed in seeds:
            scores, seed_rows = _choose_and_train(question, candidates, folds, seed, training)
            fold_scores.append(scores)
            rows += seed_rows
        by_seed = pd.DataFrame(rows)
        summary = by_seed.groupby("candidate", sort=False)[["cv_accuracy_mean", "cv_accuracy_std", "test_accuracy"]]
        summary = summary.mean().assign(chosen_at=by_seed.groupby("candidate", sort=False)["chosen"].sum())
        best_on_test = str(summary["test_accuracy"].idxmax())
        choices = by_seed[by_seed["chosen"]].set_index("seed")
        hindsight = by_seed[by_seed["candidate"] == best_on_test].set_index("seed")
        paired = pd.concat(
            [
                choices.reset_index().assign(choice="cross-validation's choice"),
                hindsight.reset_index().assign(choice=f"λ = {best_on_test}"),
            ]
        )
        versus = against(paired, "choice", f"λ = {best_on_test}", "test_accuracy")
        answer = _answer(folds, choices, summary, best_on_test, versus)
        most_chosen = str(summary["chosen_at"].idxmax())
        figure = _figure(summary, most_chosen)
        found = question.log_result(
            answer,
            tables={
                "fold_scores": pd.concat(fold_scores, ignore_index=True),
                "by_seed": by_seed,
                "summary": summary,
                "choice_against_hindsight": versus,
            },
            figures={"cross_validation": figure},
            chosen=float(most_chosen),
            best_on_test=float(best_on_test),
        )
    return found


def _choose_and_train(
    question: Question, candidates: dict[str, dict], folds: int, seed: int, training: dict[str, Any]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """At `seed`: each candidate's fold scores, and a row per candidate (its cross-validated accuracy, its
    test accuracy trained on the whole training set, whether it was chosen)."""
    scores = cross_validate(question.train, candidates, folds, **training, seed=seed)
    chosen, summary = choose(scores)
    rows = []
    for label, parameters in candidates.items():
        result = question.train({"candidate": label, "fold": "all"}, **training, **parameters, seed=seed)
        rows.append(
            {
                "seed": seed,
                "candidate": label,
                "cv_accuracy_mean": summary.loc[label, "mean"],
                "cv_accuracy_std": summary.loc[label, "std"],
                "test_accuracy": result.metrics["test_accuracy"],
                "chosen": label == chosen,
            }
        )
    return scores.assign(seed=seed), rows


def _answer(folds: int, choices: pd.DataFrame, summary: pd.DataFrame, best_on_test: str, versus: pd.DataFrame) -> str:
    """The choices over seeds, the λ best in hindsight, and what choosing honestly cost, in words."""
    seeds = len(choices)
    counts = choices["candidate"].value_counts(sort=True)
    chose = ", ".join(f"λ = {label} at {count} of {seeds}" for label, count in counts.items())
    best_accuracy = percent(summary.loc[best_on_test, "test_accuracy"])
    cost = summary.loc[best_on_test, "test_accuracy"] - choices["test_accuracy"].mean()
    answer = (
        f"Over {seeds} seed{'s' if seeds > 1 else ''}, {folds}-fold cross-validation chose {chose} "
        f"(mean validation accuracy of the choices {percent(choices['cv_accuracy_mean'].mean())}); on the test set "
        f"the best λ over all seeds would have been {best_on_test} ({best_accuracy} mean test accuracy). "
    )
    if (choices["candidate"] == best_on_test).all():
        return answer + "Cross-validation found it at every seed, so the choice cost nothing."
    answer += (
        f"The choices' mean test accuracy was {percent(choices['test_accuracy'].mean())}, {100 * cost:.1f} points less"
    )
    if len(versus):
        answer += f"; the choice against λ = {best_on_test}, paired by seed: {sureness(versus.iloc[0])}"
    return answer + "."


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
