"""The regularization plugins: importing this package registers every built-in one.

Every module of the package is imported here, so a plugin in a new module registers without a line more.
Plugin modules import Keras lazily (`keras = lazy_modules.load("keras")`), so this stays cheap.
"""

import importlib
import pkgutil

from regstudy.plugins.base import PLUGINS, Plugin, RunDescription, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["PLUGINS", "Plugin", "RunDescription", "register"]
