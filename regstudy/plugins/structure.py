"""Constraints on the structure: dropout, DropConnect, and noise injected into the activations."""

from __future__ import annotations

import keras

from regstudy.errors import IncompatiblePluginsError
from regstudy.keras_additions import DropConnectDense
from regstudy.plugins.base import Plugin, register
from regstudy.validation import check_choice, check_number


def _require_hidden_layers(plugin: Plugin, config, dense: bool = False) -> None:
    """Refuse a plugin that acts on hidden layers in a model that has none (it would silently do nothing)."""
    count = len(config.hidden_units) if dense else config.hidden_layer_count
    if count == 0:
        kind = "hidden Dense layers" if dense else "hidden layers"
        raise IncompatiblePluginsError(
            "plugins", plugin.name, f"acts on {kind}, but the model has none (hidden_units is empty)"
        )


@register("dropout")
class Dropout(Plugin):
    """Dropout (Srivastava et al., 2014): zero each hidden unit with probability `rate` while training.

    Args:
        rate: the fraction of hidden units dropped, in [0, 1). Defaults to 0.5.
        input_rate: the fraction of input features dropped, in [0, 1). Defaults to 0.0.
    """

    def __init__(self, rate=0.5, input_rate=0.0):
        self.rate = check_number("rate", rate, minimum=0, maximum=1, exclusive_maximum=True)
        self.input_rate = check_number("input_rate", input_rate, minimum=0, maximum=1, exclusive_maximum=True)

    def check(self, config):
        if self.input_rate == 0:
            _require_hidden_layers(self, config)

    def input_layers(self):
        return [keras.layers.Dropout(self.input_rate)] if self.input_rate > 0 else []

    def hidden_layers(self):
        return [keras.layers.Dropout(self.rate)]


@register("gaussian_dropout")
class GaussianDropout(Plugin):
    """Gaussian dropout: multiply each hidden unit by noise from N(1, rate / (1 - rate)) while training.

    Args:
        rate: the equivalent dropout rate, in [0, 1). Defaults to 0.5.
    """

    def __init__(self, rate=0.5):
        self.rate = check_number("rate", rate, minimum=0, maximum=1, exclusive_maximum=True)

    def check(self, config):
        _require_hidden_layers(self, config)

    def hidden_layers(self):
        return [keras.layers.GaussianDropout(self.rate)]


@register("gaussian_noise")
class GaussianNoise(Plugin):
    """Noise injection: add N(0, stddev²) noise to the inputs or hidden units while training.

    Args:
        stddev: the standard deviation of the noise, >= 0. Defaults to 0.1.
        where: "input", "hidden" or "both". Defaults to "input".
    """

    def __init__(self, stddev=0.1, where="input"):
        self.stddev = check_number("stddev", stddev, minimum=0)
        self.where = check_choice("where", where, ("input", "hidden", "both"), kind="place")

    def check(self, config):
        if self.where != "input":
            _require_hidden_layers(self, config)

    def input_layers(self):
        return [keras.layers.GaussianNoise(self.stddev)] if self.where in ("input", "both") else []

    def hidden_layers(self):
        return [keras.layers.GaussianNoise(self.stddev)] if self.where in ("hidden", "both") else []


@register("dropconnect")
class DropConnect(Plugin):
    """DropConnect (Wan et al., 2013): drop each weight of the hidden Dense layers with probability `rate`.

    Args:
        rate: the fraction of weights dropped while training, in [0, 1). Defaults to 0.5.
    """

    exclusive = ("hidden dense layer",)

    def __init__(self, rate=0.5):
        self.rate = check_number("rate", rate, minimum=0, maximum=1, exclusive_maximum=True)

    def check(self, config):
        _require_hidden_layers(self, config, dense=True)

    def hidden_dense_layer(self, units, **dense_arguments):
        return DropConnectDense(units, rate=self.rate, **dense_arguments)
