"""Normalization: batch normalization of the hidden units, spectral normalization of the weight layers."""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.plugins.base import Plugin, register
from regstudy.plugins.structure import require_hidden_layers
from regstudy.validation import Interval

keras = lazy_modules.load("keras")


@register("batch_norm")
class BatchNorm(Plugin):
    """Batch normalization (Ioffe and Szegedy 2015): normalize each hidden layer's outputs over the batch.

    Keras' `BatchNormalization` after each hidden layer: batch statistics while training, their moving
    averages at inference.

    Args:
        momentum: the moving averages' momentum, in [0, 1). Defaults to 0.99.
    """

    in_state = ("momentum",)
    parameter_constraints = {"momentum": Interval(float, 0, 1, closed="left")}

    def __init__(self, momentum=0.99):
        self.momentum = momentum

    def check(self, run):
        require_hidden_layers(self, run)

    def hidden_layers(self):
        from regstudy.keras_additions import Held, StateBatchNormalization

        return [StateBatchNormalization(momentum=self.momentum, held=Held(self.state_value("momentum")))]


@register("spectral_norm")
class SpectralNorm(Plugin):
    """Spectral normalization (Miyato et al. 2018): divide each hidden kernel by its largest singular value.

    Keras' `SpectralNormalization` around every hidden weight layer (Dense and Conv, not the output layer),
    estimating the singular value by power iteration while training (`power_iterations` a value of the state:
    `keras_additions.StateSpectralNormalization`).

    Args:
        power_iterations: power iterations per training step, >= 1. Defaults to 1.
    """

    in_state = ("power_iterations",)
    parameter_constraints = {"power_iterations": Interval(int, 1, 100, limit=True)}

    def __init__(self, power_iterations=1):
        self.power_iterations = power_iterations

    def check(self, run):
        require_hidden_layers(self, run)

    def wrap_layer(self, layer):
        from regstudy.keras_additions import Held, StateSpectralNormalization

        held = Held(self.state_value("power_iterations"))
        return StateSpectralNormalization(layer, power_iterations=self.power_iterations, held=held)
