"""regstudy: a reproducible study of how regularization changes what a neural network learns.

Importing regstudy does not import TensorFlow: `train` and `TrainResult` are loaded on first use, so that
commands which do not train (`regstudy --help`, `regstudy plugins`, validating a file) start at once.
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
