"""One temporary MLflow store for the whole session, set before any kernel starts so notebooks use it too."""

import os
import re
import tempfile
from pathlib import Path

import pytest

_STORE = Path(tempfile.mkdtemp(prefix="regstudy-tests-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_STORE / 'mlflow.db'}"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def client():
    from regstudy import tracking

    return tracking.connect()


@pytest.fixture
def experiment(request):
    """A fresh experiment name for one test, so that what it finds in the store is its own."""
    return re.sub(r"[^A-Za-z0-9_.-]+", " ", f"test {request.node.name}").strip()[:200]


def runs_of(client, experiment):
    """Every run of `experiment` (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])
