"""The regularization plugins: importing this package registers every built-in one."""

from regstudy.plugins import (  # noqa: F401  (registers them)
    augmentation,
    averaging,
    baseline,
    gradients,
    normalization,
    penalties,
    residual,
    stopping,
    structure,
    targets,
)
from regstudy.plugins.base import PLUGINS, Plugin, RunDescription, register

__all__ = ["PLUGINS", "Plugin", "RunDescription", "register"]
