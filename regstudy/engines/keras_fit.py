"""The keras engine: Keras' own `model.fit` on a `tf.data` pipeline of the same batches, compiled with one
execution per epoch (`steps_per_execution`); the reference the graph engine is tested against."""

from __future__ import annotations

import numpy as np

from regstudy.engines.base import ENGINES, Engine, epoch_order


@ENGINES.register("keras")
class KerasEngine(Engine):
    """`model.fit`, with the batches of `epoch_order`."""

    def fit(self, model, data, epochs, callbacks):
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
