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


def _number(value):
    """A strength as a plain number (for a saved configuration), whether a number or a variable of the state."""
    return None if value is None else float(ops.convert_to_numpy(value))


@keras.saving.register_keras_serializable(package="regstudy")
class Penalty(keras.regularizers.Regularizer):
    """`l1·Σ|x| + l2·Σx²`: Keras' `L1`, `L2` and `L1L2`, computed as they compute them, with strengths that may
    be variables of the model's state (`Plugin.state_value`), so that replicas differing in them share one
    program. A term whose strength is None is left out.
    """

    def __init__(self, l1=None, l2=None):
        self.l1, self.l2 = l1, l2

    def __call__(self, x):
        total = ops.convert_to_tensor(0.0, dtype=x.dtype)
        if self.l1 is not None:
            total = total + ops.cast(self.l1, x.dtype) * ops.sum(ops.absolute(x))
        if self.l2 is not None:
            total = total + ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x))
        return total

    def get_config(self):
        return {"l1": _number(self.l1), "l2": _number(self.l2)}


@keras.saving.register_keras_serializable(package="regstudy")
class Orthogonality(keras.regularizers.OrthogonalRegularizer):
    """Keras' `OrthogonalRegularizer` with a `factor` that may be a variable of the model's state."""

    def __init__(self, factor=0.01, mode="rows"):
        super().__init__(factor=1.0, mode=mode)
        self.factor = factor  # Keras checks that a factor is a number; a variable multiplies as one does

    def get_config(self):
        return {"factor": _number(self.factor), "mode": self.mode}


@keras.saving.register_keras_serializable(package="regstudy")
class CategoricalCrossentropy(keras.losses.CategoricalCrossentropy):
    """Keras' `CategoricalCrossentropy` with a `label_smoothing` that may be a variable of the model's state:
    targets `y·(1 − s) + s / classes`, as Keras smooths them (which compares a number with 0 in Python)."""

    def __init__(self, label_smoothing=0.0, **options):
        super().__init__(**options)
        self.smoothing = label_smoothing

    def call(self, y_true, y_pred):
        smoothing = ops.cast(self.smoothing, y_pred.dtype)
        classes = ops.cast(ops.shape(y_true)[-1], y_pred.dtype)
        return super().call(ops.cast(y_true, y_pred.dtype) * (1.0 - smoothing) + smoothing / classes, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": _number(self.smoothing)}


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


class Held:
    """A value a layer reads without Keras tracking it as the layer's own: a variable of the model's state
    (`Plugin.state_value`), which the model holds and the step maps, or what `then` computes from it when the
    layer reads it (in the step, so from the replica's value); a layer saved alone keeps its number."""

    def __init__(self, variable, then=None):
        self.variable, self.then = variable, then

    @property
    def value(self):
        return self.variable if self.then is None else self.then(self.variable)


def dropout(inputs, rate, seed):
    """Inverted dropout at a `rate` that may be a tensor (Keras' own compares it with 0 and 1 in Python): keep
    each value where a uniform draw falls below `1 − rate`, and scale it by `1 / (1 − rate)`. On JAX it draws
    and keeps exactly what `keras.random.dropout` does (`jax.random.bernoulli` is that comparison)."""
    keep = 1.0 - ops.cast(rate, inputs.dtype)
    kept = keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=seed) < keep
    return ops.where(kept, inputs / keep, ops.zeros_like(inputs))


class _ReadsHeld:
    """A Keras noise layer whose one hyperparameter may be a value of the model's state (`held`, a `Held`):
    Keras' own `call` without one or at inference, else `noised(inputs, value)` with the held value, in the
    layer's compute dtype."""

    def __init__(self, *arguments, held=None, **options):
        super().__init__(*arguments, **options)
        self.held = held

    def call(self, inputs, training=False):
        if not training or self.held is None:
            return super().call(inputs, training=training)
        return self.noised(inputs, ops.cast(self.held.value, self.compute_dtype))

    def normal(self, inputs, mean, stddev):
        """Normal noise of the inputs' shape, drawn from the layer's seed generator."""
        return keras.random.normal(ops.shape(inputs), mean, stddev, dtype=self.compute_dtype, seed=self.seed_generator)


