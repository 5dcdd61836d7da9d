"""Fixtures shared by the tests: a client of the session's temporary store, a fresh experiment per test, and a
real `mlflow server`."""

import re

import pytest

from helpers import mlflow_server_at


@pytest.fixture(scope="session")
def client():
    from regstudy import tracking

    return tracking.connect()


@pytest.fixture
def experiment(request):
    """A fresh experiment name for one test, so that what it finds in the store is its own."""
    return re.sub(r"[^A-Za-z0-9_.-]+", " ", f"test {request.node.name}").strip()[:200]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1, one for the session (each of the suite's workers starts its own):
    starting one takes about 20 s, so the tests that need one share it, each in experiments of its own."""
    with mlflow_server_at(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url
