"""Stopping training early: patience (Keras' `EarlyStopping`) and Prechelt's GL, PQ and UP criteria."""

from __future__ import annotations

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import FINAL_MODEL, Plugin, register
from regstudy.validation import Boolean, Interval, Options

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
    varying = ("monitor", "patience", "min_delta", "restore_best_weights", "start_from_epoch")
    parameter_constraints = {
        "monitor": Options(MONITORS, kind="monitor"),
        "patience": Interval(int, 0, None),
        "min_delta": Interval(float, 0, None),
        "restore_best_weights": Boolean(),
        "start_from_epoch": Interval(int, 0, None),
    }

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True, start_from_epoch=0):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def roles(self):
        # Restoring the best epoch's weights decides the final model, as SWA, EMA and snapshots do.
        return ("stopping", FINAL_MODEL) if self.restore_best_weights else ("stopping",)

    def check(self, run):
        if self.monitor.endswith("mse") != (run.task == "regression"):
            raise IncompatiblePluginsError(
                "plugins.early_stopping.monitor", self.monitor, f"is not measured on a {run.task} data set"
            )

    def callbacks(self):
        from regstudy.keras_additions import EarlyStopping

        return [EarlyStopping(**self.get_config())]


class _PrecheltCriterion(Plugin):
    """What Prechelt's three stopping criteria share: the callback and the roles (they restore the best weights)."""

    exclusive = ("stopping", FINAL_MODEL)
    criterion: str = ""
    strip: int = 1  # GL looks at single epochs; PQ and UP set their own strip length

    def threshold(self) -> float:
        raise NotImplementedError

    def callbacks(self):
        from regstudy.prechelt import PrecheltStopping

        return [PrecheltStopping(self.criterion, self.threshold(), strip=self.strip)]


@register("gl")
class GeneralizationLoss(_PrecheltCriterion):
    """Prechelt's GL_α: stop when the generalization loss `100·(E_va/E_opt − 1)` exceeds α; restore the best.

    Args:
        alpha: the largest generalization loss tolerated, in percent, > 0. Defaults to 5.0.
    """

    criterion = "gl"
    varying = ("alpha",)
    parameter_constraints = {"alpha": Interval(float, 0, None, closed="right")}

    def __init__(self, alpha=5.0):
        self.alpha = alpha

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
    varying = ("alpha", "strip")
    parameter_constraints = {"alpha": Interval(float, 0, None, closed="right"), "strip": Interval(int, 2, None)}

    def __init__(self, alpha=1.0, strip=5):
        self.alpha = alpha
        self.strip = strip

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
    varying = ("strips", "strip")
    parameter_constraints = {"strips": Interval(int, 1, None), "strip": Interval(int, 1, None)}

    def __init__(self, strips=2, strip=5):
        self.strips = strips
        self.strip = strip

    def threshold(self):
        return self.strips
