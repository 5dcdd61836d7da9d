"""`train`: one deterministic Keras training run, tracked in MLflow from its parameters to its figures.

A run is three stages: prepare it (`regstudy.preparation`: splits, plugins, model), train it (the engine's
`fit`, `regstudy.engines`), record it (`regstudy.recording`: metrics, lineage, figures, model). This module
only validates the parameters, once, chooses Keras' backend for the engine and calls the stages in order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regstudy.backends import use_backend_of
from regstudy.config import RunConfig
from regstudy.errors import TrainingError
from regstudy.tracking import environment_tags

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
    MLflow and rendering the figures (all but starting and ending the run, and this last write, which carries
    the final metrics too); and where the time of the run's replica group went (the same on each of its runs:
    `replicas`, the group's size, and the `group_*_seconds` of building, logging, compiling, training steps
    and evaluating). Logged as metrics, but kept out of `metrics`, which must be identical for the same
    seed."""


def train(
    *,
    run_id: str | None = None,
    trial: dict[str, Any] | None = None,
    validated: str | None = None,
    replicas: list[dict[str, Any]] | None = None,
    **parameters: Any,
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
        replicas: other runs to train together with this one, as replicas of one program (see
            `train_replicas`; sweeps and searches pass them): each the parameters of a run of the same
            program, with its `run_id`, `validated` and `trial`. Each is recorded in its own run; this
            returns this run's result. Defaults to None.
        **parameters: see `RunConfig`.

    >>> result = regstudy.train(dataset="digits", plugins={"l2": {"l2": 1e-4}}, epochs=5)
    >>> result.metrics["test_accuracy"]
    """
    config = RunConfig.trusted(parameters, validated)
    if not replicas:
        return train_config(config, run_id=run_id, trial=trial)
    configs, run_ids, trials = [config], [run_id], [trial]
    for replica in replicas:
        other = dict(replica)
        run_ids.append(other.pop("run_id", None))
        trials.append(other.pop("trial", None))
        configs.append(RunConfig.trusted(other, other.pop("validated", None)))
    results = train_replicas(configs, run_ids, trials)
    if isinstance(results[0], Exception):
        raise results[0]
    return results[0]


# `help(regstudy.train)` and editors show every run parameter, from `RunConfig` itself.
train.__signature__ = inspect.Signature(
    [
        *list(inspect.signature(train).parameters.values())[:4],
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
    (result,) = train_replicas([config], [run_id], [trial])
    if isinstance(result, Exception):
        raise result
    return result


def train_replicas(
    configs: list[RunConfig], run_ids: list[str | None], trials: list | None = None
) -> list[TrainResult | TrainingError]:
    """Train runs of one program together (`regstudy.engines.Engine.fit_replicas`: one `jax.vmap` on the jax
    engine, one after another on the others), each recorded in its own run as `train_config` records it.

    The runs must share their program (`regstudy.replicas.program_key`). A failure before or during training
    ends every run FAILED and is raised; a replica whose loss became NaN ends FAILED alone, and its error takes
    its place in the list returned.

    Args:
        run_ids: each run's existing RUNNING run to log into, or None to create one (see `train`).
        trials: each run's search trial (see `train_config`), or None. Defaults to None.
    """
    started = time.perf_counter()
    use_backend_of(configs[0].engine)
    from regstudy.engines import fit_replicas
    from regstudy.preparation import prepare_replicas
    from regstudy.recording import Recorder
    from regstudy.replicas import program_key

    prepared = prepare_replicas(configs)
    program = program_key(configs[0])
    recorders = [Recorder(*each, started) for each in zip(configs, prepared, run_ids)]
    stages = _Stages(started, recorders)
    stages.mark("building")
    with contextlib.ExitStack() as every:
        for recorder in recorders:
            every.enter_context(recorder.ending())
        environment = environment_tags()
        for recorder in recorders:
            recorder.begin(group=recorders[0].run_id, environment=environment)
        stages.mark()
        fitting = time.perf_counter()
        histories = fit_replicas(
            configs[0].engine,
            [each.model for each in prepared],
            [each.data for each in prepared],
            configs[0].epochs,
            [
                recorder.callbacks(trial, beside=len(recorders))
                for recorder, trial in zip(recorders, trials or [None] * len(configs))
            ],
            program,
        )
        # The engine's setting up before the first epoch (its models' optimizer and metric variables, stacking
        # their states) is building; the first epoch's time beyond the others' is compiling.
        setting_up = recorders[0].timer.began - fitting
        stages.mark("steps", compiling=_compiling(recorders[0].timer.seconds), building=setting_up)
        evaluators = _evaluators(configs[0].engine, prepared[0].model, program)
        results = [_finish(*each, evaluators) for each in zip(recorders, histories)]
        stages.mark("evaluating")
        for recorder, result in zip(recorders, results):
            seconds = recorder.log_seconds(stages.seconds)
            if not isinstance(result, Exception):
                result.seconds = seconds
        return results


class _Stages:
    """Where a replica group's time goes: each stage's seconds beside MLflow's writes in it (all of which go to
    `group_logging_seconds`), and compiling apart from the training steps; logged to each of the group's runs
    as `group_<stage>_seconds`, with `replicas`, the group's size."""

    def __init__(self, started: float, recorders: list):
        self.recorders, self.last, self.logged = recorders, started, 0.0
        self.seconds = {"replicas": float(len(recorders)), "group_logging_seconds": 0.0}

    def mark(self, stage: str | None = None, compiling: float | None = None, building: float = 0.0) -> None:
        """End the stage that began at the last mark (`stage`, or None for MLflow's writes only), of which
        `compiling` seconds, if given, were compiling and `building` seconds building."""
        now, logged = time.perf_counter(), sum(recorder.stopwatch.seconds for recorder in self.recorders)
        writing = logged - self.logged
        if stage is not None:
            self.seconds[f"group_{stage}_seconds"] = now - self.last - writing - (compiling or 0.0) - building
        if compiling is not None:
            self.seconds["group_compiling_seconds"] = compiling
        if building:
            self.seconds["group_building_seconds"] += building
        self.seconds["group_logging_seconds"] += writing if stage is not None else now - self.last
        self.last, self.logged = now, logged


