"""The graph engine trains exactly as Keras' `fit` does: every plugin, same batches, same steps, same numbers.

Most runs agree to the bit. TensorFlow optimizes the two graphs separately, and where that reorders a sum
(the orthogonal penalty's gradient does) the last bits may differ: hence a relative tolerance of 1e-6,
which is far below any difference a plugin's effect could make.
"""

import numpy as np
import pytest

from regstudy import PLUGINS, ConfigError, RunConfig
from regstudy.backends import backend_of
from regstudy.engines import ENGINES, Engine, epoch_order
from regstudy.training import train
from regstudy.weights import kernels

from helpers import model_for

# Hyperparameters under which each plugin visibly acts within a short run; the rest take their defaults.
ACTING = {
    "early_stopping": {"patience": 1},
    "gl": {"alpha": 0.5},
    "pq": {"alpha": 0.1, "strip": 2},
    "up": {"strips": 1, "strip": 2},
    "random_labels": {"fraction": 0.5},
}
STOPPERS = {"early_stopping", "gl", "pq", "up"}


def _both_engines(experiment, **parameters):
    return [train(experiment=experiment, engine=engine, **parameters) for engine in ("keras", "graph")]


def _assert_identical(keras_run, graph_run):
    assert keras_run.history.keys() == graph_run.history.keys()
    for key in keras_run.history:
        np.testing.assert_allclose(graph_run.history[key], keras_run.history[key], rtol=1e-6, err_msg=key)
    assert keras_run.metrics.keys() == graph_run.metrics.keys()
    for key in keras_run.metrics:
        np.testing.assert_allclose(graph_run.metrics[key], keras_run.metrics[key], rtol=1e-6, atol=1e-9, err_msg=key)
    for ours, theirs in zip(kernels(graph_run.model), kernels(keras_run.model), strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", PLUGINS.names())
def test_every_plugin_trains_identically_on_both_engines_and_to_the_bit_again_from_the_same_seed(name, experiment):
    stopper = name in STOPPERS
    parameters = {
        "plugins": {name: ACTING.get(name, {})},
        "model": model_for(name),
        "train_size": 100,  # 3 batches of 32 and one of 4
        "hidden_units": [64] if stopper else [16],
        "learning_rate": 0.01 if stopper else 0.001,
        "epochs": 25 if stopper else 3,
    }
    keras_run, graph_run = _both_engines(experiment, **parameters)
    _assert_identical(keras_run, graph_run)
    assert np.isfinite(graph_run.metrics["test_loss"])
    again = train(experiment=experiment, engine="graph", **parameters)  # determinism: the same seed, the same bits
    assert (again.history, again.metrics) == (graph_run.history, graph_run.metrics)
    if stopper:
        assert graph_run.metrics["stopped_epoch"] < 25, "the criterion never acted, so stopping went untested"
    if PLUGINS.get(name)().kernel_regularizer() is not None:
        assert graph_run.history["penalty"][-1] > 0


def test_a_cnn_without_a_partial_batch_trains_identically(experiment):
    _assert_identical(
        *_both_engines(
            experiment,
            model="cnn",
            filters=[4],
            hidden_units=[8],
            plugins=["dropout", "max_norm"],
            train_size=64,
            epochs=2,
        )
    )


def test_epoch_orders_are_permutations_fixed_by_seed_and_epoch():
    first = epoch_order(3, 0, 50)
    assert sorted(first) == list(range(50))
    np.testing.assert_array_equal(first, epoch_order(3, 0, 50))
    assert not np.array_equal(first, epoch_order(3, 1, 50))
    assert not np.array_equal(first, epoch_order(4, 0, 50))


def test_an_unknown_engine_is_refused_naming_the_key():
    with pytest.raises(Exception, match="engine.*'fast'.*graph.*keras|engine.*fast"):
        RunConfig(engine="fast")


@pytest.mark.parametrize("name", ENGINES.names())
def test_every_registered_engine_names_its_backend_and_trains_on_tensorflow_or_is_refused(name, experiment):
    """Registry-parametrized, as the plugins are: an engine on TensorFlow trains the same epochs as `fit`;
    one on another backend is refused in this (TensorFlow) process before anything is written
    (`tests/test_jax_engine.py` trains the jax engine in a process of its own)."""
    import keras

    assert keras.backend.backend() == "tensorflow"  # imported now if not yet: this process is the suite's
    engine = ENGINES.get(name)
    assert issubclass(engine, Engine) and backend_of(name) == engine.backend
    parameters = {"experiment": experiment, "train_size": 64, "hidden_units": [8], "epochs": 2, "plugins": ["l2"]}
    if engine.backend != "tensorflow":
        with pytest.raises(ConfigError, match=f"KERAS_BACKEND={engine.backend}"):
            train(engine=name, **parameters)
        return
    _assert_identical(train(engine="keras", **parameters), train(engine=name, **parameters))
