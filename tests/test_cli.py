"""The command line: `regstudy run` through papermill, `regstudy plugins`, and every kind of bad input."""

import dataclasses
import subprocess
import sys

import nbformat
import papermill
import pytest

from regstudy import PLUGINS, RunConfig, load_params_file, notebooks, tracking
from regstudy.cli import main
from regstudy.notebooks import TRAIN_NOTEBOOK
from regstudy.questions import parameter_names
from regstudy.questions.common import child_statuses
from regstudy.tracking import ROLE_TAG

from helpers import ROOT, runs_of


def _write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_run_executes_the_notebook_and_logs_it(client, experiment, tmp_path, capsys):
    # Every run parameter reaches `train` through the notebook, those that are not the defaults included.
    path = _write(
        tmp_path,
        f"experiment: {experiment}\ntrain_size: 100\nepochs: 2\nplugins: {{l1: {{l1: 1e-4}}}}\nfolds: 3\nfold: "
        "1\nengine: keras\nfigures: true\n",
    )
    assert parameter_names(TRAIN_NOTEBOOK) == [field.name for field in dataclasses.fields(RunConfig)] + [
        "run_id",
        "trial",
        "replicas",
        "validated",
    ]
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    (run,) = runs_of(client, experiment)
    assert run.info.run_id in out and "test_accuracy" in out
    assert run.info.status == "FINISHED"
    assert run.data.params["l1.l1"] == "0.0001"
    assert {key: run.data.params[key] for key in ("folds", "fold", "engine", "figures")} == {
        "folds": "3",
        "fold": "1",
        "engine": "keras",
        "figures": "True",
    }
    assert {a.path for a in client.list_artifacts(run.info.run_id, "figures")} == {
        "figures/learning_curves.png",
        "figures/weight_histogram.png",
    }
    notebook = nbformat.read(client.download_artifacts(run.info.run_id, "notebook/01-train.ipynb"), as_version=4)
    injected = next(c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'run_id = "{run.info.run_id}"' in injected.source
    # The parameters validated here reach the kernel with their digest, so that it does not validate them again.
    assert f'validated = "{load_params_file(path).digest()}"' in injected.source


def test_the_training_notebook_has_the_defaults_of_run_config():
    """`regstudy run f.yaml` and `papermill 01-train.ipynb -f f.yaml` train the same model for the same file."""
    import ast

    cell = next(
        c for c in nbformat.read(TRAIN_NOTEBOOK, as_version=4).cells if "parameters" in c.metadata.get("tags", [])
    )
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}
    defaults = {
        field.name: field.default_factory() if field.default is dataclasses.MISSING else field.default
        for field in dataclasses.fields(RunConfig)
    }
    assert values == {**defaults, "run_id": None, "trial": None, "replicas": None, "validated": None}


