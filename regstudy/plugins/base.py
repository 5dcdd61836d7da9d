"""`Plugin`, the base class of every regularization method, `PLUGINS`, their registry, and `RunDescription`,
what a plugin may know of the run it is part of.

A plugin acts through hooks that do nothing by default, so each method overrides only the one or two it
needs. One interface covers:

- the model: penalties and constraints on the kernels, layers inserted after the input or each hidden layer,
  a replacement for the hidden Dense layer, a wrapper around every hidden weight layer (spectral
  normalization), and what joins the branches of a residual block (`resmlp`: stochastic depth, shake-drop);
- the training step (`regstudy/steps.py`): a transform of each training batch (mixup, cutout), drawn from a
  seed fixed by the run's seed and the step; a change of how the step computes its gradients (SAM, FGSM);
  an update after each optimizer step (lookahead);
- the optimizer: constructor options and a learning-rate schedule;
- the end of training: a callback's `end_of_training(model, x)` replaces the final weights (SWA) or returns
  the model whose predictions the final metrics are computed from (snapshot ensembles);
- the loss's options and the training data as a whole (random labels).

No hook looks at another plugin: `Combination` puts them together and refuses combinations that cannot work.

Plugin modules import Keras lazily (`keras = lazy_modules.load("keras")`): listing and validating plugins
never imports TensorFlow; the first hook that builds a Keras object does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from regstudy.configurable import Configurable
from regstudy.registry import Registry

if TYPE_CHECKING:
    import keras
    import numpy as np


FINAL_MODEL = "final model"
"""The role (`Plugin.exclusive`) of a plugin that decides which weights or predictions the final metrics are
computed from: restoring the best epoch's weights, SWA, EMA, a snapshot ensemble. A run has at most one."""


OUTSIDE_THE_PROGRAM = ("callbacks", "check", "roles")
"""`Plugin`'s hooks that act outside the compiled program (see `Plugin.traced`); every other hook a plugin
overrides is taken to shape it."""


@dataclass(frozen=True)
class RunDescription:
    """What a plugin may know of the run it is part of, to refuse one it cannot act on.

    Args:
        task: "classification" or "regression".
        dataset: the data set's name.
        images: whether the inputs are images (a CNN can be built on them).
        model: "mlp", "cnn" or "resmlp".
        hidden_dense_layers: the hidden Dense layers (in a `resmlp`, the first Dense of each block's branch).
        hidden_layers: the hidden layers a plugin's `hidden_layers` follow: the CNN's blocks and the hidden
            Dense layers.
        residual_blocks: the residual blocks (`resmlp` only; 0 for the other models).
        epochs: the most epochs the run trains.
        plugins: the names of every plugin of the run, this one included.
    """

    task: str
    dataset: str
    images: bool
    model: str
    hidden_dense_layers: int
    hidden_layers: int
    residual_blocks: int
    epochs: int
    plugins: tuple[str, ...]


