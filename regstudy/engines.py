"""The ways a run's epochs are trained: Keras' own `fit`, and the same steps in one compiled call per epoch.

All run the model's own `train_step` and `test_step` (so every plugin's layers, penalties, constraints,
optimizer and loss options act identically), on the same batches in the same order, drive the same Keras
callbacks, and return the same history:

- "keras": `model.fit` on a `tf.data` pipeline, compiled with one execution per epoch
  (`steps_per_execution`). The reference the graph engine is tested against.
- "graph" (the default): one `tf.function` call per epoch runs a `tf.while_loop` over the epoch's batches,
  then the validation pass, with no `tf.data` iterator and no second call for validation. Callbacks are
  called as `fit` calls them when one execution covers the whole epoch: the epoch and test hooks as
  usual, and the batch hooks once per epoch, with the epoch's logs. Under both engines, then, a callback's
  batch hooks see epochs, not single batches.

- "jax": the graph engine's epoch on Keras' JAX backend (`regstudy.jax_epochs`): one `jax.jit` call scans
  Keras' own stateless training step over the epoch's batches, then validates. Its process's Keras runs on
  JAX (`regstudy.backends`); callbacks are driven exactly as for the graph engine.

The epoch's order of examples is `epoch_order(seed, epoch, n)`, so it is known outside TensorFlow and the
same for every engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lazy_loader
import numpy as np

keras = lazy_loader.load("keras")
# TensorFlow is imported where it is used, not as a lazy module: matplotlib asks any "tensorflow" in
# `sys.modules` whether its data are tensors, which would import it in processes that only draw figures.

ENGINES = ("graph", "keras", "jax")
"""The names `RunConfig.engine` accepts."""


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


def fit(engine: str, model: keras.Model, data: EpochData, epochs: int, callbacks: list) -> dict[str, list[float]]:
    """Train a compiled `model` for up to `epochs` epochs with `engine`; return the per-epoch history."""
    if engine == "keras":
        return _fit_keras(model, data, epochs, callbacks)
    if engine == "jax":
        from regstudy.jax_epochs import epoch_function
    else:
        epoch_function = _epoch_function
    return drive(model, data, epochs, callbacks, epoch_function(model, data))


def _fit_keras(model, data, epochs, callbacks):
    import tensorflow as tf

    x, y = tf.constant(data.x), tf.constant(data.y)
    orders = np.stack([epoch_order(data.seed, epoch, len(data.x)) for epoch in range(epochs)])
    batches = (
        tf.data.Dataset.from_tensor_slices(orders)
        .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(data.batch_size))
        .map(lambda indices: (tf.gather(x, indices), tf.gather(y, indices)))
        .prefetch(2)
    )
    validation = (
        tf.data.Dataset.from_tensor_slices((data.x_validation, data.y_validation))
        .batch(data.validation_batch_size)
        .cache()
    )
    history = model.fit(
        batches,
        epochs=epochs,
        steps_per_epoch=data.steps,
        validation_data=validation,
        shuffle=False,
        callbacks=callbacks,
        verbose=0,
    )
    return history.history


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


def _epoch_function(model: keras.Model, data: EpochData):
    """One traced function: reset the metrics, every training step in order, then the validation pass.

    Every batch runs in one `tf.while_loop`: a slice of the order past its end stops at the end, so the last
    batch holds the remainder and the step is traced once, for any batch size. Returns the training and the
    validation metrics, as `fit` logs them.
    """
    import tensorflow as tf

    x, y = tf.constant(data.x), tf.constant(data.y)
    size = data.batch_size
    validation = [
        (
            tf.constant(data.x_validation[start : start + data.validation_batch_size]),
            tf.constant(data.y_validation[start : start + data.validation_batch_size]),
        )
        for start in range(0, len(data.x_validation), data.validation_batch_size)
    ]

    def train_on(indices):
        model.train_step((tf.gather(x, indices), tf.gather(y, indices)))

    # Build the optimizer's slots and the metrics' variables now: created inside the function, they would
    # make TensorFlow trace it twice.
    model.optimizer.build(model.trainable_variables)
    model.test_step(validation[0])

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([len(data.x)], tf.int32)])
    def run_epoch(order):
        model.reset_metrics()

        def step(index):
            train_on(order[index * size : (index + 1) * size])
            return (index + 1,)

        tf.while_loop(lambda index: index < data.steps, step, (tf.constant(0),))
        training = model.get_metrics_result()
        model.reset_metrics()
        for batch in validation:
            model.test_step(batch)
        return training, model.get_metrics_result()

    return run_epoch


def _floats(logs: dict) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items()}
