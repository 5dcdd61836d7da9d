"""Modules imported on first use: `keras = lazy_modules.load("keras")` at the top of a module, and Keras is
imported when an attribute of it is first read, so that importing regstudy, listing plugins or validating
parameters imports neither Keras nor TensorFlow.

Unlike `lazy_loader.load`, this puts no stand-in into `sys.modules`: TensorFlow, imported after regstudy
(`import regstudy; import tensorflow as tf`), would find the stand-in there and load Keras half-way through its
own import, leaving a Keras without `keras.Model`.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module's stand-in that imports it when one of its attributes is first read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def load(name: str) -> Any:
    """The module `name`, imported when one of its attributes is first read."""
    return LazyModule(name)