class Plugin(Configurable):
    """A regularization method: hyperparameters as keyword arguments, effects through hooks."""

    exclusive: ClassVar[tuple[str, ...]] = ()
    """Roles only one plugin of a run may play, e.g. `("stopping",)`; two plugins sharing one are refused.
    A plugin whose roles depend on its hyperparameters overrides `roles()` instead."""

    varying: ClassVar[tuple[str, ...]] = ()
    """Hyperparameters that act only outside the compiled step (a callback's), so that replicas of one program
    (`regstudy.replicas`) may differ in them."""

    in_state: ClassVar[tuple[str, ...]] = ()
    """Hyperparameters the plugin reads from the model's state (`state_value`) rather than as numbers fixed when
    the step is traced, so that replicas may differ in them too. Each is made a value of the state when the
    model is built (`Combination.state_values`). The registry-parametrized test of `tests/test_replicas.py`
    trains replicas differing in every `replicable` hyperparameter against the same runs alone."""

    residual_branches: ClassVar[int] = 1
    """The parallel branches each residual block of a `resmlp` has when this plugin joins them (2 for
    shake-shake); only a plugin whose `residual_join` returns a layer may ask for more than one."""

    trains_alone: ClassVar[str] = ""
    """Why this plugin cannot be combined with any other (`none`: it is the baseline), or "" if it can."""

    final_predictions: ClassVar[bool] = False
    """True for a method whose final predictions are not the trained model's (a snapshot ensemble): its run
    cannot log one model (`log_model`) that reproduces its metrics."""

    refused_engines: ClassVar[dict[str, str]] = {}
    """Engines this plugin cannot train on, each with the reason (a run asking for one is refused before it
    starts): e.g. a layer written in TensorFlow ops, on the jax engine. No built-in plugin refuses one."""

    regularizer: ClassVar[bool] = True
    """False for a method that tests regularization rather than being one (`random_labels`): a study of every
    regularizer, like the default study, leaves it out."""

    @classmethod
    def replicable(cls) -> tuple[str, ...]:
        """The hyperparameters in which replicas of one program may differ: `varying` and `in_state`."""
        return (*cls.varying, *cls.in_state)

    @classmethod
    def program(cls, name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """What of this plugin (registered as `name`, with `options`) a run's compiled program is traced from:
        a name and the options not `replicable`. Plugins that build the same model whatever their
        hyperparameters (L1, L2 and the elastic net: one penalty, its strengths values of the state) give one
        name, so that their replicas share a program (`regstudy.replicas.program_key`)."""
        return name, {key: value for key, value in options.items() if key not in cls.replicable()}

    @classmethod
    def traced(cls) -> bool:
        """Whether this plugin shapes the compiled program: it has `in_state` values, or overrides a hook other
        than those that act outside it (`OUTSIDE_THE_PROGRAM`: its callbacks, its checks). A plugin that acts
        only through callbacks (early stopping, Prechelt's criteria, SWA) trains on the program of the same run
        without it, so replicas of both share one (`regstudy.replicas.program_key`)."""
        hooks = [name for name, value in vars(Plugin).items() if callable(value) and not name.startswith("_")]
        overridden = [
            name
            for name in hooks
            if name not in OUTSIDE_THE_PROGRAM and getattr(cls, name) is not getattr(Plugin, name)
        ]
        return bool(cls.in_state or overridden)

    def state_value(self, name: str) -> keras.Variable:
        """The hyperparameter `name` as a value of the model's state: a non-trainable float32 variable (one
        per plugin and name) that the model holds (`Combination.state_values`), so that replicas differing in
        it share one program. The step reads it where it would read the number."""
        import keras

        values = self.__dict__.setdefault("_state_values", {})
        if name not in values:
            values[name] = keras.Variable(
                float(getattr(self, name)), dtype="float32", trainable=False, name=f"{self.name or 'plugin'}_{name}"
            )
        return values[name]

    def state_values(self) -> list[keras.Variable]:
        """Every `in_state` hyperparameter as a value of the state (`state_value`), and any other made so."""
        for name in self.in_state:
            self.state_value(name)
        return list(self.__dict__.get("_state_values", {}).values())

    def roles(self) -> tuple[str, ...]:
        """The roles this plugin plays (`exclusive`, unless it depends on the hyperparameters)."""
        return self.exclusive

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

    def wrap_layer(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        """The layer to use in place of the hidden weight layer `layer` (Dense or Conv, not the output layer),
        e.g. `layer` wrapped in `keras.layers.SpectralNormalization`; wrappers of several plugins nest."""
        return layer

    def residual_join(self, block: int, blocks: int) -> keras.layers.Layer | None:
        """A layer joining the outputs of the branches of residual block `block` (from 0, of `blocks`) into
        the one tensor added to the block's input; None sums them. One per run."""
        return None

    def callbacks(self) -> list[keras.callbacks.Callback]:
        """Keras callbacks added to training, fresh for each run.

        A callback keeps its own state, as Keras' do. One with a `final_metrics()` method (returning a dict
        of floats) has those metrics logged with the run's at the end, e.g. the epoch early stopping stopped.
        One with an `end_of_training(model, x)` method is called after training, with the training inputs,
        before the final metrics: it may replace the model's weights (SWA) and may return another model
        whose predictions the final metrics are computed from (a snapshot ensemble), or None.
        """
        return []

    def optimizer_options(self) -> dict[str, Any]:
        """Keyword arguments for the optimizer's constructor."""
        return {}

    def learning_rate(self, learning_rate: float, steps_per_epoch: int, epochs: int) -> Any:
        """A schedule (`keras.optimizers.schedules`) replacing the constant `learning_rate`, or None. One per run."""
        return None

    def batch_transform(self, image_shape: tuple[int, int] | None) -> Callable | None:
        """A function `(x, y, seed) -> (x, y)` giving the training batch this method trains on, or None.

        Called once when the model is built (so Keras layers it uses are created there, not in the step);
        the function is called inside each training step, on training batches only, in `keras.ops`. `x` is
        `(batch, features)`, each row an image of `image_shape` flattened when the data are images (else
        `image_shape` is None), and `y` is one-hot for classification. Every random draw takes `seed`, a
        `keras.random.SeedGenerator` whose state is set from the run's seed and the step before each step,
        so the same run draws the same numbers under either engine. Transforms of several plugins chain.
        """
        return None

    def step_gradients(self, step: Any, x: Any, y: Any, gradients: list) -> list:
        """The gradients this step applies, given those of the loss on the batch `(x, y)` (`gradients`).

        `step` (a `regstudy.steps.Step`) computes the model's own loss, penalties included, and its
        gradients at other inputs or weights; the batch's loss and metrics are those of the first pass
        either way. SAM and FGSM change the step here. One per run.
        """
        return gradients

    def after_update(self, model: keras.Model) -> Any:
        """A function called with no arguments after each optimizer step, inside the training step (in
        `keras.ops`), or None. Called once when the model is built, so it may create variables (lookahead's
        slow weights) from the initial weights; it lists them in a `variables` attribute, so that the jax
        engine carries them through its compiled epoch with the model's own."""
        return None

    def held(self, model: keras.Model) -> list[tuple[object, str, str]]:
        """(owner, attribute, hyperparameter): the attributes of the compiled `model`'s Keras objects (its
        optimizer, a kernel constraint) that hold one of this plugin's `in_state` hyperparameters as a number.
        Keras reads them in its optimizer's step, where no scope maps the model's state, so the jax step sets
        each to the replica's value while it runs (`regstudy.steps.RegularizedModel.hold`)."""
        return []

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