def test_plugins_lists_every_plugin_with_its_defaults(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in PLUGINS.names():
        assert f"\n{name} " in "\n" + out
    assert "patience = 5" in out and "rate = 0.5" in out


BAD_INPUTS = [
    (
        "plugins: {l3: {}}",
        "key 'plugins': unknown plugin 'l3'; did you mean 'l2'? valid plugins are: activity, augment,",
    ),
    (
        "dataset: cifar10",
        "key 'dataset': unknown data set 'cifar10'; valid data sets are: arrays, breast_cancer, diabetes,",
    ),
    ("epoch: 5", "key 'epoch': unknown parameter; did you mean 'epochs'?"),
    ("epochs: five", "key 'epochs': expected an integer (got 'five')"),
    ("epochs: 0", "key 'epochs': expected an integer >= 1 (got 0)"),
    ("learning_rate: -0.1", "key 'learning_rate': expected a number > 0"),
    ("plugins: {dropout: {rate: 1.5}}", "key 'plugins.dropout.rate': expected a number < 1 (got 1.5)"),
    ("epochs: [1, 2", "malformed YAML at line"),
    ("- just\n- a list", "expected a mapping of parameter names to values"),
    ("run_name: \"x'); import os; os.system('touch pwned'); ('\"", "key 'run_name': expected a plain name"),
    ("dataset: \"__import__('os').system('ls')\"", "key 'dataset': unknown data set"),
    ("model: cnn\ndataset: linear", "key 'model': needs image data"),
    ("train_size: 100000", "key 'train_size': expected at most the 1077 examples"),
    ("seed: 4294967296", "key 'seed': expected an integer <= 4294967295 (got 4294967296)"),
    (
        "epochs: 1000000",
        "key 'epochs': expected an integer <= 100000, a limit against typos; set REGSTUDY_ALLOW_LARGE=1",
    ),
    ("epochs: 3\nseed: 1\nepochs: 4", "key 'epochs': appears twice in one mapping (lines 2 and 4)"),
    (
        "dataset: noisy_classification\ndataset_options: {n_classes: 2, n_informative: 1}",
        "key 'dataset_options.n_classes': expected at most 2**n_informative / 2 = 1 (got 2)",
    ),
    (
        "dataset: linear\ndataset_options: {n_samples: 100000000000}",
        "key 'dataset_options.n_samples': expected an integer <= 10000000, a limit against typos",
    ),
]


@pytest.mark.parametrize("text, message", BAD_INPUTS)
def test_bad_input_is_one_line_naming_file_key_and_value_and_writes_nothing(
    client, experiment, tmp_path, capsys, text, message
):
    path = _write(tmp_path, text if text.startswith("-") else f"experiment: {experiment}\n{text}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"regstudy: error: {path}: ")
    assert message in err
    assert client.get_experiment_by_name(experiment) is None
    assert not (tmp_path / "pwned").exists()


def test_a_missing_file_exits_2_from_the_real_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "regstudy.cli", "run", str(tmp_path / "absent.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"regstudy: error: {tmp_path / 'absent.yaml'}: no such file"


def test_papermill_injects_a_code_like_string_as_a_literal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "x'); import os; os.system('touch pwned'); ('"
    output = tmp_path / "prepared.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "01-train.ipynb"), str(output), parameters={"run_name": hostile}, prepare_only=True
    )
    injected = next(
        c for c in nbformat.read(output, as_version=4).cells if "injected-parameters" in c.metadata.get("tags", [])
    )
    namespace = {}
    exec(injected.source, namespace)
    assert namespace["run_name"] == hostile
    assert not (tmp_path / "pwned").exists()


def test_question_runs_a_notebook_at_a_parameters_file_and_logs_it_to_the_parent(client, tmp_path, capsys, monkeypatch):
    params = tmp_path / "tiny.yaml"
    params.write_text(
        "l2_grid: [0.1, 1.0]\nl1_grid: [0.2]\nnumpy_steps: 300\nkeras_penalties: [{l2: 0.1}]\nkeras_epochs: "
        "300\nkeras_learning_rate: 0.05\nsklearn_l1_grid: [0.1]\nsklearn_epochs: 20\n"
    )
    name = "03-penalties-from-first-principles"
    decoys, execute = [], notebooks.execute

    def execute_beside_another(*arguments, **options):
        # Another execution of the same notebook starts its parent run while this one runs.
        execute(*arguments, **options)
        decoys.append(tracking.create_run(client, name, None, {ROLE_TAG: "question"}))
        client.set_terminated(decoys[-1], "FINISHED")

    monkeypatch.setattr("regstudy.questions.execution.execute", execute_beside_another)
    assert main(["question", name, "--params", str(params)]) == 0
    printed = capsys.readouterr().out
    run_id = printed.split("parent run ")[1].split()[0]
    assert run_id != decoys[0] and not client.list_artifacts(decoys[0])
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    assert "‖w‖ falls" in parent.data.tags["mlflow.note.content"] and "‖w‖ falls" in printed
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "notebook")
    }
    assert {"answer.md", "notebook/03-penalties-from-first-principles.ipynb", "tables", "figures"} <= artifacts
    assert child_statuses(run_id) == {"FINISHED": 2}  # the l2 run and the proximal l1 run beside scikit-learn
    # Its tidy table of runs: one row per child run, with its parameters, seed and final metrics.
    import pandas as pd

    tidy = pd.read_parquet(client.download_artifacts(run_id, "runs.parquet"))
    children = tracking.search_runs(client, name, f"tags.`{tracking.PARENT_TAG}` = '{run_id}'")
    assert sorted(tidy["run_id"]) == sorted(run.info.run_id for run in children)
    assert {"seed", "test_accuracy", "param.plugins", "param.optimizer"} <= set(tidy.columns)
    assert tracking.SOURCE_COMMIT_TAG in parent.data.tags  # the question's parent names its code


