"""`train`: one deterministic Keras training run, tracked in MLflow from its parameters to its figures.

A run is three stages: prepare it (`regstudy.preparation`: splits, plugins, model), train it (the engine's
`fit`, `regstudy.engines`), record it (`regstudy.recording`: metrics, lineage, figures, model). This module
only validates the parameters, once, chooses Keras' backend for the engine and calls the stages in order.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regstudy.backends import use_backend_of
from regstudy.config import RunConfig

if TYPE_CHECKING:
    import keras

    from regstudy.data import Splits


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


def train(
    *, run_id: str | None = None, trial: dict[str, Any] | None = None, validated: str | None = None, **parameters: Any
) -> TrainResult:
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
        validated: the `RunConfig.digest()` of the parameters, from a process that validated them (`regstudy
            run` and sweeps pass it), so that they are not validated again. Defaults to None.
        **parameters: see `RunConfig`.

    >>> result = regstudy.train(dataset="digits", plugins={"l2": {"l2": 1e-4}}, epochs=5)
    >>> result.metrics["test_accuracy"]
    """
    return train_config(RunConfig.trusted(parameters, validated), run_id=run_id, trial=trial)


# `help(regstudy.train)` and editors show every run parameter, from `RunConfig` itself.
train.__signature__ = inspect.Signature(
    [
        *list(inspect.signature(train).parameters.values())[:3],
        *(
            inspect.Parameter(
                item.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=item.default_factory() if item.default is dataclasses.MISSING else item.default,
                annotation=item.type,
            )
            for item in dataclasses.fields(RunConfig)
        ),
    ],
    return_annotation=TrainResult,
)


def train_config(config: RunConfig, run_id: str | None = None, trial: dict[str, Any] | Any = None) -> TrainResult:
    """`train` for an already validated `RunConfig`; `trial` may also be an `optuna.Trial` of this process, to
    which the validation score (`val_accuracy`, or `val_mse` for regression) is reported."""
    started = time.perf_counter()
    use_backend_of(config.engine)  # refused before anything is written if this process's Keras runs on another
    # The stages import Keras, which must come after its backend is chosen.
    from regstudy.engines import fit
    from regstudy.preparation import prepare
    from regstudy.recording import Recorder

    prepared = prepare(config)
    recorder = Recorder(config, prepared, run_id, started)
    with recorder.ending():
        recorder.begin()
        history = fit(config.engine, prepared.model, prepared.data, config.epochs, recorder.callbacks(trial))
        metrics = recorder.finish(history)
        seconds = recorder.log_seconds()
    splits = prepared.splits
    return TrainResult(
        recorder.run_id, history, metrics, config, splits.sizes, prepared.model, splits, recorder.timer.seconds, seconds
    )
