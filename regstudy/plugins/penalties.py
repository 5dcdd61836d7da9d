"""Penalties and constraints on the parameters: L1, L2, elastic net, orthogonality, max-norm, weight decay;
and the activity penalty, on what the hidden units compute.

Each uses Keras' own regularizer or constraint; the penalty reaches every weight kernel (Dense and Conv),
not the biases. Keras defines the penalties as sums over the weights: `l2 * sum(w²)`, with no 1/2.
"""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.plugins.base import Plugin, register
from regstudy.plugins.structure import require_hidden_layers
from regstudy.validation import Interval, Options

keras = lazy_modules.load("keras")


METHOD = Options(("subgradient", "proximal"), kind="method")
"""How an L1 term is minimized: as Keras' penalty in the loss, or by a proximal step after each update."""


def soft_threshold(model, strength: float):
    """The proximal step of `strength·Σ|w|` after each optimizer step, in the optimizer's own metric:
    `w ← sign(w)·max(|w| − s·strength, 0)` on every kernel, with `s` each weight's step size in the update
    just made (`step_sizes`). With SGD, `s` is the learning rate and this is proximal gradient descent (ISTA,
    or its stochastic version); with Adam or RMSprop, whose step scales each weight's gradient, it is the
    proximal operator in that diagonal metric (Melchior et al. 2019, "Proximal Adam"), whose fixed points are
    the L1 problem's solutions, as ISTA's are. Written in `keras.ops`, for every engine."""
    from regstudy.weights import kernels

    def update():
        for kernel in kernels(model):
            threshold = step_sizes(model.optimizer, kernel) * strength
            kernel.assign(keras.ops.sign(kernel) * keras.ops.maximum(keras.ops.abs(kernel) - threshold, 0.0))

    return update


def step_sizes(optimizer, variable):
    """How far `optimizer`'s last update moved each weight of `variable` per unit of its gradient (momentum
    aside): the learning rate η for SGD; `η·√(1−β₂ᵗ)/(1−β₁ᵗ) / (√v + ε)` for Adam after its step t (as
    `keras.optimizers.Adam.update_step` computes it); `η / √(v + ε)` for RMSprop.

    Raises:
        TypeError: for an optimizer whose step is not a diagonal scaling of the gradient known here.
    """
    ops = keras.ops
    rate = ops.cast(optimizer.learning_rate, variable.dtype)
    if isinstance(optimizer, keras.optimizers.SGD):
        return rate
    if isinstance(optimizer, keras.optimizers.Adam):
        index = optimizer._get_variable_index(variable)
        velocity = (optimizer._velocity_hats if optimizer.amsgrad else optimizer._velocities)[index]
        step = ops.cast(optimizer.iterations, variable.dtype)  # the update just made was step t = iterations
        beta_1, beta_2 = (ops.cast(beta, variable.dtype) for beta in (optimizer.beta_1, optimizer.beta_2))
        alpha = rate * ops.sqrt(1 - ops.power(beta_2, step)) / (1 - ops.power(beta_1, step))
        return alpha / (ops.sqrt(velocity) + optimizer.epsilon)
    if isinstance(optimizer, keras.optimizers.RMSprop):
        index = optimizer._get_variable_index(variable)
        denominator = optimizer._velocities[index] + optimizer.epsilon
        if optimizer.centered:
            denominator = denominator - ops.square(optimizer._average_gradients[index])
        return rate / ops.sqrt(denominator)
    raise TypeError(f"the proximal L1 step has no step size for {type(optimizer).__name__}")


class _Penalty(Plugin):
    """What L1, L2 and the elastic net share: one penalty, `l1·Σ|w| + l2·Σw²` on every kernel (Keras' `L1`,
    `L2` and `L1L2`, as `keras_additions.Penalty` computes them), both strengths values of the state and a
    strength the plugin lacks 0, so that their replicas share one program (`program`); an L1 term that a
    proximal step applies after each update (`method: proximal`) is left out of the loss."""

    l1 = l2 = 0.0
    method = "subgradient"

    @classmethod
    def program(cls, name, options):
        if options.get("method", "subgradient") == "subgradient":
            return "penalty", {}
        return super().program(name, options)

    def kernel_regularizer(self):
        from regstudy.keras_additions import Penalty

        l1 = self.state_value("l1") if self.method == "subgradient" else None
        l2 = self.state_value("l2") if self.method == "subgradient" or "l2" in self.in_state else None
        return None if l1 is None and l2 is None else Penalty(l1=l1, l2=l2)

    def after_update(self, model):
        return soft_threshold(model, self.state_value("l1")) if self.method == "proximal" else None


@register("l1")
class L1(_Penalty):
    """L1 penalty (lasso): `l1 * sum(|w|)` on every kernel; drives weights to zero.

    `method: subgradient` adds Keras' `L1` penalty to the loss: its gradient `l1·sign(w)` makes weights
    oscillate around zero, at about the learning rate's size, rather than reach it. `method: proximal`
    leaves the loss alone and, after each optimizer step, soft-thresholds every kernel by each weight's own
    step size: `w ← sign(w)·max(|w| − s·l1, 0)`, with `s` the learning rate under SGD (exactly proximal
    gradient descent: ISTA on full batches, its stochastic version otherwise) and the per-weight step
    `η·√(1−β₂ᵗ)/(1−β₁ᵗ)/(√v+ε)` under Adam (`η/√(v+ε)` under RMSprop): the proximal operator in the
    optimizer's metric (`soft_threshold`), so that the weights reach the L1 problem's exact zeros under every
    optimizer. The proximal L1 term is then in neither the loss nor the `penalty` series.

    Args:
        l1: the strength, >= 0. Defaults to 0.001.
        method: "subgradient" or "proximal". Defaults to "subgradient".
    """

    in_state = ("l1",)
    parameter_constraints = {"l1": Interval(float, 0, None), "method": METHOD}

    def __init__(self, l1=0.001, method="subgradient"):
        self.l1 = l1
        self.method = method


