"""The training step: Keras' own, with room for the plugins that act inside it.

`RegularizedModel` is a functional Keras model whose `train_step` (called by `fit` and by the graph engine
alike) runs, in order: the plugins' transforms of the training batch, drawn from a seed fixed by the run's
seed and the step; the model's own loss, penalties and gradients; a plugin's change of those gradients
(SAM, FGSM); the optimizer; the plugins' updates after the step (lookahead). A model whose plugins use none
of these runs Keras' `train_step` unchanged, so it costs nothing. Validation and evaluation go through
`test_step`, which no plugin touches.

On Keras' JAX backend (the jax engine) the step is Keras' stateless one, `train_step(state, data) -> (logs,
state)`, with the batch transforms and the updates after the step run in a `keras.StatelessScope` over the
state. Its data may carry a third element, the batch's mask (1 for an example, 0 for padding): the jax engine
pads the epoch's smaller last batch to the full size, so that one compiled step trains every batch, and the
mask keeps the padding out of the loss, its gradients and the metrics (`_stateless_changed_step`, which then
trains every batch of the epoch, whatever the plugins, since the epoch's batches share one step). A
change of the gradients gets a `Step` that computes them with TensorFlow's `tf.GradientTape`, as Keras'
TensorFlow trainer does, or on JAX a `StatelessStep` that computes them with `jax.value_and_grad` at
the weights the plugin moved the variables to. The plugins themselves are written in `keras.ops`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import keras
from keras import ops

SEED_STRIDE = 1024
"""Random draws a step's batch transforms may make before they would reuse the next step's seeds."""


class RegularizedModel(keras.Model):
    """A functional model (`RegularizedModel(inputs, outputs)`) trained through the plugins' step hooks.

    Args:
        batch_transform: `(x, y, seed) -> (x, y)`, the plugins' transforms of each training batch, or None.
        step_gradients: `(step, x, y, gradients) -> gradients`, a plugin's change of the step, or None.
        seed: the run's seed, from which each step's batch transforms draw. Defaults to 0.
        **functional: `inputs`, `outputs` and `name`, as for `keras.Model`.
    It is saved as the plain functional model of its layers (`regstudy.lineage.log_model`): the hooks
    belong to the plugins, which are not saved.
    """

    def __init__(
        self,
        *args,
        batch_transform: Callable | None = None,
        step_gradients: Callable | None = None,
        seed: int = 0,
        **functional,
    ):
        super().__init__(*args, **functional)
        self.batch_transform = batch_transform
        self.step_gradients = step_gradients
        self.after_update: list[Callable[[], None]] = []
        """Called after each optimizer step; one with a `variables` attribute keeps its own state there."""
        self.state_values: list = []
        """The plugins' hyperparameters as values of the state (`Plugin.state_value`), which the step reads."""
        self.held: list[tuple[object, str, keras.Variable]] = []
        """(owner, attribute, value of the state): numbers Keras reads from its own objects' attributes in
        scopes that map none of the model's state (the optimizer's weight decay, a constraint's bound); see
        `hold`."""
        self.seed = seed
        self.batch_seed = keras.random.SeedGenerator(seed) if batch_transform else None
        # The seed again as a value of the model's state, which the stateless step reads: replicas of one
        # program (`regstudy.engines.Engine.fit_replicas`) share its code, not its seed.
        self.run_seed = (
            keras.Variable(seed % 2**31, dtype="int32", trainable=False, name="run_seed") if batch_transform else None
        )

    def train_step(self, *arguments):
        if len(arguments) == 2:  # Keras' JAX step: (state, data) -> (logs, state)
            return self._stateless_step(*arguments)
        (data,) = arguments
        if self.batch_transform is None and self.step_gradients is None and not self.after_update:
            return super().train_step(data)
        x, y = data[0], data[1]
        if self.batch_transform is not None:
            self.batch_seed.state.assign(step_seed(self.seed, self.optimizer.iterations, self.batch_seed.state.dtype))
            x, y = self.batch_transform(x, y, self.batch_seed)
        if self.step_gradients is None:
            logs = super().train_step((x, y))
        else:
            logs = self._changed_step(x, y)
        for update in self.after_update:
            update()
        return logs

    @property
    def weights(self) -> list:
        """Keras' weights, without the values of the state that are not weights (the seed, the plugins'
        hyperparameters: `state_values`), as Keras leaves random generators' states out of them: `get_weights`,
        `set_weights` and `count_params` see the model's weights only."""
        values = {id(value) for value in [self.run_seed, *getattr(self, "state_values", [])] if value is not None}
        return [weight for weight in super().weights if id(weight) not in values]

    def hold(self, owner: object, attribute: str, value: keras.Variable) -> None:
        """Let `owner.attribute` (a number Keras reads in its optimizer's step, where no scope maps the model's
        state) be the value of the state `value` (one of `state_values`) while the stateless step runs, so
        that replicas differing in it share one program; elsewhere it stays the number it was built with."""
        self.held.append((owner, attribute, value))

    @contextlib.contextmanager
    def _holding(self, non_trainable: list):
        """Every `held` attribute set to its value among the non-trainable values of a stateless step, and
        restored after."""
        kept = [getattr(owner, attribute) for owner, attribute, _ in self.held]
        for owner, attribute, value in self.held:
            setattr(owner, attribute, non_trainable[_position(self.non_trainable_variables, value)])
        try:
            yield
        finally:
            for (owner, attribute, _), number in zip(self.held, kept):
                setattr(owner, attribute, number)

    @property
    def update_variables(self) -> list:
        """The variables the updates after each step keep for themselves (lookahead's slow weights)."""
        return [variable for update in self.after_update for variable in getattr(update, "variables", [])]

    def _stateless_step(self, state, data):
        """Keras' JAX step (`keras/src/backend/jax/trainer.py`) on the transformed batch, then the updates.

        `state` is Keras' (trainable, non-trainable, optimizer, metrics variables), or those and the values of
        `update_variables` (as the jax engine passes it), which are then updated and returned with them."""
        x, y = data[0], data[1]
        mask = data[2] if len(data) > 2 else None
        state, own = tuple(state[:4]), list(state[4]) if len(state) > 4 else None
        if self.batch_transform is not None:
            iteration = state[2][_position(self.optimizer.variables, self.optimizer.iterations)]
            run_seed = state[1][_position(self.non_trainable_variables, self.run_seed)]
            seed = step_seed(run_seed, iteration, self.batch_seed.state.dtype)
            with keras.StatelessScope(state_mapping=[(self.batch_seed.state, seed), *self._state_mapping(state[1])]):
                x, y = self.batch_transform(x, y, self.batch_seed)
        with self._holding(state[1]):
            if self.step_gradients is None and mask is None:
                logs, state = super().train_step(state, (x, y))
            else:
                logs, state = self._stateless_changed_step(state, x, y, mask)
        if self.after_update:
            variables = [self.trainable_variables, self.non_trainable_variables, self.optimizer.variables]
            values = [*state[:3]]
            if own is not None:
                variables.append(self.update_variables)
                values.append(own)
            mapping = [pair for owned, current in zip(variables, values) for pair in zip(owned, current)]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                for update in self.after_update:
                    update()
            updated = [[scope.get_current_value(v) for v in owned] for owned in variables]
            state = (*updated[:3], state[3])
            own = updated[3] if own is not None else None
        return logs, state if own is None else (*state, own)

    def _state_mapping(self, non_trainable: list) -> list:
        """(variable, value) of the plugins' `state_values` among the non-trainable values of a stateless step,
        for a scope of its own (a plugin's batch transform or change of the gradients reads them there)."""
        return [(value, non_trainable[_position(self.non_trainable_variables, value)]) for value in self.state_values]

    def _stateless_changed_step(self, state, x, y, mask=None):
        """Keras' JAX step (`keras/src/backend/jax/trainer.py`) with the plugin's gradients applied, if it has
        a `step_gradients`: the plugin runs in a `StatelessScope` over the trainable variables, so moving them
        moves the weights its `Step` computes at, and nothing else.

        With a `mask` (1 for an example, 0 for padding), the loss is the mean over the examples only, as Keras
        computes it on the batch without its padding: the mask scaled by the batch's size over the examples'
        count is the sample weight (Keras divides a weighted sum by the batch's size). The metrics count the
        examples only (the mask as their weight: the model's metrics are Keras' `weighted_metrics`; the loss's
        tracker weighted by their count), as Keras weights each batch by its size."""
        import jax

        trainable, non_trainable, optimizer, metrics = state
        weight = None if mask is None else mask * (ops.cast(ops.shape(mask)[0], mask.dtype) / ops.sum(mask))
        (_, (loss, y_pred, non_trainable, metrics)), gradients = jax.value_and_grad(
            self.compute_loss_and_updates, has_aux=True
        )(trainable, non_trainable, metrics, x, y, weight, training=True, optimizer_variables=optimizer)
        if self.step_gradients is not None:
            mapping = [*zip(self.trainable_variables, trainable), *self._state_mapping(non_trainable)]
            with keras.StatelessScope(state_mapping=mapping):
                step = StatelessStep(self, non_trainable, metrics, optimizer, weight)
                gradients = self.step_gradients(step, x, y, gradients)
        trainable, optimizer = self.optimizer.stateless_apply(optimizer, gradients, trainable)
        # The loss of the batch and the metrics as Keras' own JAX step updates them, so the logs read the same.
        if mask is None:
            logs, metrics = self._update_metrics_variables(metrics, loss, x, y, y_pred, None)
        else:
            logs, metrics = self._masked_metrics(metrics, loss, x, y, y_pred, mask)
        return logs, (trainable, non_trainable, optimizer, metrics)

    def _masked_metrics(self, metrics, loss, x, y, y_pred, mask):
        """Keras' `_update_metrics_variables` for a padded batch: the loss's tracker weighted by the count of
        examples (Keras weights it by the batch's size), the metrics by the mask."""
        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, metrics))) as scope:
            self._loss_tracker.update_state(loss, sample_weight=ops.sum(mask))
            logs = self.compute_metrics(x, y, y_pred, sample_weight=mask)
        values = [scope.get_current_value(variable) for variable in self.metrics_variables]
        return logs, [v if v is not None else variable.value for v, variable in zip(values, self.metrics_variables)]

    def _changed_step(self, x, y):
        """Keras' step (`keras/src/backend/tensorflow/trainer.py`) with the plugin's gradients applied."""
        import tensorflow as tf

        step = Step(self)
        loss, y_pred, gradients = step.gradients(x, y)
        # The loss of the batch as Keras tracks it in its own step, so the logs read the same.
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        gradients = self.step_gradients(step, x, y, gradients)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self.compute_metrics(x, y, y_pred)


