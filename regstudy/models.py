"""The models: an MLP, a small CNN and a residual MLP, built with every plugin's layers, penalties and constraints."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from regstudy.combination import Combination
from regstudy.data import Splits
from regstudy.steps import RegularizedModel


@dataclass(frozen=True)
class Architecture:
    """What a model is made of (`RunConfig`'s parameters of the same names)."""

    model: str = "mlp"
    hidden_units: tuple[int, ...] = (64,)
    filters: tuple[int, ...] = (16, 32)
    activation: str = "relu"


def build_model(
    architecture: Architecture, splits: Splits, combination: Combination, seed: int, name: str
) -> keras.Model:
    """Build the run's model; penalties and constraints reach every weight layer, Dense and Conv.

    MLP: input → plugin input layers → [Dense(units) → plugin hidden layers] per hidden size → output.
    CNN: the same, with [Conv2D(filters, 3×3) → MaxPool(2×2) → plugin hidden layers] per block first.
    ResMLP: input → plugin input layers → Dense(width) → one residual block per hidden size → output, where
    width is the first hidden size and a block adds to its input the join (`Plugin.residual_join`, a sum by
    default) of its branches, each Dense(units) → plugin hidden layers → Dense(width) (He et al. 2016's
    blocks for an MLP, as Gorishniy et al. 2021 use them on tabular data).
    Every hidden weight layer passes through the plugins' `wrap_layer`. The output is a softmax over the
    classes, or one linear unit for regression. `seed` seeds the step's own randomness (batch transforms,
    gradient hooks); `name` is the model's.
    """
    weight_arguments = {
        "kernel_regularizer": combination.kernel_regularizer(),
        "kernel_constraint": combination.kernel_constraint(),
    }
    inputs = keras.Input(shape=(splits.x_train.shape[1],), name="features")
    x = inputs
    for layer in combination.input_layers():
        x = layer(x)
    if architecture.model == "cnn":
        x = keras.layers.Reshape((*splits.image_shape, 1))(x)
        for filters in architecture.filters:
            conv = keras.layers.Conv2D(
                filters, 3, padding="same", activation=architecture.activation, **weight_arguments
            )
            x = combination.wrap_layer(conv)(x)
            x = keras.layers.MaxPooling2D(2, padding="same")(x)
            x = _hidden_layers(combination, x)
        x = keras.layers.Flatten()(x)
    if architecture.model == "resmlp":
        x = _residual_blocks(architecture, combination, weight_arguments, x)
    else:
        for units in architecture.hidden_units:
            dense = combination.hidden_dense_layer(units, activation=architecture.activation, **weight_arguments)
            x = _hidden_layers(combination, combination.wrap_layer(dense)(x))
    if splits.task == "classification":
        outputs = keras.layers.Dense(splits.classes, activation="softmax", name="output", **weight_arguments)(x)
    else:
        outputs = keras.layers.Dense(1, name="output", **weight_arguments)(x)
    model = RegularizedModel(
        inputs,
        outputs,
        name=name,
        batch_transform=combination.batch_transform(splits.image_shape),
        step_gradients=combination.step_gradients(),
        seed=seed,
    )
    model.after_update = combination.after_update(model)
    model.state_values = combination.state_values()  # after every hook that reads one has run
    return model


def _hidden_layers(combination: Combination, x):
    for layer in combination.hidden_layers():
        x = layer(x)
    return x


def _residual_blocks(architecture: Architecture, combination: Combination, weight_arguments: dict, x):
    """The stem Dense(width) and one residual block per hidden size (see `build_model`)."""
    width = architecture.hidden_units[0]
    dense = keras.layers.Dense(width, activation=architecture.activation, **weight_arguments)
    x = combination.wrap_layer(dense)(x)
    blocks = len(architecture.hidden_units)
    for block, units in enumerate(architecture.hidden_units):
        branches = []
        for _ in range(combination.residual_branches):
            inner = combination.hidden_dense_layer(units, activation=architecture.activation, **weight_arguments)
            branch = _hidden_layers(combination, combination.wrap_layer(inner)(x))
            branches.append(combination.wrap_layer(keras.layers.Dense(width, **weight_arguments))(branch))
        join = combination.residual_join(block, blocks)
        residual = join(branches) if join is not None else _sum(branches)
        x = keras.layers.Add()([x, residual])
    return x


def _sum(tensors: list):
    return tensors[0] if len(tensors) == 1 else keras.layers.Add()(tensors)
