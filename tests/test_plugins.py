"""Every registered plugin: config round trip, a short fit, and what each kind of plugin must do."""

import json

import keras
import numpy as np
import pytest

import regstudy
from regstudy import PLUGINS, ConfigError, IncompatiblePluginsError, RunConfig, UnknownNameError
from regstudy.combination import Combination
from regstudy.config import splits_for
from regstudy.keras_additions import DropConnectDense
from regstudy.preparation import run_model
from regstudy.training import train
from regstudy.weights import kernels

from helpers import model_for

ALL_PLUGINS = PLUGINS.names()


def _normalized(matrix, axis):
    norm = np.linalg.norm(matrix, axis=axis, keepdims=True)
    return matrix / np.where(norm == 0, 1, norm)


def _orthogonal(kernel, factor, mode):
    matrix = kernel.reshape(-1, kernel.shape[-1])
    matrix = _normalized(matrix, 1) if mode == "rows" else _normalized(matrix, 0).T
    product = matrix @ matrix.T
    size = product.shape[0]
    return factor * 0.5 * np.sum(np.abs(product * (1 - np.eye(size)))) / (size * (size - 1) / 2)


# The penalty each penalty plugin must add for one kernel, written in numpy from the definitions.
NUMPY_PENALTIES = {
    "l1": lambda w, c: c["l1"] * np.sum(np.abs(w)),
    "l2": lambda w, c: c["l2"] * np.sum(w**2),
    "l1l2": lambda w, c: c["l1"] * np.sum(np.abs(w)) + c["l2"] * np.sum(w**2),
    "orthogonal": lambda w, c: _orthogonal(w, c["factor"], c["mode"]),
}


@pytest.mark.parametrize("name", ALL_PLUGINS)
def test_config_round_trip(name):
    plugin = PLUGINS.get(name)()
    config = plugin.get_config()
    assert json.loads(json.dumps(config)) == config
    assert set(config) == set(plugin.hyperparameters())
    assert PLUGINS.get(name).from_config(config).get_config() == config
    assert plugin.describe(), f"{name} needs a docstring summary line"


# Every plugin trains, finitely and to the same bits from the same seed: tests/test_engines.py, beside the
# same run through Keras' `fit`.


@pytest.mark.parametrize("name", [name for name in ALL_PLUGINS if model_for(name) == "mlp"])
def test_one_epoch_fit_runs_in_a_cnn(name, experiment):
    result = train(
        experiment=experiment, plugins=[name], model="cnn", filters=[4], hidden_units=[8], train_size=100, epochs=1
    )
    assert np.isfinite(result.metrics["test_loss"])


def _model(plugins, model="mlp"):
    config = RunConfig(plugins=plugins, model=model, hidden_units=[12, 8], filters=[3], train_size=60)
    splits = splits_for(config)
    return run_model(config, splits, Combination.from_config(config.plugins)), splits


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
@pytest.mark.parametrize("name", [n for n in ALL_PLUGINS if PLUGINS.get(n)().kernel_regularizer() is not None])
def test_penalty_equals_numpy(name, model_kind):
    assert name in NUMPY_PENALTIES, f"write the numpy definition of the '{name}' penalty in NUMPY_PENALTIES"
    options = {
        key: (value * 7 if isinstance(value, float) else value)
        for key, value in PLUGINS.get(name)().get_config().items()
    }
    model, _ = _model({name: options}, model_kind)
    weights = [kernel.numpy().astype(np.float64) for kernel in kernels(model)]
    assert len(weights) == (4 if model_kind == "cnn" else 3)  # every weight layer is penalised
    expected = sum(NUMPY_PENALTIES[name](w, options) for w in weights)
    actual = sum(float(loss) for loss in model.losses)
    assert actual == pytest.approx(expected, rel=1e-5)


def test_penalties_add_up():
    model, _ = _model({"l1": {"l1": 0.01}, "l2": {"l2": 0.02}})
    weights = [kernel.numpy().astype(np.float64) for kernel in kernels(model)]
    expected = sum(0.01 * np.abs(w).sum() + 0.02 * (w**2).sum() for w in weights)
    assert sum(float(loss) for loss in model.losses) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
def test_max_norm_bounds_each_unit_after_training(model_kind, experiment):
    result = train(
        experiment=experiment,
        plugins={"max_norm": {"max_value": 0.5}},
        model=model_kind,
        filters=[4],
        hidden_units=[16],
        train_size=200,
        epochs=2,
    )
    for kernel in kernels(result.model):
        w = kernel.numpy()
        norms = np.sqrt(np.sum(w**2, axis=tuple(range(w.ndim - 1))))
        assert norms.max() <= 0.5 + 1e-5


