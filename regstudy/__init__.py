"""regstudy: a reproducible study of how regularization changes what a neural network learns."""

from regstudy.config import RunConfig, load_params_file
from regstudy.datasets import DATASETS, Dataset
from regstudy.errors import (
    ConfigError,
    IncompatiblePluginsError,
    NotebookError,
    RegstudyError,
    TrainingError,
    UnknownNameError,
)
from regstudy.plugins import PLUGINS, Plugin, register
from regstudy.training import TrainResult, train

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
    "TrainResult",
    "TrainingError",
    "UnknownNameError",
    "load_params_file",
    "register",
    "train",
]
