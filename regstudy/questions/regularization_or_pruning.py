"""Question 06: regularization or pruning? Magnitude pruning of unregularized, L1- and L2-trained networks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy import lazy_modules
from regstudy.questions import experiment_of, magnitude_pruning
from regstudy.questions.common import Answer, Question, mean_std, percent
from regstudy.questions.constraints import FRACTIONS, PLUGINS_BY_LABEL
from regstudy.validation import Constraint, Interval

keras = lazy_modules.load("keras")  # lazy: question modules are imported to validate their files
EXPERIMENT = experiment_of(__name__)


PARAMETERS: dict[str, Constraint] = {
    "methods": PLUGINS_BY_LABEL,
    "fractions": FRACTIONS,
    "fine_tune_epochs": Interval(int, 0, 100_000, limit=True),
    "tolerance": Interval(float, 0, 1),
}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    methods: dict[str, dict],
    fractions: list[float],
    fine_tune_epochs: int,
    seeds: list[int],
    tolerance: float,
    experiment: str = EXPERIMENT,
    **training: Any,
) -> Answer:
    """Train each method, prune the trained network at each fraction, evaluate, fine-tune briefly, evaluate.

    A curve "breaks" at the first fraction whose test accuracy is more than `tolerance` below the unpruned
    network's. Each child run gets `pruned_test_accuracy` and `fine_tuned_test_accuracy` with step = percent pruned.

    Args:
        methods: label → plugins, e.g. `{"none": {"none": {}}, "l1": {"l1": {"l1": 1e-4}}}`.
        fractions: the fractions of kernel weights removed, in [0, 1].
        fine_tune_epochs: epochs of fine-tuning after pruning, with the removed weights held at zero.
        seeds: the training seeds.
        tolerance: the drop in test accuracy that counts as broken.
        **training: parameters of every run.
    """
    rows = []
    with Question(
        experiment,
        {
            "methods": methods,
            "fractions": fractions,
            "fine_tune_epochs": fine_tune_epochs,
            "seeds": seeds,
            "tolerance": tolerance,
            **training,
        },
    ) as question:
        for method, plugins in methods.items():
            for seed in seeds:
                result = question.train({"method": method}, plugins=plugins, seed=seed, **training)
                zeros = exact_zeros(result.model)
                for row in _pruning_curve(result, fractions, fine_tune_epochs):
                    rows.append({"method": method, "seed": seed, "trained_zeros": zeros, **row})
                    step = round(100 * row["fraction"])
                    for key in ("pruned", "fine_tuned"):
                        question.client.log_metric(result.run_id, f"{key}_test_accuracy", row[key], step=step)
        curves = pd.DataFrame(rows)
        summary = mean_std(curves, ["method", "fraction"], ["pruned", "fine_tuned"])
        breaks = _breaks(summary, tolerance)
        activity = _activity(curves, _baseline(methods))
        breaks = breaks.merge(activity, on="method", how="left")
        answer = _answer(breaks, tolerance)
        figure = _figure(summary)
        found = question.log_result(
            answer,
            tables={"runs": curves, "pruning_curves": summary, "breaks": breaks},
            figures={"pruning_curves": figure},
        )
    return found


def exact_zeros(model: keras.Model) -> float:
    """The share of the trained model's kernel weights (every weight array of two or more axes) exactly zero."""
    kernels = [weights.ravel() for weights in model.get_weights() if weights.ndim >= 2]
    return float(np.mean(np.concatenate(kernels) == 0))


def _baseline(methods: dict[str, dict]) -> str | None:
    """The label of the unregularized method (`none`, or no plugins), if there is one."""
    return next((label for label, plugins in methods.items() if not plugins or set(plugins) == {"none"}), None)


