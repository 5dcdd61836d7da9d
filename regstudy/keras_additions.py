"""The few Keras objects regstudy needs that Keras itself does not have."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="regstudy")
class SumOfRegularizers(keras.regularizers.Regularizer):
    """The sum of several penalties: `sum(r(x) for r in regularizers)`.

    Args:
        regularizers: the penalties to add up.
    """

    def __init__(self, regularizers):
        self.regularizers = list(regularizers)

    def __call__(self, x):
        return sum(regularizer(x) for regularizer in self.regularizers)

    def get_config(self):
        return {"regularizers": [keras.regularizers.serialize(r) for r in self.regularizers]}

    @classmethod
    def from_config(cls, config):
        return cls([keras.regularizers.deserialize(r) for r in config["regularizers"]])


@keras.saving.register_keras_serializable(package="regstudy")
class OnMatrix(keras.regularizers.Regularizer):
    """Apply a penalty defined on matrices to a kernel of any rank, seen as `(fan_in, units)`.

    Keras' `OrthogonalRegularizer` accepts only rank-2 kernels; a Conv2D kernel `(h, w, in, out)` is
    reshaped to `(h·w·in, out)`, which makes its filters the columns, as they are for a Dense kernel.

    Args:
        regularizer: a penalty on rank-2 tensors.
    """

    def __init__(self, regularizer):
        self.regularizer = regularizer

    def __call__(self, x):
        return self.regularizer(ops.reshape(x, (-1, x.shape[-1])))

    def get_config(self):
        return {"regularizer": keras.regularizers.serialize(self.regularizer)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.regularizers.deserialize(config["regularizer"]))


@keras.saving.register_keras_serializable(package="regstudy")
class MaxNormPerUnit(keras.constraints.Constraint):
    """Keras' `MaxNorm` over each unit's incoming weights, whatever the kernel's rank.

    The norm runs over every axis but the last, so it is `axis=0` for Dense and `axis=[0, 1, 2]` for Conv2D.

    Args:
        max_value: the largest norm a unit's incoming weights may have.
    """

    def __init__(self, max_value):
        self.max_value = max_value

    def __call__(self, w):
        return keras.constraints.MaxNorm(self.max_value, axis=list(range(len(w.shape) - 1)))(w)

    def get_config(self):
        return {"max_value": self.max_value}


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' `EarlyStopping`, which also reports when it stopped and which epoch's weights it kept.

    `final_metrics()` gives `stopped_epoch`, the last epoch trained (0 if training ran to the end), and
    `restored_epoch`, the epoch whose weights the model keeps (0 if none were restored), counting from 1.
    """

    def final_metrics(self) -> dict[str, float]:
        stopped = self.stopped_epoch + 1 if self.stopped_epoch > 0 else 0
        restored = self.best_epoch + 1 if self.restore_best_weights and self.best_weights is not None else 0
        return {"stopped_epoch": stopped, "restored_epoch": restored}


@keras.saving.register_keras_serializable(package="regstudy")
class DropConnectDense(keras.layers.Dense):
    """A Dense layer that drops weights instead of units while training (Wan et al., 2013).

    In training `y = activation(x · (M ∘ W) / (1 - rate) + b)` with `M` a fresh Bernoulli(1 - rate) mask for
    each batch; at inference `y = activation(x · W + b)`. The rescaling is that of inverted dropout: Wan et
    al. instead sample a Gaussian approximation at inference, which is slower and agrees in expectation.
    The mask is shared by the examples of a batch, which keeps the cost of a step that of a Dense layer.

    Args:
        units: the number of output units.
        rate: the fraction of weights dropped, in [0, 1). Defaults to 0.5.
        seed: the seed of the masks. Defaults to None (drawn from the global seed).
    """

    def __init__(self, units, rate=0.5, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        kernel = self.kernel
        if training and self.rate > 0:
            kernel = keras.random.dropout(ops.convert_to_tensor(kernel), self.rate, seed=self.seed_generator)
        outputs = ops.matmul(inputs, kernel)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
