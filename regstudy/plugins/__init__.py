"""The regularization plugins: importing this package registers every built-in one."""

from regstudy.plugins import baseline, penalties, stopping, structure, targets  # noqa: F401  (registers them)
from regstudy.plugins.base import PLUGINS, Plugin, RunDescription, register

__all__ = ["PLUGINS", "Plugin", "RunDescription", "register"]
