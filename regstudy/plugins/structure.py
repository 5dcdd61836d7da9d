"""Constraints on the structure: dropout, DropConnect, and noise injected into the activations."""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, RunDescription, register
from regstudy.validation import Interval, Options

keras = lazy_modules.load("keras")

RATE = Interval(float, 0, 1, closed="left")
"""A fraction dropped: 0 drops nothing, 1 would drop everything."""


def require_hidden_layers(plugin: Plugin, run: RunDescription, dense: bool = False) -> None:
    """Refuse a plugin that acts on hidden layers in a model that has none (it would silently do nothing)."""
    count = run.hidden_dense_layers if dense else run.hidden_layers
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

    in_state = ("rate",)
    parameter_constraints = {"rate": RATE, "input_rate": RATE}

    def __init__(self, rate=0.5, input_rate=0.0):
        self.rate = rate
        self.input_rate = input_rate

    def check(self, run):
        if self.input_rate == 0:
            require_hidden_layers(self, run)

    def input_layers(self):
        return [keras.layers.Dropout(self.input_rate)] if self.input_rate > 0 else []

    def hidden_layers(self):
        from regstudy.keras_additions import Held, StateDropout

        return [StateDropout(self.rate, held=Held(self.state_value("rate")))]


@register("gaussian_dropout")
class GaussianDropout(Plugin):
    """Gaussian dropout: multiply each hidden unit by noise from N(1, rate / (1 - rate)) while training.

    Args:
        rate: the equivalent dropout rate, in [0, 1). Defaults to 0.5.
    """

    in_state = ("rate",)
    parameter_constraints = {"rate": RATE}

    def __init__(self, rate=0.5):
        self.rate = rate

    def check(self, run):
        require_hidden_layers(self, run)

    def hidden_layers(self):
        from regstudy.keras_additions import Held, StateGaussianDropout

        return [StateGaussianDropout(self.rate, held=Held(self.state_value("rate")))]


@register("gaussian_noise")
class GaussianNoise(Plugin):
    """Noise injection: add N(0, stddev²) noise to the inputs or hidden units while training.

    Args:
        stddev: the standard deviation of the noise, >= 0. Defaults to 0.1.
        where: "input", "hidden" or "both". Defaults to "input".
    """

    in_state = ("stddev",)
    parameter_constraints = {
        "stddev": Interval(float, 0, None),
        "where": Options(("input", "hidden", "both"), kind="place"),
    }

    def __init__(self, stddev=0.1, where="input"):
        self.stddev = stddev
        self.where = where

    def check(self, run):
        if self.where != "input":
            require_hidden_layers(self, run)

    def input_layers(self):
        return [self._noise()] if self.where in ("input", "both") else []

    def hidden_layers(self):
        return [self._noise()] if self.where in ("hidden", "both") else []

    def _noise(self):
        from regstudy.keras_additions import Held, StateGaussianNoise

        return StateGaussianNoise(self.stddev, held=Held(self.state_value("stddev")))


@register("dropconnect")
class DropConnect(Plugin):
    """DropConnect (Wan et al., 2013): drop each weight of the hidden Dense layers with probability `rate`.

    Args:
        rate: the fraction of weights dropped while training, in [0, 1). Defaults to 0.5.
    """

    exclusive = ("hidden dense layer",)
    in_state = ("rate",)
    parameter_constraints = {"rate": RATE}

    def __init__(self, rate=0.5):
        self.rate = rate

    def check(self, run):
        require_hidden_layers(self, run, dense=True)

    def hidden_dense_layer(self, units, **dense_arguments):
        from regstudy.keras_additions import DropConnectDense, Held

        return DropConnectDense(units, rate=self.rate, held=Held(self.state_value("rate")), **dense_arguments)
