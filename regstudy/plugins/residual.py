"""Regularizers of residual blocks (`model: resmlp`): stochastic depth, shake-drop and shake-shake.

Each joins the branches of every block (`Plugin.residual_join`) with a layer of `regstudy.residual_layers`
that perturbs them while training and returns their expectation at inference.
"""

from __future__ import annotations

from typing import ClassVar

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, register
from regstudy.validation import Interval

SURVIVAL = Interval(float, 0, 1, closed="right")
"""A probability that a branch is kept: 1 keeps every branch."""


class _ResidualPlugin(Plugin):
    """A plugin that joins the branches of every residual block with a layer of `regstudy.residual_layers`."""

    def check(self, run):
        if run.residual_blocks == 0:
            raise IncompatiblePluginsError(
                "plugins", self.name, f"acts on residual blocks, but a '{run.model}' has none (use model: resmlp)"
            )


class _DecayingSurvival(_ResidualPlugin):
    """A residual plugin whose branch passes with a probability falling linearly with depth to `survival`."""

    layer: ClassVar[str] = ""
    """The name of its layer in `regstudy.residual_layers`."""

    in_state = ("survival",)
    parameter_constraints = {"survival": SURVIVAL}

    def __init__(self, survival=0.5):
        self.survival = survival

    def residual_join(self, block, blocks):
        from regstudy import residual_layers
        from regstudy.keras_additions import Held

        layer = getattr(residual_layers, self.layer)
        held = Held(self.state_value("survival"), lambda last: residual_layers.linear_decay(block, blocks, last))
        return layer(residual_layers.linear_decay(block, blocks, self.survival), held=held)


@register("stochastic_depth")
class StochasticDepth(_DecayingSurvival):
    """Stochastic depth (Huang et al. 2016): drop each residual branch at random while training.

    Block `l` of `L` keeps its branch with probability `1 − l/L · (1 − survival)`, falling linearly to
    `survival` at the last block; at inference the branch is scaled by that probability.

    Args:
        survival: the last block's probability of keeping its branch, in (0, 1]. Defaults to 0.5.
    """

    layer = "StochasticDepth"


@register("shake_drop")
class ShakeDrop(_DecayingSurvival):
    """ShakeDrop (Yamada et al. 2018): scale each residual branch by random factors, forward and backward apart.

    With probability `p_l` (falling linearly to `survival` at the last block) the branch passes; otherwise it
    is scaled by α ~ U(−1, 1) forward and β ~ U(0, 1) backward. At inference it is scaled by `p_l`.

    Args:
        survival: the last block's probability of passing its branch unperturbed, in (0, 1]. Defaults to 0.5.
    """

    layer = "ShakeDrop"


@register("shake_shake")
class ShakeShake(_ResidualPlugin):
    """Shake-shake (Gastaldi 2017): two branches per residual block, mixed by random weights while training.

    Forward `α·b₁ + (1 − α)·b₂`, backward with another β, both U(0, 1) per example; `(b₁ + b₂)/2` at
    inference. No hyperparameters: the paper's "shake-shake-image" variant.
    """

    residual_branches = 2

    def residual_join(self, block, blocks):
        from regstudy.residual_layers import ShakeShake

        return ShakeShake()
