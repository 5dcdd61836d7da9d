"""Transforms of the training data: `random_labels`, the experiment of Zhang et al. (2017)."""

from __future__ import annotations

import numpy as np

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, register
from regstudy.validation import check_number


@register("random_labels")
class RandomLabels(Plugin):
    """Replace a fraction of the training labels with classes drawn uniformly at random.

    Not a regularizer but its test (Zhang et al. 2017, "Understanding deep learning requires rethinking
    generalization"): a network that fits labels which carry no information has the capacity to memorise.
    Validation and test labels are untouched, so test accuracy measures what was learnt of the true ones.

    Args:
        fraction: the share of training labels replaced, in [0, 1]. Defaults to 1.0.
    """

    regularizer = False

    def __init__(self, fraction=1.0):
        self.fraction = check_number("fraction", fraction, minimum=0, maximum=1)

    def check(self, config):
        if config.task != "classification":
            raise IncompatiblePluginsError("plugins", self.name, f"needs class labels, but '{config.dataset}' is regression")

    def transform_training_data(self, x, y, rng):
        return x, randomize_labels(y, self.fraction, int(y.max()) + 1, rng)


def randomize_labels(labels: np.ndarray, fraction: float, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Return a copy of `labels` in which `round(fraction · n)` of them, chosen at random, are uniform classes.

    A replaced label may by chance equal the true one, as in Zhang et al.: with `fraction = 1` about
    `1 / classes` of the labels stay right.

    >>> randomize_labels(np.array([0, 1, 2, 3]), 0.5, 4, np.random.default_rng(0))
    """
    labels = np.array(labels, copy=True)
    chosen = rng.choice(len(labels), size=round(fraction * len(labels)), replace=False)
    labels[chosen] = rng.integers(0, classes, size=len(chosen))
    return labels
