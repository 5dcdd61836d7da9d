"""Sweeps for real: papermill runs in a process pool or on a Dask cluster, resumed after SIGKILL."""

import multiprocessing
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from unittest import mock

import pytest
from mlflow.tracking import MlflowClient

from regstudy import tracking
from regstudy.training import train

from helpers import kill_mid_run, mlflow_server_at, regstudy_command, runs_of, with_role

SMALL = "parameters: {train_size: 100, hidden_units: [8], epochs: 2}\n"


def _study(tmp_path, name, body):
    path = tmp_path / "study.yaml"
    path.write_text(f"name: {name}\n{SMALL}{body}")
    return path


def _sweep(*arguments, env=None):
    return regstudy_command("sweep", *arguments, env=env)


def _children(runs):
    return with_role(runs, "variant")


def test_one_failing_variant_does_not_stop_the_others(client, experiment, tmp_path):
    path = _study(
        tmp_path,
        experiment,
        (
            "variants:\n  - {plugins: none}\n  - {plugins: l2}\n"
            "  - {dataset: linear, hidden_units: [], optimizer: sgd, learning_rate: 1.0e6}\n"  # the loss overflows
        ),
    )
    done = _sweep(path, "--workers", 1)  # one worker: the second and third runs reuse its warm kernel
    assert done.returncode == 1, done.stderr
    runs = runs_of(client, experiment)
    (parent,) = [run for run in runs if run.data.tags.get("regstudy.role") == "study"]
    children = _children(runs)
    assert sorted(run.info.status for run in children) == ["FAILED", "FINISHED", "FINISHED"]
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in children)
    assert parent.info.status == "FAILED"
    assert "2 finished, 1 failed" in done.stdout
    assert "FAILED none seed=0: NotebookError: 01-train.ipynb failed" in done.stdout and "TrainingError" in done.stdout
    failed = next(run for run in children if run.info.status == "FAILED")
    assert "became" in failed.data.tags["failure_reason"]
    artifacts = {a.path for a in client.list_artifacts(failed.info.run_id, "notebook")}
    assert artifacts == {"notebook/01-train.ipynb"}  # the failed notebook is kept for debugging
    study_file = client.download_artifacts(parent.info.run_id, "study.yaml")
    assert f"name: {experiment}" in open(study_file).read()
    # A run in a reused kernel gives exactly the numbers of a run in a fresh process.
    warm = next(run for run in children if run.data.tags["mlflow.runName"] == "l2 seed=0")
    fresh = train(experiment=f"{experiment} fresh", train_size=100, hidden_units=[8], epochs=2, plugins="l2")
    assert {key: warm.data.metrics[key] for key in fresh.metrics} == fresh.metrics


def test_a_sweep_killed_with_sigkill_resumes_to_exactly_one_finished_run_each(client, experiment, tmp_path):
    path = _study(tmp_path, experiment, "grid: {plugins: [none, l2]}\nseeds: [0]\n")
    path.write_text(path.read_text().replace("epochs: 2", "epochs: 150"))  # seconds of training a run
    seen = kill_mid_run(["sweep", path, "--workers", 1], lambda: _children(runs_of(client, experiment)))
    first_finished = {run.info.run_id for run in seen if run.info.status == "FINISHED"}

    done = _sweep(path, "--workers", 1)
    assert done.returncode == 0, done.stderr
    children = _children(runs_of(client, experiment))
    finished = [run for run in children if run.info.status == "FINISHED"]
    assert sorted((r.data.tags["variant"], r.data.tags["seed"]) for r in finished) == sorted(
        {(r.data.tags["variant"], r.data.tags["seed"]) for r in children}
    )
    assert len(finished) == 2
    assert first_finished <= {run.info.run_id for run in finished}  # what had finished was not run again
    assert not [run for run in children if run.info.status == "RUNNING"]
    killed = [run for run in children if run.info.status == "KILLED"]
    assert len(killed) == 1 and "interrupted" in killed[0].data.tags["failure_reason"]

    again = _sweep(path, "--workers", 1)
    assert again.returncode == 0
    assert "2 already finished, 0 to run" in again.stdout
    assert len(_children(runs_of(client, experiment))) == len(children)


def _log_many(uri, experiment, worker):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    client = tracking.connect()
    run_id = tracking.create_run(client, experiment, f"writer {worker}")
    for step in range(150):
        client.log_metric(run_id, "value", float(step), step=step)
    client.set_terminated(run_id, "FINISHED")


def test_parallel_writers_to_the_embedded_sqlite_store_never_fail(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_log_many, args=(uri, "parallel", worker)) for worker in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0, 0]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("parallel").experiment_id])
    assert len(runs) == 4
    assert all(len(client.get_metric_history(run.info.run_id, "value")) == 150 for run in runs)


@pytest.fixture
def auth_server(tmp_path):
    """The README's authenticated recipe: MLflow's basic-auth app, users in their own database."""
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'users.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\nauth_cache_ttl_seconds = 60\n"
    )
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-test-password",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-test-secret",  # the auth app's CSRF protection needs one
    }
    with mlflow_server_at(tmp_path, "--app-name", "basic-auth", env=env) as url:
        yield url