@pytest.mark.parametrize(
    "arguments, text, message",
    [
        (["07-when-to-stpo"], None, "key 'question': unknown question notebook; did you mean '07-when-to-stop'?"),
        (["07-when-to-stop"], "criterias: {}\n", "key 'criterias': unknown parameter; did you mean 'criteria'?"),
        (["07-when-to-stop"], "- a list\n", "expected a mapping of parameter names to values"),
    ],
)
def test_question_refuses_bad_names_and_keys_in_one_line(client, tmp_path, capsys, arguments, text, message):
    params = tmp_path / "bad.yaml"
    if text is not None:
        params.write_text(text)
        arguments = [*arguments, "--params", str(params)]
    before = len(client.search_experiments())
    assert main(["question", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
    if text is not None:
        assert str(params) in error
    assert len(client.search_experiments()) == before


def test_a_registered_question_whose_notebook_is_missing_is_refused_before_anything_runs(client, capsys, monkeypatch):
    from regstudy.questions import QUESTIONS, QuestionEntry

    name = "11-renamed-notebook"
    monkeypatch.setitem(QUESTIONS, name, QuestionEntry(name, "does_regularization_cost_accuracy"))
    before = len(client.search_experiments())
    assert main(["question", name]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "11-renamed-notebook.ipynb does not exist" in error
    assert len(client.search_experiments()) == before


def test_commands_that_do_not_train_do_not_import_tensorflow():
    """`regstudy --help`, `regstudy plugins` and validating a run start without TensorFlow (`make bench` times them)."""
    code = (
        "import sys; from regstudy.cli import main; from regstudy import RunConfig; main(['plugins']);"
        "RunConfig(plugins='l2 + dropout + early_stopping + dropconnect', model='cnn');"
        "print(sorted(name for name in ('tensorflow.python', 'keras.src', 'mlflow.tracking', 'papermill') if name in "
        "sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "(number in [0, 1))" in done.stdout and "(one of val_loss, val_accuracy" in done.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["run", "{empty}"], "{empty}: is empty: expected a mapping of parameter names to values"),
        (["run", "{params}", "--output", "{missing}/out.ipynb"], "key '--output': its folder {missing} does not exist"),
        (["run", "{params}", "--output", "{folder}"], "key '--output': is a folder"),
        (["report", "never-swept"], "key 'study': has no parent run in the tracking store"),
    ],
)
def test_mistakes_around_the_file_are_refused_before_any_run_or_kernel(client, tmp_path, capsys, arguments, message):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "params.yaml").write_text("experiment: refused-before-running\nepochs: 1\n")
    names = {
        "empty": tmp_path / "empty.yaml",
        "params": tmp_path / "params.yaml",
        "missing": tmp_path / "no",
        "folder": tmp_path,
    }
    before = len(client.search_experiments())
    assert main([argument.format(**names) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message.format(**names) in error
    assert len(client.search_experiments()) == before


def test_sigterm_ends_a_run_killed_with_the_reason(client, experiment, tmp_path):
    """A real `regstudy run` stopped by SIGTERM (as a scheduler stops it) leaves its run KILLED, not RUNNING."""
    import signal
    import time

    path = tmp_path / "long.yaml"
    path.write_text(f"experiment: {experiment}\nepochs: 5000\nhidden_units: [256, 256]\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "regstudy.cli", "run", str(path)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not runs_of(client, experiment) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # the kernel is starting or training
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    assert "terminated by SIGTERM; the runs it had started are marked KILLED" in process.stderr.read()
    (run,) = runs_of(client, experiment)
    assert run.info.status == "KILLED" and run.data.tags["failure_reason"] == "interrupted (terminated by SIGTERM)"


def test_the_kernels_own_output_goes_to_the_run_not_the_terminal(client, experiment, tmp_path):
    """TensorFlow's start-up lines (shown here with TF_CPP_MIN_LOG_LEVEL=0) are kept as the run's kernel.log."""
    import os

    path = _write(tmp_path, f"experiment: {experiment}\ntrain_size: 100\nepochs: 1\nhidden_units: [8]\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "regstudy.cli", "run", str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for kernel_line in ("absl::InitializeLog", "oneDNN", "without encryption"):
        assert kernel_line not in done.stderr + done.stdout
    (run,) = runs_of(client, experiment)
    log = open(client.download_artifacts(run.info.run_id, "kernel.log")).read()
    assert "absl::InitializeLog" in log or "oneDNN" in log  # TensorFlow's C++ start-up lines


def test_a_kernel_folder_left_by_an_ended_process_is_removed_when_the_next_kernel_starts():
    from regstudy.notebooks import KERNELS, Kernel

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    KERNELS.mkdir(exist_ok=True)
    left = KERNELS / f"{ended.stdout.strip()}-left"
    left.mkdir()
    kernel = Kernel()
    try:
        assert not left.exists() and kernel.folder.exists() and kernel.alive()
    finally:
        kernel.shutdown()
    assert not kernel.folder.exists()


def _outside_every_range():
    """(parameters, the key the error must name) for every value outside the declared range of every run
    parameter, plugin hyperparameter and data set option."""
    from regstudy import DATASETS

    cases = [
        pytest.param({key: value}, key, id=f"{key}={value!r}")
        for key, constraint in RunConfig.parameter_constraints.items()
        for value in constraint.invalid_values()
    ]
    cases += [
        pytest.param({"plugins": {name: {key: value}}}, f"plugins.{name}.{key}", id=f"{name}.{key}={value!r}")
        for name in PLUGINS.names()
        for key, constraint in PLUGINS.get(name).parameter_constraints.items()
        for value in constraint.invalid_values()
    ]
    cases += [
        pytest.param({"dataset": name, "dataset_options": {key: value}}, f"dataset_options.{key}", id=f"{name}.{key}")
        for name in DATASETS.names()
        for key, constraint in DATASETS.get(name).parameter_constraints.items()
        for value in constraint.invalid_values()
    ]
    return cases


@pytest.mark.parametrize("parameters, key", _outside_every_range())
def test_every_value_outside_its_range_is_one_line_exit_2_and_stores_nothing(
    client, experiment, tmp_path, capsys, parameters, key
):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"experiment": experiment, **parameters}))
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"key '{key}" in error and len(error) < 1000
    assert client.get_experiment_by_name(experiment) is None


def _outside_every_question_range():
    from regstudy.questions import QUESTIONS, question_constraints

    return [
        pytest.param(name, key, value, id=f"{name}.{key}={value!r}")
        for name, entry in QUESTIONS.items()
        for key in parameter_names(entry.notebook)
        if key in (constraints := question_constraints(name))
        for value in constraints[key].invalid_values()
    ]


@pytest.mark.parametrize("name, key, value", _outside_every_question_range())
def test_every_question_parameter_outside_its_range_is_refused_before_anything_runs(
    client, tmp_path, capsys, name, key, value
):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({key: value}))
    before = len(client.search_experiments())
    assert main(["question", name, "--params", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{path}: key '{key}" in error
    assert len(client.search_experiments()) == before


def test_a_validation_error_comes_before_mlflow_papermill_or_tensorflow_is_imported(tmp_path):
    bad_run, bad_question = tmp_path / "run.yaml", tmp_path / "question.yaml"
    bad_run.write_text("epochs: 0\n")
    bad_question.write_text("epochs: 0\n")
    # A submodule of each: Keras and MLflow are imported on their first use (`regstudy.lazy_modules`).
    heavy = ("tensorflow.python", "keras.src", "mlflow.tracking", "papermill")
    code = (
        "import sys; from regstudy.cli import main; "
        f"codes = [main(['run', {str(bad_run)!r}]), "
        f"main(['question', '07-when-to-stop', '--params', {str(bad_question)!r}])]; "
        f"print(codes, sorted(name for name in {heavy!r} if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[2, 2] []"
    assert done.stderr.count("key 'epochs': expected an integer >= 1 (got 0)") == 2


def test_the_help_names_the_defaults_the_commands_use(capsys):
    """`--replicas`'s help states the default group size and search batch that sweep and tune fall back to."""
    from regstudy.cli import parser
    from regstudy.replicas import DEFAULT_REPLICAS, TRIALS_AT_ONCE

    helps = {}
    for command in ("sweep", "tune"):
        with pytest.raises(SystemExit):
            parser().parse_args([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    assert f"(default: the study's, else {DEFAULT_REPLICAS})" in helps["sweep"]
    assert f"(default: the file's, else {TRIALS_AT_ONCE} on the jax engine" in helps["tune"]
