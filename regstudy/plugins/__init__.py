"""The regularization plugins: importing this package registers every built-in one."""

from regstudy.plugins import baseline, data, penalties, structure, training  # noqa: F401  (registers them)
from regstudy.plugins.base import PLUGINS, Plugin, register

__all__ = ["PLUGINS", "Plugin", "register"]
