"""What the averaging plugins do at the end of training and after each step: SWA, snapshot ensembles, EMA's
report and lookahead. Each is a Keras callback (`Plugin.callbacks`) or an update after a step
(`Plugin.after_update`).
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import ops


def refresh_batch_norm(model: keras.Model, x: np.ndarray) -> None:
    """Recompute every `BatchNormalization` layer's moving statistics for the current weights.

    Weights averaged after training (SWA) never produced the moving averages the layers hold; Izmailov et
    al. (2018) recompute them with one pass over the training data. Here the pass is one batch of all of
    `x` with momentum 0, so each layer's statistics are exactly those of the training set under the layers
    before it.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    # A momentum held as a value of the state (`keras_additions.StateBatchNormalization`) is set aside too.
    saved = [(getattr(layer, "_momentum", layer.momentum), getattr(layer, "held", None)) for layer in layers]
    for layer in layers:
        if hasattr(layer, "held"):
            layer.held = None
        layer.momentum = 0.0
    try:
        model(x, training=True)
    finally:
        for layer, (momentum, held) in zip(layers, saved):
            layer.momentum = momentum
            if hasattr(layer, "held"):
                layer.held = held


class StochasticWeightAveraging(keras.callbacks.Callback):
    """SWA (Izmailov et al. 2018): the final weights are the mean of the weights at the end of each epoch
    from `start_epoch` (from 1) on; batch normalization's statistics are then recomputed.

    `final_metrics()` gives `swa_epochs`, the number of epochs averaged.

    Args:
        start_epoch: the first epoch whose weights enter the mean.
    """

    def __init__(self, start_epoch: int):
        super().__init__()
        self.start_epoch = start_epoch

    def on_train_begin(self, logs=None):
        self.total: list[np.ndarray] | None = None
        self.count = 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.start_epoch:
            return
        weights = [np.asarray(v.numpy(), dtype=np.float64) for v in self.model.trainable_variables]
        self.total = weights if self.total is None else [t + w for t, w in zip(self.total, weights)]
        self.count += 1

    def end_of_training(self, model, x):
        if self.count:
            for variable, total in zip(model.trainable_variables, self.total):
                variable.assign((total / self.count).astype(variable.dtype))
            refresh_batch_norm(model, x)
        return None

    def final_metrics(self):
        return {"swa_epochs": self.count}


class SnapshotEnsemble(keras.callbacks.Callback):
    """Snapshot ensembles (Huang et al. 2017): keep the weights at the end of each cycle of the learning-rate
    schedule; the final predictions are the mean of the snapshots' predictions.

    `final_metrics()` gives `snapshots`, the number of snapshots averaged (0 if training stopped before the
    first cycle ended, and the final weights predict alone).

    Args:
        cycles: the cycles of the schedule; each lasts `cycle_epochs(epochs, cycles)` of the run's epochs.
    """

    def __init__(self, cycles: int):
        super().__init__()
        self.cycles = cycles

    def on_train_begin(self, logs=None):
        self.snapshots: list[tuple[list, list]] = []
        self.cycle_epochs = cycle_epochs(self.params["epochs"], self.cycles)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs == 0:
            self.snapshots.append(
                (
                    [v.numpy() for v in self.model.trainable_variables],
                    [v.numpy() for v in self.model.non_trainable_variables],
                )
            )

    def end_of_training(self, model, x):
        return EnsembleModel(model, self.snapshots) if self.snapshots else None

    def final_metrics(self):
        return {"snapshots": len(self.snapshots)}


class EnsembleModel(keras.Model):
    """The mean of the predictions of `member` under each of `snapshots` (trainable and non-trainable weights).

    It has no penalty of its own: its loss is the data loss of the averaged predictions. The snapshots are its
    own (non-trainable) variables, not constants of its program: one compiled evaluation then serves every
    ensemble of the same member and number of snapshots (a replica group's, `regstudy.engines.evaluator`).
    """

    def __init__(self, member: keras.Model, snapshots: list[tuple[list, list]]):
        super().__init__(name=f"{member.name}_ensemble")
        self.member = member
        self.snapshots = [
            (self._held(trainable, "trainable"), self._held(non_trainable, "non_trainable"))
            for trainable, non_trainable in snapshots
        ]

    def _held(self, values: list, kind: str) -> list:
        held = []
        for value in values:
            value = np.asarray(value)
            variable = self.add_weight(shape=value.shape, dtype=value.dtype, trainable=False, name=f"snapshot_{kind}")
            variable.assign(value)
            held.append(variable)
        return held

    def call(self, x, training=False):
        predictions = [
            self.member.stateless_call(
                [v.value for v in trainable], [v.value for v in non_trainable], x, training=False
            )[0]
            for trainable, non_trainable in self.snapshots
        ]
        return ops.mean(ops.stack(predictions), axis=0)


