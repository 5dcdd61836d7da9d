"""Bad input of every class an adversarial user found, refused by the real command: one line naming the file,
key and value, exit status 2, and nothing written to the tracking store (no experiment, no run)."""

import csv
import io
import os
import zipfile

import numpy as np
import pytest
import yaml

from regstudy.cli import main

RUN = {"epochs": 1, "hidden_units": [4]}
SEARCH = {
    "name": "refused",
    "parameters": {"train_size": 100, "epochs": 1, "hidden_units": [4]},
    "objective": "val_accuracy",
    "trials": 2,
    "space": {"learning_rate": {"log_uniform": [0.001, 0.1]}},
}
ROWS = 60


def _npz(folder, kind):
    """An `.npz` file that is not what it claims, or holds what cannot be trained on."""
    path = folder / f"{kind}.npz"
    x, y = np.random.default_rng(0).random((ROWS, 4)).astype(np.float32), np.arange(ROWS) % 2
    if kind == "renamed .npy":
        with open(path, "wb") as file:
            np.save(file, x)
    elif kind == "raw member":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x.npy", b"\x00raw bytes" * 10)
            archive.writestr("y.npy", b"more")
    elif kind in ("truncated", "corrupt"):
        buffer = io.BytesIO()
        np.savez(buffer, x=x, y=y)
        data = buffer.getvalue()
        path.write_bytes(data[: len(data) // 2] if kind == "truncated" else b"PK\x03\x04" + b"\xff" * 200)
    elif kind == "huge header":  # a header declaring 4 TB in a file of a few bytes: read, never allocated
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**6,) * 2})
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x.npy", header.getvalue())
            archive.writestr("y.npy", b"")
    elif kind == "pickled objects":
        np.savez(path, x=np.array([{"a": 1}] * ROWS, dtype=object), y=y)
    else:
        members = {
            "image_shape as text": {"x": x, "y": y, "image_shape": np.array(["a", "b"])},
            "negative image_shape": {"x": x, "y": y, "image_shape": np.array([-2, -2])},
            "NaN labels": {"x": x, "y": np.where(np.arange(ROWS) < 3, np.nan, y)},
            "no features": {"x": np.zeros((ROWS, 0), np.float32), "y": y},
        }[kind]
        np.savez(path, **members)
    return path


def _csv(folder, kind):
    """A CSV file with a value or a header that cannot be trained on, and the run's target."""
    values = np.random.default_rng(0).random(ROWS)
    labels = np.arange(ROWS) % 2
    columns, target = {
        "infinite feature": ({"a": [("inf" if i == 5 else v) for i, v in enumerate(values)], "y": labels}, "y"),
        "infinite target": ({"a": values, "y": [("inf" if i == 7 else v + 0.5) for i, v in enumerate(values)]}, "y"),
        "one example of a class": ({"a": values, "y": [2 if i == 0 else c for i, c in enumerate(labels)]}, "y"),
        "newline in a header": ({"a\nb": values, "y": labels}, "no such column"),
        "100,000-character column": (
            {"x" * 100_000: [("oops" if i == 3 else v) for i, v in enumerate(values)], "y": labels},
            "y",
        ),
    }[kind]
    path = folder / "table.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values()))
    return path, target


NPZ = {
    "renamed .npy": "is not an .npz archive",
    "raw member": "key 'dataset_options.arrays.x': in",
    "truncated": "is not an .npz archive",
    "corrupt": "is not an .npz archive",
    "huge header": "would take 4000.0 GB, more than 1/4 of the free memory",
    "pickled objects": "holds Python objects, which are never loaded",
    "image_shape as text": "key 'dataset_options.arrays.image_shape'",
    "negative image_shape": "expected two positive whole numbers (got [-2, -2])",
    "NaN labels": "are NaN or infinite (examples 0, 1, 2)",
    "no features": "has no features (got [60, 0])",
}
CSV = {
    "infinite feature": "key 'dataset_options.columns.a': in {path} (line 7) is infinite",
    "infinite target": "key 'dataset_options.target': in {path} (line 9) is infinite",
    "one example of a class": "has a class (2) with 1 example: a stratified split needs at least 2 of each",
    "newline in a header": "its columns are ['a\\nb', 'y']",
    "100,000-character column": "xxxxxx... (100,024 characters)': in {path} (line 5) is not a number",
}


