"""A data set's base class and the registry of data sets, and the arrays loaded once per process.

A data set is `Configurable`: its options are keyword arguments, validated by its `parameter_constraints`;
`arrays()` gives the whole set. Built-ins register in `regstudy.data.builtin` and `regstudy.data.files`,
third parties through the `regstudy.datasets` entry-point group.
"""

from __future__ import annotations

import collections
from typing import ClassVar

import numpy as np

from regstudy.configurable import Configurable
from regstudy.errors import ConfigError
from regstudy.registry import Registry
from regstudy.validation import ALLOW_LARGE_VARIABLE, limits_lifted

SAMPLES, FEATURES = 10_000_000, 100_000
VALUES = 1_000_000_000
"""Generated data sets hold at most this many values (4 GB of float32), unless the limits are lifted."""


def check_values(dataset: Dataset, n_samples: int, n_features: int) -> None:
    """Refuse a generated data set too large to hold in memory, before anything is generated."""
    if not limits_lifted() and n_samples * n_features > VALUES:
        raise ConfigError(
            "n_samples",
            n_samples,
            f"with {n_features:,} features makes {n_samples * n_features:,} values, more than the {VALUES:,} "
            f"a generated data set may hold (set {ALLOW_LARGE_VARIABLE}=1 to go beyond this limit)",
        )


class Dataset(Configurable):
    """A data set: options as keyword arguments, the whole set from `arrays()`."""

    task: ClassVar[str] = "classification"
    """"classification" (integer labels) or "regression" (a real target)."""

    image_shape: ClassVar[tuple[int, int] | None] = None
    """Height and width when the flat inputs are images, so that a CNN can reshape them."""

    path_options: ClassVar[tuple[str, ...]] = ()
    """Options that name files: a relative path is resolved against the parameters file that gives it."""

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every example: inputs `(n, features)` float32 (or a table a `preprocessor` turns into
        them) and targets `(n,)`: integer classes from 0, or real values."""
        raise NotImplementedError

    def preprocessor(self):
        """A scikit-learn transformer fitted on the training inputs and applied to every split, or None."""
        return None

    def cache_key(self) -> tuple:
        """What identifies the loaded arrays: the options (and, for files, their size and modification time)."""
        return tuple(sorted((key, repr(value)) for key, value in self.get_config().items()))


DATASETS: Registry[type[Dataset]] = Registry("data set", group="regstudy.datasets", base=Dataset)
"""Every data set by name: built-ins here, third parties through entry points."""


_LOADED: collections.OrderedDict = collections.OrderedDict()
"""The arrays of the last few data sets loaded in this process, by `(class, cache_key())`."""


def load_arrays(dataset: Dataset) -> tuple:
    """Load (or generate) a data set once per process for each set of options (and file version)."""
    key = (type(dataset), dataset.cache_key())
    if key not in _LOADED:
        _LOADED[key] = dataset.arrays()
        while len(_LOADED) > 8:
            _LOADED.popitem(last=False)
    _LOADED.move_to_end(key)
    return _LOADED[key]
