"""Searches for real: Optuna trials as papermill runs, pruning from the kernel, resumed after SIGKILL, on Dask.

The pruner is Optuna's own (MedianPruner): the test plants trials for it to compare with, and checks that a
real training run is stopped exactly when Optuna says so, and not otherwise.
"""

import os
import subprocess
import sys

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from regstudy import tracking
from regstudy.pruning import TrialLink, open_storage
from regstudy.training import train

from helpers import kill_mid_run, regstudy_command, runs_of, with_role

SMALL = {"dataset": "digits", "train_size": 200, "hidden_units": [16], "epochs": 6}


def _search(tmp_path, name, **changes):
    document = {
        "name": name,
        "parameters": SMALL,
        "space": {
            "learning_rate": {"log_uniform": [1.0e-3, 3.0e-2]},
            "plugins": {"l2": {"l2": {"log_uniform": [1.0e-6, 1.0e-2]}}, "dropout": {"rate": {"uniform": [0.0, 0.5]}}},
        },
        "objective": "val_accuracy",
        "trials": 3,
        **changes,
    }
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _tune(*arguments, env=None):
    return regstudy_command("tune", *arguments, env=env)


def _trials_of(runs):
    return with_role(runs, "trial")


def _study(storage, name):
    return optuna.load_study(study_name=name, storage=storage)


