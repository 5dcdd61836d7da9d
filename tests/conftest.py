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


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1, stopped after the test."""
    with mlflow_server_at(tmp_path) as url:
        yield url
