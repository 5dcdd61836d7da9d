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


_swept: set[str] = set()


def pytest_runtest_setup(item):
    """Before nbval runs the comparison notebook, sweep the tiny study it reads from MLflow (once)."""
    if item.path.name == "02-compare.ipynb" and "tiny-study" not in _swept:
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "regstudy.cli", "sweep", str(ROOT / "params" / "tiny-study.yaml"), "--workers", "2"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        _swept.add("tiny-study")