def _compiling(epochs: list[float]) -> float:
    """The first epoch's time beyond the others' median: tracing and compiling its program."""
    import statistics

    return max(0.0, epochs[0] - statistics.median(epochs[1:])) if len(epochs) > 1 else 0.0


def _evaluators(engine: str, trained, program: str | None):
    """`evaluators(model, final) -> evaluate or None`, the engine's evaluator (`regstudy.engines.evaluator`) of a
    model a group's final metrics come from: every trained model shares the group's first one's; a final model
    a plugin returned (`final`: a snapshot ensemble) shares the first one of its class and variables' shapes,
    for theirs are its program's only inputs."""
    from regstudy.engines import evaluator
    from regstudy.preparation import EVALUATION_BATCH_SIZE

    of_trained = evaluator(engine, trained, EVALUATION_BATCH_SIZE, program)

    def evaluators(model, final: bool):
        if not final:
            return of_trained
        shapes = [tuple(variable.shape) for variable in model.variables]
        name = None if program is None else f"{program} {type(model).__name__} {shapes}"
        return evaluator(engine, model, EVALUATION_BATCH_SIZE, name)

    return evaluators


def _finish(recorder, history: dict[str, list[float]], evaluators) -> TrainResult | TrainingError:
    """Record a replica's end: its result, or the error that ended its run FAILED (the others go on)."""
    try:
        metrics = recorder.finish(history, evaluators)
    except TrainingError as error:
        recorder.fail(f"{type(error).__name__}: {error}")
        return error
    splits, prepared = recorder.prepared.splits, recorder.prepared
    return TrainResult(
        recorder.run_id,
        history,
        metrics,
        recorder.config,
        splits.sizes,
        prepared.model,
        splits,
        recorder.timer.seconds,
    )
