"""What every engine shares: the `Engine` base and registry, the epoch's data and order, and driving callbacks
around one compiled call per epoch (`drive`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import lazy_loader
import numpy as np

from regstudy.registry import Registry

keras = lazy_loader.load("keras")
# TensorFlow is imported where it is used, not as a lazy module: matplotlib asks any "tensorflow" in
# `sys.modules` whether its data are tensors, which would import it in processes that only draw figures.


@dataclass(frozen=True)
class EpochData:
    """What the engines train and validate on: encoded arrays, the batch sizes and the shuffling seed."""

    x: np.ndarray
    y: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    batch_size: int
    validation_batch_size: int
    seed: int

    @property
    def steps(self) -> int:
        """Batches per epoch; the last one holds the remainder and may be smaller."""
        return math.ceil(len(self.x) / self.batch_size)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch `epoch` (from 0) visits the `n` training examples: a permutation fixed by both."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


class Engine:
    """A way to train a run's epochs: its name (registered), the Keras backend it runs on, and `fit`.

    An engine trains the model's own `train_step` on the batches of `epoch_order`, validates with its
    `test_step` after each epoch, drives Keras callbacks as `fit` does, and returns the history, so that
    every plugin acts identically under every engine.
    """

    name: ClassVar[str]
    backend: ClassVar[str] = "tensorflow"
    """The Keras backend the engine's process runs on (`regstudy.backends`)."""

    def fit(self, model: keras.Model, data: EpochData, epochs: int, callbacks: list) -> dict[str, list[float]]:
        """Train a compiled `model` for up to `epochs` epochs; return the per-epoch history."""
        raise NotImplementedError


ENGINES: Registry[type[Engine]] = Registry("engine", group="regstudy.engines", base=Engine)
"""Every engine by name: built-ins in this package, third parties through entry points."""


def fit(engine: str, model: keras.Model, data: EpochData, epochs: int, callbacks: list) -> dict[str, list[float]]:
    """Train a compiled `model` for up to `epochs` epochs with the engine named `engine`; return the history."""
    return ENGINES.get(engine)().fit(model, data, epochs, callbacks)


def drive(model, data: EpochData, epochs: int, callbacks: list, run_epoch) -> dict[str, list[float]]:
    """Train with `run_epoch(order) -> (training logs, validation logs)`, one compiled call per epoch, calling
    the callbacks as `fit` calls them when one execution covers the whole epoch; return the history."""
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_history=True, model=model, epochs=epochs, steps=data.steps, verbose=0
    )
    model.stop_training = False
    callbacks.on_train_begin()
    logs = None
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_train_batch_begin(0)
        training, validation = run_epoch(epoch_order(data.seed, epoch, len(data.x)))
        logs = _floats(training)
        callbacks.on_train_batch_end(data.steps - 1, logs)
        callbacks.on_test_begin()
        callbacks.on_test_batch_begin(0)
        validation = _floats(validation)
        callbacks.on_test_batch_end(0, validation)
        callbacks.on_test_end(validation)
        logs = {**logs, **{f"val_{name}": value for name, value in validation.items()}}
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=logs)
    return model.history.history


def _floats(logs: dict) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items()}
