"""What a run used and made, in MLflow: its data sets with digests of the exact arrays, and its model."""

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
