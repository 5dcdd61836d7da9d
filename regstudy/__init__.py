"""regstudy: a reproducible study of how regularization changes what a neural network learns.

Importing regstudy does not import TensorFlow: `train` and `TrainResult` are loaded on first use, so that
commands which do not train (`regstudy --help`, `regstudy plugins`, validating a file) start at once.

The modules stand in layers, from the bottom up; a module imports only from its own layer or one below it,
and no two modules import each other, even lazily (`tests/test_structure.py` checks both). A package named
here (`data`, `plugins`, `engines`, `questions`) holds all its modules.

1. values, checks and the store: errors, lazy_modules, validation, configurable, registry, paths, yaml_files, grid,
   significance, determinism, figures, rendering, tracking, pruning
2. data and plugins: data, plugins, keras_additions, residual_layers, weight_averaging, prechelt, weights,
   combination
3. the model and its step: steps, models, callbacks
4. engines: engines, backends
5. a run: config, replicas, preparation, recording, training, lineage, notebooks
6. studies, searches and questions: study, sweep, sequential, workers, search_space, search_file, tune, search_report,
   report, results, questions
7. the command line, and this package's own names: cli, bench, regstudy
"""

from regstudy.config import RunConfig, load_params_file
from regstudy.data import DATASETS, Dataset
from regstudy.errors import (
    ConfigError,
    IncompatiblePluginsError,
    NotebookError,
    RegstudyError,
    TrainingError,
    UnknownNameError,
)
from regstudy.plugins import PLUGINS, Plugin, RunDescription, register

_FROM_TRAINING = ("TrainResult", "train")
_FROM_LINEAGE = ("load_model",)

__all__ = [
    "DATASETS",
    "PLUGINS",
    "ConfigError",
    "Dataset",
    "IncompatiblePluginsError",
    "NotebookError",
    "Plugin",
    "RegstudyError",
    "RunConfig",
    "RunDescription",
    "TrainResult",
    "TrainingError",
    "UnknownNameError",
    "load_model",
    "load_params_file",
    "register",
    "train",
]


def __getattr__(name: str):
    if name in _FROM_TRAINING:
        from regstudy import training

        return getattr(training, name)
    if name in _FROM_LINEAGE:
        from regstudy import lineage

        return getattr(lineage, name)
    raise AttributeError(f"module 'regstudy' has no attribute '{name}'")
