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


def weight_penalty(model: keras.Model) -> float:
    """The penalty of the plugins' kernel regularizers on the current weights (not activity penalties, which
    depend on a batch)."""
    return float(
        sum(
            keras.ops.convert_to_numpy(layer.kernel_regularizer(layer.kernel))
            for layer in weight_layers(model)
            if layer.kernel_regularizer is not None
        )
    )
