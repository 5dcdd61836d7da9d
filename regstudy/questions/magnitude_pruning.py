"""Magnitude pruning: remove the smallest weights of a trained model, optionally fine-tune what is left."""

from __future__ import annotations

import numpy as np

from regstudy import lazy_modules
from regstudy.weights import kernels

keras = lazy_modules.load("keras")  # lazy: question modules, which use it, are imported to validate their files


def magnitude_masks(weights: list[np.ndarray], fraction: float) -> list[np.ndarray]:
    """Masks (True = kept) that remove the `floor(fraction · N)` smallest-magnitude weights over all kernels.

    The threshold is global, as in Han et al. (2015): layers whose weights are small lose more. Ties are
    broken by position, so exactly that many weights are removed.

    >>> magnitude_masks([np.array([[0.1, -2.0], [0.5, 0.0]])], 0.5)
    [array([[False,  True], [ True, False]])]
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    magnitudes = np.concatenate([np.abs(np.ravel(w)) for w in weights])
    removed = np.zeros(magnitudes.size, dtype=bool)
    removed[np.argsort(magnitudes, kind="stable")[: int(fraction * magnitudes.size)]] = True
    masks, start = [], 0
    for w in weights:
        masks.append(~removed[start : start + w.size].reshape(np.shape(w)))
        start += w.size
    return masks


class KeepMasked(keras.constraints.Constraint):
    """A kernel constraint that keeps pruned weights at zero after every update, after any constraint of its own."""

    def __init__(self, mask: np.ndarray, inner: keras.constraints.Constraint | None = None):
        self.mask = keras.ops.convert_to_tensor(mask, dtype="float32")
        self.inner = inner

    def __call__(self, w):
        return (self.inner(w) if self.inner is not None else w) * self.mask


def prune(model: keras.Model, fraction: float) -> list[np.ndarray]:
    """Zero the smallest `fraction` of the model's kernel weights (globally, by magnitude); return the masks."""
    variables = kernels(model)
    masks = magnitude_masks([v.numpy() for v in variables], fraction)
    for variable, mask in zip(variables, masks):
        variable.assign(variable.numpy() * mask)
    return masks


def fine_tune(
    model: keras.Model,
    masks: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> None:
    """Train the pruned model for a few epochs with a fresh Adam, the removed weights held at zero.

    The model keeps its loss, penalties and layers; `y` is one-hot for classification.
    """
    variables = kernels(model)
    previous = [v.constraint for v in variables]
    for variable, mask in zip(variables, masks):
        variable.constraint = KeepMasked(mask, variable.constraint)
    try:
        keras.utils.set_random_seed(seed)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=model.loss, metrics=None)
        model.fit(_shuffled(x, y, batch_size, seed), epochs=epochs, shuffle=False, verbose=0)
    finally:
        for variable, constraint in zip(variables, previous):
            variable.constraint = constraint


def _shuffled(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
    """Batches reshuffled every epoch, in an order fixed by `seed` (a `tf.data` pipeline)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    return data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size).prefetch(2)