@pytest.mark.parametrize("name", ["dropout", "gaussian_dropout", "dropconnect", "gaussian_noise"])
def test_noise_acts_in_training_only(name):
    options = {"where": "both"} if name == "gaussian_noise" else {}
    model, splits = _model({name: options})
    x = splits.x_train[:32]
    inference = [model(x, training=False).numpy() for _ in range(2)]
    training = [model(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    assert not np.allclose(training[0], inference[0])
    assert not np.allclose(training[0], training[1])


def test_dropconnect_drops_weights_not_units():
    layer = DropConnectDense(200, rate=0.5, use_bias=False)
    x = np.ones((1, 300), dtype=np.float32)
    layer.build(x.shape)
    layer.kernel.assign(np.ones((300, 200), dtype=np.float32))
    y = layer(x, training=True).numpy()[0]
    # Each output sums 300 weights, each kept with probability 1/2 and doubled: mean 300, sd ~17.
    assert np.all(y > 0), "whole units were dropped"
    assert 250 < y.mean() < 350 and y.std() > 5
    np.testing.assert_array_equal(layer(x, training=False).numpy()[0], np.full(200, 300.0))


def test_early_stopping_stops_and_restores_the_best_weights(experiment):
    # A wide net with a large learning rate on 100 examples overfits quickly, so validation loss turns up.
    result = train(
        experiment=experiment,
        plugins={"early_stopping": {"patience": 3}},
        hidden_units=[256],
        learning_rate=0.01,
        train_size=100,
        epochs=60,
    )
    history, metrics = result.history, result.metrics
    best = int(np.argmin(history["val_loss"])) + 1
    assert metrics["stopped_epoch"] == len(history["loss"]) < 60
    assert metrics["stopped_epoch"] == best + 3
    assert metrics["restored_epoch"] == best
    assert metrics["validation_loss"] == pytest.approx(min(history["val_loss"]), rel=1e-4)


def test_weight_decay_and_label_smoothing_reach_the_optimizer_and_loss():
    config = RunConfig(plugins={"weight_decay": {"weight_decay": 0.01}, "label_smoothing": {"smoothing": 0.2}})
    combination = Combination.from_config(config.plugins)
    assert combination.optimizer_options() == {"weight_decay": 0.01}
    assert combination.loss_options() == {"label_smoothing": 0.2}


def test_unknown_plugin_names_the_closest_and_lists_all():
    with pytest.raises(UnknownNameError) as caught:
        PLUGINS.get("dropuot")
    message = str(caught.value)
    assert "'dropuot'" in message and "did you mean 'dropout'" in message
    assert all(name in message for name in ALL_PLUGINS)


@pytest.mark.parametrize(
    "plugins, key, fragment",
    [
        ({"l2": {"l2": -1}}, "plugins.l2.l2", "expected a number >= 0"),
        ({"l2": {"l2": "big"}}, "plugins.l2.l2", "expected a number"),
        ({"dropout": {"rate": 1.0}}, "plugins.dropout.rate", "< 1"),
        ({"dropout": {"rat": 0.5}}, "plugins.dropout.rat", "did you mean 'rate'"),
        ({"early_stopping": {"patience": 2.5}}, "plugins.early_stopping.patience", "expected an integer"),
        ({"orthogonal": {"mode": "diagonal"}}, "plugins.orthogonal.mode", "valid modes are: columns, rows"),
    ],
)
def test_bad_hyperparameters_name_the_key_and_value(plugins, key, fragment):
    with pytest.raises(ConfigError) as caught:
        RunConfig(plugins=plugins)
    assert caught.value.key == key
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "parameters, why",
    [
        ({"plugins": "none + l2"}, "baseline"),
        ({"plugins": "max_norm + max_norm"}, "twice"),
        ({"plugins": {"early_stopping": {}, "none": {}}}, "baseline"),
        ({"plugins": "dropout", "hidden_units": []}, "has none"),
        ({"plugins": "early_stopping + gl"}, "each sets the stopping"),
        ({"plugins": "dropconnect", "model": "cnn", "hidden_units": []}, "hidden Dense layers"),
        ({"plugins": "label_smoothing", "dataset": "linear"}, "regression"),
        ({"plugins": {"early_stopping": {"monitor": "val_accuracy"}}, "dataset": "linear"}, "not measured"),
    ],
)
def test_combinations_that_cannot_work_are_refused(parameters, why):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**parameters)
    assert why in str(caught.value)


def test_two_plugins_claiming_one_role_are_refused(monkeypatch):
    class SecondConstraint(regstudy.Plugin):
        """A second kernel constraint, which cannot share the kernel with max_norm."""

        exclusive = ("kernel constraint",)

        def kernel_constraint(self):
            return keras.constraints.NonNeg()

    monkeypatch.setattr(PLUGINS, "_entries", dict(PLUGINS._entries))
    PLUGINS.add("test_second_constraint", SecondConstraint)
    with pytest.raises(IncompatiblePluginsError, match="cannot be combined: each sets the kernel constraint") as caught:
        RunConfig(plugins="max_norm + test_second_constraint")
    assert caught.value.value == "max_norm + test_second_constraint"


