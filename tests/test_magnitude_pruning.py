"""Magnitude pruning: which weights the masks remove, and fine-tuning that keeps them removed."""

import keras
import numpy as np
import pytest

from regstudy.questions import magnitude_pruning as pruning
from regstudy.training import train
from regstudy.weights import kernels


def test_masks_remove_exactly_the_smallest_fraction_over_all_kernels():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((20, 10)), 0.01 * rng.standard_normal((10, 5))]
    masks = pruning.magnitude_masks(weights, 0.3)
    removed = np.concatenate([np.abs(w[~m]) for w, m in zip(weights, masks)])
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(weights, masks)])
    assert removed.size == int(0.3 * 250)
    assert removed.max() <= kept.min()
    assert not masks[1].any()  # the small layer goes first: the threshold is global


def test_masks_at_zero_and_one_keep_everything_and_nothing():
    weights = [np.arange(6.0).reshape(2, 3)]
    assert pruning.magnitude_masks(weights, 0.0)[0].all()
    assert not pruning.magnitude_masks(weights, 1.0)[0].any()
    with pytest.raises(ValueError, match="fraction"):
        pruning.magnitude_masks(weights, 1.5)


def test_ties_are_broken_so_that_exactly_the_fraction_goes():
    masks = pruning.magnitude_masks([np.zeros((4, 5))], 0.5)
    assert int((~masks[0]).sum()) == 10


def test_fine_tuning_keeps_pruned_weights_at_zero_and_trains_the_rest(experiment):
    result = train(
        experiment=experiment,
        dataset="digits",
        train_size=200,
        hidden_units=[32],
        plugins={"max_norm": {"max_value": 2.0}},
        epochs=2,
    )
    model, splits = result.model, result.splits
    masks = pruning.prune(model, 0.8)
    before = [kernel.numpy() for kernel in kernels(model)]
    assert sum(int((b == 0).sum()) for b in before) >= int(0.8 * sum(b.size for b in before))
    constraints = [kernel.constraint for kernel in kernels(model)]
    pruning.fine_tune(model, masks, splits.x_train, keras.utils.to_categorical(splits.y_train, 10), epochs=2, seed=0)
    after = [kernel.numpy() for kernel in kernels(model)]
    for mask, old, new in zip(masks, before, after):
        assert np.all(new[~mask] == 0.0)
        assert not np.allclose(new[mask], old[mask])
    assert [kernel.constraint for kernel in kernels(model)] == constraints  # max-norm restored, mask gone
