"""Prechelt's stopping criteria (Prechelt 1998, "Early stopping — but when?") and the callback that applies them.

With E_va(t) the validation error after epoch t, E_opt(t) the lowest of E_va up to t, and E_tr the
training error:

- generalization loss `GL(t) = 100 · (E_va(t) / E_opt(t) − 1)`; GL_α stops after the first epoch with GL > α;
- training progress over a strip of k epochs ending at t,
  `P_k(t) = 1000 · (Σ E_tr(t−k+1..t) / (k · min E_tr(t−k+1..t)) − 1)`; PQ_α stops at the end of the
  first strip with `GL(t) / P_k(t) > α`;
- UP_s stops at the end of a strip when the validation error rose in each of the last s strips
  (`E_va(t) > E_va(t−k)`, and so on back s strips).

All three then restore the weights of the epoch with the lowest validation error.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np


def generalization_loss(validation_errors: Sequence[float]) -> np.ndarray:
    """GL(t) for every epoch: 100 · (E_va(t) / min E_va(..t) − 1)."""
    errors = np.asarray(validation_errors, dtype=float)
    return 100.0 * (errors / np.minimum.accumulate(errors) - 1.0)


def training_progress(training_errors: Sequence[float], strip: int) -> float:
    """P_k at the last epoch: 1000 · (mean of the last k training errors / their minimum − 1)."""
    last = np.asarray(training_errors[-strip:], dtype=float)
    return 1000.0 * (last.sum() / (strip * last.min()) - 1.0)


def stops_gl(validation_errors: Sequence[float], alpha: float) -> bool:
    """GL_α: the generalization loss of the last epoch exceeds α."""
    return bool(generalization_loss(validation_errors)[-1] > alpha)


def stops_pq(validation_errors: Sequence[float], training_errors: Sequence[float], alpha: float, strip: int) -> bool:
    """PQ_α: at the end of a strip, GL / P_k exceeds α (progress 0 means training has stalled: stop if GL > 0)."""
    epochs = len(validation_errors)
    if epochs < strip or epochs % strip:
        return False
    loss = generalization_loss(validation_errors)[-1]
    progress = training_progress(training_errors, strip)
    return bool(loss / progress > alpha) if progress > 0 else bool(loss > 0)


def stops_up(validation_errors: Sequence[float], successive_strips: int, strip: int) -> bool:
    """UP_s: at the end of a strip, the validation error rose over each of the last s strips."""
    epochs = len(validation_errors)
    if epochs % strip or epochs <= successive_strips * strip:
        return False
    ends = [validation_errors[epochs - 1 - i * strip] for i in range(successive_strips + 1)]
    return all(later > earlier for later, earlier in zip(ends, ends[1:]))


class PrecheltStopping(keras.callbacks.Callback):
    """Stop training by one of Prechelt's criteria and restore the weights of the best validation epoch.

    Args:
        criterion: "gl", "pq" or "up".
        threshold: α for GL and PQ, s (successive strips) for UP.
        strip: k, the strip length in epochs (PQ and UP). Defaults to 5.
        monitor: the validation error. Defaults to "val_loss".
        training_monitor: the training error (PQ). Defaults to "loss".
    """

    def __init__(self, criterion, threshold, strip=5, monitor="val_loss", training_monitor="loss"):
        super().__init__()
        self.criterion = criterion
        self.threshold = threshold
        self.strip = strip
        self.monitor = monitor
        self.training_monitor = training_monitor

    def on_train_begin(self, logs=None):
        # Reset here so that one instance can train several times.
        self.validation_errors, self.training_errors = [], []
        self.best_epoch, self.best_weights, self.stopped_epoch = 0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"{type(self).__name__} monitors '{self.monitor}', which is not among {sorted(logs)}")
        self.validation_errors.append(float(logs[self.monitor]))
        self.training_errors.append(float(logs[self.training_monitor]))
        if self.validation_errors[-1] <= min(self.validation_errors):
            self.best_epoch, self.best_weights = epoch + 1, self.model.get_weights()
        if self._stops():
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def final_metrics(self) -> dict[str, float]:
        """The epoch training stopped after (0 if it ran to the end) and the epoch whose weights were kept."""
        return {"stopped_epoch": self.stopped_epoch, "restored_epoch": self.best_epoch}

    def _stops(self) -> bool:
        if self.criterion == "gl":
            return stops_gl(self.validation_errors, self.threshold)
        if self.criterion == "pq":
            return stops_pq(self.validation_errors, self.training_errors, self.threshold, self.strip)
        return stops_up(self.validation_errors, int(self.threshold), self.strip)
