"""`Combination`: the plugins of one run put together, hook by hook.

Penalties add up, layers and callbacks are concatenated in the order the plugins are given, and what only
one plugin may provide (a kernel constraint, a replacement Dense layer, an optimizer or loss option, a role
declared in `Plugin.exclusive`, a plugin that trains alone) is refused before training when two plugins
both provide it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import lazy_loader

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins import PLUGINS, Plugin, RunDescription

if TYPE_CHECKING:
    import numpy as np

keras = lazy_loader.load("keras")


class Combination:
    """The plugins of one run, acting together.

    Args:
        plugins: the plugins, in the order their layers and callbacks are applied.
    """

    def __init__(self, plugins: list[Plugin]):
        self.plugins = list(plugins)

    @classmethod
    def from_config(cls, plugins: dict[str, dict[str, Any]]) -> Combination:
        """Build each plugin from its name and hyperparameters (as in `RunConfig.plugins`), checking them."""
        return cls([PLUGINS.get(name).from_config(options) for name, options in plugins.items()])

    @property
    def label(self) -> str:
        """The plugins joined by " + ", e.g. "l2 + dropout"."""
        return " + ".join(plugin.name for plugin in self.plugins)

    def check(self, run: RunDescription) -> None:
        """Raise `IncompatiblePluginsError` if these plugins cannot train together on the run `run` describes."""
        self.check_together()
        for plugin in self.plugins:
            plugin.check(run)

    def check_together(self) -> None:
        """Raise `IncompatiblePluginsError` if these plugins cannot train together on any run: one trains alone,
        or two claim one role."""
        for plugin in self.plugins:
            if plugin.trains_alone and len(self.plugins) > 1:
                raise IncompatiblePluginsError(
                    "plugins", self.label, f"cannot be combined: '{plugin.name}' trains alone: {plugin.trains_alone}"
                )
        claims: dict[str, list[str]] = defaultdict(list)
        for plugin in self.plugins:
            for role in plugin.exclusive:
                claims[role].append(plugin.name)
            for key in plugin.optimizer_options():
                claims[f"optimizer option '{key}'"].append(plugin.name)
            for key in plugin.loss_options():
                claims[f"loss option '{key}'"].append(plugin.name)
        for role, names in claims.items():
            if len(names) > 1:
                raise IncompatiblePluginsError(
                    "plugins", " + ".join(names), f"cannot be combined: each sets the {role}"
                )

    def kernel_regularizer(self) -> keras.regularizers.Regularizer | None:
        """The sum of every plugin's penalty, or None."""
        penalties = [p for plugin in self.plugins if (p := plugin.kernel_regularizer()) is not None]
        if len(penalties) > 1:
            from regstudy.keras_additions import SumOfRegularizers

            return SumOfRegularizers(penalties)
        return penalties[0] if penalties else None

    def kernel_constraint(self) -> keras.constraints.Constraint | None:
        return self._single("kernel constraint", [plugin.kernel_constraint() for plugin in self.plugins])

    def hidden_dense_layer(self, units: int, **dense_arguments: Any) -> keras.layers.Layer:
        replacements = [plugin.hidden_dense_layer(units, **dense_arguments) for plugin in self.plugins]
        return self._single("hidden dense layer", replacements) or keras.layers.Dense(units, **dense_arguments)

    def input_layers(self) -> list[keras.layers.Layer]:
        return [layer for plugin in self.plugins for layer in plugin.input_layers()]

    def hidden_layers(self) -> list[keras.layers.Layer]:
        return [layer for plugin in self.plugins for layer in plugin.hidden_layers()]

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [callback for plugin in self.plugins for callback in plugin.callbacks()]

    def optimizer_options(self) -> dict[str, Any]:
        return {key: value for plugin in self.plugins for key, value in plugin.optimizer_options().items()}

    def loss_options(self) -> dict[str, Any]:
        return {key: value for plugin in self.plugins for key, value in plugin.loss_options().items()}

    def transform_training_data(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        for plugin in self.plugins:
            x, y = plugin.transform_training_data(x, y, rng)
        return x, y

    def _single(self, role: str, provided: list):
        given = [(plugin.name, item) for plugin, item in zip(self.plugins, provided) if item is not None]
        if len(given) > 1:
            names = " + ".join(name for name, _ in given)
            raise IncompatiblePluginsError("plugins", names, f"cannot be combined: each sets the {role}")
        return given[0][1] if given else None
