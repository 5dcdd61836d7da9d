"""`Plugin`, the base class of every regularization method, and `PLUGINS`, their registry.

A plugin acts through hooks that do nothing by default, so each method overrides only the one or two it
needs and one interface covers penalties, constraints, inserted layers, callbacks, optimizer and loss
options, and transforms of the training data. No hook looks at another plugin: `Combination` puts them
together and refuses combinations that cannot work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from regstudy.configurable import Configurable
from regstudy.registry import Registry

if TYPE_CHECKING:
    import keras

    from regstudy.config import RunConfig


class Plugin(Configurable):
    """A regularization method: hyperparameters as keyword arguments, effects through hooks."""

    exclusive: ClassVar[tuple[str, ...]] = ()
    """Roles only one plugin of a run may play, e.g. `("stopping",)`; two plugins sharing one are refused."""

    regularizer: ClassVar[bool] = True
    """False for a method that tests regularization rather than being one (`random_labels`): a study of every
    regularizer, like the default study, leaves it out."""

    def check(self, config: RunConfig) -> None:
        """Raise `IncompatiblePluginsError` if this plugin cannot act on the run described by `config`."""

    def kernel_regularizer(self) -> keras.regularizers.Regularizer | None:
        """A penalty on every weight kernel (Dense and Conv); penalties of several plugins add up."""
        return None

    def kernel_constraint(self) -> keras.constraints.Constraint | None:
        """A constraint applied to every weight kernel after each update; one per run."""
        return None

    def input_layers(self) -> list[keras.layers.Layer]:
        """New layers inserted between the input and the first weight layer."""
        return []

    def hidden_layers(self) -> list[keras.layers.Layer]:
        """New layers inserted after each hidden layer; called once for each, so return fresh layers."""
        return []

    def hidden_dense_layer(self, units: int, **dense_arguments: Any) -> keras.layers.Layer | None:
        """A replacement for `keras.layers.Dense(units, **dense_arguments)` as a hidden layer; one per run."""
        return None

    def callbacks(self) -> list[keras.callbacks.Callback]:
        """Keras callbacks added to training."""
        return []

    def optimizer_options(self) -> dict[str, Any]:
        """Keyword arguments for the optimizer's constructor."""
        return {}

    def loss_options(self) -> dict[str, Any]:
        """Keyword arguments for the loss's constructor."""
        return {}

    def transform_training_data(
        self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the training inputs and targets this method trains on (validation and test are untouched)."""
        return x, y

    def final_metrics(self) -> dict[str, float]:
        """Metrics this plugin measured during training, logged at the end of the run."""
        return {}


PLUGINS: Registry[type[Plugin]] = Registry("plugin", group="regstudy.plugins", base=Plugin)
"""Every regularization plugin by name: built-ins on import, third parties through entry points."""

register = PLUGINS.register