def _refused(client, capsys, argv, *fragments):
    experiments = len(client.search_experiments())
    assert main([str(arg) for arg in argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("regstudy: error: ") and len(error) < 1500, error
    for fragment in fragments:
        assert fragment in error, error
    assert len(client.search_experiments()) == experiments


@pytest.mark.parametrize("kind", NPZ)
def test_an_npz_file_that_cannot_be_trained_on(client, tmp_path, capsys, kind):
    path = _npz(tmp_path, kind)
    params = tmp_path / "run.yaml"
    model = {"model": "cnn"} if kind == "negative image_shape" else {}
    params.write_text(yaml.safe_dump({**RUN, **model, "dataset": "arrays", "dataset_options": {"path": path.name}}))
    _refused(client, capsys, ["run", params], str(params), NPZ[kind])


@pytest.mark.parametrize("kind", CSV)
def test_a_table_that_cannot_be_trained_on(client, tmp_path, capsys, kind):
    path, target = _csv(tmp_path, kind)
    params = tmp_path / "run.yaml"
    options = {"path": path.name, "target": target}
    params.write_text(yaml.safe_dump({**RUN, "dataset": "table", "dataset_options": options}))
    _refused(client, capsys, ["run", params], str(params), CSV[kind].format(path=path))


@pytest.mark.parametrize(
    "change, arguments, fragment",
    [
        ({}, ["--storage", "foo://host/db"], "key '--storage': is not a database URL SQLAlchemy knows"),
        ({}, ["--storage", "postgresql://user@127.0.0.1:1/db"], "needs psycopg"),
        ({}, ["--storage", "sqlite:///{tmp}/a-file/optuna.db"], "its folder cannot be created (File exists)"),
        ({}, ["--storage", "sqlite:///{tmp}/not-a-database.db"], "cannot be used as Optuna's database"),
        ({}, ["--trials", "1000000"], "key '--trials': expected an integer <= 100000"),
        (
            {"sampler": "grid", "space": {"learning_rate": {"categorical": [0.01, 0.1]}}},
            ["--trials", "5"],
            "grid has 2",
        ),
        ({"space": {"hidden_units": {"categorical": [[4], [8, 8]]}}}, [], "holds a choice that is not a number"),
        ({"space": {"train_size": {"integer": [100, 5000]}}}, [], "key 'space.train_size.integer': expected at most"),
        ({"name": "../../escaped"}, [], "key 'name': names a file too: expected no '/' and no '..'"),
        ({"name": "/tmp/escaped"}, [], "key 'name': names a file too"),
        ({"name": "n" * 300}, [], "expected at most 200 characters"),
        ({}, ["--output", "/dev/full"], "key '--output': is not a regular file"),
        ({}, ["--output", "/proc/best.yaml"], "key '--output': cannot be written in /proc"),
        ({}, ["--output", "{tmp}/" + "b" * 300 + ".yaml"], "its name is longer than the file system allows"),
    ],
)
def test_a_search_that_cannot_run(client, tmp_path, capsys, change, arguments, fragment):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "not-a-database.db").write_text("not a database\n")
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({**SEARCH, **change}))
    _refused(client, capsys, ["tune", path, *(a.format(tmp=tmp_path) for a in arguments)], fragment)
    assert not (tmp_path.parent / "escaped-best.yaml").exists() and list(tmp_path.glob("*-best.yaml")) == []


def test_a_port_outside_tcp_s_range(client, capsys):
    _refused(client, capsys, ["ui", "--port", "99999"], "key '--port': expected a TCP port from 1 to 65535")


def test_question_07_without_a_criterion_that_never_stops(client, tmp_path, capsys):
    path = tmp_path / "07.yaml"
    path.write_text(yaml.safe_dump({"criteria": {"GL2": {"gl": {"alpha": 2.0}}}}))
    _refused(client, capsys, ["question", "07-when-to-stop", "--params", path], "key 'criteria': has no criterion")


def test_question_08_has_no_parameter_that_it_would_not_use(client, tmp_path, capsys):
    """Its notebook once took `dropout`, which built nothing after the parameters cell: now an unknown key."""
    path = tmp_path / "08.yaml"
    path.write_text(yaml.safe_dump({"dropout": {"dropout": {"rate": 5.0}}}))
    _refused(client, capsys, ["question", "08-srivastava-2014-dropout", "--params", path], "unknown parameter")


def test_a_questions_table_is_found_beside_its_parameters_file_not_the_working_directory(tmp_path, monkeypatch):
    from regstudy.questions import question_parameters

    (tmp_path / "data").mkdir()
    table, _ = _csv(tmp_path / "data", "infinite feature")
    table.write_text("a,y\n" + "".join(f"{i / ROWS},{i % 2}\n" for i in range(ROWS)))
    path = tmp_path / "data" / "07.yaml"
    mine = {"dataset": "table", "dataset_options": {"path": table.name, "target": "y"}}
    path.write_text(yaml.safe_dump({"datasets": {"mine": mine}}))
    monkeypatch.chdir(tmp_path)  # where no table.csv is
    parameters = question_parameters("07-when-to-stop", path)[2]
    assert parameters["datasets"]["mine"]["dataset_options"]["path"] == str(table)


def test_a_report_of_a_study_none_of_whose_runs_finished(client, tmp_path, capsys):
    from regstudy import tracking

    study = "refused-report"
    parent = tracking.create_run(client, study, None, {tracking.ROLE_TAG: "study", tracking.STUDY_TAG: study})
    child = tracking.create_run(client, study, None, {tracking.ROLE_TAG: "variant", tracking.STUDY_TAG: study})
    for run in (child, parent):
        client.set_terminated(run, "FAILED")
    runs = len(tracking.search_runs(client, study, "attributes.status != ''"))
    _refused(client, capsys, ["report", study], "key 'study': has no finished runs")
    assert [a.path for a in client.list_artifacts(parent)] == []  # no notebook, no kernel log
    assert len(tracking.search_runs(client, study, "attributes.status != ''")) == runs


def test_results_from_an_empty_store_leave_the_findings_as_they_are(client, tmp_path, capsys, monkeypatch):
    from regstudy import results

    readme = tmp_path / "README.md"
    readme.write_text("## Findings\n\n<!-- findings:start -->\n- kept\n<!-- findings:end -->\n")
    folder = tmp_path / "results"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}")
    with pytest.raises(results.ConfigError, match="have no runs in the store.*left as they are"):
        results.publish(folder=folder, run_missing=False, readme=readme, echo=lambda line: None, allow_dirty=True)
    assert "- kept" in readme.read_text() and not folder.exists()
    assert os.path.exists(tmp_path / "empty" / "mlflow.db")  # the store was asked, and found empty
