"""`train`: one deterministic Keras training run, tracked in MLflow from its parameters to its figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import yaml
from IPython.utils.capture import capture_output

from regstudy import engines, lineage, tracking
from regstudy.backends import use_backend_of
from regstudy.callbacks import EpochLogger, EpochTimer, PruningCallback, WeightStatistics, final_metrics
from regstudy.combination import Combination
from regstudy.config import OPTIMIZERS, RunConfig
from regstudy.datasets import Splits, splits_for
from regstudy.determinism import make_deterministic
from regstudy.engines import EpochData
from regstudy.errors import TrainingError
from regstudy.figures import learning_curves, weight_histogram
from regstudy.models import build_model, kernels
from regstudy.pruning import TrialLink

EVALUATION_BATCH_SIZE = 1024
"""Evaluation has no updates, so one large batch gives the same numbers in fewer steps."""


@dataclass
class TrainResult:
    """What one run produced: its MLflow run id, per-epoch history, final metrics and the trained model."""

    run_id: str
    history: dict[str, list[float]]
    metrics: dict[str, float]
    config: RunConfig
    sizes: dict[str, int] = field(default_factory=dict)
    model: keras.Model | None = field(default=None, repr=False)
    splits: Splits | None = field(default=None, repr=False)
    """The train, validation and test sets the run used."""
    epoch_seconds: list[float] = field(default_factory=list)
    """Wall time of each epoch (training and validation), also logged as the `epoch_seconds` series."""
    seconds: dict[str, float] = field(default_factory=dict)
    """`run_seconds`, the wall time of the whole run, and `mlflow_seconds`, the part of it spent writing to
    MLflow and rendering the figures (all but starting and ending the run, and this last write). Logged as
    metrics, but kept out of `metrics`, which must be identical for the same seed."""


def train(*, run_id: str | None = None, trial: dict[str, Any] | None = None, **parameters: Any) -> TrainResult:
    """Train one model with the given plugins and log everything to MLflow.

    Takes the parameters of `RunConfig` by name (the same as the training notebook's `parameters` cell),
    validates them all before anything is written to the tracking store, trains deterministically, and
    returns the per-epoch history, the final metrics and the run id. The run ends FINISHED, or FAILED with
    a `failure_reason` tag (and the error raised again) if training fails or the loss becomes NaN.

    Args:
        run_id: an existing RUNNING run to log into (as `regstudy run` and sweeps create), or None to
            create one in `experiment`. Defaults to None.
        trial: the search trial this run is (`pruning.TrialLink.to_dict()`, as `regstudy tune` passes it): each
            epoch's validation score is reported to it, and training stops early if its pruner says so.
            Defaults to None.
        **parameters: see `RunConfig`.

    >>> result = regstudy.train(dataset="digits", plugins={"l2": {"l2": 1e-4}}, epochs=5)
    >>> result.metrics["test_accuracy"]
    """
    return train_config(RunConfig.from_mapping(parameters), run_id=run_id, trial=trial)


def train_config(config: RunConfig, run_id: str | None = None, trial: dict[str, Any] | Any = None) -> TrainResult:
    """`train` for an already validated `RunConfig`; `trial` may also be an `optuna.Trial` of this process, to
    which the validation score (`val_accuracy`, or `val_mse` for regression) is reported."""
    started = time.perf_counter()
    use_backend_of(config.engine)  # refused before anything is written if this process's Keras runs on another
    determinism_tags = make_deterministic(config.seed)
    splits = splits_for(config)
    combination = Combination.from_config(config.plugins)
    x_train, y_train = combination.transform_training_data(
        splits.x_train, splits.y_train, np.random.default_rng(config.seed)
    )
    model = build_model(config, splits, combination)
    data = EpochData(
        x_train,
        _encode(y_train, splits),
        splits.x_validation,
        _encode(splits.y_validation, splits),
        config.batch_size,
        EVALUATION_BATCH_SIZE,
        config.seed,
    )
    model.compile(
        optimizer=getattr(keras.optimizers, OPTIMIZERS[config.optimizer])(
            learning_rate=combination.learning_rate(config.learning_rate, data.steps, config.epochs),
            **combination.optimizer_options(),
        ),
        loss=_loss(splits.task, combination.loss_options()),
        metrics=[_metric(splits.task)],
        # Small models are dominated by per-step overhead: the keras engine runs an epoch in one graph call too.
        steps_per_execution=data.steps,
    )
    evaluation_data = {
        "train": (x_train, data.y),
        "validation": (splits.x_validation, data.y_validation),
        "test": (splits.x_test, _encode(splits.y_test, splits)),
    }
    tags = {
        "plugins": config.plugin_label,
        "dataset": config.dataset,
        "model": config.model,
        "engine": config.engine,
        "seed": str(config.seed),
        **determinism_tags,
        **tracking.environment_tags(),
    }
    logging = tracking.Stopwatch()  # MLflow's share of the run, figures included
    with logging:
        client = tracking.connect()
        if run_id is None:
            run_id = tracking.create_run(client, config.experiment, config.run_name)
    with tracking.ending(client, run_id):
        with logging:
            tracking.log_at_once(client, run_id, params=tracking.run_params(config), tags=tags)
            client.log_text(run_id, yaml.safe_dump(config.to_dict(), sort_keys=False), "params.yaml")
            client.log_text(run_id, _summary(model), "model_summary.txt")
            lineage.log_data(client, run_id, config.dataset, splits, source=config.dataset_options.get("path"))
        timer = EpochTimer()
        plugin_callbacks = combination.callbacks()
        pruning = []
        if isinstance(trial, dict):
            link = TrialLink(**trial)
            pruning = [PruningCallback(link.trial(), link.objective)]
        elif trial is not None:
            pruning = [PruningCallback(trial, f"val_{_metric(splits.task).name}")]
        measuring = [*plugin_callbacks, *pruning]
        history = engines.fit(
            config.engine,
            model,
            data,
            config.epochs,
            [
                timer,
                WeightStatistics(),
                keras.callbacks.TerminateOnNaN(),
                *measuring,
                EpochLogger(client, run_id, stopwatch=logging),
            ],
        )
        if not np.isfinite(history["loss"][-1]):
            raise TrainingError(f"the training loss became {history['loss'][-1]} at epoch {len(history['loss'])}")
        final_model = end_of_training(model, plugin_callbacks, x_train, splits.task)
        metrics = _final_metrics(final_model, evaluation_data, splits.task)
        metrics["epochs_trained"] = len(history["loss"])
        metrics.update(final_metrics(measuring))
        with logging:
            tracking.log_at_once(client, run_id, metrics=metrics, series={"epoch_seconds": timer.seconds})
            if config.log_model:
                lineage.log_model(client, run_id, model, splits.x_test[:5])
            if config.figures:
                client.log_figure(run_id, learning_curves(history), "figures/learning_curves.png")
                client.log_figure(
                    run_id,
                    weight_histogram([kernel.numpy() for kernel in kernels(model)]),
                    "figures/weight_histogram.png",
                )
        seconds = {"run_seconds": time.perf_counter() - started, "mlflow_seconds": logging.seconds}
        tracking.log_at_once(client, run_id, metrics=seconds)
    return TrainResult(run_id, history, metrics, config, splits.sizes, model, splits, timer.seconds, seconds)


def end_of_training(model: keras.Model, callbacks: list, x_train: np.ndarray, task: str) -> keras.Model:
    """Call the callbacks' `end_of_training` (`Plugin.callbacks`); return the model the final metrics are
    computed from: another one a callback returns (compiled as `model` is), or `model` itself."""
    final = model
    for callback in callbacks:
        if callable(getattr(callback, "end_of_training", None)):
            final = callback.end_of_training(model, x_train) or final
    if final is not model:
        final.compile(loss=model.loss, metrics=[_metric(task)])
    return final


def _metric(task: str) -> keras.metrics.Metric:
    """The score logged beside the loss: accuracy for classification, mean squared error for regression."""
    if task == "classification":
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.MeanSquaredError(name="mse")


def _loss(task: str, options: dict[str, Any]) -> keras.losses.Loss:
    if task == "classification":
        return keras.losses.CategoricalCrossentropy(**options)
    return keras.losses.MeanSquaredError(**options)


def _encode(labels: np.ndarray, splits: Splits) -> np.ndarray:
    """Targets in the form the loss takes: one-hot for classification, as they are for regression."""
    if splits.task == "classification":
        return keras.utils.to_categorical(labels, splits.classes).astype(np.float32)
    return labels


def _final_metrics(model: keras.Model, data: dict[str, tuple[np.ndarray, np.ndarray]], task: str) -> dict[str, float]:
    """Loss and score on each set (inputs, targets) with the final weights, and the generalization gaps."""
    metrics = {}
    for name, (x, y) in data.items():
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
