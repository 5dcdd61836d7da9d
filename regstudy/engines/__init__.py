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

- "jax": the graph engine's epoch on Keras' JAX backend (`regstudy.engines.jax_epochs`): one `jax.jit` call scans
  Keras' own stateless training step over the epoch's batches, then validates. Its process's Keras runs on
  JAX (`regstudy.backends`); callbacks are driven exactly as for the graph engine.

The epoch's order of examples is `epoch_order(seed, epoch, n)`, so it is known outside TensorFlow and the
same for every engine.
"""

import importlib
import pkgutil

from regstudy.engines.base import (
    ENGINES,
    Engine,
    EpochData,
    drive,
    drive_replicas,
    epoch_order,
    evaluator,
    fit,
    fit_replicas,
)

# Every module of this package registers the engine it holds: a new engine is a new module here (and its README
# row). They import TensorFlow, Keras and JAX only when an epoch is trained.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ENGINES",
    "Engine",
    "EpochData",
    "drive",
    "drive_replicas",
    "epoch_order",
    "evaluator",
    "fit",
    "fit_replicas",
]