def test_a_dask_sweep_against_an_mlflow_server_lands_every_run(mlflow_server, experiment, tmp_path):
    path = _study(tmp_path, experiment, "grid: {plugins: [none, l2, dropout]}\nseeds: [0]\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    done = _sweep(path, "--executor", "dask", "--workers", 2, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    client = MlflowClient(mlflow_server)
    children = _children(runs_of(client, experiment))
    assert sorted(run.data.tags["mlflow.runName"] for run in children) == ["dropout seed=0", "l2 seed=0", "none seed=0"]
    assert all(run.info.status == "FINISHED" for run in children)
    for run in children:
        assert {a.path for a in client.list_artifacts(run.info.run_id, "notebook")} == {"notebook/01-train.ipynb"}
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2
        # Two workers share this machine's cores instead of each taking all of them.
        assert (
            run.data.tags["threads.intra_op"] == run.data.tags["threads.inter_op"] == str(max(1, os.cpu_count() // 2))
        )
    # A worker's run on its share of the cores gives exactly the numbers of a run on all of them.
    worker = next(run for run in children if run.data.tags["mlflow.runName"] == "l2 seed=0")
    here = train(experiment=f"{experiment} here", train_size=100, hidden_units=[8], epochs=2, plugins="l2")
    assert {key: worker.data.metrics[key] for key in here.metrics} == here.metrics


def test_two_sweeps_of_one_study_at_once_leave_exactly_one_finished_run_each(client, experiment, tmp_path):
    """Two real sweeps started together, and a third while the first runs: one sweeps, the others are refused."""
    path = _study(tmp_path, experiment, "grid: {plugins: [none, l2], l2.l2: [1.0e-4, 1.0e-3]}\nseeds: [0]\n")
    command = [sys.executable, "-m", "regstudy.cli", "sweep", str(path), "--workers", "1"]
    together = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 300
    while not _children(runs_of(client, experiment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    later = subprocess.run(command, capture_output=True, text=True)
    outcomes = sorted((process.wait(timeout=600), process.communicate()[1]) for process in together)
    assert [code for code, _ in outcomes] == [0, 2] and later.returncode == 2
    for refused in (outcomes[1][1], later.stderr):
        assert refused.count("\n") == 1 and "is being swept already, by process" in refused
    children = _children(runs_of(client, experiment))
    assert sorted(run.info.status for run in children) == ["FINISHED"] * 3
    assert len({(run.data.tags["variant"], run.data.tags["seed"]) for run in children}) == 3
    assert not any("failure_reason" in run.data.tags for run in children)


def test_a_run_whose_process_was_killed_is_ended_killed_when_its_experiment_is_next_touched(client, experiment):
    code = (
        "import os, signal; from regstudy import tracking; client = tracking.connect(); "
        f"print(tracking.create_run(client, {experiment!r}, None), flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    orphan = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert client.get_run(orphan).info.status == "RUNNING"
    alive = tracking.create_run(client, experiment, None)
    run = client.get_run(orphan)
    assert run.info.status == "KILLED" and "ended without ending it" in run.data.tags["failure_reason"]
    assert client.get_run(alive).info.status == "RUNNING"  # this process's own run is not an orphan
    client.set_terminated(alive, "FINISHED")


@pytest.mark.parametrize("dashboard", [False, True])
def test_a_local_cluster_listens_on_loopback_and_shows_its_dashboard_only_if_asked(dashboard):
    from dask.distributed import default_client

    from regstudy.workers import executor

    with executor("dask", 1, None, dashboard=dashboard) as (submit, completed):
        assert submit(os.getpid).result(timeout=60) != os.getpid()  # a real worker process
        client = default_client()  # the Client the executor made
        info = client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        port = info["services"]["dashboard"]
        assert (port == 8787) == dashboard
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as page:
                shown = page.status == 200
        except urllib.error.HTTPError as error:
            shown = error.code != 404
        assert shown == dashboard


def test_an_authenticated_server_lands_a_sweep_with_credentials_and_refuses_a_client_without(
    auth_server, experiment, tmp_path
):
    path = _study(tmp_path, experiment, "grid: {plugins: [none, l2]}\nseeds: [0]\n")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": auth_server,
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": "a-long-test-password",
    }
    done = _sweep(path, "--workers", 1, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    credentials = {key: env[key] for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    with mock.patch.dict(os.environ, credentials):
        children = _children(runs_of(MlflowClient(auth_server), experiment))
    assert sorted(run.info.status for run in children) == ["FINISHED", "FINISHED"]
    anonymous = {key: value for key, value in env.items() if key not in credentials}
    for given in ({}, {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "wrong"}):
        refused = _sweep(path, "--workers", 1, "--force", env={**anonymous, **given})
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert refused.stderr.count("\n") == 1 and "refuses the credentials" in refused.stderr
