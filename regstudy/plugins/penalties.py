"""Penalties and constraints on the parameters: L1, L2, elastic net, orthogonality, max-norm, weight decay;
and the activity penalty, on what the hidden units compute.

Each uses Keras' own regularizer or constraint; the penalty reaches every weight kernel (Dense and Conv),
not the biases. Keras defines the penalties as sums over the weights: `l2 * sum(w²)`, with no 1/2.
"""

from __future__ import annotations

import lazy_loader

from regstudy.plugins.base import Plugin, register
from regstudy.plugins.structure import require_hidden_layers
from regstudy.validation import Interval, Options

keras = lazy_loader.load("keras")


METHOD = Options(("subgradient", "proximal"), kind="method")
"""How an L1 term is minimized: as Keras' penalty in the loss, or by a proximal step after each update."""


def soft_threshold(model, strength: float):
    """The proximal step of `strength·Σ|w|` after each optimizer step: `w ← sign(w)·max(|w| − η·strength, 0)`
    on every kernel, with η the optimizer's current learning rate (in `keras.ops`)."""
    from regstudy.weights import kernels

    def update():
        threshold = keras.ops.cast(model.optimizer.learning_rate, "float32") * strength
        for kernel in kernels(model):
            kernel.assign(keras.ops.sign(kernel) * keras.ops.maximum(keras.ops.abs(kernel) - threshold, 0.0))

    return update


@register("l1")
class L1(Plugin):
    """L1 penalty (lasso): `l1 * sum(|w|)` on every kernel; drives weights to zero.

    `method: subgradient` adds Keras' `L1` penalty to the loss: its gradient `l1·sign(w)` makes weights
    oscillate around zero, at about the learning rate's size, rather than reach it. `method: proximal`
    leaves the loss alone and, after each optimizer step, soft-thresholds every kernel:
    `w ← sign(w)·max(|w| − η·l1, 0)`, η the learning rate. With SGD this is exactly proximal gradient
    descent (ISTA on full batches, its stochastic version otherwise), whose weights reach exact zeros;
    with Adam or RMSprop it is a heuristic: the gradient step is scaled per weight, the threshold is not.
    The proximal L1 term is then in neither the loss nor the `penalty` series.

    Args:
        l1: the strength, >= 0. Defaults to 0.001.
        method: "subgradient" or "proximal". Defaults to "subgradient".
    """

    parameter_constraints = {"l1": Interval(float, 0, None), "method": METHOD}

    def __init__(self, l1=0.001, method="subgradient"):
        self.l1 = l1
        self.method = method

    def kernel_regularizer(self):
        return keras.regularizers.L1(self.l1) if self.method == "subgradient" else None

    def after_update(self, model):
        return soft_threshold(model, self.l1) if self.method == "proximal" else None


@register("l2")
class L2(Plugin):
    """L2 penalty (ridge): `l2 * sum(w²)` on every kernel; shrinks all weights.

    Args:
        l2: the strength, >= 0. Defaults to 0.001.
    """

    parameter_constraints = {"l2": Interval(float, 0, None)}

    def __init__(self, l2=0.001):
        self.l2 = l2

    def kernel_regularizer(self):
        return keras.regularizers.L2(self.l2)


@register("l1l2", "elastic_net")
class ElasticNet(Plugin):
    """Elastic net: `l1 * sum(|w|) + l2 * sum(w²)` on every kernel.

    The L2 term is Keras' penalty; the L1 term is too (`method: subgradient`) or is applied by a proximal
    step after each update (`method: proximal`), as for `l1`.

    Args:
        l1: the L1 strength, >= 0. Defaults to 0.0005.
        l2: the L2 strength, >= 0. Defaults to 0.0005.
        method: "subgradient" or "proximal", for the L1 term. Defaults to "subgradient".
    """

    parameter_constraints = {"l1": Interval(float, 0, None), "l2": Interval(float, 0, None), "method": METHOD}

    def __init__(self, l1=0.0005, l2=0.0005, method="subgradient"):
        self.l1 = l1
        self.l2 = l2
        self.method = method

    def kernel_regularizer(self):
        if self.method == "proximal":
            return keras.regularizers.L2(self.l2)
        return keras.regularizers.L1L2(l1=self.l1, l2=self.l2)

    def after_update(self, model):
        return soft_threshold(model, self.l1) if self.method == "proximal" else None


@register("orthogonal")
class Orthogonal(Plugin):
    """Orthogonality penalty: `factor * mean(|off-diagonal of the Gram matrix of the normalised kernel|)`.

    Keras' `OrthogonalRegularizer`; a Conv kernel is seen as the matrix `(h·w·in, filters)`.

    Args:
        factor: the strength, >= 0. Defaults to 0.01.
        mode: "rows" (input features) or "columns" (units) are pushed towards orthogonality.
            Defaults to "rows".
    """

    parameter_constraints = {"factor": Interval(float, 0, None), "mode": Options(("rows", "columns"), kind="mode")}

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = factor
        self.mode = mode

    def kernel_regularizer(self):
        from regstudy.keras_additions import OnMatrix

        return OnMatrix(keras.regularizers.OrthogonalRegularizer(factor=self.factor, mode=self.mode))


@register("max_norm")
class MaxNorm(Plugin):
    """Max-norm constraint: each unit's incoming weight vector is rescaled to norm <= `max_value`.

    Args:
        max_value: the largest norm allowed, > 0. Defaults to 3.0 (Srivastava et al. use 3 to 4).
    """

    exclusive = ("kernel constraint",)
    parameter_constraints = {"max_value": Interval(float, 0, None, closed="right")}

    def __init__(self, max_value=3.0):
        self.max_value = max_value

    def kernel_constraint(self):
        from regstudy.keras_additions import MaxNormPerUnit

        return MaxNormPerUnit(self.max_value)


@register("weight_decay")
class WeightDecay(Plugin):
    """Decoupled weight decay (AdamW-style): each step `w ← w - learning_rate * weight_decay * w`.

    It acts in the optimizer, not in the loss, so it adds nothing to the logged penalty.

    Args:
        weight_decay: the decay rate, >= 0. Defaults to 0.004 (Keras' AdamW default).
    """

    parameter_constraints = {"weight_decay": Interval(float, 0, None)}

    def __init__(self, weight_decay=0.004):
        self.weight_decay = weight_decay

    def optimizer_options(self):
        return {"weight_decay": self.weight_decay}


@register("activity")
class Activity(Plugin):
    """Activity penalty: `l1 * sum(|h|) + l2 * sum(h²)` on every hidden layer's outputs, averaged over the batch.

    Keras' `ActivityRegularization` after each hidden layer; it penalizes what the units compute, not the
    weights, so it favours sparse or small representations (Glorot et al. 2011 use its L1 form).

    Args:
        l1: the L1 strength, >= 0. Defaults to 0.0.
        l2: the L2 strength, >= 0. Defaults to 0.001.
    """

    parameter_constraints = {"l1": Interval(float, 0, None), "l2": Interval(float, 0, None)}

    def __init__(self, l1=0.0, l2=0.001):
        self.l1 = l1
        self.l2 = l2

    def check(self, run):
        require_hidden_layers(self, run)

    def hidden_layers(self):
        return [keras.layers.ActivityRegularization(l1=self.l1, l2=self.l2)]