@register("l2")
class L2(_Penalty):
    """L2 penalty (ridge): `l2 * sum(w²)` on every kernel; shrinks all weights.

    Args:
        l2: the strength, >= 0. Defaults to 0.001.
    """

    in_state = ("l2",)
    parameter_constraints = {"l2": Interval(float, 0, None)}

    def __init__(self, l2=0.001):
        self.l2 = l2


@register("l1l2", "elastic_net")
class ElasticNet(_Penalty):
    """Elastic net: `l1 * sum(|w|) + l2 * sum(w²)` on every kernel.

    The L2 term is Keras' penalty; the L1 term is too (`method: subgradient`) or is applied by a proximal
    step after each update (`method: proximal`), as for `l1`.

    Args:
        l1: the L1 strength, >= 0. Defaults to 0.0005.
        l2: the L2 strength, >= 0. Defaults to 0.0005.
        method: "subgradient" or "proximal", for the L1 term. Defaults to "subgradient".
    """

    in_state = ("l1", "l2")
    parameter_constraints = {"l1": Interval(float, 0, None), "l2": Interval(float, 0, None), "method": METHOD}

    def __init__(self, l1=0.0005, l2=0.0005, method="subgradient"):
        self.l1 = l1
        self.l2 = l2
        self.method = method


@register("orthogonal")
class Orthogonal(Plugin):
    """Orthogonality penalty: `factor * mean(|off-diagonal of the Gram matrix of the normalised kernel|)`.

    Keras' `OrthogonalRegularizer`; a Conv kernel is seen as the matrix `(h·w·in, filters)`.

    Args:
        factor: the strength, >= 0. Defaults to 0.01.
        mode: "rows" (input features) or "columns" (units) are pushed towards orthogonality.
            Defaults to "rows".
    """

    in_state = ("factor",)
    parameter_constraints = {"factor": Interval(float, 0, None), "mode": Options(("rows", "columns"), kind="mode")}

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = factor
        self.mode = mode

    def kernel_regularizer(self):
        from regstudy.keras_additions import OnMatrix, Orthogonality

        return OnMatrix(Orthogonality(factor=self.state_value("factor"), mode=self.mode))


@register("max_norm")
class MaxNorm(Plugin):
    """Max-norm constraint: each unit's incoming weight vector is rescaled to norm <= `max_value`.

    Args:
        max_value: the largest norm allowed, > 0. Defaults to 3.0 (Srivastava et al. use 3 to 4).
    """

    exclusive = ("kernel constraint",)
    in_state = ("max_value",)
    parameter_constraints = {"max_value": Interval(float, 0, None, closed="right")}

    def __init__(self, max_value=3.0):
        self.max_value = max_value

    def kernel_constraint(self):
        from regstudy.keras_additions import MaxNormPerUnit

        return MaxNormPerUnit(self.max_value)

    def held(self, model):
        from regstudy.keras_additions import MaxNormPerUnit

        constraints = {id(v.constraint): v.constraint for v in model.trainable_variables}
        return [(each, "max_value", "max_value") for each in constraints.values() if isinstance(each, MaxNormPerUnit)]


@register("weight_decay")
class WeightDecay(Plugin):
    """Decoupled weight decay (AdamW-style): each step `w ← w - learning_rate * weight_decay * w`.

    It acts in the optimizer, not in the loss, so it adds nothing to the logged penalty.

    Args:
        weight_decay: the decay rate, >= 0. Defaults to 0.004 (Keras' AdamW default).
    """

    in_state = ("weight_decay",)
    parameter_constraints = {"weight_decay": Interval(float, 0, None)}

    def __init__(self, weight_decay=0.004):
        self.weight_decay = weight_decay

    def optimizer_options(self):
        return {"weight_decay": self.weight_decay}

    def held(self, model):
        return [(model.optimizer, "weight_decay", "weight_decay")]


@register("activity")
class Activity(Plugin):
    """Activity penalty: `l1 * sum(|h|) + l2 * sum(h²)` on every hidden layer's outputs, averaged over the batch.

    Keras' `ActivityRegularization` after each hidden layer; it penalizes what the units compute, not the
    weights, so it favours sparse or small representations (Glorot et al. 2011 use its L1 form).

    Args:
        l1: the L1 strength, >= 0. Defaults to 0.0.
        l2: the L2 strength, >= 0. Defaults to 0.001.
    """

    in_state = ("l1", "l2")
    parameter_constraints = {"l1": Interval(float, 0, None), "l2": Interval(float, 0, None)}

    def __init__(self, l1=0.0, l2=0.001):
        self.l1 = l1
        self.l2 = l2

    def check(self, run):
        require_hidden_layers(self, run)

    def hidden_layers(self):
        from regstudy.keras_additions import Penalty

        layer = keras.layers.ActivityRegularization(l1=self.l1, l2=self.l2)
        layer.activity_regularizer = Penalty(l1=self.state_value("l1"), l2=self.state_value("l2"))
        return [layer]
