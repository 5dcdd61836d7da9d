"""Question 10: Zhang et al. (2017) — a network fits random labels, and explicit regularizers matter little.

"Understanding deep learning requires rethinking generalization" (ICLR 2017): their MLP 1×512 on
CIFAR-10 reaches 99.34 % training and 10.61 % test accuracy on random labels; on true labels, weight decay
and dropout change test accuracy by only a few points. Here: the same on a data set sized for this machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, mean_std, percent, sureness
from regstudy.questions.constraints import FRACTIONS, PLUGINS_BY_LABEL
from regstudy.validation import Constraint, Interval

EXPERIMENT = experiment_of(__name__)

PAPER_RANDOM_LABELS = {"train_accuracy": 0.9934, "test_accuracy": 0.1061}
"""Zhang et al. 2017, Table 1: MLP 1×512 on CIFAR-10 with random labels."""


PARAMETERS: dict[str, Constraint] = {
    "fractions": FRACTIONS,
    "regularizers": PLUGINS_BY_LABEL,
    "fit_threshold": Interval(float, 0, 1, closed="right"),
}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    fractions: list[float],
    regularizers: dict[str, dict],
    seeds: list[int],
    fit_threshold: float,
    experiment: str = EXPERIMENT,
    **training: Any,
) -> Answer:
    """Train on labels randomized at each fraction, and on true labels with each explicit regularizer.

    Args:
        fractions: shares of training labels replaced by random classes, 0 to 1.
        regularizers: label → plugins trained on the true labels, e.g. `{"none": {}, "weight decay": {"l2": {...}}}`.
        seeds: the training seeds.
        fit_threshold: the training accuracy (as Keras reports it during the epoch) that counts as fitted.
        **training: parameters of every run (dataset, hidden_units, epochs, ...).
    """
    with Question(
        experiment,
        {
            "fractions": fractions,
            "regularizers": regularizers,
            "seeds": seeds,
            "fit_threshold": fit_threshold,
            **training,
        },
    ) as question:
        fitted = []
        for fraction in fractions:
            for seed in seeds:
                result = question.train(
                    {"part": "random labels", "fraction": fraction},
                    plugins={"random_labels": {"fraction": fraction}},
                    seed=seed,
                    **training,
                )
                fitted.append(epochs_to_fit(result.history["accuracy"], fit_threshold))
        random = question.table().assign(epochs_to_fit=fitted)
        for label, plugins in regularizers.items():
            for seed in seeds:
                question.train({"part": "true labels", "regularizer": label}, plugins=plugins, seed=seed, **training)
        table = question.table()
        true = table[table["part"] == "true labels"]
        by_fraction = mean_std(random, ["fraction"], ["train_accuracy", "test_accuracy", "epochs_to_fit"])
        by_regularizer = mean_std(true, ["regularizer"], ["train_accuracy", "test_accuracy"])
        versus = against(true, "regularizer", "none", "test_accuracy") if "none" in regularizers else None
        chance = 1.0 / result.splits.classes
        answer = _answer(by_fraction, by_regularizer, fit_threshold, training.get("epochs"), chance, versus)
        figure = _figure(by_fraction)
        tables = {"random_labels": by_fraction, "regularizers": by_regularizer}
        if versus is not None:
            tables["regularizers_against_none"] = versus
        found = question.log_result(answer, tables, figures={"random_labels": figure})
    return found


def epochs_to_fit(accuracy: list[float], threshold: float) -> float:
    """The first epoch (from 1) whose training accuracy reached `threshold`, or NaN if none did."""
    reached = np.flatnonzero(np.asarray(accuracy) >= threshold)
    return float(reached[0] + 1) if len(reached) else np.nan


def _answer(
    by_fraction: pd.DataFrame,
    by_regularizer: pd.DataFrame,
    threshold: float,
    epochs: int | None,
    chance: float,
    versus: pd.DataFrame | None = None,
) -> str:
    random = by_fraction.iloc[by_fraction["fraction"].idxmax()]
    true = by_fraction.iloc[by_fraction["fraction"].idxmin()]
    fit = random.epochs_to_fit_mean
    fit_text = (
        f"reached {percent(threshold)} training accuracy after {fit:.0f} epochs against {true.epochs_to_fit_mean:.0f} "
        "on true labels"
        if np.isfinite(fit)
        else f"did not reach {percent(threshold)} within {epochs} epochs"
    )
    spread = by_regularizer["test_accuracy_mean"].max() - by_regularizer["test_accuracy_mean"].min()
    best = by_regularizer.loc[by_regularizer["test_accuracy_mean"].idxmax()]
    return (
        f"On labels {percent(random.fraction)} random the network fitted {percent(random.train_accuracy_mean)} of the "
        "training set "
        f"with {percent(random.test_accuracy_mean)} test accuracy (chance {percent(chance)}; Zhang et al.: "
        f"{percent(PAPER_RANDOM_LABELS['train_accuracy'])} "
        f"and {percent(PAPER_RANDOM_LABELS['test_accuracy'])}); it {fit_text}. "
        f"On true labels the explicit regularizers spanned {100 * spread:.1f} points of test accuracy "
        f"(best: {best.regularizer}, {percent(best.test_accuracy_mean)})"
        + (
            ". Against no regularization, paired by seed: "
            + "; ".join(f"{row['regularizer']} {sureness(row)}" for _, row in versus.iterrows())
            if versus is not None and len(versus)
            else ""
        )
        + "."
    )


def _figure(by_fraction: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(10, 3.8))
    accuracy_axes, time_axes = figure.subplots(1, 2)
    for column, label in (("train_accuracy", "training"), ("test_accuracy", "test")):
        mean, std = by_fraction[f"{column}_mean"], by_fraction[f"{column}_std"].fillna(0)
        accuracy_axes.errorbar(by_fraction["fraction"], mean, yerr=std, marker="o", capsize=3, label=label)
    accuracy_axes.set(xlabel="fraction of labels randomized", ylabel="final accuracy")
    accuracy_axes.legend()
    time_axes.errorbar(
        by_fraction["fraction"],
        by_fraction["epochs_to_fit_mean"],
        yerr=by_fraction["epochs_to_fit_std"].fillna(0),
        marker="o",
        capsize=3,
    )
    time_axes.set(xlabel="fraction of labels randomized", ylabel="epochs to fit")
    return figure
