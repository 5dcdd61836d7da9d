"""`Plugin`, the base class of every regularization method, `PLUGINS`, their registry, and `RunDescription`,
what a plugin may know of the run it is part of.

A plugin acts through hooks that do nothing by default, so each method overrides only the one or two it
needs and one interface covers penalties, constraints, inserted layers, callbacks, optimizer and loss
options, and transforms of the training data. No hook looks at another plugin: `Combination` puts them
together and refuses combinations that cannot work.

Plugin modules import Keras lazily (`keras = lazy_loader.load("keras")`): listing and validating plugins
never imports TensorFlow; the first hook that builds a Keras object does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from regstudy.configurable import Configurable
from regstudy.registry import Registry

if TYPE_CHECKING:
    import keras
    import numpy as np


@dataclass(frozen=True)
class RunDescription:
    """What a plugin may know of the run it is part of, to refuse one it cannot act on.

    Args:
        task: "classification" or "regression".
        dataset: the data set's name.
        images: whether the inputs are images (a CNN can be built on them).
        model: "mlp" or "cnn".
        hidden_dense_layers: the hidden Dense layers.
        hidden_layers: the hidden layers a plugin's `hidden_layers` follow: the CNN's blocks and the hidden
            Dense layers.
        plugins: the names of every plugin of the run, this one included.
    """

    task: str
    dataset: str
    images: bool
    model: str
    hidden_dense_layers: int
    hidden_layers: int
    plugins: tuple[str, ...]


class Plugin(Configurable):
    """A regularization method: hyperparameters as keyword arguments, effects through hooks."""

    exclusive: ClassVar[tuple[str, ...]] = ()
    """Roles only one plugin of a run may play, e.g. `("stopping",)`; two plugins sharing one are refused."""

    trains_alone: ClassVar[str] = ""
    """Why this plugin cannot be combined with any other (`none`: it is the baseline), or "" if it can."""

    regularizer: ClassVar[bool] = True
    """False for a method that tests regularization rather than being one (`random_labels`): a study of every
    regularizer, like the default study, leaves it out."""

    def check(self, run: RunDescription) -> None:
        """Raise `IncompatiblePluginsError` if this plugin cannot act on the run `run` describes."""

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
        """Keras callbacks added to training, fresh for each run.

        A callback keeps its own state, as Keras' do. One with a `final_metrics()` method (returning a dict
        of floats) has those metrics logged with the run's at the end, e.g. the epoch early stopping stopped.
        """
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


PLUGINS: Registry[type[Plugin]] = Registry("plugin", group="regstudy.plugins", base=Plugin)
"""Every regularization plugin by name: built-ins on import, third parties through entry points."""

register = PLUGINS.register
