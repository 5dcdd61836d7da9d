"""The Keras callbacks every run trains with: epoch times, weight statistics, and the epochs' logs to MLflow."""

from __future__ import annotations

import time

import keras
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from regstudy.pruning import PRUNED_EPOCH_METRIC
from regstudy.tracking import Stopwatch
from regstudy.weights import STATISTICS, statistics


class EpochTimer(keras.callbacks.Callback):
    """Record each epoch's wall time, from its start to the end of its validation pass, in `seconds`.

    Kept out of the epoch logs (and so out of `history`), which must be identical for the same seed.
    """

    reads_model = False

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []
        self.began = time.perf_counter()  # when the engine, its programs set up, began to train

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class WeightStatistics(keras.callbacks.Callback):
    """Add the kernels' statistics (`regstudy.weights.statistics`: the penalty's value, the norms, the
    fractions at zero) to each epoch's logs (so to history and MLflow); at the end, `unit_norm_peak`, the
    largest norm any unit's incoming weights had after any epoch (whether a max-norm constraint ever held a
    unit at its bound: the report's activity check).

    An engine that computes the statistics in its own epoch (the jax engine, in its compiled program) puts
    them in the epoch's logs; this then reads them there and not the model, which such an engine need not
    keep current between epochs (`reads_model`)."""

    reads_model = False

    def on_train_begin(self, logs=None):
        self.peak = 0.0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        if not all(name in logs for name in STATISTICS):
            logs.update({name: float(value) for name, value in statistics(self.model).items()})
        self.peak = max(self.peak, float(logs["unit_norm_max"]))

    def final_metrics(self) -> dict[str, float]:
        return {"unit_norm_peak": self.peak}


def final_metrics(callbacks: list[keras.callbacks.Callback]) -> dict[str, float]:
    """What the callbacks that measure something about training (a `final_metrics()` method) report at its end."""
    return {
        key: value
        for callback in callbacks
        if callable(getattr(callback, "final_metrics", None))
        for key, value in callback.final_metrics().items()
    }


FLUSH_SECONDS = 2.0
"""How long a run's logged epochs wait at most before they are written (`EpochLogger`), when it trains alone."""


class EpochLogger(keras.callbacks.Callback):
    """Log every metric Keras reports at the end of an epoch to the run `run_id`, with step = epoch (from 1).

    Epochs are written in batches, at most every `flush_seconds` and when training ends (or, with
    `write_at_end=False`, whenever the owner writes what `take` returns: a run's final write carries its last
    epochs too, one store write fewer a run): one store write per epoch would cost more than a small model's
    epoch. The writes are synchronous, a few milliseconds
    each: MLflow's asynchronous ones would start its logging queue, whose shut-down when the run ends waits
    up to a second for the queue's thread (about 0.5 s a run, more than a short run's whole training).
    MLflow's own `mlflow.keras.MlflowCallback` also logs each validation pass again without a step and
    swallows its errors; this one lets errors surface.

    Args:
        client: a client of the tracking store.
        run_id: the run the epochs go to.
        flush_seconds: the longest time logged epochs wait before they are written. Defaults to
            `FLUSH_SECONDS`.
        stopwatch: adds up the time spent writing, if given. Defaults to None.
        write_at_end: write the epochs not yet written when training ends. Defaults to True.
    """

    reads_model = False

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        flush_seconds: float = FLUSH_SECONDS,
        stopwatch: Stopwatch | None = None,
        write_at_end: bool = True,
    ):
        super().__init__()
        self.client = client
        self.run_id = run_id
        self.flush_seconds = flush_seconds
        self.stopwatch = stopwatch or Stopwatch()
        self.write_at_end = write_at_end
        self._pending: list[Metric] = []

    def take(self) -> list[Metric]:
        """The logged epochs not yet written, which are then the caller's to write."""
        pending, self._pending = self._pending, []
        return pending

    def on_train_begin(self, logs=None):
        self._pending = []
        self._last_flush = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        timestamp = int(time.time() * 1000)
        self._pending.extend(Metric(key, float(value), timestamp, epoch + 1) for key, value in (logs or {}).items())
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.write()

    def on_train_end(self, logs=None):
        if self.write_at_end:
            self.write()

    def write(self):
        """Write the logged epochs not yet written."""
        if self._pending:
            with self.stopwatch:
                self.client.log_batch(self.run_id, metrics=self._pending, synchronous=True)
        self._pending = []
        self._last_flush = time.monotonic()


class PruningCallback(keras.callbacks.Callback):
    """Report each epoch's `objective` (from the epoch's logs) to the trial, and stop training when the trial
    should be pruned; the epoch it stopped at (from 1) is a final metric of the run.

    The steps are Keras' epoch indices, from 0, as in Optuna's own Keras callback: a pruner's `n_warmup_steps`
    (the search file's `warmup_epochs`) is then the number of epochs never pruned.

    Args:
        trial: the `optuna.Trial` to report to.
        objective: the epoch metric it reports, e.g. `val_accuracy`.
    """

    reads_model = False

    def __init__(self, trial, objective: str):
        super().__init__()
        self.trial, self.objective = trial, objective

    def on_train_begin(self, logs=None):
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.objective not in (logs or {}):
            raise KeyError(f"the search's objective {self.objective!r} is not among {sorted(logs or {})}")
        self.trial.report(float(logs[self.objective]), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True

    def final_metrics(self) -> dict[str, float]:
        return {} if self.pruned_at is None else {PRUNED_EPOCH_METRIC: float(self.pruned_at)}
