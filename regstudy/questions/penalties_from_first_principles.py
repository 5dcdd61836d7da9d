"""Question 03: what do the L1 and L2 penalties do to the weights? Numpy from first principles, then regstudy.

On the `linear` data set: L2 by gradient descent against the closed-form ridge solution as λ grows; L1
by subgradient descent against proximal gradient (soft-thresholding); then the same problems trained through
the `l1` and `l2` plugins on a model with no hidden layer, compared weight for weight. Last, the `l1` plugin's
proximal method on a classification problem (softmax regression on `wine`) against scikit-learn's
L1-penalized `LogisticRegression` (saga): the fraction of exact zeros and the test accuracy.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy.config import RunConfig, splits_for
from regstudy.questions import experiment_of, numpy_solvers
from regstudy.questions.common import Answer, Question
from regstudy.questions.constraints import STRENGTH_GRID, DatasetOptions
from regstudy.validation import Constraint, Interval, ListOf, MappingOf

EXPERIMENT = experiment_of(__name__)

EXACT_ZERO = 0.0
"""Proximal steps produce weights that are exactly 0.0; a subgradient step almost never does."""


PARAMETERS: dict[str, Constraint] = {
    "dataset_options": DatasetOptions("linear"),
    "l2_grid": STRENGTH_GRID,
    "l1_grid": STRENGTH_GRID,
    "numpy_steps": Interval(int, 1, 10_000_000, limit=True),
    "keras_penalties": ListOf(MappingOf(Interval(float, 0, None), keys=("l1", "l2"))),
    "keras_epochs": Interval(int, 1, 100_000, limit=True),
    "keras_learning_rate": Interval(float, 0, None, closed="right"),
    "tolerance": Interval(float, 0, None, closed="right"),
    "sklearn_l1_grid": ListOf(Interval(float, 0, None, closed="neither")),  # C = 1 / (n·λ)
    "sklearn_epochs": Interval(int, 1, 100_000, limit=True),
    "sklearn_learning_rate": Interval(float, 0, None, closed="right"),
}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    dataset_options: dict,
    l2_grid: list[float],
    l1_grid: list[float],
    numpy_steps: int,
    keras_penalties: list[dict],
    keras_epochs: int,
    keras_learning_rate: float,
    tolerance: float,
    sklearn_l1_grid: list[float],
    sklearn_epochs: int,
    sklearn_learning_rate: float,
    experiment: str = EXPERIMENT,
) -> Answer:
    """Solve the penalized least-squares problems in numpy and through regstudy, and compare.

    Args:
        dataset_options: options of the `linear` data set.
        l2_grid: the L2 strengths of the shrinkage path.
        l1_grid: the L1 strengths compared between subgradient and proximal descent.
        numpy_steps: full-batch steps of each numpy descent.
        keras_penalties: e.g. `[{"l2": 0.01}, {"l1": 0.01}]`, each trained full-batch through regstudy.
        keras_epochs: epochs (= full-batch steps) of each regstudy run, with Adam.
        keras_learning_rate: Adam's learning rate.
        tolerance: the largest |w_regstudy − w_numpy| counted as agreement.
        sklearn_l1_grid: the L1 strengths at which proximal `l1` is compared with scikit-learn on `wine`.
        sklearn_epochs: full-batch SGD epochs of each of those runs.
        sklearn_learning_rate: their learning rate.
    """
    parameters = dict(locals())
    common = {"dataset": "linear", "dataset_options": dataset_options, "hidden_units": []}
    splits = splits_for(RunConfig(**common))
    x, y = splits.x_train.astype(np.float64), splits.y_train.astype(np.float64)
    # Each solution is computed once and shared by the tables, the comparison and the figure.
    ridge = functools.cache(lambda l2: numpy_solvers.ridge(x, y, l2))
    lasso = functools.cache(lambda l1: numpy_solvers.proximal_gradient(x, y, l1=l1, steps=numpy_steps))
    with Question(experiment, parameters) as question:
        shrinkage = pd.DataFrame([_shrinkage_row(x, y, ridge(l2), l2, numpy_steps) for l2 in l2_grid])
        sparsity = pd.DataFrame([_sparsity_row(x, y, lasso(l1), l1, numpy_steps) for l1 in l1_grid])
        solutions = {"l2": ridge, "l1": lasso}
        training = {**common, "optimizer": "adam", "learning_rate": keras_learning_rate, "epochs": keras_epochs}
        agreement = pd.DataFrame(_agreement_rows(question, x, y, keras_penalties, training, solutions))
        agreement["agrees"] = agreement["largest_difference"] <= tolerance
        versus = pd.DataFrame(
            [_against_scikit_learn(question, l1, sklearn_epochs, sklearn_learning_rate) for l1 in sklearn_l1_grid]
        )
        answer = _answer(shrinkage, sparsity, agreement, tolerance, versus)
        figure = _figure(l2_grid, [ridge(l2).weights for l2 in l2_grid], l1_grid, [lasso(l1).weights for l1 in l1_grid])
        tables = {"shrinkage": shrinkage, "sparsity": sparsity, "agreement": agreement, "scikit_learn": versus}
        found = question.log_result(answer, tables, figures={"paths": figure}, tolerance=tolerance)
    return found


def _agreement_rows(question, x, y, penalties: list[dict], training: dict, solutions: dict) -> list[dict]:
    """Train each penalty full-batch through regstudy with the parameters `training`, and compare it with numpy's
    solution of the same problem (`solutions[name](strength)`)."""
    rows = []
    for penalty in penalties:
        ((name, strength),) = penalty.items()
        labels = {"penalty": name, "strength": strength}
        result = question.train(labels, **training, plugins={name: {name: strength}}, batch_size=len(x))
        rows.append(_agreement_row(x, y, result.model, name, strength, solutions[name](strength)))
    return rows


def _agreement_row(x, y, model, name: str, strength: float, reference: numpy_solvers.Solution) -> dict:
    """How far the linear model regstudy trained with penalty `name` lies from numpy's solution `reference`."""
    output = model.get_layer("output")
    trained = numpy_solvers.Solution(output.kernel.numpy().ravel().astype(np.float64), float(output.bias.numpy()[0]))
    return {
        "penalty": name,
        "strength": strength,
        "numpy_solution": "ridge (closed form)" if name == "l2" else "proximal gradient",
        "largest_difference": float(np.abs(trained.weights - reference.weights).max()),
        "numpy_objective": numpy_solvers.objective(x, y, reference, **{name: strength}),
        "regstudy_objective": numpy_solvers.objective(x, y, trained, **{name: strength}),
    }


