"""A model's weight layers and their kernels: what penalties, constraints and weight statistics act on."""

from __future__ import annotations

from regstudy import lazy_modules

keras = lazy_modules.load("keras")  # lazy: question modules, which use it, are imported to validate their files


def weight_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every Dense and Conv layer, seen through any wrapper (`SpectralNormalization`)."""
    unwrapped = (getattr(layer, "layer", layer) for layer in model.layers)
    return [layer for layer in unwrapped if hasattr(layer, "kernel")]


def kernels(model: keras.Model) -> list[keras.Variable]:
    """The weight kernels of every Dense and Conv layer (not biases): what penalties and statistics act on."""
    return [layer.kernel for layer in weight_layers(model)]


NEAR_ZERO = 1e-3
"""A weight with |w| below this counts as zero in the `weights_near_zero` fraction."""

STATISTICS = ("unit_norm_max", "penalty", "weights_l1", "weights_l2", "weights_near_zero", "weights_zero")
"""The names `statistics` gives its values, each epoch's weight statistics in a run's curves."""


def statistics(model: keras.Model) -> dict[str, object]:
    """Statistics of the kernels as tensors, in `keras.ops`: the largest norm of a unit's incoming weights
    (over every axis of a kernel but the last, as `max_norm` bounds it), the plugins' kernel penalty (not
    activity penalties, which depend on a batch), the L1 and L2 norms of all kernels, and the fractions near
    zero and exactly zero. They read the variables as Keras does, so inside a `keras.StatelessScope` (the
    jax engine's compiled epoch) they are the scope's values; eagerly, the model's current weights."""
    ops = keras.ops
    layers = weight_layers(model)
    values = [ops.convert_to_tensor(layer.kernel) for layer in layers]
    weights = ops.concatenate([ops.reshape(value, (-1,)) for value in values])
    unit_norms = [
        ops.max(ops.sqrt(ops.sum(ops.square(value), axis=tuple(range(len(value.shape) - 1))))) for value in values
    ]
    penalties = [layer.kernel_regularizer(layer.kernel) for layer in layers if layer.kernel_regularizer is not None]
    return {
        "unit_norm_max": ops.max(ops.stack(unit_norms)),
        "penalty": ops.sum(ops.stack(penalties)) if penalties else ops.zeros(()),
        "weights_l1": ops.sum(ops.abs(weights)),
        "weights_l2": ops.sqrt(ops.sum(ops.square(weights))),
        "weights_near_zero": ops.mean(ops.cast(ops.abs(weights) < NEAR_ZERO, "float32")),
        "weights_zero": ops.mean(ops.cast(ops.equal(weights, 0.0), "float32")),
    }