@keras.saving.register_keras_serializable(package="regstudy")
class StateDropout(_ReadsHeld, keras.layers.Dropout):
    """Keras' `Dropout`, whose rate may be a value of the model's state."""

    def noised(self, inputs, rate):
        return dropout(inputs, rate, self.seed_generator)


@keras.saving.register_keras_serializable(package="regstudy")
class StateGaussianDropout(_ReadsHeld, keras.layers.GaussianDropout):
    """Keras' `GaussianDropout`, whose rate may be a value of the model's state."""

    def noised(self, inputs, rate):
        return inputs * self.normal(inputs, 1.0, ops.sqrt(rate / (1.0 - rate)))


@keras.saving.register_keras_serializable(package="regstudy")
class StateGaussianNoise(_ReadsHeld, keras.layers.GaussianNoise):
    """Keras' `GaussianNoise`, whose standard deviation may be a value of the model's state."""

    def noised(self, inputs, stddev):
        return inputs + self.normal(inputs, 0.0, stddev)


@keras.saving.register_keras_serializable(package="regstudy")
class StateBatchNormalization(keras.layers.BatchNormalization):
    """Keras' `BatchNormalization`, whose momentum may be a value of the model's state (`held`)."""

    def __init__(self, *args, held=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.held = held

    @property
    def momentum(self):
        return self._momentum if getattr(self, "held", None) is None else self.held.value

    @momentum.setter
    def momentum(self, value):
        self._momentum = value

    def get_config(self):
        return {**super().get_config(), "momentum": self._momentum}


@keras.saving.register_keras_serializable(package="regstudy")
class StateSpectralNormalization(keras.layers.SpectralNormalization):
    """Keras' `SpectralNormalization`, whose power iterations may be a value of the model's state (`held`):
    they then run in a loop of that many turns (`keras.ops.fori_loop`) rather than Keras' Python loop, so that
    replicas differing in them share one program. The turns run on the kernel with its gradient stopped, as
    Keras stops it at the vectors they compute; the kernel is then divided by the estimate as Keras divides it.
    """

    def __init__(self, layer, power_iterations=1, held=None, **options):
        super().__init__(layer, power_iterations=power_iterations, **options)
        self.held = held

    def normalized_weights(self):
        if self.held is None:
            return super().normalized_weights()
        weights = ops.reshape(self.kernel, [-1, self.kernel_shape[-1]])
        fixed = ops.stop_gradient(weights)

        def turn(_, vectors):
            vector_v = keras.utils.normalize(ops.matmul(vectors[0], ops.transpose(fixed)), axis=None)
            return keras.utils.normalize(ops.matmul(vector_v, fixed), axis=None), vector_v

        start = (self.vector_u.value, ops.zeros((1, fixed.shape[0]), dtype=fixed.dtype))
        vector_u, vector_v = ops.fori_loop(0, ops.cast(self.held.value, "int32"), turn, start)
        sigma = ops.matmul(ops.matmul(vector_v, weights), ops.transpose(vector_u))
        kernel = ops.reshape(ops.divide(self.kernel, sigma), self.kernel_shape)
        return ops.cast(vector_u, self.vector_u.dtype), ops.cast(kernel, self.kernel.dtype)


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
        held: the rate as a value of the model's state (a `Held` variable), read instead of `rate` while
            training. Defaults to None.
    """

    def __init__(self, units, rate=0.5, seed=None, held=None, **kwargs):
        super().__init__(units, **kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.held = held  # the rate as a value of the model's state (`Held`), or None

    def call(self, inputs, training=None):
        kernel = self.kernel
        if training and (self.held is not None or self.rate > 0):
            kernel = ops.convert_to_tensor(kernel)
            if self.held is None:
                kernel = keras.random.dropout(kernel, self.rate, seed=self.seed_generator)
            else:
                kernel = dropout(kernel, self.held.value, self.seed_generator)
        outputs = ops.matmul(inputs, kernel)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