def _activity(curves: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    """Per method: the mean share of its trained weights exactly zero, and whether it acted, "no" where its
    unpruned test accuracy equals the baseline's at every seed and it zeroed no more weights: a penalty that
    changed nothing, whose curve then says nothing about it."""
    unpruned = curves[curves["fraction"] == curves["fraction"].min()]
    by_seed = unpruned.pivot_table(index="seed", columns="method", values="pruned")
    zeros = unpruned.groupby("method", sort=False)["trained_zeros"].mean()
    rows = []
    for method in zeros.index:
        same = baseline is not None and method != baseline and bool((by_seed[method] == by_seed[baseline]).all())
        inactive = same and zeros[method] <= zeros[baseline]
        acted = "" if method == baseline else "no" if inactive else "yes"
        rows.append({"method": method, "zeros": float(zeros[method]), "acted": acted})
    return pd.DataFrame(rows)


def _pruning_curve(result, fractions: list[float], fine_tune_epochs: int) -> list[dict[str, float]]:
    """Test accuracy of the trained model pruned at each fraction, before and after fine-tuning."""
    model, splits = result.model, result.splits
    trained = model.get_weights()
    y_train = keras.utils.to_categorical(splits.y_train, splits.classes)
    y_test = keras.utils.to_categorical(splits.y_test, splits.classes)
    rows = []
    for fraction in fractions:
        model.set_weights(trained)
        masks = magnitude_pruning.prune(model, fraction)
        pruned = _accuracy(model, splits.x_test, y_test)
        if fine_tune_epochs:
            magnitude_pruning.fine_tune(
                model,
                masks,
                splits.x_train,
                y_train,
                fine_tune_epochs,
                result.config.batch_size,
                result.config.learning_rate,
                result.config.seed,
            )
        rows.append({"fraction": fraction, "pruned": pruned, "fine_tuned": _accuracy(model, splits.x_test, y_test)})
    model.set_weights(trained)
    return rows


def _accuracy(model: keras.Model, x: np.ndarray, y_one_hot: np.ndarray) -> float:
    predictions = keras.ops.convert_to_numpy(model(x, training=False))
    return float(np.mean(predictions.argmax(axis=1) == y_one_hot.argmax(axis=1)))


def _breaks(summary: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """For each method and curve, the unpruned accuracy and the first fraction more than `tolerance` below it."""
    rows = []
    for method, curve in summary.groupby("method", sort=False):
        curve = curve.sort_values("fraction")
        unpruned = curve.iloc[0]["pruned_mean"]
        row = {"method": method, "unpruned": unpruned, "pruned_area": float(curve["pruned_mean"].mean())}
        for key in ("pruned", "fine_tuned"):
            broken = curve[curve[f"{key}_mean"] < unpruned - tolerance]
            row[f"{key}_breaks_at"] = float(broken["fraction"].iloc[0]) if len(broken) else np.nan
            row[f"{key}_at_largest"] = float(curve[f"{key}_mean"].iloc[-1])
        rows.append(row)
    return pd.DataFrame(rows)


def _answer(breaks: pd.DataFrame, tolerance: float) -> str:
    def where(value):
        return "never (within the fractions tried)" if np.isnan(value) else f"at {percent(value)} removed"

    def zeros(row):
        return f", {percent(row.zeros)} of its weights exactly zero" if "zeros" in breaks else ""

    sentences = [
        f"Without fine-tuning, the {row.method} network (unpruned {percent(row.unpruned)}{zeros(row)}) loses more "
        f"than {100 * tolerance:g} points "
        f"{where(row.pruned_breaks_at)}; with fine-tuning {where(row.fine_tuned_breaks_at)}."
        for row in breaks.itertuples()
    ]
    inactive = breaks[breaks["acted"] == "no"]["method"].tolist() if "acted" in breaks else []
    if inactive:
        sentences.append(
            f"{', '.join(inactive)} did not act: unpruned, each tested exactly as the unregularized network did at "
            "every seed and zeroed no more weights, so its curve says nothing about that method."
        )
    ranked = breaks.sort_values("pruned_area", ascending=False)
    sentences.append(
        "Averaged over the fractions tried, pruned test accuracy without fine-tuning was highest for "
        f"{ranked.iloc[0].method} "
        f"({percent(ranked.iloc[0].pruned_area)}) and lowest for {ranked.iloc[-1].method} "
        f"({percent(ranked.iloc[-1].pruned_area)})."
    )
    return " ".join(sentences)


def _figure(summary: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(10, 3.8))
    for axes, key, title in zip(
        figure.subplots(1, 2, sharey=True), ("pruned", "fine_tuned"), ("pruned", "pruned, then fine-tuned")
    ):
        for method, curve in summary.groupby("method", sort=False):
            mean, std = curve[f"{key}_mean"].to_numpy(), curve[f"{key}_std"].fillna(0).to_numpy()
            axes.plot(100 * curve["fraction"], mean, marker="o", label=method)
            axes.fill_between(100 * curve["fraction"], mean - std, mean + std, alpha=0.2)
        axes.set(xlabel="weights removed (%)", ylabel="test accuracy", title=title)
        axes.legend()
    return figure
