"""Which Keras backend each engine trains on, and choosing it for this process.

Keras reads its backend once, when it is first imported (`KERAS_BACKEND`), so the choice is process-wide:
`regstudy.train` makes it for a process that has not imported Keras yet (a fresh kernel, a script), and the
commands start the kernel of a run or of a sweep's worker with it (`regstudy.notebooks.Kernel`). A process
whose Keras already runs on another backend refuses the run before anything is written.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from regstudy.engines import ENGINES
from regstudy.errors import ConfigError

EXTRAS = {"jax": "jax"}
"""The package each backend beyond TensorFlow needs; regstudy's extra named for the backend installs it."""


def backend_of(engine: str) -> str:
    """The Keras backend `engine` runs on (TensorFlow for an unknown name, which validation refuses)."""
    return ENGINES.get(engine).backend if engine in ENGINES.names() else "tensorflow"


def current_backend() -> str | None:
    """The backend this process's Keras runs on, or None if Keras has not been imported yet."""
    config = sys.modules.get("keras.src.backend.config")  # present once Keras itself has run, not a lazy stub
    return config.backend() if config is not None else None


def check_installed(engine: str) -> None:
    """Refuse `engine` if its backend's package is not installed (`RunConfig` checks it with the parameters).

    Raises:
        ConfigError: naming the extra that installs it.
    """
    backend = backend_of(engine)
    package = EXTRAS.get(backend)
    if package and importlib.util.find_spec(package) is None:
        raise ConfigError(
            "engine", engine, f"needs {package}, which is not installed: pip install 'regstudy[{backend}]'"
        )


def use_backend_of(engine: str) -> None:
    """Make this process's Keras run on `engine`'s backend, or refuse if it already runs on another.

    Raises:
        ConfigError: the backend's package is not installed, or Keras already runs on another backend.
    """
    check_installed(engine)
    wanted = backend_of(engine)
    current = current_backend()
    if current is None:
        os.environ["KERAS_BACKEND"] = wanted
    elif current != wanted:
        raise ConfigError(
            "engine",
            engine,
            f"runs on Keras' {wanted} backend, but Keras in this process already runs on {current}: start the "
            f"process with KERAS_BACKEND={wanted} (`regstudy run` and sweeps do), or use an engine on {current}",
        )
