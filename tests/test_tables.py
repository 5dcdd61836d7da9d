"""Your own data: `table` (CSV, Parquet) and `arrays` (.npz), on files the tests write, every error included."""

import numpy as np
import pandas as pd
import pytest

from regstudy import ConfigError, RunConfig, load_params_file
from regstudy.cli import main
from regstudy.config import splits_for
from regstudy.training import train

from helpers import runs_of

RNG = np.random.default_rng(0)


def _frame(n=300):
    """A table with a numeric and a categorical feature, each missing somewhere, an identifier and labels."""
    frame = pd.DataFrame(
        {
            "age": RNG.normal(40, 10, n),
            "city": RNG.choice(["Lyon", "Oslo", "Quito"], n),
            "id": np.arange(n),
            "label": RNG.choice(["no", "yes"], n),
        }
    )
    frame.loc[3, "age"] = np.nan
    frame.loc[5, "city"] = None
    return frame


def _table(tmp_path, frame=None, name="data.csv"):
    path = tmp_path / name
    frame = _frame() if frame is None else frame
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["data.csv", "data.parquet"])
def test_a_table_is_imputed_standardized_and_one_hot_encoded(tmp_path, name):
    path = _table(tmp_path, name=name)
    splits = splits_for(
        RunConfig(dataset="table", dataset_options={"path": str(path), "target": "label", "drop": ["id"]})
    )
    assert splits.task == "classification" and splits.classes == 2
    assert splits.x_train.shape[1] == 1 + 3  # age, and one column per city
    assert splits.x_train.dtype == np.float32 and np.isfinite(splits.x_train).all()
    np.testing.assert_allclose(splits.x_train[:, 0].mean(), 0, atol=1e-5)  # standardized on the training rows
    np.testing.assert_array_equal(np.sort(np.unique(splits.x_train[:, 1:])), [0, 1])
    assert np.all(splits.x_train[:, 1:].sum(axis=1) == 1)


def test_the_preprocessing_never_sees_validation_or_test_rows(tmp_path):
    frame = _frame()
    config = RunConfig(dataset="table", dataset_options={"path": str(_table(tmp_path, frame)), "target": "label"})
    splits = splits_for(config)
    # Plant a huge age in the test rows only: had the imputer or scaler seen them, the training rows would move.
    planted = frame.copy()
    planted.loc[_test_rows(frame, config), "age"] = 1e6
    moved_path = _table(tmp_path, planted, "planted.csv")
    moved = splits_for(RunConfig(dataset="table", dataset_options={"path": str(moved_path), "target": "label"}))
    np.testing.assert_allclose(moved.x_train, splits.x_train, rtol=1e-6)
    np.testing.assert_allclose(moved.x_validation, splits.x_validation, rtol=1e-6)
    assert moved.x_test[:, 0].min() > 1e3  # the planted rows are indeed the test rows


def _test_rows(frame, config):
    """The rows of `frame` that the split puts in the test set (scikit-learn's split on the row numbers)."""
    from sklearn.model_selection import train_test_split

    labels = np.unique(frame["label"].astype(str), return_inverse=True)[1]
    _, test = train_test_split(
        np.arange(len(frame)), test_size=config.test_fraction, random_state=config.split_seed, stratify=labels
    )
    return test


