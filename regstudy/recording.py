"""The last stage of a run, and its bookkeeping throughout: what goes to MLflow before, during and after training.

`Recorder` logs the run's parameters, tags and data before training; gives the callbacks that log each epoch
and report to a search's trial; and afterwards computes the final metrics (from the model a plugin's
`end_of_training` may replace) and logs them, with the model and the figures when asked.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import yaml
from IPython.utils.capture import capture_output

from regstudy import lineage, tracking
from regstudy.callbacks import (
    FLUSH_SECONDS,
    EpochLogger,
    EpochTimer,
    PruningCallback,
    WeightStatistics,
    final_metrics,
)
from regstudy.config import RunConfig
from regstudy.errors import TrainingError
from regstudy.figures import learning_curves, weight_histogram
from regstudy.preparation import EVALUATION_BATCH_SIZE, PreparedRun, metric
from regstudy.pruning import TrialLink
from regstudy.weights import kernels

REPLICA_GROUP_TAG = "replica_group"
"""The run id of the first run of the replica group a run trained in (itself, for a run trained alone)."""


class Recorder:
    """One run's MLflow bookkeeping: connects, creates the run if `run_id` is None, and times MLflow's share.

    Args:
        config: the run's parameters, logged as they are.
        prepared: the prepared run (`regstudy.preparation.prepare`).
        run_id: an existing RUNNING run to log into, or None to create one in `config.experiment`.
        started: when the run started (`time.perf_counter()`), for `run_seconds`.
    """

    def __init__(self, config: RunConfig, prepared: PreparedRun, run_id: str | None, started: float):
        self.config, self.prepared, self.started = config, prepared, started
        self.stopwatch = tracking.Stopwatch()  # MLflow's share of the run, figures included
        with self.stopwatch:
            self.client = tracking.connect()
            self.run_id = run_id or tracking.create_run(self.client, config.experiment, config.run_name)
        self.timer = EpochTimer()
        self.plugin_callbacks = prepared.combination.callbacks()
        self.measuring: list = []
        self.final: dict[str, float] | None = None  # the final metrics, once `finish` computed them
        self.logger: EpochLogger | None = None  # the epoch logger, once `callbacks` made it
        self._end: tracking.RunEnd | None = None  # how the run ends, inside `ending`

    @contextlib.contextmanager
    def ending(self) -> Iterator[None]:
        """The run's end: FINISHED, or FAILED (or KILLED) with the reason (`tracking.ending`); the epochs its
        logger holds for the final write (`log_seconds`) are written first if the run ends before it.

        The run ends only here or by `fail`, so its status is not read again before it ends FINISHED."""
        with tracking.ending(self.client, self.run_id, read_first=False) as self._end:
            try:
                yield
            except BaseException:
                if self.logger is not None:
                    with contextlib.suppress(Exception):  # the error that ended the run is the one to raise
                        self.logger.write()
                raise

    def fail(self, reason: str) -> None:
        """End the run FAILED now with `reason` (a replica whose loss became NaN; the group's others go on)."""
        tracking.fail_run(self.client, self.run_id, reason)
        if self._end is not None:
            self._end.status = None  # ended: `ending` leaves it as it is

    def begin(self, group: str | None = None, environment: dict[str, str] | None = None) -> None:
        """Log the parameters, tags, the resolved parameters file, the model's summary and the data sets;
        `group` is the first run of the replica group this run trains in (tagged `REPLICA_GROUP_TAG`), and
        `environment` the group's `tracking.environment_tags()` (read once for its runs: git's state is a
        subprocess), or None to read them."""
        config, prepared = self.config, self.prepared
        tags = {
            **({REPLICA_GROUP_TAG: group} if group else {}),
            "plugins": config.plugin_label,
            "dataset": config.dataset,
            "model": config.model,
            "engine": config.engine,
            "seed": str(config.seed),
            **prepared.determinism_tags,
            **(environment or tracking.environment_tags()),
        }
        with self.stopwatch:
            tracking.log_at_once(self.client, self.run_id, params=config.params(), tags=tags)
            self.client.log_text(self.run_id, yaml.safe_dump(config.to_dict(), sort_keys=False), "params.yaml")
            self.client.log_text(self.run_id, _summary(prepared.model), "model_summary.txt")
            source = config.dataset_options.get("path")
            lineage.log_data(self.client, self.run_id, config.dataset, prepared.splits, source=source)

    def callbacks(self, trial: dict[str, Any] | Any = None, beside: int = 1) -> list:
        """What the engine trains with: timing, weight statistics, NaN stop, the plugins', a trial's pruning
        (a `pruning.TrialLink` as a dict, or an `optuna.Trial` of this process), and the epoch logger, which
        writes its epochs at most every `FLUSH_SECONDS` times `beside`, the runs of the replica group: a
        write costs each run the same (about 15 ms), so a group writes to the store as often as one run."""
        pruning = []
        if isinstance(trial, dict):
            link = TrialLink(**trial)
            pruning = [PruningCallback(link.trial(), link.objective)]
        elif trial is not None:
            pruning = [PruningCallback(trial, f"val_{metric(self.prepared.splits.task).name}")]
        statistics, chosen = WeightStatistics(), [*self.plugin_callbacks, *pruning]
        self.measuring = [statistics, *chosen]  # those whose `final_metrics` are logged at the end
        self.logger = EpochLogger(
            self.client, self.run_id, FLUSH_SECONDS * beside, stopwatch=self.stopwatch, write_at_end=False
        )
        return [self.timer, statistics, keras.callbacks.TerminateOnNaN(), *chosen, self.logger]

    def finish(self, history: dict[str, list[float]], evaluators=None) -> dict[str, float]:
        """Compute the final metrics (logged with the run's seconds, `log_seconds`) and log the model and
        figures if asked; return the metrics.

        `evaluators(model, final)` gives what computes the loss and metrics of `model` (`regstudy.engines.
        evaluator`), the trained model or (`final`) the one a plugin's `end_of_training` returned, or None for
        Keras' `evaluate`; without `evaluators`, Keras' `evaluate` computes them."""
        if not np.isfinite(history["loss"][-1]):
            raise TrainingError(f"the training loss became {history['loss'][-1]} at epoch {len(history['loss'])}")
        prepared = self.prepared
        model = prepared.model
        final_model = end_of_training(model, self.plugin_callbacks, prepared.data.x, prepared.splits.task)
        measure = evaluators(final_model, final_model is not model) if evaluators else None
        metrics = evaluate(final_model, prepared.evaluation, prepared.splits.task, measure)
        metrics["epochs_trained"] = len(history["loss"])
        metrics.update(final_metrics(self.measuring))
        self.final = metrics
        with self.stopwatch:
            if self.config.log_model:
                lineage.log_model(self.client, self.run_id, model, prepared.splits.x_test[:5])
            if self.config.figures:
                self.client.log_figure(self.run_id, learning_curves(history), "figures/learning_curves.png")
                histogram = weight_histogram([kernel.numpy() for kernel in kernels(model)])
                self.client.log_figure(self.run_id, histogram, "figures/weight_histogram.png")
        return metrics

    def log_seconds(self, stages: dict[str, float] | None = None) -> dict[str, float]:
        """Log and return `run_seconds` (the whole run), `mlflow_seconds` (MLflow's share of it) and `stages`,
        where the time of the run's replica group went (`regstudy.training.train_replicas`); in the same write,
        the final metrics `finish` computed, if it did, each epoch's seconds (`epoch_seconds`) and the last
        epochs' curves the epoch logger held back: one write a run at its end, not three."""
        seconds = {
            "run_seconds": time.perf_counter() - self.started,
            "mlflow_seconds": self.stopwatch.seconds,
            **(stages or {}),
        }
        series = {"epoch_seconds": self.timer.seconds} if self.final is not None else None
        held = self.logger.take() if self.logger is not None else []
        tracking.log_at_once(
            self.client, self.run_id, metrics={**(self.final or {}), **seconds}, series=series, points=held
        )
        return seconds


def end_of_training(model: keras.Model, callbacks: list, x_train: np.ndarray, task: str) -> keras.Model:
    """Call the callbacks' `end_of_training` (`Plugin.callbacks`); return the model the final metrics are
    computed from: another one a callback returns (compiled as `model` is), or `model` itself."""
    final = model
    for callback in callbacks:
        if callable(getattr(callback, "end_of_training", None)):
            final = callback.end_of_training(model, x_train) or final
    if final is not model:
        final.compile(loss=model.loss, metrics=[metric(task)])
    return final


def evaluate(
    model: keras.Model, data: dict[str, tuple[np.ndarray, np.ndarray]], task: str, evaluator=None
) -> dict[str, float]:
    """Loss and score on each set (inputs, targets) with the final weights, and the generalization gaps;
    computed by `evaluator(model, x, y)` if given, else by Keras' `evaluate`."""
    metrics = {}
    for name, (x, y) in data.items():
        if evaluator is not None:
            scores = evaluator(model, x, y)
        else:
            scores = model.evaluate(**_evaluation_data(x, y), verbose=0, return_dict=True)
        metrics.update({f"{name}_{key}": float(value) for key, value in scores.items()})
    metrics["loss_gap"] = metrics["test_loss"] - metrics["train_loss"]
    if task == "classification":
        metrics["generalization_gap"] = metrics["train_accuracy"] - metrics["test_accuracy"]
    return metrics


def _evaluation_data(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """`evaluate`'s arguments for the arrays, in batches of `EVALUATION_BATCH_SIZE`. On TensorFlow a plain
    `tf.data` pipeline: Keras' own for arrays maps in parallel, for which this TensorFlow logs an error line."""
    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": EVALUATION_BATCH_SIZE}
    import tensorflow as tf

    return {"x": tf.data.Dataset.from_tensor_slices((x, y)).batch(EVALUATION_BATCH_SIZE)}


def _summary(model: keras.Model) -> str:
    """Keras' model summary as text."""
    lines = []
    # Keras draws the summary with rich, which in a notebook would also display an empty block.
    with capture_output():
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)
