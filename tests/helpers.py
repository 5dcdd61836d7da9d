"""Helpers the tests import: where the repository is, the runs of an experiment, a real `mlflow server`."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def runs_of(client, experiment):
    """Every run of `experiment` (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def regstudy_command(*arguments, env=None):
    """Run `regstudy` (the real command, in a new process) and return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "regstudy.cli", *map(str, arguments)], capture_output=True, text=True, env=env
    )


def kill_mid_run(arguments, children, timeout=300, ready=None):
    """Start `regstudy <arguments>`, wait until `children()` (its runs) holds a FINISHED run and one RUNNING
    that has begun to train (its params are logged: the run's long training is under way, so it cannot
    finish between this look and the kill), or until `ready(runs)` if given, kill the command with SIGKILL,
    and return its runs as they were just before."""
    import pytest

    ready = ready or _one_finished_and_one_training
    command = subprocess.Popen(
        [sys.executable, "-m", "regstudy.cli", *map(str, arguments)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, runs = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        runs = children()
        if ready(runs):
            break
        time.sleep(0.3)
    else:
        command.kill()
        pytest.fail(f"`regstudy {arguments[0]}` never reached the state to kill it in: {[r.info.status for r in runs]}")
    os.kill(command.pid, signal.SIGKILL)
    command.wait()
    return runs


def _one_finished_and_one_training(runs) -> bool:
    statuses = [run.info.status for run in runs]
    training = [run for run in runs if run.info.status == "RUNNING" and run.data.params]
    return statuses.count("FINISHED") >= 1 and statuses.count("RUNNING") == 1 and bool(training)


def with_role(runs, role):
    """The runs whose `regstudy.role` tag is `role` (e.g. a sweep's "variant"s, a search's "trial"s)."""
    return [run for run in runs if run.data.tags.get("regstudy.role") == role]


def model_for(plugin_name):
    """The model a plugin acts on: a `resmlp` for one that joins residual branches, else an `mlp`."""
    from regstudy import PLUGINS, Plugin

    return "resmlp" if PLUGINS.get(plugin_name).residual_join is not Plugin.residual_join else "mlp"


def example_options(dataset_name, folder):
    """Options that make `dataset_name` loadable: for the data sets read from files, a small file written in
    `folder` (a table with a categorical column and missing values; images in an .npz); else none."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    if dataset_name == "table":
        path = folder / "example.csv"
        frame = pd.DataFrame(
            {
                "size": rng.normal(size=200),
                "colour": rng.choice(["red", "blue"], 200),
                "kind": rng.choice(["a", "b"], 200),
            }
        )
        frame.loc[0, "size"] = np.nan
        frame.to_csv(path, index=False)
        return {"path": str(path), "target": "kind"}
    if dataset_name == "arrays":
        path = folder / "example.npz"
        np.savez(path, x=rng.normal(size=(200, 4, 4)).astype(np.float32), y=rng.integers(0, 3, 200))
        return {"path": str(path)}
    return {}


@contextlib.contextmanager
def mlflow_server_at(tmp_path, *options, env=None):
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend, as the README shows for a cluster."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    command += ["--artifacts-destination", str(tmp_path / "artifacts"), *options]
    # Without MLflow's job runner (its GenAI jobs), a process of its own that imports MLflow again: seconds of a core.
    env = {**(env or os.environ), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:  # it took 5-13 s to stop after SIGTERM in the suite (6 s alone)
            server.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


@contextlib.contextmanager
def browser_page(path):
    """A real headless Chromium (driven by Playwright) showing the file at `path` offline (every request beyond
    the file itself is refused and counted in the page's `refused` list), or the page a server serves at an
    http URL."""
    import shutil

    from playwright.sync_api import sync_playwright

    # The system's Chromium, or else Playwright's own download of it (`make test` sees that one of them is there).
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.refused = []

            def refuse(route):
                page.refused.append(route.request.url)
                route.abort()

            if str(path).startswith("http"):  # a page a server serves (the MLflow UI): its own requests are allowed
                page.goto(str(path), wait_until="load")
            else:
                page.route("http*://**/*", refuse)
                page.goto(Path(path).resolve().as_uri(), wait_until="load")
            yield page
        finally:
            browser.close()


def rendered_images(page):
    """How many images the page (or frame) shows, and how many of them the browser decoded (a broken one has no
    width)."""
    return page.evaluate(
        "() => { const images = Array.from(document.images);"
        " return [images.length, images.filter(i => i.complete && i.naturalWidth > 0).length]; }"
    )
