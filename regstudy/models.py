"""The models: an MLP and a small CNN, built with every plugin's layers, penalties and constraints."""

from __future__ import annotations

import keras

from regstudy.combination import Combination
from regstudy.config import RunConfig
from regstudy.datasets import Splits


def build_model(config: RunConfig, splits: Splits, combination: Combination) -> keras.Model:
    """Build the run's model; penalties and constraints reach every weight layer, Dense and Conv.

    MLP: input → plugin input layers → [Dense(units) → plugin hidden layers] per hidden size → output.
    CNN: the same, with [Conv2D(filters, 3×3) → MaxPool(2×2) → plugin hidden layers] per block first.
    The output is a softmax over the classes, or one linear unit for regression.
    """
    weight_arguments = {
        "kernel_regularizer": combination.kernel_regularizer(),
        "kernel_constraint": combination.kernel_constraint(),
    }
    inputs = keras.Input(shape=(splits.x_train.shape[1],), name="features")
    x = inputs
    for layer in combination.input_layers():
        x = layer(x)
    if config.model == "cnn":
        x = keras.layers.Reshape((*splits.image_shape, 1))(x)
        for filters in config.filters:
            x = keras.layers.Conv2D(filters, 3, padding="same", activation=config.activation, **weight_arguments)(x)
            x = keras.layers.MaxPooling2D(2, padding="same")(x)
            for layer in combination.hidden_layers():
                x = layer(x)
        x = keras.layers.Flatten()(x)
    for units in config.hidden_units:
        x = combination.hidden_dense_layer(units, activation=config.activation, **weight_arguments)(x)
        for layer in combination.hidden_layers():
            x = layer(x)
    if splits.task == "classification":
        outputs = keras.layers.Dense(splits.classes, activation="softmax", name="output", **weight_arguments)(x)
    else:
        outputs = keras.layers.Dense(1, name="output", **weight_arguments)(x)
    return keras.Model(inputs, outputs, name=f"{config.model}_{config.dataset}")


def kernels(model: keras.Model) -> list[keras.Variable]:
    """The weight kernels of every Dense and Conv layer (not biases): what penalties and statistics act on."""
    return [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