def test_a_relative_path_is_resolved_against_the_parameters_file(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    _table(folder)
    (folder / "run.yaml").write_text("dataset: table\ndataset_options: {path: data.csv, target: label}\n")
    config = load_params_file(folder / "run.yaml")
    assert config.dataset_options["path"] == str(folder / "data.csv")


def test_a_csv_the_user_writes_trains_through_regstudy_run(tmp_path, client, experiment, capsys):
    _table(tmp_path)
    params = tmp_path / "mine.yaml"
    params.write_text(
        f"experiment: {experiment}\ndataset: table\n"
        "dataset_options: {path: data.csv, target: label, drop: [id]}\nepochs: 2\nhidden_units: [8]\n"
    )
    assert main(["run", str(params)]) == 0
    (run,) = runs_of(client, experiment)
    assert run.info.status == "FINISHED"
    assert run.data.params["table.path"] == str(tmp_path / "data.csv")
    assert "test_accuracy" in run.data.metrics


@pytest.mark.parametrize(
    "options, key, fragment",
    [
        ({"path": "missing.csv", "target": "label"}, "dataset_options.path", "no such file"),
        ({"path": "data.txt", "target": "label"}, "dataset_options.path", "expected a .csv or .parquet file"),
        ({"path": "empty.csv", "target": "label"}, "dataset_options.path", "the file is empty"),
        ({"path": "header.csv", "target": "label"}, "dataset_options.path", "a header but no rows"),
        ({"path": "data.csv"}, "dataset_options.target", "expected the column to predict"),
        ({"path": "data.csv", "target": "labl"}, "dataset_options.target", "is not a column of"),
        ({"path": "data.csv", "target": "label", "drop": ["idd"]}, "dataset_options.drop", "is not a column of"),
        ({"path": "one_class.csv", "target": "label"}, "dataset_options.target", "has one class only ('yes')"),
        ({"path": "typo.csv", "target": "label"}, "dataset_options.columns.age", "(line 9) is not a number"),
        ({"path": "unlabelled.csv", "target": "label"}, "dataset_options.target", "missing on 1 rows (lines 4)"),
    ],
)
def test_every_problem_with_a_table_names_the_file_and_the_column(tmp_path, options, key, fragment):
    frame = _frame(40)
    _table(tmp_path, frame)
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("age,label\n")
    _table(tmp_path, frame.assign(label="yes"), "one_class.csv")
    rows = [f"{age:.1f},{label}" for age, label in zip(frame["age"].fillna(30), frame["label"])]
    rows[7] = "forty,yes"  # line 9 of the file
    (tmp_path / "typo.csv").write_text("age,label\n" + "\n".join(rows) + "\n")
    _table(tmp_path, frame.assign(label=frame["label"].where(frame.index != 2)), "unlabelled.csv")
    options = {**options, "path": str(tmp_path / options["path"])}
    with pytest.raises(ConfigError) as caught:
        RunConfig(dataset="table", dataset_options=options)
    assert caught.value.key == key
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_file_too_large_for_the_free_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from regstudy.data import files as tables

    path = _table(tmp_path)
    monkeypatch.setattr(tables, "free_memory", lambda: 1000)
    with pytest.raises(ConfigError, match=r"more than 1/4 of the free memory \(0.0 GB\), too large to load"):
        RunConfig(dataset="table", dataset_options={"path": str(path), "target": "label"})


def test_a_regression_table_is_recognized_and_trains(tmp_path, experiment):
    frame = _frame().assign(price=RNG.normal(size=300))
    path = _table(tmp_path, frame.drop(columns=["label"]))
    result = train(
        experiment=experiment, dataset="table", dataset_options={"path": str(path), "target": "price"}, epochs=1
    )
    assert result.splits.task == "regression" and "test_mse" in result.metrics


def test_arrays_of_images_train_a_cnn(tmp_path, experiment):
    x = RNG.normal(size=(200, 6, 6)).astype(np.float32)
    y = (x[:, :3].mean(axis=(1, 2)) > 0).astype(np.int64)
    np.savez(tmp_path / "images.npz", x=x, y=y)
    config = RunConfig(dataset="arrays", dataset_options={"path": str(tmp_path / "images.npz")}, model="cnn")
    assert config.description().images
    result = train(**{**config.to_dict(), "experiment": experiment, "epochs": 1, "filters": [4], "hidden_units": [8]})
    assert result.splits.image_shape == (6, 6) and result.splits.x_train.shape[1] == 36


@pytest.mark.parametrize(
    "arrays, key, fragment",
    [
        ({"x": np.zeros((4, 2))}, "dataset_options.arrays.y", "is missing from"),
        ({"x": np.zeros((4, 2)), "y": np.arange(3)}, "dataset_options.arrays.y", "but x has 4 examples"),
        ({"x": np.array([["a", "b"]] * 4), "y": np.arange(4)}, "dataset_options.arrays.x", "is not numeric"),
        ({"x": np.full((4, 2), np.nan), "y": np.arange(4)}, "dataset_options.arrays.x", "NaN or infinite"),
        (
            {"x": np.zeros((4, 6)), "y": np.arange(4), "image_shape": [2, 2]},
            "dataset_options.arrays.image_shape",
            "6 features",
        ),
        ({"x": np.zeros((4, 6)), "y": np.zeros(4)}, "dataset_options.arrays.y", "has one class only"),
    ],
)
def test_every_problem_with_arrays_names_the_file_and_the_key(tmp_path, arrays, key, fragment):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(ConfigError) as caught:
        RunConfig(dataset="arrays", dataset_options={"path": str(tmp_path / "a.npz")})
    assert caught.value.key == key and fragment in str(caught.value)
