"""Runs for the tests on Keras' JAX backend, which need a process of their own (a process's Keras keeps the
backend it was imported with; the suite's runs on TensorFlow): `on_jax(runs)` trains each run there.

`python jax_jobs.py FILE` reads a JSON list of `regstudy.train` parameters from FILE and writes back, for each,
the history, metrics, tags and the training steps its program traced ("steps traced"), or the one-line
refusal of a run that is refused. An item `{"replicas": [parameters, ...]}` trains its runs together
(`regstudy.training.train_replicas`) and gets `{"replicas": [result, ...], "traced": the epochs' programs traced
in the process so far, "evaluations": the evaluation programs compiled}`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from regstudy import PLUGINS, ConfigError, Plugin
from regstudy.validation import Interval


class FixedStart(Plugin):
    """Starts training from weights drawn with numpy from `seed`, the same on every backend (Keras'
    initializers draw from each backend's own random numbers)."""

    parameter_constraints = {"seed": Interval(int, 0, None)}

    def __init__(self, seed=0):
        self.seed = seed

    def callbacks(self):
        import keras

        seed = self.seed

        class SetWeights(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                rng = np.random.default_rng(seed)
                self.model.set_weights(
                    [rng.normal(0, 0.1, np.shape(w)).astype(w.dtype) for w in self.model.get_weights()]
                )

        return [SetWeights()]


def add_fixed_start() -> None:
    """Register `fixed_start` (the tests' process adds it to a copy of the registry, see the tests)."""
    if "fixed_start" not in PLUGINS.names():
        PLUGINS.add("fixed_start", FixedStart)


def on_jax(runs: list[dict], tmp_path: Path, cache: Path | None = None) -> list[dict]:
    """Train each of `runs` (parameters of `regstudy.train`) in one process whose Keras runs on JAX, into the
    store of this process's environment, with XLA's compilation cache in `cache` (default: regstudy's); for
    each, {"history", "metrics", "tags"} or {"refused": message}."""
    request = tmp_path / "runs.json"
    request.write_text(json.dumps(runs))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(Path(__file__).parent)}
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, str(Path(__file__)), str(request)], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(request.with_suffix(".out.json").read_text())


def _train_each(runs: list[dict]) -> list[dict]:
    import keras
    from mlflow import MlflowClient

    import regstudy

    assert keras.backend.backend() == "jax"
    add_fixed_start()
    _count_traces()
    results = []
    for parameters in runs:
        if "replicas" in parameters:
            together = _train_together(parameters["replicas"])
            results.append({"replicas": together, "traced": len(TRACED), "evaluations": _evaluations()})
            continue
        try:
            result = regstudy.train(**parameters)
        except ConfigError as error:
            results.append({"refused": str(error)})
            continue
        tags = MlflowClient().get_run(result.run_id).data.tags
        steps, STEPS_TRACED[:] = len(STEPS_TRACED), []
        results.append({"history": result.history, "metrics": result.metrics, "tags": tags, "steps traced": steps})
    return results


TRACED: list[str] = []
"""The epochs' programs traced so far in this process (`regstudy.engines.jax_epochs._program`'s calls)."""


STEPS_TRACED: list[int] = []
"""The training steps traced since the last run (`RegularizedModel._stateless_step`'s calls, which run only
when a program is traced): one a program whose batches all go through one scanned step."""


def _count_traces() -> None:
    from regstudy.engines import jax_epochs
    from regstudy.steps import RegularizedModel

    program, step = jax_epochs._program, RegularizedModel._stateless_step

    def counted(*arguments):
        TRACED.append(arguments[0].name)
        return program(*arguments)

    def counted_step(*arguments):
        STEPS_TRACED.append(1)
        return step(*arguments)

    jax_epochs._program = counted
    RegularizedModel._stateless_step = counted_step


def _evaluations() -> int:
    """The evaluation programs this process compiled and keeps (`jax_epochs.evaluation_function`, one for each
    shape of the data a kept evaluation was called on)."""
    from regstudy.engines import jax_epochs

    return sum(function._cache_size() for key, function in jax_epochs._kept.items() if key[1] == "evaluation")


def _train_together(runs: list[dict]) -> list[dict]:
    from mlflow import MlflowClient

    from regstudy import RunConfig
    from regstudy.training import train_replicas

    results = train_replicas([RunConfig.from_mapping(parameters) for parameters in runs], [None] * len(runs))
    return [
        {"failed": str(result)}
        if isinstance(result, Exception)
        else {
            "history": result.history,
            "metrics": result.metrics,
            "tags": MlflowClient().get_run(result.run_id).data.tags,
            "run_id": result.run_id,
        }
        for result in results
    ]


if __name__ == "__main__":
    request = Path(sys.argv[1])
    request.with_suffix(".out.json").write_text(json.dumps(_train_each(json.loads(request.read_text()))))
