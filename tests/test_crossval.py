"""Cross-validation folds: a partition of the training set, stratified, in RunConfig; choosing by mean score."""

import numpy as np
import pandas as pd
import pytest

from regstudy import ConfigError, RunConfig
from regstudy.config import splits_for
from regstudy.data import fold_indices
from regstudy.questions.crossval import choose


def test_folds_partition_the_examples_and_keep_class_shares():
    y = np.repeat(np.arange(3), [30, 60, 90])
    held_out = [fold_indices(y, 5, fold, seed=0)[1] for fold in range(5)]
    np.testing.assert_array_equal(np.sort(np.concatenate(held_out)), np.arange(len(y)))
    for part in held_out:
        np.testing.assert_array_equal(np.bincount(y[part]), [6, 12, 18])
    training, validation = fold_indices(y, 5, 2, seed=0)
    assert not set(training) & set(validation)


def test_a_fold_is_the_validation_set_and_the_test_set_is_shared():
    base = {"dataset": "digits", "train_size": 300, "folds": 3}
    whole = splits_for(RunConfig(dataset="digits", train_size=300))
    parts = [splits_for(RunConfig(**base, fold=fold)) for fold in range(3)]
    for part in parts:
        assert part.sizes == {"train": 200, "validation": 100, "test": whole.sizes["test"]}
        np.testing.assert_array_equal(part.x_test, whole.x_test)
    validation = np.concatenate([part.x_validation for part in parts])
    assert sorted(map(bytes, validation)) == sorted(map(bytes, whole.x_train))


@pytest.mark.parametrize(
    "parameters, key", [({"folds": 1}, "folds"), ({"folds": 3, "fold": 3}, "fold"), ({"fold": 1}, "fold")]
)
def test_bad_folds_are_refused_naming_the_key(parameters, key):
    with pytest.raises(ConfigError) as caught:
        RunConfig(dataset="digits", **parameters)
    assert caught.value.key == key


def test_choose_takes_the_best_mean_and_the_first_on_a_tie():
    scores = pd.DataFrame(
        {
            "candidate": ["a", "a", "b", "b", "c", "c"],
            "fold": [0, 1] * 3,
            "validation_accuracy": [0.6, 0.8, 0.9, 0.5, 0.65, 0.65],
        }
    )
    chosen, summary = choose(scores)
    assert chosen == "a"
    assert summary["mean"].tolist() == pytest.approx([0.7, 0.7, 0.65])
    assert summary.loc["c", "std"] == 0