def cycle_epochs(epochs: int, cycles):
    """The epochs of each of `cycles` cycles in `epochs` (the last may be cut short): an int, or a float32
    tensor when `cycles` is a value of the state (a replica's, inside the jax engine's step)."""
    if isinstance(cycles, numbers.Number):
        return max(1, math.ceil(epochs / cycles))
    return ops.maximum(ops.ceil(epochs / ops.cast(cycles, "float32")), 1.0)


@keras.saving.register_keras_serializable(package="regstudy")
class CosineCycles(keras.optimizers.schedules.CosineDecayRestarts):
    """Keras' `CosineDecayRestarts` (`t_mul = m_mul = 1`) in `cycles` cycles of `cycle_epochs(epochs, cycles)`
    epochs each, `cycles` a number or the value of the state that a replica's step holds there
    (`Plugin.held`): replicas differing in it then share one program. Keras' schedule reads its cycle's
    length, `first_decay_steps`, where this computes it from `cycles`.

    Args:
        initial_learning_rate: the rate at the start of each cycle.
        cycles: the cycles in `epochs`.
        epochs: the run's epochs.
        steps_per_epoch: the optimizer's steps in an epoch.
    """

    def __init__(self, initial_learning_rate, cycles, epochs, steps_per_epoch, name="SGDRDecay"):
        keras.optimizers.schedules.LearningRateSchedule.__init__(self)
        self.initial_learning_rate, self.alpha, self.name = initial_learning_rate, 0.0, name
        self._t_mul = self._m_mul = 1.0
        self.cycles, self.epochs, self.steps_per_epoch = cycles, epochs, steps_per_epoch

    @property
    def first_decay_steps(self):
        return cycle_epochs(self.epochs, self.cycles) * self.steps_per_epoch

    def get_config(self):
        cycles = self.cycles if isinstance(self.cycles, numbers.Number) else int(ops.convert_to_numpy(self.cycles))
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "cycles": cycles,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


class EmaReport(keras.callbacks.Callback):
    """Reports, as `ema_steps`, the optimizer steps the exponential moving average of the weights covered."""

    def final_metrics(self):
        return {"ema_steps": int(self.model.optimizer.iterations.numpy())}


class Lookahead:
    """Lookahead (Zhang et al. 2019): every `k` steps, move slow weights `α` of the way to the fast weights,
    and restart the fast weights from them. Called after each optimizer step, in `keras.ops`.

    Args:
        variables: the fast weights (the model's trainable variables).
        k: the steps between synchronizations.
        alpha: the slow weights' step size.
    """

    def __init__(self, variables: list, k: int, alpha: float):
        self.fast = list(variables)
        self.slow = [keras.Variable(ops.convert_to_numpy(v), trainable=False, name="lookahead_slow") for v in variables]
        self.steps = keras.Variable(0, dtype="int32", trainable=False, name="lookahead_steps")
        self.k = k
        self.alpha = alpha

    @property
    def variables(self) -> list:
        """Its own state: the slow weights and the step count (the jax engine carries them through its epoch)."""
        return [*self.slow, self.steps]

    def __call__(self):
        self.steps.assign_add(1)
        synchronize = ops.equal(ops.convert_to_tensor(self.steps) % self.k, 0)
        for fast, slow in zip(self.fast, self.slow):
            # Values, not variables: JAX's `where` takes arrays only.
            fast_weights, slow_weights = ops.convert_to_tensor(fast), ops.convert_to_tensor(slow)
            moved = ops.where(synchronize, slow_weights + self.alpha * (fast_weights - slow_weights), slow_weights)
            slow.assign(moved)
            fast.assign(ops.where(synchronize, moved, fast_weights))
