"""Data sets and their splits: sizes, stratification, seeds, and the linear set's formula."""

import numpy as np
import pytest

from regstudy import DATASETS, ConfigError, RunConfig
from regstudy.config import splits_for
from regstudy.data import check_sizes, split
from regstudy.data.builtin import Linear

from helpers import example_options


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_data_set_loads_and_splits(name, tmp_path):
    splits = splits_for(RunConfig(dataset=name, dataset_options=example_options(name, tmp_path)))
    total = sum(splits.sizes.values())
    assert splits.sizes["test"] == pytest.approx(0.2 * total, abs=1)
    assert splits.sizes["validation"] == pytest.approx(0.2 * total, abs=1)
    assert splits.x_train.dtype == np.float32 and splits.x_train.ndim == 2
    assert not np.isnan(splits.x_train).any()


def test_real_data_sets_are_the_shipped_ones():
    digits = DATASETS.get("digits")().arrays()
    mnist = DATASETS.get("mnist_5k")().arrays()
    assert digits[0].shape == (1797, 64) and mnist[0].shape == (5000, 784)
    assert np.bincount(mnist[1]).tolist() == [500] * 10
    assert 0 <= digits[0].min() and digits[0].max() == 1


def test_splits_are_fixed_by_the_split_seed_and_stratified():
    first, again, other = (splits_for(RunConfig(train_size=100, split_seed=s)) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)
    assert np.bincount(first.y_train).min() >= 9  # 100 of 10 balanced classes


def test_linear_targets_follow_the_formula():
    dataset = Linear(n_samples=50, n_features=3, noise=0.0)
    x, y = dataset.arrays()
    assert 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(y, x @ dataset.true_weights(), rtol=1e-5)


def test_a_training_set_larger_than_what_is_left_is_refused():
    with pytest.raises(ConfigError, match="train_size.*at most the 1077 examples"):
        split(DATASETS.get("digits")(), train_size=5000)


def test_irrelevant_features_depend_on_the_first_feature_only():
    from regstudy.data.builtin import IrrelevantFeatures

    x, y = IrrelevantFeatures(n_samples=4000, n_irrelevant=20, slope=10.0, seed=1).arrays()
    assert x.shape == (4000, 21)
    assert np.mean((x[:, 0] > 0) == (y == 1)) > 0.9
    for column in range(1, 21):
        assert abs(np.corrcoef(x[:, column], y)[0, 1]) < 0.06


@pytest.mark.parametrize("name", DATASETS.names())
def test_the_sizes_checked_before_a_run_are_the_sizes_it_splits(name, tmp_path):
    """`check_sizes` counts without splitting; scikit-learn's `train_test_split` is the reference."""
    options = example_options(name, tmp_path)
    available = splits_for(RunConfig(dataset=name, dataset_options=options)).sizes["train"]
    check_sizes(DATASETS.get(name).create(options), available, 0.2, 0.2, None)
    with pytest.raises(ConfigError, match=f"at most the {available} examples"):
        RunConfig(dataset=name, dataset_options=options, train_size=available + 1)


@pytest.mark.parametrize(
    "name, key, value",
    [
        pytest.param(name, key, value, id=f"{name}.{key}={value!r}")
        for name in DATASETS.names()
        for key, constraint in DATASETS.get(name).parameter_constraints.items()
        for value in constraint.invalid_values()
    ],
)
def test_every_data_set_option_outside_its_range_is_refused(name, key, value):
    with pytest.raises(ConfigError) as caught:
        RunConfig(dataset=name, dataset_options={key: value})
    assert caught.value.key.startswith(f"dataset_options.{key}")  # a list's item is named `drop[0]`


def test_options_that_do_not_fit_together_are_refused():
    with pytest.raises(ConfigError, match="n_features = 4"):
        RunConfig(dataset="noisy_classification", dataset_options={"n_features": 4, "n_informative": 5})
    # scikit-learn's make_classification is the reference: it needs n_classes · 2 clusters <= 2**n_informative.
    with pytest.raises(ConfigError, match="2\\*\\*n_informative / 2 = 1"):
        RunConfig(dataset="noisy_classification", dataset_options={"n_informative": 1, "n_classes": 2})
    RunConfig(dataset="noisy_classification", dataset_options={"n_informative": 2, "n_classes": 2})
    with pytest.raises(ConfigError, match="makes 100,000,000,000 values, more than the 1,000,000,000"):
        RunConfig(dataset="linear", dataset_options={"n_samples": 10_000_000, "n_features": 10_000})
