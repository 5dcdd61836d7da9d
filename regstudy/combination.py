"""`Combination`: the plugins of one run put together, hook by hook.

Penalties add up; layers, callbacks, batch transforms and updates after a step are applied in the order the
plugins are given; layer wrappers nest. What only one plugin may provide (a kernel constraint, a replacement
Dense layer, the join of residual branches, a change of the step's gradients, a learning-rate schedule, an
optimizer or loss option, a role declared in `Plugin.exclusive`, a plugin that trains alone) is refused
before training when two plugins both provide it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from regstudy import lazy_modules
from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins import PLUGINS, Plugin, RunDescription

if TYPE_CHECKING:
    import numpy as np

keras = lazy_modules.load("keras")


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
            for role in plugin.roles():
                claims[role].append(plugin.name)
            for hook in ("step_gradients", "residual_join", "learning_rate"):
                if _overrides(plugin, hook):
                    claims[_HOOK_ROLES[hook]].append(plugin.name)
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

    def wrap_layer(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        for plugin in self.plugins:
            layer = plugin.wrap_layer(layer)
        return layer

    def residual_join(self, block: int, blocks: int) -> keras.layers.Layer | None:
        return self._single("residual join", [plugin.residual_join(block, blocks) for plugin in self.plugins])

    @property
    def residual_branches(self) -> int:
        """The branches of each residual block: more than one only if a plugin joins them."""
        return max((plugin.residual_branches for plugin in self.plugins), default=1)

    def learning_rate(self, learning_rate: float, steps_per_epoch: int, epochs: int) -> Any:
        """The learning rate the optimizer is built with: a plugin's schedule, or `learning_rate`."""
        schedules = [plugin.learning_rate(learning_rate, steps_per_epoch, epochs) for plugin in self.plugins]
        return self._single("learning-rate schedule", schedules) or learning_rate

    def batch_transform(self, image_shape: tuple[int, int] | None):
        """A function `(x, y, seed) -> (x, y)` chaining every plugin's batch transform for data whose images
        have `image_shape` (None if not images), or None if no plugin transforms batches."""
        transforms = [t for plugin in self.plugins if (t := plugin.batch_transform(image_shape)) is not None]
        if not transforms:
            return None

        def transform(x, y, seed):
            for each in transforms:
                x, y = each(x, y, seed)
            return x, y

        return transform

    def step_gradients(self):
        """The one plugin's `step_gradients`, or None if no plugin changes the step."""
        return next((p.step_gradients for p in self.plugins if _overrides(p, "step_gradients")), None)

    def after_update(self, model: keras.Model) -> list:
        """Every plugin's update after an optimizer step, for `model`."""
        return [update for plugin in self.plugins if (update := plugin.after_update(model)) is not None]

    def state_values(self) -> list[keras.Variable]:
        """Every plugin's hyperparameters held as values of the model's state (`Plugin.state_value`)."""
        return [value for plugin in self.plugins for value in plugin.state_values()]

    def held(self, model: keras.Model) -> list[tuple[object, str, keras.Variable]]:
        """Every plugin's `held` attributes of the compiled `model`'s Keras objects, with their values of the
        state (`regstudy.steps.RegularizedModel.hold`)."""
        return [
            (owner, attribute, plugin.state_value(name))
            for plugin in self.plugins
            for owner, attribute, name in plugin.held(model)
        ]

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
        """The one item provided (not None), or None; two are refused, naming the plugins."""
        given = [(plugin.name, item) for plugin, item in zip(self.plugins, provided) if item is not None]
        if len(given) > 1:
            names = " + ".join(name for name, _ in given)
            raise IncompatiblePluginsError("plugins", names, f"cannot be combined: each sets the {role}")
        return given[0][1] if given else None


_HOOK_ROLES = {
    "step_gradients": "gradients of the training step",
    "residual_join": "join of residual branches",
    "learning_rate": "learning-rate schedule",
}
"""The hooks only one plugin of a run may override, and the role each names in the refusal."""


def _overrides(plugin: Plugin, hook: str) -> bool:
    """Whether `plugin`'s class defines `hook` rather than inheriting `Plugin`'s, which does nothing."""
    return getattr(type(plugin), hook) is not getattr(Plugin, hook)
