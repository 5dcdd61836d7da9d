"""Fixtures shared by the tests: a client of the session's temporary store, a fresh experiment per test."""

import re

import pytest


@pytest.fixture(scope="session")
def client():
    from regstudy import tracking

    return tracking.connect()


@pytest.fixture
def experiment(request):
    """A fresh experiment name for one test, so that what it finds in the store is its own."""
    return re.sub(r"[^A-Za-z0-9_.-]+", " ", f"test {request.node.name}").strip()[:200]
