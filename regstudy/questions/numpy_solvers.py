"""Penalized least squares written out in numpy: what the `l1` and `l2` plugins do, from first principles.

Every function here minimises the same objective as a regstudy run of a model with no hidden layer and
a penalty plugin, so that the two can be compared number for number:

`J(w, b) = mean((y - X·w - b)²) + l1 · sum(|w|) + l2 · sum(w²)`

The data term is a **mean** over the examples, as Keras' loss is, and the penalty is a **sum** over the
weights, as Keras' regularizers are; the bias is not penalized. A textbook objective written with a sum of
squared errors, `sum((y - X·w - b)²) + λ' · sum(w²)`, is the same problem with `λ' = n · l2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Solution:
    """Weights and bias of a linear model."""

    weights: np.ndarray
    bias: float


def objective(x: np.ndarray, y: np.ndarray, solution: Solution, l1: float = 0.0, l2: float = 0.0) -> float:
    """`mean((y - X·w - b)²) + l1 · sum(|w|) + l2 · sum(w²)`."""
    residual = y - x @ solution.weights - solution.bias
    return float(np.mean(residual**2) + l1 * np.sum(np.abs(solution.weights)) + l2 * np.sum(solution.weights**2))


def ridge(x: np.ndarray, y: np.ndarray, l2: float) -> Solution:
    """The closed-form minimiser of `mean((y - X·w - b)²) + l2 · sum(w²)`.

    With centred data `Xc, yc`: `w = (Xcᵀ·Xc / n + l2 · I)⁻¹ · Xcᵀ·yc / n` and `b = mean(y) - mean(X)·w`.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    centred = x - x_mean
    n = len(x)
    weights = np.linalg.solve(centred.T @ centred / n + l2 * np.eye(x.shape[1]), centred.T @ (y - y_mean) / n)
    return Solution(weights, float(y_mean - x_mean @ weights))


def soft_threshold(values: np.ndarray, threshold: float) -> np.ndarray:
    """The proximal operator of `threshold · sum(|w|)`: `sign(v) · max(|v| - threshold, 0)`, exact zeros inside."""
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0.0)


def step_size(x: np.ndarray, l2: float = 0.0) -> float:
    """`1 / L`, with `L = 2 · λ_max([X 1]ᵀ·[X 1] / n) + 2 · l2` the Lipschitz constant of the smooth part's gradient.

    Gradient descent with this step converges on the smooth part; it is the standard safe choice.
    """
    augmented = np.hstack([np.asarray(x, np.float64), np.ones((len(x), 1))])
    return 1.0 / (2.0 * np.linalg.eigvalsh(augmented.T @ augmented / len(x)).max() + 2.0 * l2)


def gradient_descent(
    x: np.ndarray,
    y: np.ndarray,
    l1: float = 0.0,
    l2: float = 0.0,
    steps: int = 5000,
    learning_rate: float | None = None,
) -> Solution:
    """Minimise the objective by (sub)gradient descent from zero: the L1 term contributes `l1 · sign(w)`.

    For L2 alone this converges to `ridge`. With L1 the subgradient is not zero near zero, so weights that
    should vanish oscillate around zero instead of reaching it; see `proximal_gradient`.

    Args:
        steps: the number of full-batch steps. Defaults to 5000.
        learning_rate: the step, or None for `step_size(x, l2)`. Defaults to None.
    """
    return _descend(x, y, l1, l2, steps, learning_rate, proximal=False)


def proximal_gradient(
    x: np.ndarray, y: np.ndarray, l1: float, l2: float = 0.0, steps: int = 5000, learning_rate: float | None = None
) -> Solution:
    """Minimise the objective by proximal gradient descent (ISTA): a gradient step on the smooth part, then
    soft-thresholding by `learning_rate · l1`, which sets weights exactly to zero.

    Args:
        steps: the number of full-batch steps. Defaults to 5000.
        learning_rate: the step, or None for `step_size(x, l2)`. Defaults to None.
    """
    return _descend(x, y, l1, l2, steps, learning_rate, proximal=True)


def _descend(x, y, l1: float, l2: float, steps: int, learning_rate: float | None, proximal: bool) -> Solution:
    """Full-batch descent from zero: the L1 term as a subgradient `l1 · sign(w)`, or as a proximal step."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    rate = learning_rate or step_size(x, l2)
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        residual = x @ weights + bias - y
        gradient = 2 * x.T @ residual / len(x) + 2 * l2 * weights
        if proximal:
            weights = soft_threshold(weights - rate * gradient, rate * l1)
        else:
            weights = weights - rate * (gradient + l1 * np.sign(weights))
        bias -= rate * 2 * residual.mean()
    return Solution(weights, float(bias))
