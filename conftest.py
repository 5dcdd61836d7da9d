"""For the whole suite, tests/ and nbval's notebooks/ alike: one temporary MLflow store, never the user's.

It is set here, before any test or kernel starts, so every process the suite starts inherits it.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_STORE = Path(tempfile.mkdtemp(prefix="regstudy-tests-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_STORE / 'mlflow.db'}"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_ROOT = Path(__file__).resolve().parent
_swept: set[str] = set()


def pytest_runtest_setup(item):
    """Before nbval runs the comparison notebook, sweep the tiny study it reads from MLflow (once)."""
    if item.path.name == "02-compare.ipynb" and "tiny-study" not in _swept:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "regstudy.cli",
                "sweep",
                str(_ROOT / "params" / "tiny-study.yaml"),
                "--workers",
                "1",  # the suite's other worker has the second core
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        _swept.add("tiny-study")
