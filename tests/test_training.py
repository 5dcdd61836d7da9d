"""Training and tracking: determinism, what a run leaves in MLflow, and failed runs."""

import keras
import numpy as np
import pytest
import yaml

from regstudy import ConfigError, TrainingError, train

from helpers import runs_of

SMALL = {"train_size": 200, "hidden_units": [32], "epochs": 3}


def test_same_parameters_and_seed_give_identical_numbers(experiment):
    parameters = {**SMALL, "experiment": experiment, "plugins": "dropout + gaussian_noise + l2"}
    first, second = train(**parameters), train(**parameters)
    assert first.history == second.history
    assert first.metrics == second.metrics
    third = train(**{**parameters, "seed": 1})
    assert third.history["loss"] != first.history["loss"]


def test_a_run_in_mlflow_has_params_tags_curves_and_artifacts(client, experiment):
    result = train(
        **SMALL, experiment=experiment, plugins={"l2": {"l2": 0.001}, "early_stopping": {"patience": 10}}, figures=True
    )
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    assert params["l2.l2"] == "0.001" and params["early_stopping.patience"] == "10"
    assert params["dataset"] == "digits" and params["epochs"] == "3" and params["plugins"] == "l2 + early_stopping"
    assert tags["plugins"] == "l2 + early_stopping" and tags["seed"] == "0" and tags["dataset"] == "digits"
    assert tags["determinism.op_determinism"] == "true" and int(tags["threads.cpu_count"]) >= 1
    assert tags["versions.tensorflow"][0].isdigit() and tags["git_commit"]
    for key in (
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "penalty",
        "weights_l1",
        "weights_l2",
        "weights_near_zero",
    ):
        series = client.get_metric_history(result.run_id, key)
        assert [m.step for m in series] == [1, 2, 3], key
        assert [m.value for m in series] == pytest.approx(result.history[key])
    for key in ("test_accuracy", "test_loss", "generalization_gap", "loss_gap", "stopped_epoch", "restored_epoch"):
        assert key in metrics
    assert metrics["generalization_gap"] == pytest.approx(metrics["train_accuracy"] - metrics["test_accuracy"])
    assert metrics["loss_gap"] == pytest.approx(metrics["test_loss"] - metrics["train_loss"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)} | {
        a.path for a in client.list_artifacts(result.run_id, "figures")
    }
    assert {
        "params.yaml",
        "model_summary.txt",
        "figures/learning_curves.png",
        "figures/weight_histogram.png",
    } <= artifacts
    logged = yaml.safe_load(open(client.download_artifacts(result.run_id, "params.yaml")))
    assert logged["plugins"] == {"l2": {"l2": 0.001}, "early_stopping": result.config.plugins["early_stopping"]}
    # The run's own cost: the whole, and the part spent writing to MLflow, rendering figures included.
    assert (
        metrics["run_seconds"]
        == result.seconds["run_seconds"]
        > metrics["mlflow_seconds"]
        == result.seconds["mlflow_seconds"]
        > 0
    )
    assert sum(result.epoch_seconds) < result.seconds["run_seconds"]


def test_figures_are_rendered_only_when_asked(client, experiment):
    result = train(**SMALL, experiment=experiment)
    assert not client.list_artifacts(result.run_id, "figures")
    assert len(client.get_metric_history(result.run_id, "val_loss")) == 3  # the curves are there as series


def test_the_penalty_series_is_the_l2_penalty_of_the_logged_weights(experiment):
    result = train(**SMALL, experiment=experiment, plugins={"l2": {"l2": 0.01}})
    # weights_l2 is the L2 norm of all kernels, so the L2 penalty is l2 * norm².
    np.testing.assert_allclose(result.history["penalty"], 0.01 * np.square(result.history["weights_l2"]), rtol=1e-4)


def test_the_weight_statistics_are_numpys_on_the_kernels_and_the_penalty_keras_definition():
    """`weights.statistics` (in keras.ops, as the jax engine computes it inside its epoch) against numpy in
    float64 on the same kernels: a Dense kernel with exact zeros and weights near zero, and a Conv kernel,
    whose unit norms are over every axis but the last; the penalty as Keras defines L1L2, with no 1/2."""
    import keras

    from regstudy.weights import NEAR_ZERO, statistics

    regularizer = keras.regularizers.L1L2(l1=1e-3, l2=1e-2)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, kernel_regularizer=regularizer),
            keras.layers.Flatten(),
            keras.layers.Dense(4, kernel_regularizer=regularizer),
        ]
    )
    rng = np.random.default_rng(0)
    conv, dense = (layer.kernel for layer in (model.layers[0], model.layers[2]))
    conv.assign(rng.normal(0, 0.3, conv.shape).astype("float32"))
    values = rng.normal(0, 0.3, dense.shape).astype("float32")
    values[:5] = 0.0
    values[5:9] = 5e-4  # below NEAR_ZERO, not zero
    dense.assign(values)
    kernels = [np.asarray(kernel.numpy(), dtype=np.float64) for kernel in (conv, dense)]
    flat = np.concatenate([kernel.ravel() for kernel in kernels])
    expected = {
        "unit_norm_max": max(np.sqrt(np.sum(k**2, axis=tuple(range(k.ndim - 1)))).max() for k in kernels),
        "penalty": 1e-3 * np.abs(flat).sum() + 1e-2 * np.square(flat).sum(),
        "weights_l1": np.abs(flat).sum(),
        "weights_l2": np.sqrt(np.square(flat).sum()),
        "weights_near_zero": np.mean(np.abs(flat) < NEAR_ZERO),
        "weights_zero": np.mean(flat == 0),
    }
    got = {name: float(value) for name, value in statistics(model).items()}
    assert got == pytest.approx(expected, rel=1e-6)
    # 5 rows of the Dense kernel's 4 columns are zeros, 4 more rows are near zero (the count, not a rounding)
    assert round(got["weights_zero"] * flat.size) == 20 and round(got["weights_near_zero"] * flat.size) == 36


