"""Question 07: when to stop? Prechelt's GL, PQ and UP criteria beside patience, over seeds and data sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy.errors import ConfigError
from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question, against, mean_std, sureness
from regstudy.questions.constraints import PLUGINS_BY_LABEL, RunParameters
from regstudy.validation import Constraint, MappingOf

EXPERIMENT = experiment_of(__name__)

PRECHELT_TRADE = (
    "Prechelt (1998) reports that slower criteria gain about 4 % in generalization for about 4 times the training time."
)


@dataclass(frozen=True)
class Criteria(Constraint):
    """Stopping criteria by label, one of which never stops: the reference the others are measured against."""

    def check(self, name, value):
        value = PLUGINS_BY_LABEL.check(name, value)
        _full_training(value, name)
        return value

    def __str__(self) -> str:
        return "stopping criteria by label, one of which never stops (e.g. `full: {none: {}}`)"

    def invalid_values(self):
        return [*PLUGINS_BY_LABEL.invalid_values(), {"GL2": {"gl": {}}}]


PARAMETERS: dict[str, Constraint] = {"criteria": Criteria(), "datasets": MappingOf(RunParameters())}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    criteria: dict[str, dict],
    datasets: dict[str, dict],
    seeds: list[int],
    experiment: str = EXPERIMENT,
    **training: Any,
) -> Answer:
    """Train with each stopping criterion on each data set and seed, up to `epochs`; compare when and how well
    each stops.

    Args:
        criteria: label → plugins, e.g.
            `{"GL2": {"gl": {"alpha": 2}}, "patience 5": {"early_stopping": {"patience": 5}}}`;
            `{"none": {}}` trains every epoch.
        datasets: label → run parameters of the data set (`dataset`, `dataset_options`, `train_size`, ...).
        seeds: the training seeds.
        **training: parameters of every run (hidden_units, epochs, ...).
    """
    with Question(experiment, {"criteria": criteria, "datasets": datasets, "seeds": seeds, **training}) as question:
        for data_label, data in datasets.items():
            for criterion, plugins in criteria.items():
                for seed in seeds:
                    question.train(
                        {"data": data_label, "criterion": criterion}, plugins=plugins, seed=seed, **data, **training
                    )
        table = question.table()
        table["test_error"] = 1.0 - table["test_accuracy"]
        # Relative to the same data set and seed trained without stopping: machine-independent time and error.
        reference = table[table["criterion"] == _full_training(criteria)].set_index(["data", "seed"])
        keys = pd.MultiIndex.from_frame(table[["data", "seed"]])
        table["relative_epochs"] = table["epochs_trained"].to_numpy() / reference.loc[keys, "epochs_trained"].to_numpy()
        table["relative_test_error"] = table["test_error"].to_numpy() / reference.loc[keys, "test_error"].to_numpy()
        summary = mean_std(
            table, ["criterion"], ["epochs_trained", "relative_epochs", "test_error", "relative_test_error"]
        )
        versus = against(table, "criterion", _full_training(criteria), "test_accuracy", paired_by=("data", "seed"))
        answer = _answer(summary, _full_training(criteria), versus, table)
        figure = _figure(table)
        found = question.log_result(
            answer,
            tables={"runs": table, "criteria": summary, "against_full_training": versus},
            figures={"criteria": figure},
        )
    return found


def _full_training(criteria: dict[str, dict], key: str = "criteria") -> str:
    """The label of the criterion that never stops (the reference), which `criteria` must include."""
    for label, plugins in criteria.items():
        if not plugins or set(plugins) == {"none"}:
            return label
    problem = (
        "has no criterion that never stops (e.g. `full: {none: {}}`), the reference the others are measured against"
    )
    raise ConfigError(key, list(criteria), problem)


def _answer(
    summary: pd.DataFrame, reference: str, versus: pd.DataFrame | None = None, table: pd.DataFrame | None = None
) -> str:
    stopping = summary[summary["criterion"] != reference]
    fastest = stopping.loc[stopping["relative_epochs_mean"].idxmin()]
    slowest = stopping.loc[stopping["relative_epochs_mean"].idxmax()]
    best = stopping.loc[stopping["test_error_mean"].idxmin()]
    time_ratio = slowest.epochs_trained_mean / fastest.epochs_trained_mean
    error_change = 100 * (1 - slowest.test_error_mean / fastest.test_error_mean)
    varies = len(stopping) > 2 and stopping["relative_epochs_mean"].std() > 0 and stopping["test_error_mean"].std() > 0
    relation = (
        "across criteria, epochs trained and test error correlate at "
        f"{np.corrcoef(stopping['relative_epochs_mean'], stopping['test_error_mean'])[0, 1]:+.2f}"
        if varies
        else "test error did not vary enough across criteria to correlate it with training time"
    )
    return (
        f"The fastest criterion, {fastest.criterion}, stopped after {fastest.relative_epochs_mean:.0%} of the epochs "
        "of full training "
        f"(test error {fastest.test_error_mean:.2%}); the slowest, {slowest.criterion}, after "
        f"{slowest.relative_epochs_mean:.0%} "
        f"({slowest.test_error_mean:.2%}): {time_ratio:.1f} times the training time for "
        f"a test error {abs(error_change):.1f} % {'lower' if error_change >= 0 else 'higher'} (relative)"
        + _contrast(table, str(slowest.criterion), str(fastest.criterion))
        + ". "
        f"The lowest test error was {best.criterion}'s ({best.test_error_mean:.2%}, against "
        f"{summary.set_index('criterion').loc[reference, 'test_error_mean']:.2%} "
        f"without stopping); {relation}. " + _identical(table) + _best_sureness(best.criterion, versus) + PRECHELT_TRADE
    )


def _contrast(table: pd.DataFrame | None, slowest: str, fastest: str) -> str:
    """How surely the slowest criterion's test accuracy differs from the fastest's, paired by data set and seed,
    and on how many of those pairs their test errors were identical ("" without the runs)."""
    if table is None or slowest == fastest:
        return ""
    pair = table[table["criterion"].isin([slowest, fastest])]
    row = against(pair, "criterion", fastest, "test_accuracy", paired_by=("data", "seed")).iloc[0]
    errors = pair.pivot_table(index=["data", "seed"], columns="criterion", values="test_error").dropna()
    same = int((errors[slowest] == errors[fastest]).sum())
    return f"; paired by data set and seed, identical on {same} of {len(errors)}: {sureness(row)}"


def _identical(table: pd.DataFrame | None) -> str:
    """The largest set of criteria whose test errors were identical at every data set and seed, in words, when
    it holds more than one: the design cannot tell those criteria apart ("" otherwise)."""
    if table is None:
        return ""
    errors = table.pivot_table(index="criterion", columns=["data", "seed"], values="test_error", sort=False)
    groups = errors.groupby(list(errors.columns), sort=False, dropna=False).groups
    largest = max(groups.values(), key=len)
    if len(largest) < 2:
        return ""
    return (
        f"{len(largest)} of the {len(errors)} criteria ({', '.join(map(str, largest))}) reached the identical test "
        "error at every data set and seed: this design cannot tell them apart. "
    )


def _best_sureness(criterion: str, versus: pd.DataFrame | None) -> str:
    """The best criterion's test accuracy against full training, paired by data set and seed, in words."""
    if versus is None:
        return ""
    row = versus[versus["criterion"] == str(criterion)]
    return (
        f"{criterion} against full training, paired by data set and seed: {sureness(row.iloc[0])}. " if len(row) else ""
    )


def _figure(table: pd.DataFrame) -> Figure:
    """Each criterion's training time against test error, both relative to full training, one point per data set."""
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.subplots()
    grouped = (
        table.groupby(["criterion", "data"], sort=False)[["relative_epochs", "relative_test_error"]]
        .mean()
        .reset_index()
    )
    for data, points in grouped.groupby("data", sort=False):
        axes.scatter(points["relative_epochs"], points["relative_test_error"], label=data)
        for point in points.itertuples():
            axes.annotate(
                point.criterion,
                (point.relative_epochs, point.relative_test_error),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    axes.axhline(1.0, color="grey", linewidth=0.8)
    axes.set(xlabel="epochs trained / full training", ylabel="test error / full training's", title="Stopping criteria")
    axes.legend()
    return figure
