"""Faults of the tracking store: each is one line naming the store, what is wrong and what to do, exit 2,
within seconds, and before any work. Real faults: a port nothing listens on, a read-only mount, an
immutable file, a truncated database and a file that is not a database."""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from regstudy import tracking
from regstudy.errors import StoreError

PARAMS = "experiment: store-faults\nepochs: 1\ntrain_size: 100\nhidden_units: [8]\n"


@pytest.fixture(scope="module")
def good_database(tmp_path_factory):
    """A real MLflow SQLite store holding one finished run."""
    folder = tmp_path_factory.mktemp("good-store")
    code = "from regstudy import tracking; c = tracking.connect(); c.set_terminated(tracking.create_run(c, 'x', None))"
    subprocess.run([sys.executable, "-c", code], env=_env(folder / "mlflow.db"), check=True, capture_output=True)
    return folder / "mlflow.db"


def _env(database):
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{database}"}


def _run(arguments, env, prefix=()):
    started = time.monotonic()
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "regstudy.cli", *arguments], env=env, capture_output=True, text=True
    )
    return done, time.monotonic() - started


def _refused(done, seconds, *fragments):
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("regstudy: error: tracking store ")
    assert all(fragment in done.stderr for fragment in fragments), done.stderr
    assert seconds < 60  # seconds, not MLflow's minutes of retries (bounded generously for a loaded machine)


def test_a_server_that_does_not_answer(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed again: nothing listens there
    (tmp_path / "p.yaml").write_text(PARAMS)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    _refused(*_run(["run", str(tmp_path / "p.yaml")], env), f"127.0.0.1:{port}: does not answer", "Connection refused")


@pytest.mark.parametrize("damage", ["truncated", "not a database"])
def test_a_damaged_database(tmp_path, good_database, damage):
    database = tmp_path / "mlflow.db"
    shutil.copy(good_database, database)
    if damage == "truncated":
        with open(database, "r+b") as file:
            file.truncate(20_000)
    else:
        database.write_bytes(b"\x00garbage" * 1000)
    (tmp_path / "p.yaml").write_text(PARAMS)
    expected = "database disk image is malformed" if damage == "truncated" else "the file is not a SQLite database"
    _refused(*_run(["run", str(tmp_path / "p.yaml")], _env(database)), expected, "set MLFLOW_TRACKING_URI")


def test_an_immutable_database(tmp_path, good_database):
    database = tmp_path / "mlflow.db"
    shutil.copy(good_database, database)
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode:
        pytest.skip("chattr +i needs root on a file system with attributes")
    try:
        (tmp_path / "p.yaml").write_text(PARAMS)
        _refused(*_run(["run", str(tmp_path / "p.yaml")], _env(database)), "the database is read-only")
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)


def test_a_store_on_a_read_only_file_system(tmp_path, good_database):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(good_database, store / "mlflow.db")
    (tmp_path / "p.yaml").write_text(PARAMS)
    # A private mount namespace in which the store's folder is read-only, as a read-only share is.
    mount = [
        "unshare",
        "-m",
        "sh",
        "-c",
        f'mount --bind {store} {store} && mount -o remount,bind,ro {store} && exec "$@"',
        "-",
    ]
    if subprocess.run([*mount, "true"], capture_output=True).returncode:
        pytest.skip("unshare -m and mount need root with CAP_SYS_ADMIN")
    done, seconds = _run(["run", str(tmp_path / "p.yaml")], _env(store / "mlflow.db"), prefix=mount)
    _refused(done, seconds, "is read-only, so no run can be written")


def test_a_healthy_store_is_checked_once_per_process(good_database, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{good_database}")
    tracking.connect()
    assert f"sqlite:///{good_database}" in tracking._prepared


def test_a_new_store_is_created_without_mlflow_announcing_it_on_the_terminal(tmp_path):
    (tmp_path / "p.yaml").write_text(PARAMS)
    done, _ = _run(["run", str(tmp_path / "p.yaml")], _env(tmp_path / "new" / "mlflow.db"))
    assert done.returncode == 0, done.stderr
    assert "Creating initial MLflow database tables" not in done.stderr and (tmp_path / "new" / "mlflow.db").exists()


class _LateServer(http.server.BaseHTTPRequestHandler):
    """Answers 200 after `delays.pop(0)` seconds (a loaded server), or never once `delays` is empty."""

    delays: list[float] = []

    def do_GET(self):
        if not self.delays:
            time.sleep(30)  # never within the test's patience
        time.sleep(self.delays.pop(0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *arguments):
        pass


@pytest.fixture
def late_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LateServer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_a_slow_server_is_waited_for_and_a_silent_one_refused_after_the_patience(late_server, capsys):
    uri = f"http://127.0.0.1:{late_server.server_port}"
    _LateServer.delays = [6.0, 0.0]  # the first ask times out at 5 s, the second (10 s) is answered
    started = time.monotonic()
    tracking._check_server(uri)
    assert 5 <= time.monotonic() - started < 30
    waiting = capsys.readouterr().err
    assert waiting.count("\n") == 1 and f"{uri} is slow to answer; waiting up to 60 s" in waiting

    _LateServer.delays = []
    started = time.monotonic()
    with pytest.raises(StoreError, match="does not answer within 7 s"):
        tracking._check_server(uri, patience=7)
    assert 7 <= time.monotonic() - started < 20
