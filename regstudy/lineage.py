"""What a run used and what it made, in MLflow: its data sets, each with a digest of the exact arrays it
trained, validated and tested on, and (with `log_model: true`) the trained model in MLflow's Keras flavor.

Runs that saw identical data share digests, so the MLflow UI's data set column shows which runs compare.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras
    from mlflow.entities import Dataset
    from mlflow.tracking import MlflowClient

    from regstudy.data import Splits

MODEL_PATH = "model"
"""Where a run's model is, among its artifacts: `runs:/<run id>/model`."""

DIGEST_LENGTH = 32
"""Hex digits of the SHA-256 kept as a data set's digest (MLflow stores at most 36)."""


def digest(x: np.ndarray, y: np.ndarray) -> str:
    """A digest of the whole arrays: their shapes, types and every byte (MLflow's own reads only the first
    10,000 values, so two sets differing further on would share it)."""
    hasher = hashlib.sha256()
    for array in (x, y):
        array = np.ascontiguousarray(array)
        hasher.update(f"{array.dtype.str}{array.shape}".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()[:DIGEST_LENGTH]


def log_data(client: MlflowClient, run_id: str, dataset: str, splits: Splits, source: str | None = None) -> None:
    """Log the run's train, validation and test sets as MLflow data set inputs (context "train", ...),
    each the arrays after splitting and preprocessing, named `<dataset>-<context>`."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for context, x, y in (
        ("train", splits.x_train, splits.y_train),
        ("validation", splits.x_validation, splits.y_validation),
        ("test", splits.x_test, splits.y_test),
    ):
        entity = data_set(x, y, f"{dataset}-{context}", source)
        inputs.append(DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    _log_inputs(client, run_id, inputs)


_DATA_SETS: dict[tuple[str, str, str | None], Dataset] = {}
"""The data set entities `data_set` made in this process, by name, digest and source."""


def data_set(x: np.ndarray, y: np.ndarray, name: str, source: str | None = None) -> Dataset:
    """MLflow's data set entity of the arrays (`mlflow.data.from_numpy`, with `digest`), made once for arrays
    of one digest: a replica group's runs log the same sets, and `from_numpy` infers their schema and profile
    anew each time (about 2 ms a set; the digest, which covers every byte, is what tells the arrays apart)."""
    import mlflow.data

    key = (name, digest(x, y), source)
    if key not in _DATA_SETS:
        if len(_DATA_SETS) >= 64:  # a long-lived kernel's sweeps of other data: keep the cache small
            _DATA_SETS.clear()
        made = mlflow.data.from_numpy(x, targets=y, source=source, name=name, digest=key[1])
        _DATA_SETS[key] = made._to_mlflow_entity()
    return _DATA_SETS[key]


def _log_inputs(client: MlflowClient, run_id: str, inputs: list, attempts: int = 3) -> None:
    """Log `inputs` to the run, again if a run logging the same data set at the same moment won the race.

    MLflow's database store looks a data set up and then inserts it in one transaction; two runs doing so at
    once against one server (a sweep's workers) both insert, and the loser gets a unique-constraint error
    (UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest). Its transaction is
    rolled back whole, so trying again finds the winner's data set and links it.
    """
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except MlflowException:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.1 * (attempt + 1))


def log_model(client: MlflowClient, run_id: str, model: keras.Model, x_example: np.ndarray) -> None:
    """Log `model` to the run in MLflow's Keras flavor, with its signature and an input example: the plain
    functional model of its layers, compiled as it was, so loading it needs only regstudy's layers."""
    import keras
    import mlflow.keras
    from mlflow.models import infer_signature

    # The functional model of the same layers, compiled alike: what it computes, without regstudy's step hooks.
    plain = keras.Model(model.inputs, model.outputs, name=model.name)
    plain.compile_from_config(model.get_compile_config())
    signature = infer_signature(x_example, plain.predict(x_example, verbose=0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / MODEL_PATH
        path.mkdir()  # MLflow's Keras flavor saves into an existing folder
        mlflow.keras.save_model(plain, str(path), signature=signature, input_example=x_example)
        client.log_artifacts(run_id, str(path), MODEL_PATH)


def load_model(run_id: str) -> keras.Model:
    """The model run `run_id` logged (`log_model: true`), compiled as it trained, from the tracking store.

    `mlflow.keras.load_model("runs:/<run id>/model")` does the same once regstudy's Keras classes are
    registered, which importing this function does.

    >>> model = regstudy.load_model(result.run_id)
    >>> model.evaluate(x_test, y_test_one_hot, return_dict=True)
    """
    import mlflow.keras

    from regstudy import keras_additions, residual_layers, tracking  # noqa: F401  (the layers they register)

    tracking.connect()
    return mlflow.keras.load_model(f"runs:/{run_id}/{MODEL_PATH}")
