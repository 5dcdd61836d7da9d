"""The jax engine's epoch: one `jax.jit` call that trains on every batch of the epoch, then validates.

The call is pure, as JAX wants: it takes the model's state (trainable and non-trainable variables, the random
seeds' states among them, the optimizer's and the metrics' variables) and returns the new state, which stays
on the device (`Replicas`) and is written to the model's variables when a callback reads them, so callbacks
read and change the weights between epochs as under the other engines; the weight statistics of the run's
curves are computed in the call. The step is the model's own (`RegularizedModel.train_step(state, data)`,
Keras' JAX step with the plugins' hooks), scanned (`jax.lax.scan`) over the epoch's batches. A smaller last
batch is padded to the full size with the epoch's first examples and masked (`padded_batches`), so that the
program holds one training step, not a second one compiled for the last batch's shape. Validation runs Keras'
`test_step` over fixed batches.

Compiling the epoch takes about 2 s for the reference workload. XLA's programs are kept on disk
(`COMPILATION_CACHE`, JAX's persistent cache) unless the user chose a cache of their own: a later run of the same
model and shapes on this machine, in any process, loads it in about 0.4 s, and computes exactly what a fresh
compile does.
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from regstudy import lazy_modules
from regstudy.engines.base import ENGINES, Engine, EpochData, drive_replicas
from regstudy.weights import statistics

# Keras lazily and JAX where it is used, so that listing and validating engines imports neither. (No lazy module
# for JAX: a stub in `sys.modules` would tell libraries that look there that JAX is in use.)
keras = lazy_modules.load("keras")

COMPILATION_CACHE = Path(tempfile.gettempdir()) / "regstudy-jax-cache"
"""Where compiled programs are kept, unless `JAX_COMPILATION_CACHE_DIR` says otherwise."""


@ENGINES.register("jax")
class JaxEngine(Engine):
    """One `jax.jit` call per epoch on Keras' JAX backend, callbacks driven around it as for the graph engine;
    replicas in one `jax.vmap` of that call."""

    backend = "jax"
    trains_replicas = True

    def fit(self, model, data, epochs, callbacks):
        return self.fit_replicas([model], [data], epochs, [callbacks])[0]

    def fit_replicas(self, models, data, epochs, callbacks, program=None):
        replicas = Replicas(models, data, program)
        return drive_replicas(models, data, epochs, callbacks, replicas.epoch, replicas.current)

    def evaluator(self, model, batch_size, program=None):
        return evaluation_function(model, batch_size, program)


KEPT_PROGRAMS = 8
"""How many compiled programs (epochs and evaluations) a process keeps for later replicas of the same program."""

_kept: OrderedDict[tuple, Callable] = OrderedDict()


def kept(key: tuple, build: Callable[[], Callable]) -> Callable:
    """The jitted function kept for `key` (its first element a program's name, `regstudy.replicas.program_key`),
    else `build()`, kept for the next time: a later group of the same program (a search's next trials, a
    staged study's next seeds) then runs on what an earlier one traced and compiled, as every replica of a
    group runs on what its first model's program traced. The last `KEPT_PROGRAMS` are kept; a key without a
    name (None) is built afresh."""
    if key[0] is None:
        return build()
    if key not in _kept:
        _kept[key] = build()
        while len(_kept) > KEPT_PROGRAMS:
            _kept.popitem(last=False)
    _kept.move_to_end(key)
    return _kept[key]


def evaluation_function(model: keras.Model, batch_size: int, program: str | None = None) -> Callable:
    """`evaluate(replica, x, y) -> {metric: value}`: `model`'s own `test_step` over the batches of `(x, y)`,
    jitted once for each shape of `x` (and kept for later models of `program`, see `kept`), on the weights of
    `replica` (`model` or another model of its program), as Keras' `evaluate` computes them (its metrics
    accumulate over the batches from their start). A model whose metrics are not built yet (a final model
    fresh from `compile`, such as a snapshot ensemble) builds them on the first call, as Keras' `evaluate`
    would."""
    import jax

    reset: list = []  # every metric's variables at their start, read on the first call

    def build():
        def measure(trainable, non_trainable, x, y):
            state = (trainable, non_trainable, reset)
            for start in range(0, x.shape[0], batch_size):
                logs, state = model.test_step(state, (x[start : start + batch_size], y[start : start + batch_size]))
            return logs

        return jax.jit(measure)

    measure = kept((program, "evaluation", batch_size), build)

    def evaluate(replica: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        if not reset:
            reset.extend(_metrics_at_start(model, x[:1], y[:1]))
        trainable = [variable.value for variable in replica.trainable_variables]
        non_trainable = [variable.value for variable in replica.non_trainable_variables]
        return {name: float(value) for name, value in measure(trainable, non_trainable, x, y).items()}

    return evaluate


class Replicas:
    """The state of one model, or of replicas of one program, kept on the device from epoch to epoch: the first
    model's epoch (`_program`) compiled on the first call, `jax.vmap`ped over the replicas' states and data
    when there are several.

    The models' own variables are written only when asked (`current`: `drive_replicas` asks for a replica whose
    callbacks read the model, for one that stops, and for all at the end), since writing every replica's
    arrays back after every epoch cost more than training them (a group of 48 of the default study's MLPs:
    about 4 ms a replica an epoch, against 1.5 ms of arithmetic). What a callback assigns to a model's
    variables between epochs (a learning rate, restored weights) is taken into the state before the next one:
    a variable whose value is no longer the one last read or written has changed. Every replica is computed
    each epoch (the program keeps its shape); a replica that stopped was written to its model when it did.
    """

    def __init__(self, models: list[keras.Model], data: list[EpochData], program: str | None = None):
        import jax
        import jax.numpy as jnp

        self.models, self.stacked = models, len(models) > 1
        for model, each in zip(models[1:], data[1:]):
            _prepare(model, each)
        reset = _prepare(models[0], data[0])  # every metric's variables at their start, the same for each

        def build():
            epoch = _program(models[0], data[0], reset)
            return jax.jit(jax.vmap(epoch) if self.stacked else epoch)

        self.run = kept((program, "epoch", len(models)), build)
        self.variables = [jax.tree.leaves(_owners(model), is_leaf=_is_variable) for model in models]
        state = [_state(model) for model in models]
        self.leaves, self.structure = jax.tree.flatten(state[0])
        if self.stacked:
            inputs = jax.tree.map(lambda *values: jnp.stack(values), *[_inputs(each) for each in data])
            self.leaves = [jnp.stack(values) for values in zip(*[jax.tree.leaves(each) for each in state])]
        else:
            inputs = _inputs(data[0])
        self.inputs, self.size = inputs, len(data[0].x)
        self.known = [jax.tree.leaves(each) for each in state]  # the values last read, in `variables`' order

    def epoch(self, orders: list[np.ndarray], active: list[int]) -> list[tuple[dict, dict]]:
        """Train the replicas numbered in `active` for one epoch, each on its order; return their (training
        logs, weight statistics among them; validation logs)."""
        import jax

        self._take_changes()
        if self.stacked:
            given, every = dict(zip(active, orders)), np.arange(self.size, dtype=np.int32)
            order = np.stack([given.get(index, every) for index in range(len(self.models))])
        else:
            order = orders[0]
        state, training, validation = self.run(self.structure.unflatten(self.leaves), *self.inputs, order)
        self.leaves = jax.tree.leaves(state)
        training, validation = jax.device_get((training, validation))
        if not self.stacked:
            return [(training, validation)]
        return [(_replica(training, index), _replica(validation, index)) for index in active]

    def current(self, indices: list[int]) -> None:
        """Write the state's values to the variables of the models numbered in `indices`, but for a variable
        changed since it was last read or written (a callback's change, which is newer)."""
        import jax

        if not indices:
            return
        host = jax.device_get(self.leaves)
        for index in indices:
            # One transfer of a replica's arrays, not one a value.
            values = jax.device_put([leaf[index] for leaf in host] if self.stacked else host)
            for position, (variable, value) in enumerate(zip(self.variables[index], values)):
                if variable.value is self.known[index][position]:
                    variable.assign(value)
                    self.known[index][position] = variable.value

    def _take_changes(self) -> None:
        """Take into the state what was assigned to the models' variables since they were last read or written."""
        for index, (variables, known) in enumerate(zip(self.variables, self.known)):
            for position, variable in enumerate(variables):
                value = variable.value
                if value is not known[position]:
                    leaf = self.leaves[position]
                    self.leaves[position] = leaf.at[index].set(value) if self.stacked else value
                    known[position] = value


def _is_variable(value) -> bool:
    return isinstance(value, keras.Variable)


def _replica(values, index: int):
    """Replica `index`'s part of stacked values."""
    import jax

    return jax.tree.map(lambda value: value[index], values)


def _inputs(data: EpochData) -> tuple:
    """The epoch's arrays as the program takes them: the training inputs and targets, the validation batches."""
    import jax.numpy as jnp

    validation = [
        (
            jnp.asarray(data.x_validation[start : start + data.validation_batch_size]),
            jnp.asarray(data.y_validation[start : start + data.validation_batch_size]),
        )
        for start in range(0, len(data.x_validation), data.validation_batch_size)
    ]
    return jnp.asarray(data.x), jnp.asarray(data.y), validation


def _prepare(model: keras.Model, data: EpochData) -> list:
    """Build the optimizer's and the metrics' variables before the first call, as Keras' own trainer makes them
    (`_symbolic_build`): the state a compiled call takes and returns cannot grow. Returns every metric's
    variables at their start."""
    model.optimizer.build(model.trainable_variables)
    return _build_metrics(model, data.x[:1], data.y[:1])


def _metrics_at_start(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list:
    """Every metric's variables of `model` at their start; the metrics are built first from one example
    `(x, y)` if they are not yet."""
    if all(getattr(each, "built", True) for each in model.metrics):
        model.reset_metrics()
        return [variable.value for variable in model.metrics_variables]
    return _build_metrics(model, x, y)


def _build_metrics(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list:
    """Build the loss's and the metrics' variables from one example `(x, y)`, as Keras' `_symbolic_build` does;
    return every metric's variables at their start."""
    predicted = model(x)
    model.compute_loss(x, y, predicted)
    model.compute_metrics(x, y, predicted)
    model.reset_metrics()
    return [variable.value for variable in model.metrics_variables]


def padded_batches(examples: int, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The positions in an epoch's order of each batch's examples, as a (batches, batch_size) array, and the
    mask of the examples among them (1, or 0 for padding), or None if every batch is full.

    A smaller last batch is filled up with the epoch's first examples, again: padding the loss, its gradients
    and the metrics leave out (`RegularizedModel._stateless_changed_step`), as Keras trains on the last batch
    without it. What reads the whole batch sees the padding as examples of the training set: batch
    normalization's statistics, mixup's and CutMix's partners, the activity penalty's mean over the batch. The
    random numbers drawn for the last batch are drawn for its padded shape."""
    batches = -(-examples // batch_size)
    positions = (np.arange(batches * batch_size) % examples).reshape(batches, batch_size)
    if examples % batch_size == 0:
        return positions, None
    mask = (np.arange(batches * batch_size) < examples).astype("float32").reshape(batches, batch_size)
    return positions, mask


def _program(model: keras.Model, data: EpochData, reset: list) -> Callable:
    """`run_epoch(state, x, y, validation, order) -> (state, training logs, validation logs)`: pure, for
    `jax.jit`; every training step of the epoch in order (the model's own `train_step`, scanned over the
    epoch's batches, `padded_batches`), then validation."""
    import jax

    _cache_compilations()
    positions, mask = padded_batches(len(data.x), data.batch_size)

    def run_epoch(state, x, y, validation, order):
        def step(state, batch):
            indices = order[batch[0]]
            logs, state = model.train_step(state, (x[indices], y[indices], *batch[1:]))
            return state, logs

        trainable, non_trainable, optimizer, _, own = state
        state = (trainable, non_trainable, optimizer, reset, own)
        state, history = jax.lax.scan(step, state, (positions,) if mask is None else (positions, mask))
        logs = {name: values[-1] for name, values in history.items()}
        trainable, non_trainable = state[:2]
        mapping = [*zip(model.trainable_variables, trainable), *zip(model.non_trainable_variables, non_trainable)]
        with keras.StatelessScope(state_mapping=mapping):
            logs = {**logs, **statistics(model)}
        measured = (trainable, non_trainable, reset)
        for batch in validation:
            validation_logs, measured = model.test_step(measured, batch)
        return state, logs, validation_logs

    return run_epoch


def _cache_compilations() -> None:
    """Keep every compiled program (the epoch's, Keras' evaluation's) in `COMPILATION_CACHE`, unless a cache is
    set already."""
    import jax

    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(COMPILATION_CACHE))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def _owners(model: keras.Model) -> tuple[list, ...]:
    """The variables of the state: Keras' JAX step's (trainable, non-trainable, optimizer, metrics), and those
    the updates after each step keep (`RegularizedModel.update_variables`)."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
        getattr(model, "update_variables", []),
    )


def _state(model: keras.Model) -> tuple[list, ...]:
    """The current values of the state's variables."""
    return tuple([variable.value for variable in variables] for variables in _owners(model))