def _shrinkage_row(x, y, solution, l2, steps):
    ridge = solution.weights
    descent = numpy_solvers.gradient_descent(x, y, l2=l2, steps=steps).weights
    return {
        "l2": l2,
        "ridge_norm": float(np.linalg.norm(ridge)),
        "descent_norm": float(np.linalg.norm(descent)),
        "largest_difference": float(np.abs(ridge - descent).max()),
    }


def _sparsity_row(x, y, solution, l1, steps):
    subgradient = numpy_solvers.gradient_descent(x, y, l1=l1, steps=steps).weights
    proximal = solution.weights
    return {
        "l1": l1,
        "subgradient_exact_zeros": int(np.sum(subgradient == EXACT_ZERO)),
        "subgradient_smallest_weight": float(np.abs(subgradient).min()),
        "proximal_exact_zeros": int(np.sum(proximal == EXACT_ZERO)),
        "weights": x.shape[1],
    }


def _against_scikit_learn(question: Question, l1: float, epochs: int, learning_rate: float) -> dict:
    """Proximal `l1` on softmax regression of `wine` (full-batch SGD, i.e. ISTA) against scikit-learn's
    `LogisticRegression(l1_ratio=1, solver="saga")` on the same standardized rows, with C = 1 / (n·λ): both
    then minimize mean cross-entropy + λ·Σ|w|."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    result = question.train(
        {"part": "scikit-learn", "strength": l1},
        dataset="wine",
        hidden_units=[],
        plugins={"l1": {"l1": l1, "method": "proximal"}},
        optimizer="sgd",
        learning_rate=learning_rate,
        batch_size=1024,
        epochs=epochs,
    )
    splits = result.splits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence warning on this nearly separable set
        reference = LogisticRegression(
            l1_ratio=1, solver="saga", C=1 / (len(splits.x_train) * l1), max_iter=20_000, tol=1e-8
        ).fit(splits.x_train, splits.y_train)
    weights = result.model.get_layer("output").kernel.numpy()
    return {
        "l1": l1,
        "regstudy_zero_fraction": float(np.mean(weights == EXACT_ZERO)),
        "scikit_learn_zero_fraction": float(np.mean(reference.coef_ == EXACT_ZERO)),
        "regstudy_test_accuracy": result.metrics["test_accuracy"],
        "scikit_learn_test_accuracy": float(reference.score(splits.x_test, splits.y_test)),
    }


def _answer(shrinkage, sparsity, agreement, tolerance, versus) -> str:
    norms = shrinkage["ridge_norm"].to_numpy()
    monotone = bool(np.all(np.diff(norms) < 0))
    first, last = shrinkage.iloc[0], shrinkage.iloc[-1]
    sentences = [
        f"L2 {'shrinks the weights steadily' if monotone else 'does not shrink the weights monotonically'}: "
        f"‖w‖ falls from {first.ridge_norm:.3f} at λ = {first.l2:g} to {last.ridge_norm:.3f} at λ = {last.l2:g}, "
        "and gradient descent reaches the closed-form ridge solution within "
        f"{shrinkage['largest_difference'].max():.1e}.",
        f"L1 by subgradient descent leaves {sparsity['subgradient_exact_zeros'].sum()} exact zeros over "
        f"{len(sparsity)} strengths "
        f"(its smallest weight hovers at {sparsity['subgradient_smallest_weight'].min():.1e}), while proximal "
        "gradient gives "
        + ", ".join(f"{row.proximal_exact_zeros} of {row.weights} at λ = {row.l1:g}" for row in sparsity.itertuples())
        + ".",
        f"Through regstudy's plugins (mean squared error plus λ·Σ|w| or λ·Σw², as in numpy), "
        f"{int(agreement['agrees'].sum())} of {len(agreement)} problems agree with numpy within {tolerance:g} "
        f"(largest difference {agreement['largest_difference'].max():.1e}).",
        "On softmax regression of wine, the l1 plugin's proximal method and scikit-learn's L1 logistic regression "
        "(saga) zero "
        + ", ".join(
            f"{row.regstudy_zero_fraction:.0%} and {row.scikit_learn_zero_fraction:.0%} of the weights "
            f"at λ = {row.l1:g}"
            for row in versus.itertuples()
        )
        + f"; their test accuracies differ by at most "
        f"{(versus['regstudy_test_accuracy'] - versus['scikit_learn_test_accuracy']).abs().max():.1%}.",
    ]
    return " ".join(sentences)


def _figure(l2_grid, ridge_paths, l1_grid, lasso_paths) -> Figure:
    figure = Figure(figsize=(10, 3.8))
    ridge_axes, lasso_axes = figure.subplots(1, 2)
    ridge_axes.plot(l2_grid, np.array(ridge_paths))
    ridge_axes.set(xscale="log", xlabel="λ (L2)", ylabel="weight", title="Ridge: every weight shrinks")
    lasso_axes.plot(l1_grid, np.array(lasso_paths), marker=".")
    lasso_axes.set(xscale="log", xlabel="λ (L1)", ylabel="weight", title="Lasso (proximal): weights reach exactly 0")
    return figure
