"""Changing how a training step computes its gradients: SAM and FGSM adversarial training.

Each overrides `Plugin.step_gradients`: it receives the gradients of the model's loss on the batch and a
`regstudy.steps.Step` that computes the same loss, penalties included, at other weights or inputs. Written
in `keras.ops`; the batch's logged loss and metrics are those of the ordinary first pass.
"""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.plugins.base import Plugin, register
from regstudy.validation import Interval

keras = lazy_modules.load("keras")


@register("sam")
class SAM(Plugin):
    """Sharpness-aware minimization (Foret et al. 2021): step with the gradient at the worst nearby weights.

    Each step computes the gradient `g` at the weights `w`, then the gradient at `w + rho·g/‖g‖` (the
    steepest ascent within a ball of radius `rho`), which the optimizer applies at `w`. Two passes a step.

    Args:
        rho: the radius of the neighbourhood, > 0. Defaults to 0.05.
    """

    in_state = ("rho",)
    parameter_constraints = {"rho": Interval(float, 0, None, closed="neither")}

    def __init__(self, rho=0.05):
        self.rho = rho

    def step_gradients(self, step, x, y, gradients):
        norm = keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(g)) for g in gradients))
        scale = self.state_value("rho") / (norm + 1e-12)
        weights = [keras.ops.copy(variable) for variable in step.variables]
        for variable, gradient in zip(step.variables, gradients):
            variable.assign_add(gradient * scale)
        _, _, sharp = step.gradients(x, y)
        for variable, weight in zip(step.variables, weights):
            variable.assign(weight)
        return sharp


@register("fgsm")
class FGSM(Plugin):
    """Adversarial training with the fast gradient sign method (Goodfellow et al. 2015).

    Each step also trains on `x + epsilon·sign(∇ₓ loss)`, the inputs moved to increase the loss most under
    a max-norm bound: the gradient is `½·∇(loss on x) + ½·∇(loss on the adversarial x)`, the paper's
    objective with α = ½. Three passes a step.

    Args:
        epsilon: how far each input feature moves, >= 0 (the features are standardized). Defaults to 0.1.
    """

    in_state = ("epsilon",)
    parameter_constraints = {"epsilon": Interval(float, 0, None)}

    def __init__(self, epsilon=0.1):
        self.epsilon = epsilon

    def adversarial_inputs(self, step, x, y):
        """The inputs `x + epsilon·sign(∇ₓ loss)`."""
        return x + self.state_value("epsilon") * keras.ops.sign(step.input_gradient(x, y))

    def step_gradients(self, step, x, y, gradients):
        _, _, adversarial = step.gradients(self.adversarial_inputs(step, x, y), y)
        return [0.5 * (clean + moved) for clean, moved in zip(gradients, adversarial)]
