"""Question 04: does regularization cost accuracy? Training and test accuracy against strength, over seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, mean_std, percent, sureness
from regstudy.questions.constraints import STRENGTH_GRID
from regstudy.validation import Constraint, MappingOf

EXPERIMENT = experiment_of(__name__)

STRENGTHS = {"l2": ("l2", "l2"), "dropout": ("dropout", "rate")}
"""Each method studied: the plugin and the hyperparameter that is its strength (0 means the baseline)."""
COLLAPSE = 0.1
"""A strength collapsed the network to chance when its mean training accuracy is within this share of the way
from chance to 1 (chance + 0.1 · (1 − chance): 19 % for ten classes): it learned nothing, which no trade-off
between fitting and generalizing describes."""


PARAMETERS: dict[str, Constraint] = {"grids": MappingOf(STRENGTH_GRID, keys=("l2", "dropout"))}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(grids: dict[str, list[float]], seeds: list[int], experiment: str = EXPERIMENT, **training: Any) -> Answer:
    """Train every strength of every method for every seed on a training set small enough to overfit.

    Args:
        grids: method ("l2" or "dropout") → strengths, 0 meaning no regularization.
        seeds: the training seeds.
        **training: parameters of every run (dataset, train_size, hidden_units, epochs, ...).
    """
    with Question(experiment, {"grids": grids, "seeds": seeds, **training}) as question:
        for seed in seeds:  # strength 0 of every method: trained once
            result = question.train({"method": "none", "strength": 0.0}, plugins={"none": {}}, seed=seed, **training)
        chance = 1.0 / result.splits.classes
        for method, strengths in grids.items():
            plugin, hyperparameter = STRENGTHS[method]
            for strength in (s for s in strengths if s > 0):
                for seed in seeds:
                    question.train(
                        {"method": method, "strength": strength},
                        plugins={plugin: {hyperparameter: strength}},
                        seed=seed,
                        **training,
                    )
        table = question.table()
        baseline = table[table["method"] == "none"]
        table = pd.concat(
            [table[table["method"] != "none"], *(baseline.assign(method=method) for method in grids)], ignore_index=True
        )
        table["method"] = pd.Categorical(table["method"], categories=list(grids))
        table = (
            table.sort_values(["method", "strength", "seed"], kind="stable")
            .astype({"method": str})
            .reset_index(drop=True)
        )
        summary = mean_std(table, ["method", "strength"], ["train_accuracy", "test_accuracy", "generalization_gap"])
        versus = pd.concat(
            [
                against(rows, "strength", 0.0, "test_accuracy").assign(method=method)
                for method, rows in table.groupby("method", sort=False)
            ],
            ignore_index=True,
        )
        answer = " ".join(
            _answer(method, rows, versus[versus["method"] == method], chance)
            for method, rows in summary.groupby("method", sort=False)
        )
        figure = _figure(summary)
        found = question.log_result(
            answer,
            tables={"runs": table, "accuracy_by_strength": summary, "against_no_regularization": versus},
            figures={"accuracy_by_strength": figure},
        )
    return found


def _answer(method: str, rows: pd.DataFrame, versus: pd.DataFrame | None = None, chance: float | None = None) -> str:
    """What the data say for one method: how training accuracy, test accuracy and the gap move with strength,
    and (given `against`'s comparisons with strength 0) how sure the peak's gain over no regularization is.
    Strengths that collapsed the network to `chance` (see `COLLAPSE`) are named as such and left out of the
    trends, which describe the networks that learned."""
    rows = rows.sort_values("strength")
    collapsed = collapsed_rows(rows, chance)
    learned = rows[~rows.index.isin(collapsed.index)]
    if len(learned) < 2:
        return f"With {method}, {_collapse(method, collapsed, chance)}" if len(collapsed) else ""
    first, last = learned.iloc[0], learned.iloc[-1]
    best = learned.loc[learned["test_accuracy_mean"].idxmax()]
    train_trend = "fell" if last.train_accuracy_mean < first.train_accuracy_mean else "did not fall"
    if best.strength == first.strength:
        test_shape = f"test accuracy was highest without regularization ({percent(best.test_accuracy_mean)})"
    else:
        after = "and then fell" if best.strength != last.strength else "and was still rising at the largest strength"
        test_shape = (
            f"test accuracy rose from {percent(first.test_accuracy_mean)} to its peak of "
            f"{percent(best.test_accuracy_mean)} "
            f"at {best.strength:g} {after} (to {percent(last.test_accuracy_mean)} at {last.strength:g})"
        )
    gap_trend = "narrowed" if last.generalization_gap_mean < first.generalization_gap_mean else "did not narrow"
    return (
        f"With {method} from {first.strength:g} to {last.strength:g}, training accuracy {train_trend} "
        f"({percent(first.train_accuracy_mean)} → {percent(last.train_accuracy_mean)}), {test_shape}, "
        f"and the generalization gap {gap_trend} ({percent(first.generalization_gap_mean)} → "
        f"{percent(last.generalization_gap_mean)})."
        + (f" Beyond that, {_collapse(method, collapsed, chance)}" if len(collapsed) else "")
        + _peak_sureness(best.strength, first.strength, versus)
    )


def collapsed_rows(rows: pd.DataFrame, chance: float | None) -> pd.DataFrame:
    """The strengths (rows of the summary) at which the network collapsed to `chance` (see `COLLAPSE`)."""
    if chance is None:
        return rows.iloc[:0]
    return rows[rows["train_accuracy_mean"] <= chance + COLLAPSE * (1 - chance)]


def _collapse(method: str, collapsed: pd.DataFrame, chance: float) -> str:
    strengths = ", ".join(f"{strength:g}" for strength in collapsed["strength"])
    return (
        f"{method} at {strengths} collapsed the network to chance (training accuracy "
        f"{percent(collapsed['train_accuracy_mean'].max())} at most, test "
        f"{percent(collapsed['test_accuracy_mean'].max())}; chance {percent(chance)}): a model that learned "
        "nothing, not a trade-off between fitting and generalizing."
    )


def _peak_sureness(peak: float, baseline: float, versus: pd.DataFrame | None) -> str:
    """The peak's test accuracy against no regularization, paired by seed, in words ("" at the baseline)."""
    if versus is None or peak == baseline:
        return ""
    row = versus[versus["strength"] == str(peak)]
    return f" The peak against no regularization: {sureness(row.iloc[0])}." if len(row) else ""


def _figure(summary: pd.DataFrame) -> Figure:
    """Training and test accuracy against strength for each method, mean ± one std over seeds as a band."""
    methods = list(dict.fromkeys(summary["method"]))
    figure = Figure(figsize=(5 * len(methods), 3.8))
    for axes, method in zip(np.atleast_1d(figure.subplots(1, len(methods))), methods):
        rows = summary[summary["method"] == method].sort_values("strength")
        positions = np.arange(len(rows))  # evenly spaced: the grids span decades and include 0
        for column, label in (("train_accuracy", "training"), ("test_accuracy", "test")):
            mean, std = rows[f"{column}_mean"].to_numpy(), rows[f"{column}_std"].fillna(0).to_numpy()
            axes.plot(positions, mean, marker="o", label=label)
            axes.fill_between(positions, mean - std, mean + std, alpha=0.25)
        axes.set_xticks(positions, [f"{s:g}" for s in rows["strength"]])
        axes.set(xlabel=f"{method} strength", ylabel="accuracy", title=method)
        axes.legend()
    return figure
