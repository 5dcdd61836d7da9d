"""What a run used and made, in MLflow: its data sets with digests of the exact arrays, and its model."""

import threading

import keras
import numpy as np
import pytest

import regstudy
from regstudy import ConfigError, RunConfig
from regstudy.lineage import digest
from regstudy.training import train


def _inputs(client, run_id):
    """{context: (name, digest)} of the data sets run `run_id` logged."""
    inputs = client.get_run(run_id).inputs.dataset_inputs
    return {
        next(tag.value for tag in item.tags if tag.key == "mlflow.data.context"): (
            item.dataset.name,
            item.dataset.digest,
        )
        for item in inputs
    }


def test_each_run_logs_its_three_data_sets_with_digests_of_the_arrays(client, experiment):
    parameters = {"experiment": experiment, "train_size": 100, "epochs": 1, "hidden_units": [8]}
    first, same, other = train(**parameters), train(**parameters, seed=1), train(**parameters, split_seed=1)
    logged = _inputs(client, first.run_id)
    splits = first.splits
    assert logged == {
        "train": ("digits-train", digest(splits.x_train, splits.y_train)),
        "validation": ("digits-validation", digest(splits.x_validation, splits.y_validation)),
        "test": ("digits-test", digest(splits.x_test, splits.y_test)),
    }
    assert _inputs(client, same.run_id) == logged  # another seed, the same data
    assert _inputs(client, other.run_id)["train"][1] != logged["train"][1]  # another split


def _log_at_once(client, runs, splits):
    """Log `splits` to every run in `runs` from one thread each, all released together; the errors raised."""
    from regstudy.lineage import log_data

    together, errors = threading.Barrier(len(runs)), []

    def log(run_id):
        together.wait()
        try:
            log_data(client, run_id, "toy", splits)
        except Exception as error:  # noqa: BLE001  (returned, and the test fails on them)
            errors.append(error)

    threads = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_runs_logging_the_same_data_at_once_to_an_mlflow_server_all_log_it(mlflow_server, experiment):
    """A sweep's workers log the same data sets at the same moment. MLflow's store looks a data set up, then
    inserts it: against a real `mlflow server` some of 8 simultaneous loggers lost that race with a unique-
    constraint error (2 and 6 of 8 in two of three rounds, before `log_data` tried again)."""
    from mlflow import MlflowClient

    from regstudy.data import Splits

    server = MlflowClient(mlflow_server)
    x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
    y = np.arange(50) % 2
    splits = Splits(x, y, x[:20], y[:20], x[20:], y[20:], "classification", 2, None)
    for round_ in range(3):
        experiment_id = server.create_experiment(f"{experiment} {round_}")
        runs = [server.create_run(experiment_id).info.run_id for _ in range(8)]
        assert _log_at_once(server, runs, splits) == []
        for run_id in runs:
            assert _inputs(server, run_id) == {
                "train": ("toy-train", digest(x, y)),
                "validation": ("toy-validation", digest(x[:20], y[:20])),
                "test": ("toy-test", digest(x[20:], y[20:])),
            }


def test_a_digest_covers_every_value_not_only_the_first_ones():
    x = np.zeros((20_000, 3), np.float32)
    y = np.zeros(20_000, np.int64)
    changed = x.copy()
    changed[-1, -1] = 1.0  # beyond the 10,000 values MLflow's own digest reads
    assert digest(x, y) != digest(changed, y)
    assert digest(x, y) == digest(x.copy(), y.copy())
    assert digest(x, y) != digest(x.astype(np.float64), y)


@pytest.mark.parametrize("plugins", [{"l2": {}, "dropout": {}}, {"batch_norm": {}, "swa": {}, "spectral_norm": {}}])
def test_a_logged_model_reloads_and_reproduces_the_test_metrics_exactly(plugins, experiment):
    result = train(experiment=experiment, plugins=plugins, train_size=100, epochs=2, hidden_units=[8], log_model=True)
    model = regstudy.load_model(result.run_id)
    splits = result.splits
    scores = model.evaluate(
        splits.x_test,
        keras.utils.to_categorical(splits.y_test, splits.classes),
        batch_size=1024,
        verbose=0,
        return_dict=True,
    )
    assert scores["loss"] == result.metrics["test_loss"]
    assert scores["accuracy"] == result.metrics["test_accuracy"]


def test_a_model_is_logged_only_when_asked_and_never_for_an_ensemble(client, experiment):
    result = train(experiment=experiment, train_size=100, epochs=1, hidden_units=[8])
    assert [item.path for item in client.list_artifacts(result.run_id)] == ["model_summary.txt", "params.yaml"]
    with pytest.raises(ConfigError, match="cannot save the model of 'snapshot_ensemble'"):
        RunConfig(plugins=["snapshot_ensemble"], log_model=True)


def test_a_data_set_is_mlflows_own_entity_of_its_arrays_made_once_for_equal_arrays_and_anew_for_others():
    """`data_set` gives what MLflow's `from_numpy` makes of the arrays (the reference: its schema, profile and
    source), the same entity again for equal arrays (a replica group's runs), and a new one, with its own
    digest, when one value differs."""
    import mlflow.data

    from regstudy.lineage import data_set

    x, y = np.arange(60, dtype=np.float32).reshape(20, 3), np.arange(20) % 2
    made = data_set(x, y, "toy-train")
    reference = mlflow.data.from_numpy(x, targets=y, name="toy-train", digest=digest(x, y))._to_mlflow_entity()
    assert made.to_dictionary() == reference.to_dictionary()
    assert data_set(x.copy(), y.copy(), "toy-train") is made
    changed = y.copy()
    changed[-1] = 1 - changed[-1]
    other = data_set(x, changed, "toy-train")
    assert other is not made and other.digest == digest(x, changed) != made.digest
    assert data_set(x, y, "toy-validation").name == "toy-validation"