def _position(variables: list, variable) -> int:
    """Where `variable` itself (not an equal one) is in `variables`."""
    return next(index for index, each in enumerate(variables) if each is variable)


def step_seed(seed: int, iteration, dtype: str = "int64"):
    """The state of the batch transforms' seed generator at optimizer step `iteration`: `[seed, iteration ·
    SEED_STRIDE]`, so every run and step draws its own numbers, whichever engine runs it; in the generator's
    `dtype` (the backend's: int64 on TensorFlow, uint32 on JAX)."""
    seed = seed % 2**31 if isinstance(seed, int) else seed  # a value of the state is in that range already
    return ops.stack([ops.cast(seed, dtype), ops.cast(iteration, dtype) * SEED_STRIDE])


class Step:
    """What a plugin's `step_gradients` may compute in one training step of `model`.

    Args:
        model: the model being trained.
    """

    def __init__(self, model: keras.Model):
        self.model = model

    @property
    def variables(self) -> list:
        """The trainable variables, in the order of the gradients."""
        return self.model.trainable_variables

    def loss(self, x, y):
        """The model's training loss on `(x, y)`, penalties included, and its predictions."""
        y_pred = self.model(x, training=True)
        return self.model.compute_loss(x=x, y=y, y_pred=y_pred, training=True), y_pred

    def gradients(self, x, y) -> tuple:
        """The loss on `(x, y)` at the current weights, the predictions, and the loss's gradients."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, y_pred = self.loss(x, y)
        return loss, y_pred, tape.gradient(loss, self.variables)

    def input_gradient(self, x, y):
        """The gradient of the loss on `(x, y)` with respect to the inputs `x`."""
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, _ = self.loss(x, y)
        return tape.gradient(loss, x)


class StatelessStep(Step):
    """`Step` in a stateless (JAX) training step: the loss and its gradients at the weights the trainable
    variables hold in the enclosing `keras.StatelessScope`, with the step's non-trainable state (its random
    seeds, moving statistics) after the first pass, as `Step` sees them on TensorFlow.

    Args:
        model: the model being trained.
        non_trainable: the values of its non-trainable variables.
        metrics: the values of its metrics' variables.
        optimizer: the values of its optimizer's variables.
        sample_weight: the step's sample weights (a padded batch's, see `RegularizedModel`), or None.
            Defaults to None.
    """

    def __init__(self, model: keras.Model, non_trainable: list, metrics: list, optimizer: list, sample_weight=None):
        super().__init__(model)
        self.state = (non_trainable, metrics)
        self.optimizer = optimizer
        self.sample_weight = sample_weight

    def _loss_and_updates(self, trainable, x, y):
        non_trainable, metrics = self.state
        return self.model.compute_loss_and_updates(
            trainable,
            non_trainable,
            metrics,
            x,
            y,
            self.sample_weight,
            training=True,
            optimizer_variables=self.optimizer,
        )

    def loss(self, x, y):
        _, (loss, y_pred, _, _) = self._loss_and_updates([v.value for v in self.variables], x, y)
        return loss, y_pred

    def gradients(self, x, y) -> tuple:
        import jax

        (_, (loss, y_pred, _, _)), gradients = jax.value_and_grad(self._loss_and_updates, has_aux=True)(
            [v.value for v in self.variables], x, y
        )
        return loss, y_pred, gradients

    def input_gradient(self, x, y):
        import jax

        trainable = [v.value for v in self.variables]
        return jax.grad(lambda inputs: self._loss_and_updates(trainable, inputs, y)[0])(x)
