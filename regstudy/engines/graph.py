"""The graph engine (the default): one `tf.function` call per epoch runs a `tf.while_loop` over the epoch's
batches, then the validation pass."""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.engines.base import ENGINES, Engine, EpochData, drive

keras = lazy_modules.load("keras")


@ENGINES.register("graph")
class GraphEngine(Engine):
    """One traced TensorFlow call per epoch, callbacks driven around it (`drive`)."""

    def fit(self, model, data, epochs, callbacks):
        return drive(model, data, epochs, callbacks, _epoch_function(model, data))


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