def test_randomize_labels_replaces_exactly_the_fraction_with_uniform_classes():
    from regstudy.plugins.targets import randomize_labels

    labels = np.repeat(np.arange(10), 1000)
    untouched = randomize_labels(labels, 0.0, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(untouched, labels)
    half = randomize_labels(labels, 0.5, 10, np.random.default_rng(0))
    changed = np.mean(half != labels)
    assert changed == pytest.approx(0.5 * 0.9, abs=0.02)  # a random class equals the true one 1 time in 10
    every = randomize_labels(labels, 1.0, 10, np.random.default_rng(0))
    assert np.mean(every == labels) == pytest.approx(0.1, abs=0.02)
    assert np.bincount(every, minlength=10).min() > 900
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 1000))  # the input is not modified


def test_random_labels_change_training_labels_only(experiment):
    plain = splits_for(RunConfig(dataset="digits", train_size=300))
    transformed = RunConfig(dataset="digits", train_size=300, plugins={"random_labels": {"fraction": 1.0}})
    x, y = Combination.from_config(transformed.plugins).transform_training_data(
        plain.x_train, plain.y_train, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(x, plain.x_train)
    assert np.mean(y == plain.y_train) < 0.25
    result = train(
        experiment=experiment, dataset="digits", train_size=300, plugins={"random_labels": {"fraction": 1.0}}, epochs=1
    )
    assert result.sizes == plain.sizes


def test_random_labels_on_regression_is_refused():
    with pytest.raises(IncompatiblePluginsError, match="needs class labels"):
        RunConfig(dataset="linear", plugins={"random_labels": {}})


def _every_invalid_value(registry):
    """(name, hyperparameter, value) for every value outside the declared range of every hyperparameter."""
    return [
        pytest.param(name, key, value, id=f"{name}.{key}={value!r}")
        for name in registry.names()
        for key, constraint in registry.get(name).parameter_constraints.items()
        for value in constraint.invalid_values()
    ]


@pytest.mark.parametrize("name", ALL_PLUGINS)
def test_every_hyperparameter_declares_its_valid_values(name):
    plugin = PLUGINS.get(name)
    assert set(plugin.parameter_constraints) == set(plugin.hyperparameters())
    for key, default in plugin.hyperparameters().items():
        assert plugin.parameter_constraints[key].check(key, default) == default, "the default must be valid"


@pytest.mark.parametrize("name, key, value", _every_invalid_value(PLUGINS))
def test_every_value_outside_a_declared_range_is_refused_naming_its_key(name, key, value):
    with pytest.raises(ConfigError) as caught:
        RunConfig(plugins={name: {key: value}})
    assert caught.value.key == f"plugins.{name}.{key}"
    assert "\n" not in str(caught.value)


def test_a_plugin_stores_its_arguments_as_given_and_create_checks_them():
    assert PLUGINS.get("l2")(l2=-1.0).l2 == -1.0  # `__init__` only stores, as in Keras and scikit-learn
    with pytest.raises(ConfigError, match="expected a number >= 0"):
        PLUGINS.get("l2").create({"l2": -1.0})
    with pytest.raises(ConfigError, match="expected a number >= 0"):
        PLUGINS.get("l2").from_config({"l2": -1.0})  # one constructor path: from_config is create
    with pytest.raises(UnknownNameError, match="did you mean 'l2'"):
        PLUGINS.get("l2").from_config({"l3": 1.0})
    assert PLUGINS.get("l2").create({"l2": 1}).l2 == 1.0 and isinstance(PLUGINS.get("l2").create({"l2": 1}).l2, float)


def test_an_alias_names_the_same_plugin_and_resolves_to_its_name():
    assert PLUGINS.get("elastic_net") is PLUGINS.get("l1l2") and PLUGINS.get("elastic_net").name == "l1l2"
    assert RunConfig(plugins={"elastic_net": {"l1": 0.1}}).plugins == {
        "l1l2": {"l1": 0.1, "l2": 0.0005, "method": "subgradient"}
    }
    assert "elastic_net" not in ALL_PLUGINS and "elastic_net" in PLUGINS.names(aliases=True)
    with pytest.raises(ConfigError, match="names plugin 'l1l2' twice"):
        RunConfig(plugins="l1l2 + elastic_net")


def test_a_plugin_sees_a_description_of_its_run_not_the_config(monkeypatch):
    seen = []

    class Watcher(regstudy.Plugin):
        """Records what it is shown."""

        def check(self, run):
            seen.append(run)

    monkeypatch.setattr(PLUGINS, "_entries", dict(PLUGINS._entries))
    PLUGINS.add("test_watcher", Watcher)
    RunConfig(plugins="test_watcher + dropout", model="cnn", filters=[4, 8], hidden_units=[16])
    assert seen == [
        regstudy.RunDescription(
            task="classification",
            dataset="digits",
            images=True,
            model="cnn",
            hidden_dense_layers=1,
            hidden_layers=3,
            residual_blocks=0,
            epochs=10,
            plugins=("test_watcher", "dropout"),
        )
    ]
