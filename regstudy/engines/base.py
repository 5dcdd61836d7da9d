"""What every engine shares: the `Engine` base and registry, the epoch's data and order, and driving callbacks
around one compiled call per epoch (`drive`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from regstudy import lazy_modules
from regstudy.registry import Registry

keras = lazy_modules.load("keras")
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

    trains_replicas: ClassVar[bool] = False
    """Whether `fit_replicas` trains replicas in one program (else one after another, which saves nothing)."""

    def fit(self, model: keras.Model, data: EpochData, epochs: int, callbacks: list) -> dict[str, list[float]]:
        """Train a compiled `model` for up to `epochs` epochs; return the per-epoch history."""
        raise NotImplementedError

    def fit_replicas(
        self,
        models: list[keras.Model],
        data: list[EpochData],
        epochs: int,
        callbacks: list[list],
        program: str | None = None,
    ) -> list[dict[str, list[float]]]:
        """Train replicas: compiled models of one program (same layers, shapes and plugins, each with its own
        seed, weights and hyperparameter values), each with its data and callbacks; return their histories.
        `program` names their program (`regstudy.replicas.program_key`), if known: an engine may keep what it
        compiled for it and run later replicas of the same name on it.

        This default trains them one after another; an engine that can trains them in one program.
        """
        return [self.fit(model, each, epochs, chosen) for model, each, chosen in zip(models, data, callbacks)]

    def evaluator(self, model: keras.Model, batch_size: int, program: str | None = None):
        """`evaluate(model, x, y) -> {metric: value}`, the loss and metrics of a trained replica of `model`'s
        program (named `program`, as for `fit_replicas`) on `(x, y)` in batches of `batch_size`, as Keras'
        `evaluate` computes them, from programs compiled once for every replica; or None (this default) to let
        Keras' `evaluate` do it."""
        return None


ENGINES: Registry[type[Engine]] = Registry("engine", group="regstudy.engines", base=Engine)
"""Every engine by name: built-ins in this package, third parties through entry points."""


def fit(engine: str, model: keras.Model, data: EpochData, epochs: int, callbacks: list) -> dict[str, list[float]]:
    """Train a compiled `model` for up to `epochs` epochs with the engine named `engine`; return the history."""
    return ENGINES.get(engine)().fit(model, data, epochs, callbacks)


def fit_replicas(
    engine: str,
    models: list[keras.Model],
    data: list[EpochData],
    epochs: int,
    callbacks: list[list],
    program: str | None = None,
) -> list[dict[str, list[float]]]:
    """Train replicas (`Engine.fit_replicas`) with the engine named `engine`; return their histories."""
    return ENGINES.get(engine)().fit_replicas(models, data, epochs, callbacks, program)


def evaluator(engine: str, model: keras.Model, batch_size: int, program: str | None = None):
    """The engine's evaluator for replicas of `model`'s program (`Engine.evaluator`), or None."""
    return ENGINES.get(engine)().evaluator(model, batch_size, program)


def drive(model, data: EpochData, epochs: int, callbacks: list, run_epoch) -> dict[str, list[float]]:
    """Train with `run_epoch(order) -> (training logs, validation logs)`, one compiled call per epoch, calling
    the callbacks as `fit` calls them when one execution covers the whole epoch; return the history."""
    return drive_replicas([model], [data], epochs, [callbacks], lambda orders, active: [run_epoch(orders[0])])[0]


def drive_replicas(
    models: list, data: list[EpochData], epochs: int, callbacks: list[list], run_epoch, current=None
) -> list[dict[str, list[float]]]:
    """`drive` for replicas trained together: `run_epoch(orders, active) -> [(training logs, validation logs)]`
    trains one epoch of the replicas numbered in `active`, each on its own order, and returns their logs.

    Each replica has its own callbacks, called as `drive` calls them; one that stops (`stop_training`) trains
    no further epoch, and its history ends there, while the others go on.

    An engine that keeps the weights outside the models between epochs (the jax engine, on its device) passes
    `current(indices)`, which writes the weights the replicas numbered in `indices` have now to their models.
    It is called after an epoch for the replicas with a callback that reads the model (`reads_model`), for a
    replica when it stops, and for every other replica at the end, before the callbacks' `on_train_end`.
    """
    lists = [
        keras.callbacks.CallbackList(chosen, add_history=True, model=model, epochs=epochs, steps=each.steps, verbose=0)
        for model, each, chosen in zip(models, data, callbacks)
    ]
    current = current or (lambda indices: None)
    reading = {index for index, each in enumerate(lists) if any(map(reads_model, each.callbacks))}
    active = list(range(len(models)))
    ending = [None] * len(models)
    for index in active:
        models[index].stop_training = False
        lists[index].on_train_begin()
    for epoch in range(epochs):
        if not active:
            break
        for index in active:
            lists[index].on_epoch_begin(epoch)
            lists[index].on_train_batch_begin(0)
        orders = [epoch_order(data[index].seed, epoch, len(data[index].x)) for index in active]
        logs = run_epoch(orders, active)
        current([index for index in active if index in reading])
        for index, (training, validation) in zip(active, logs):
            ending[index] = _epoch_end(lists[index], data[index].steps, epoch, _floats(training), _floats(validation))
        current([index for index in active if models[index].stop_training and index not in reading])
        active = [index for index in active if not models[index].stop_training]
    current([index for index in active if index not in reading])
    for model, chosen, logs in zip(models, lists, ending):
        model.optimizer.finalize_variable_values(model.trainable_weights)
        chosen.on_train_end(logs=logs)
    return [model.history.history for model in models]


def reads_model(callback) -> bool:
    """Whether `callback` may read or change the model's variables when an epoch ends: unless it says
    otherwise (a `reads_model` attribute) or is Keras' `History` or `TerminateOnNaN` (which read the logs),
    a callback is taken to."""
    logs_only = (keras.callbacks.History, keras.callbacks.TerminateOnNaN)
    return getattr(callback, "reads_model", type(callback) not in logs_only)


def _epoch_end(callbacks, steps: int, epoch: int, training: dict, validation: dict) -> dict[str, float]:
    """Call the callbacks' hooks from the end of an epoch's training to the end of the epoch; return its logs."""
    callbacks.on_train_batch_end(steps - 1, training)
    callbacks.on_test_begin()
    callbacks.on_test_batch_begin(0)
    callbacks.on_test_batch_end(0, validation)
    callbacks.on_test_end(validation)
    logs = {**training, **{f"val_{name}": value for name, value in validation.items()}}
    callbacks.on_epoch_end(epoch, logs)
    return logs


def _floats(logs: dict) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items()}
