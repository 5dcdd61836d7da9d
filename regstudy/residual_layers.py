"""Layers that join the branches of a residual block (`Plugin.residual_join`): stochastic depth, shake-drop
and shake-shake. Each draws its noise per example while training and, at inference, returns the expectation
of its training output, so a trained block is, in expectation, the block it was while training.

Written in `keras.ops` and `keras.random`; called on a list of branch outputs of shape `(batch, width)`.
"""

from __future__ import annotations

import keras
from keras import ops


def linear_decay(block: int, blocks: int, last: float) -> float:
    """The survival probability of block `block` (from 0) of `blocks`, falling linearly from 1 at the input
    to `last` at the last block (Huang et al. 2016, eq. 4; Yamada et al. 2018 use the same rule)."""
    return 1.0 - (block + 1) / blocks * (1.0 - last)


class _Join(keras.layers.Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _per_example(self, branch, draw):
        return draw(shape=(ops.shape(branch)[0], 1), seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _Gated(_Join):
    """A join of one branch that passes with probability `survival` and is scaled by it at inference."""

    def __init__(self, survival, seed=None, held=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.survival = survival
        self.held = held  # the survival as a value of the model's state (`keras_additions.Held`), or None

    @property
    def probability(self):
        """The survival probability the step reads: the held value of the state, else `survival`."""
        return self.survival if self.held is None else self.held.value

    def call(self, inputs, training=None):
        (branch,) = inputs
        return self.perturbed(branch) if training else branch * ops.cast(self.probability, branch.dtype)

    def perturbed(self, branch):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "survival": self.survival}


@keras.saving.register_keras_serializable(package="regstudy")
class StochasticDepth(_Gated):
    """Stochastic depth (Huang et al. 2016): keep the branch with probability `survival`, else drop it.

    Training: `b · branch` with `b ~ Bernoulli(survival)` per example (as timm's `DropPath` draws it; Huang
    et al. draw one per batch). Inference: `survival · branch`, the expectation, as in the paper.

    Args:
        survival: the probability the branch is kept, in (0, 1].
        seed: the seed of the draws. Defaults to None (from the global seed).
    """

    def perturbed(self, branch):
        keep = self._per_example(branch, keras.random.uniform) < ops.cast(self.probability, branch.dtype)
        return branch * ops.cast(keep, branch.dtype)


@keras.saving.register_keras_serializable(package="regstudy")
class ShakeDrop(_Gated):
    """ShakeDrop (Yamada et al. 2018): scale the branch by `b + α − b·α` forward and `b + β − b·β` backward.

    Training: `b ~ Bernoulli(survival)`, `α ~ U(-1, 1)`, `β ~ U(0, 1)`, per example; the forward value is
    `(b + α − bα) · branch`, the gradient flows as if it were `(b + β − bβ) · branch`. Inference:
    `E[b + α − bα] · branch = survival · branch`.

    Args:
        survival: the probability that the branch passes unperturbed (the paper's `p_l`), in (0, 1].
        seed: the seed of the draws. Defaults to None (from the global seed).
    """

    def perturbed(self, branch):
        gate = ops.cast(
            self._per_example(branch, keras.random.uniform) < ops.cast(self.probability, branch.dtype), branch.dtype
        )
        alpha = self._per_example(branch, keras.random.uniform) * 2.0 - 1.0
        beta = self._per_example(branch, keras.random.uniform)
        forward = gate + alpha - gate * alpha
        backward = gate + beta - gate * beta
        return _shaken(branch * forward, branch * backward)


@keras.saving.register_keras_serializable(package="regstudy")
class ShakeShake(_Join):
    """Shake-shake (Gastaldi 2017): join two branches by `α·b₁ + (1 − α)·b₂`, with another `β` backward.

    Training: `α, β ~ U(0, 1)` per example ("shake-shake-image"); the forward value uses `α`, the gradient
    `β`. Inference: `(b₁ + b₂) / 2`, the expectation.

    Args:
        seed: the seed of the draws. Defaults to None (from the global seed).
    """

    def call(self, inputs, training=None):
        first, second = inputs
        if not training:
            return (first + second) * 0.5
        alpha = self._per_example(first, keras.random.uniform)
        beta = self._per_example(first, keras.random.uniform)
        return _shaken(alpha * first + (1.0 - alpha) * second, beta * first + (1.0 - beta) * second)


def _shaken(forward, backward):
    """A tensor whose value is `forward` and whose gradient is that of `backward`."""
    return backward + ops.stop_gradient(forward - backward)