def _planted_study(tmp_path, name, score):
    """A study whose two ended trials scored `score` at every epoch; and a new trial to train as its third."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=open_storage(storage), study_name=name, direction="maximize")
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(value=score, intermediate_values={step: score for step in range(6)}))
    trial = study.ask()
    options = {"startup_trials": 2, "warmup_epochs": 2}
    return study, TrialLink(storage, name, trial._trial_id, "val_accuracy", "median", options)


def test_the_median_pruner_stops_a_run_worse_than_the_median_at_the_first_epoch_after_warm_up(experiment, tmp_path):
    study, link = _planted_study(tmp_path, experiment, score=1.0)  # no real run reaches 1.0 in two epochs
    result = train(experiment=experiment, **SMALL, trial=link.to_dict())
    # Reference: Optuna's MedianPruner with 2 warm-up steps prunes at step 2 (epoch 3), the first it may.
    assert result.metrics["pruned_at_epoch"] == 3 and result.metrics["epochs_trained"] == 3
    assert len(result.history["loss"]) == 3
    reported = study.trials[-1].intermediate_values
    assert reported == {step: result.history["val_accuracy"][step] for step in (0, 1, 2)}


def test_a_run_better_than_the_median_is_never_pruned(experiment, tmp_path):
    study, link = _planted_study(tmp_path, experiment, score=0.0)
    result = train(experiment=experiment, **SMALL, trial=link.to_dict())
    assert "pruned_at_epoch" not in result.metrics and result.metrics["epochs_trained"] == 6
    assert list(study.trials[-1].intermediate_values) == [0, 1, 2, 3, 4, 5]


def test_tune_finds_the_best_trial_writes_its_parameters_and_logs_the_search_as_a_parent_run(
    client, experiment, tmp_path
):
    # A grid over two learning rates, one of them far too small: the first trial of the order this seed gives
    # is the good one, so the pruner (one trial to compare with, no warm-up) stops the bad one at epoch 1.
    path = _search(
        tmp_path,
        experiment,
        space={"learning_rate": {"categorical": [0.03, 1.0e-5]}, "plugins": {"l2": {"optional": False}}},
        trials=2,
        sampler={"name": "grid", "seed": 2},
        pruner={"name": "median", "startup_trials": 1},
    )
    done = _tune(path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    runs = runs_of(client, experiment)
    (parent,) = [run for run in runs if run.data.tags.get("regstudy.role") == "search"]
    trials = sorted(_trials_of(runs), key=lambda run: int(run.data.tags["trial"]))
    assert [run.data.tags["trial"] for run in trials] == ["0", "1"]
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in trials)
    assert all(run.info.status == "FINISHED" for run in [parent, *trials])
    states = {run.data.params["learning_rate"]: run.data.tags["trial.state"] for run in trials}
    assert states == {"0.03": "COMPLETE", "1e-05": "PRUNED"}
    pruned = next(run for run in trials if run.data.tags["trial.state"] == "PRUNED")
    assert pruned.data.metrics["pruned_at_epoch"] == 1 == pruned.data.metrics["epochs_trained"]
    best = next(run for run in trials if run.data.tags["trial.state"] == "COMPLETE")
    assert best.data.tags["best_trial"] == "true" and "best_trial" not in pruned.data.tags
    assert parent.data.metrics["best_val_accuracy"] == best.data.metrics["validation_accuracy"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"search.yaml", "trials.md", "best.yaml", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert {"figures/optimization_history.png", "figures/intermediate_values.png"} <= figures
    # The optuna study and the summary agree with MLflow.
    study = _study(f"sqlite:///{tracking.search_storage().removeprefix('sqlite:///')}", experiment)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert f"is trial 0, val_accuracy = {best.data.metrics['validation_accuracy']:.4f}" in done.stdout
    # The best parameters file trains the best trial's model again, to the same validation score.
    best_file = tmp_path / f"{experiment}-best.yaml"
    assert yaml.safe_load(best_file.read_text())["learning_rate"] == 0.03
    rerun = subprocess.run(
        [sys.executable, "-m", "regstudy.cli", "run", str(best_file)], capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    (again,) = runs_of(client, f"{experiment}-best")
    assert again.data.metrics["validation_accuracy"] == best.data.metrics["validation_accuracy"]


def test_a_search_killed_with_sigkill_resumes_to_exactly_n_trials_drawing_what_an_uninterrupted_one_draws(
    client, experiment, tmp_path
):
    path = _search(tmp_path, experiment, parameters={**SMALL, "epochs": 150}, pruner="none", trials=2)  # seconds each
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    kill_mid_run(["tune", path, "--storage", storage], lambda: _trials_of(runs_of(client, experiment)))

    done = _tune(path, "--storage", storage)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = _study(storage, experiment)
    ended = [trial for trial in study.trials if not trial.user_attrs.get("interrupted")]
    assert [trial.state for trial in ended] == [TrialState.COMPLETE] * 2
    (interrupted,) = [trial for trial in study.trials if trial.user_attrs.get("interrupted")]
    assert interrupted.state == TrialState.FAIL
    runs = _trials_of(runs_of(client, experiment))
    assert sorted(run.info.status for run in runs) == ["FINISHED"] * 2 + ["KILLED"]
    assert len({run.data.tags["trial"] for run in runs if run.info.status == "FINISHED"}) == 2  # none twice

    # The same search run through, into another store, draws the same trials in the same order.
    other = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"}
    through = _tune(path, env=other)
    assert through.returncode == 0, through.stderr[-3000:]
    reference = _study(f"sqlite:///{tmp_path / 'other' / 'optuna.db'}", experiment)
    assert [(t.params, t.value) for t in reference.trials] == [(t.params, t.value) for t in ended]

    again = _tune(path, "--storage", storage)
    assert again.returncode == 0 and "2 of 2 trials ended; 0 to run" in again.stdout
    assert len(_study(storage, experiment).trials) == 3


def test_a_dask_search_with_folds_against_an_mlflow_server_averages_each_trials_folds(
    mlflow_server, experiment, tmp_path
):
    path = _search(tmp_path, experiment, folds=2, trials=2, pruner="wilcoxon", sampler={"name": "random", "seed": 3})
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    done = _tune(path, "--executor", "dask", "--workers", 2, "--storage", storage, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " FAIL" not in done.stdout, done.stdout[-3000:]  # a failed trial's line gives its reason
    server = MlflowClient(mlflow_server)
    runs = _trials_of(runs_of(server, experiment))
    assert sorted((run.data.tags["trial"], run.data.tags["fold"]) for run in runs) == [
        ("0", "0"),
        ("0", "1"),
        ("1", "0"),
        ("1", "1"),
    ]
    assert all(run.info.status == "FINISHED" and run.data.tags["trial.state"] == "COMPLETE" for run in runs)
    (parent,) = [run for run in runs_of(server, experiment) if run.data.tags.get("regstudy.role") == "search"]
    figures = {a.path for a in server.list_artifacts(parent.info.run_id, "figures")}
    assert "figures/param_importances.png" in figures  # two trials completed: Optuna can rank the parameters
    study = _study(storage, experiment)
    for trial in study.trials:
        folds = [run for run in runs if run.data.tags["trial"] == str(trial.number)]
        assert {run.data.params["fold"] for run in folds} == {"0", "1"}
        assert trial.value == pytest.approx(sum(run.data.metrics["validation_accuracy"] for run in folds) / 2)
        assert trial.intermediate_values == {
            int(run.data.tags["fold"]): run.data.metrics["validation_accuracy"] for run in folds
        }


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--trials", "0"], "key '--trials': expected an integer >= 1 (got 0)"),
        (["--workers", "0"], "key '--workers': expected an integer >= 1 (got 0)"),
    ],
)
def test_bad_options_are_one_line_exit_2(tmp_path, arguments, message):
    done = _tune(_search(tmp_path, "bad-options"), *arguments)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_search_whose_name_holds_another_search_in_the_storage_is_refused_before_any_run(
    client, experiment, tmp_path
):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=open_storage(storage), study_name=experiment)
    study.set_user_attr("search", "another search")
    done = _tune(_search(tmp_path, experiment), "--storage", storage)
    assert done.returncode == 2, done.stderr
    assert "key 'name': a search of this name with other parameters, space, objective" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert runs_of(client, experiment) == []
