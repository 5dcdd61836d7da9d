"""Regularization of training itself: early stopping (patience, and Prechelt's GL, PQ, UP), label smoothing."""

from __future__ import annotations

import keras

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, register
from regstudy.stopping import PrecheltStopping
from regstudy.validation import check_bool, check_choice, check_number

MONITORS = ("val_loss", "val_accuracy", "val_mse", "loss", "accuracy", "mse")


@register("early_stopping")
class EarlyStopping(Plugin):
    """Early stopping with patience: stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    Keras' `EarlyStopping` callback. Logs `stopped_epoch` (the last epoch trained, 0 if training ran to the
    end) and `restored_epoch` (the epoch whose weights the model keeps), counting epochs from 1.

    Args:
        monitor: the quantity watched. Defaults to "val_loss".
        patience: epochs without improvement before stopping, >= 0. Defaults to 5.
        min_delta: the smallest change counted as an improvement, >= 0. Defaults to 0.0.
        restore_best_weights: keep the weights of the best epoch. Defaults to True.
        start_from_epoch: epochs of warm-up before stopping may start, >= 0. Defaults to 0.
    """

    exclusive = ("stopping",)

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True, start_from_epoch=0):
        self.monitor = check_choice("monitor", monitor, MONITORS, kind="monitor")
        self.patience = check_number("patience", patience, minimum=0, integer=True)
        self.min_delta = check_number("min_delta", min_delta, minimum=0)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        self.start_from_epoch = check_number("start_from_epoch", start_from_epoch, minimum=0, integer=True)
        self._callback = None

    def check(self, config):
        regression_metric = self.monitor.endswith("mse")
        if regression_metric != (config.task == "regression"):
            raise IncompatiblePluginsError(
                "plugins.early_stopping.monitor", self.monitor, f"is not measured on a {config.task} data set"
            )

    def callbacks(self):
        self._callback = keras.callbacks.EarlyStopping(
            monitor=self.monitor,
            patience=self.patience,
            min_delta=self.min_delta,
            restore_best_weights=self.restore_best_weights,
            start_from_epoch=self.start_from_epoch,
        )
        return [self._callback]

    def final_metrics(self):
        callback = self._callback
        stopped = callback.stopped_epoch + 1 if callback.stopped_epoch > 0 else 0
        restored = callback.best_epoch + 1 if self.restore_best_weights and callback.best_weights is not None else 0
        return {"stopped_epoch": stopped, "restored_epoch": restored}


@register("label_smoothing")
class LabelSmoothing(Plugin):
    """Label smoothing: train on targets `(1 - smoothing) * one_hot + smoothing / classes`.

    Args:
        smoothing: the mass moved from the true class to all classes, in [0, 1). Defaults to 0.1.
    """

    def __init__(self, smoothing=0.1):
        self.smoothing = check_number("smoothing", smoothing, minimum=0, maximum=1, exclusive_maximum=True)

    def check(self, config):
        if config.task != "classification":
            raise IncompatiblePluginsError("plugins", self.name, f"needs class labels, but '{config.dataset}' is a regression data set")

    def loss_options(self):
        return {"label_smoothing": self.smoothing}


class _PrecheltCriterion(Plugin):
    """What Prechelt's three stopping criteria share: the callback, the role, the logged epochs."""

    exclusive = ("stopping",)
    criterion: str = ""
    strip: int = 1  # GL looks at single epochs; PQ and UP set their own strip length

    def threshold(self) -> float:
        raise NotImplementedError

    def callbacks(self):
        self._callback = PrecheltStopping(self.criterion, self.threshold(), strip=self.strip)
        return [self._callback]

    def final_metrics(self):
        return {"stopped_epoch": self._callback.stopped_epoch, "restored_epoch": self._callback.best_epoch}


@register("gl")
class GeneralizationLoss(_PrecheltCriterion):
    """Prechelt's GL_α: stop when the generalization loss `100·(E_va/E_opt − 1)` exceeds α; restore the best.

    Args:
        alpha: the largest generalization loss tolerated, in percent, > 0. Defaults to 5.0.
    """

    criterion = "gl"

    def __init__(self, alpha=5.0):
        self.alpha = check_number("alpha", alpha, minimum=0, exclusive_minimum=True)

    def threshold(self):
        return self.alpha


@register("pq")
class ProgressQuotient(_PrecheltCriterion):
    """Prechelt's PQ_α: stop at the end of a strip of k epochs when GL / training progress P_k exceeds α.

    Args:
        alpha: the largest quotient tolerated, > 0. Defaults to 1.0.
        strip: k, the strip length in epochs, >= 2. Defaults to 5.
    """

    criterion = "pq"

    def __init__(self, alpha=1.0, strip=5):
        self.alpha = check_number("alpha", alpha, minimum=0, exclusive_minimum=True)
        self.strip = check_number("strip", strip, minimum=2, integer=True)

    def threshold(self):
        return self.alpha


@register("up")
class UpStrips(_PrecheltCriterion):
    """Prechelt's UP_s: stop when the validation error rose over s successive strips of k epochs.

    Args:
        strips: s, the successive strips with a rise, >= 1. Defaults to 2.
        strip: k, the strip length in epochs, >= 1. Defaults to 5.
    """

    criterion = "up"

    def __init__(self, strips=2, strip=5):
        self.strips = check_number("strips", strips, minimum=1, integer=True)
        self.strip = check_number("strip", strip, minimum=1, integer=True)

    def threshold(self):
        return self.strips