def test_a_nan_loss_ends_the_run_failed_with_the_reason(client, experiment):
    with pytest.raises(TrainingError, match="became (nan|inf)"):
        train(experiment=experiment, dataset="linear", optimizer="sgd", learning_rate=1e6, hidden_units=[8], epochs=5)
    (run,) = runs_of(client, experiment)
    assert run.info.status == "FAILED"
    assert "TrainingError: the training loss became" in run.data.tags["failure_reason"]


def test_regression_logs_mse(client, experiment):
    result = train(experiment=experiment, dataset="linear", hidden_units=[], plugins="l2", epochs=2)
    assert {"mse", "val_mse"} <= set(result.history) and "test_mse" in result.metrics
    assert "generalization_gap" not in result.metrics


def test_a_runs_parameters_are_validated_once_and_its_data_set_and_plugins_built_once(experiment, tmp_path):
    """As `regstudy run` and sweeps hand a run to the training notebook's kernel: validated in the parent, then
    trained from plain values (what papermill passes) and their digest."""
    import json
    from unittest import mock

    from regstudy import RunConfig, config, load_params_file
    from regstudy.combination import Combination

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "epochs": 1, "experiment": experiment, "plugins": {"l2": {}}}))
    validation = mock.patch.object(RunConfig, "__post_init__", autospec=True, side_effect=RunConfig.__post_init__)
    data_set = mock.patch.object(config, "_dataset", side_effect=config._dataset)
    plugin_set = mock.patch.object(Combination, "from_config", side_effect=Combination.from_config)
    with validation as validations, data_set as data_sets, plugin_set as plugin_sets:
        parent = load_params_file(path)
        handed_over = json.loads(json.dumps(parent.to_dict()))
        result = train(**handed_over, validated=parent.digest())
        assert result.config == parent
        assert (validations.call_count, data_sets.call_count, plugin_sets.call_count) == (1, 1, 1)
        # Changed on the way, as in a rerun of the executed notebook with an edited value: validated again.
        train(**{**handed_over, "epochs": 2}, validated=parent.digest())
        assert validations.call_count == 2
        # Taken as validated or validated again, the same parameters train the same numbers.
        again = train(**handed_over)
        assert (again.history, again.metrics) == (result.history, result.metrics)
        with pytest.raises(ConfigError, match="epochs"):
            train(**{**handed_over, "epochs": 0}, validated=parent.digest())


def test_a_runs_last_epochs_final_metrics_and_seconds_are_one_write_and_survive_an_error_after_training(
    client, experiment, monkeypatch
):
    """The epochs the logger holds when training ends go out with the final metrics and the seconds, in one
    store write (`Recorder.log_seconds`); a run that an error ends after training still gets them first."""
    from mlflow import MlflowClient

    from regstudy import PLUGINS, Plugin

    writes = []
    log_batch = MlflowClient.log_batch

    def counted(self, run_id, metrics=(), params=(), tags=(), **more):
        writes.append({"metrics": {metric.key for metric in metrics}, "params": len(params), "tags": len(tags)})
        return log_batch(self, run_id, metrics=metrics, params=params, tags=tags, **more)

    monkeypatch.setattr(MlflowClient, "log_batch", counted)
    # Held epochs also go out every FLUSH_SECONDS: on a slow machine the first epoch's compiling alone passes
    # 2 s, so the timer is put out of reach to test the write at the end.
    monkeypatch.setattr("regstudy.recording.FLUSH_SECONDS", 1e9)
    result = train(**SMALL, experiment=experiment)
    (final,) = [write for write in writes if write["metrics"]]  # the other is the parameters and tags
    assert {"loss", "val_accuracy", "weights_l2", "test_accuracy", "run_seconds", "epoch_seconds"} <= final["metrics"]
    history = client.get_metric_history(result.run_id, "val_loss")
    assert [point.step for point in history] == [1, 2, 3]
    assert [point.value for point in history] == pytest.approx(result.history["val_loss"])

    class Fails(keras.callbacks.Callback):
        def end_of_training(self, model, x):
            raise RuntimeError("the end of training broke")

    class Breaks(Plugin):
        def callbacks(self):
            return [Fails()]

    monkeypatch.setattr(PLUGINS, "_entries", dict(PLUGINS._entries))
    PLUGINS.add("breaks", Breaks)
    with pytest.raises(RuntimeError, match="the end of training broke"):
        train(**SMALL, experiment=experiment, plugins=["breaks"])
    failed = next(run for run in runs_of(client, experiment) if run.info.status == "FAILED")
    assert "RuntimeError: the end of training broke" in failed.data.tags["failure_reason"]
    assert [point.step for point in client.get_metric_history(failed.info.run_id, "loss")] == [1, 2, 3]
