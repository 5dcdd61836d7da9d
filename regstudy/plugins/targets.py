"""Changing what the network is trained to predict: label smoothing, and `random_labels` (Zhang et al. 2017)."""

from __future__ import annotations

import numpy as np

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, register
from regstudy.validation import Interval


def _require_classes(plugin: Plugin, run) -> None:
    if run.task != "classification":
        raise IncompatiblePluginsError(
            "plugins", plugin.name, f"needs class labels, but '{run.dataset}' is a regression data set"
        )


@register("label_smoothing")
class LabelSmoothing(Plugin):
    """Label smoothing: train on targets `(1 - smoothing) * one_hot + smoothing / classes`.

    Args:
        smoothing: the mass moved from the true class to all classes, in [0, 1). Defaults to 0.1.
    """

    in_state = ("smoothing",)
    parameter_constraints = {"smoothing": Interval(float, 0, 1, closed="left")}

    def __init__(self, smoothing=0.1):
        self.smoothing = smoothing

    def check(self, run):
        _require_classes(self, run)

    def loss_options(self):
        # read in the loss's scope, which maps the model's state: the replica's value (`in_state`)
        return {"label_smoothing": self.state_value("smoothing")}


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
    parameter_constraints = {"fraction": Interval(float, 0, 1)}

    def __init__(self, fraction=1.0):
        self.fraction = fraction

    def check(self, run):
        _require_classes(self, run)

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
