"""The numpy solvers of the penalties notebook, against the definitions and against scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso, Ridge

from regstudy.config import RunConfig, splits_for
from regstudy.questions import numpy_solvers


@pytest.fixture(scope="module")
def data():
    splits = splits_for(
        RunConfig(dataset="linear", dataset_options={"n_samples": 200, "n_features": 10, "noise": 0.5}, hidden_units=[])
    )
    return splits.x_train.astype(np.float64), splits.y_train.astype(np.float64)


def test_the_objective_is_mean_squared_error_plus_summed_penalties():
    x, y = np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([1.0, 0.0])
    solution = numpy_solvers.Solution(np.array([0.5, -0.25]), 0.1)
    residual = y - (x @ solution.weights + 0.1)
    expected = np.mean(residual**2) + 0.3 * (0.5 + 0.25) + 0.2 * (0.25 + 0.0625)
    assert numpy_solvers.objective(x, y, solution, l1=0.3, l2=0.2) == pytest.approx(expected)


@pytest.mark.parametrize("l2", [0.001, 0.1, 10.0])
def test_ridge_is_scikit_learns_ridge_with_alpha_n_times_lambda(data, l2):
    """The mean-vs-sum convention: scikit-learn's Ridge penalizes a sum of squared errors, so α = n·λ."""
    x, y = data
    ours = numpy_solvers.ridge(x, y, l2)
    theirs = Ridge(alpha=len(x) * l2).fit(x, y)
    np.testing.assert_allclose(ours.weights, theirs.coef_, atol=1e-10)
    assert ours.bias == pytest.approx(theirs.intercept_)


@pytest.mark.parametrize("l2", [0.01, 10.0])
def test_gradient_descent_reaches_the_closed_form(data, l2):
    x, y = data
    np.testing.assert_allclose(
        numpy_solvers.gradient_descent(x, y, l2=l2, steps=5000).weights,
        numpy_solvers.ridge(x, y, l2).weights,
        atol=1e-6,
    )


def test_soft_threshold_shrinks_toward_zero_and_zeroes_inside():
    values = np.array([-3.0, -0.5, 0.0, 0.2, 2.0])
    np.testing.assert_array_equal(numpy_solvers.soft_threshold(values, 1.0), [-2.0, 0.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("l1", [0.05, 0.2])
def test_proximal_gradient_is_scikit_learns_lasso_with_alpha_half_lambda(data, l1):
    """scikit-learn's Lasso minimises mean(r²)/2 + α·Σ|w|: our objective halved, so α = λ/2."""
    x, y = data
    ours = numpy_solvers.proximal_gradient(x, y, l1=l1, steps=20000)
    theirs = Lasso(alpha=l1 / 2, tol=1e-12, max_iter=100000).fit(x, y)
    np.testing.assert_allclose(ours.weights, theirs.coef_, atol=1e-6)
    np.testing.assert_array_equal(ours.weights == 0.0, theirs.coef_ == 0.0)
    assert np.sum(ours.weights == 0.0) > 0


def test_proximal_solution_meets_the_optimality_conditions(data):
    """At a lasso minimum the data gradient is -λ·sign(w) on non-zero weights and within [-λ, λ] on zeros."""
    x, y = data
    l1 = 0.2
    solution = numpy_solvers.proximal_gradient(x, y, l1=l1, steps=20000)
    gradient = 2 * x.T @ (x @ solution.weights + solution.bias - y) / len(x)
    zero = solution.weights == 0.0
    assert np.all(np.abs(gradient[zero]) <= l1 + 1e-6)
    np.testing.assert_allclose(gradient[~zero], -l1 * np.sign(solution.weights[~zero]), atol=1e-6)


def test_subgradient_descent_hovers_instead_of_reaching_zero(data):
    x, y = data
    subgradient = numpy_solvers.gradient_descent(x, y, l1=0.2, steps=5000).weights
    proximal = numpy_solvers.proximal_gradient(x, y, l1=0.2, steps=5000).weights
    assert np.sum(subgradient == 0.0) == 0
    assert np.all(np.abs(subgradient[proximal == 0.0]) < 0.05)  # near zero, never at it
