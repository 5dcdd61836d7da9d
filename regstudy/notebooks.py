"""Running the training notebook through papermill inside an MLflow run that the caller owns.

The caller creates the run and passes its id as a parameter, so the notebook's `regstudy.train` logs into
it; afterwards the executed notebook becomes an artifact of the run, and a run the kernel left RUNNING (a
crash before `train` could end it) is marked FAILED with the reason.

A process that runs many notebooks (a sweep worker) can keep one warm kernel and reuse it: TensorFlow is
then imported once per worker instead of once per run. Each run still starts from the same state, since
the notebook sets every parameter and `regstudy.train` clears Keras and reseeds everything.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import papermill
from jupyter_client.manager import AsyncKernelManager
from papermill.exceptions import PapermillExecutionError

from regstudy import tracking
from regstudy.config import RunConfig
from regstudy.errors import NotebookError

TRAIN_NOTEBOOK = tracking.repository_root() / "notebooks" / "01-train.ipynb"


_warm_kernel: AsyncKernelManager | None = None


def warm_kernel() -> AsyncKernelManager:
    """This process's reusable kernel (started on first use, replaced if it died).

    The kernel exits by itself when this process dies, whatever kills it (ipykernel polls its parent).
    """
    global _warm_kernel
    if _warm_kernel is None or (_warm_kernel.has_kernel and not asyncio.run(_warm_kernel.is_alive())):
        _warm_kernel = AsyncKernelManager(kernel_name="python3")
    return _warm_kernel


def execute(notebook: Path, output: Path, parameters: dict, kernel: AsyncKernelManager | None = None) -> None:
    """Execute `notebook` with papermill in this interpreter's kernel, raising `NotebookError` on failure.

    Args:
        kernel: a kernel manager to run in and leave running (see `warm_kernel`). Defaults to None: a
            fresh kernel, shut down afterwards.
    """
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(notebook.parent),
            **({"km": kernel} if kernel is not None else {}),
        )
    except PapermillExecutionError as error:
        raise NotebookError(f"{notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}") from None
    except Exception as error:  # the kernel died or could not start
        raise NotebookError(f"{notebook.name} could not be executed: {type(error).__name__}: {error}") from error


def run_training_notebook(
    config: RunConfig, tags: dict[str, str] | None = None, output: Path | None = None, kernel: AsyncKernelManager | None = None
) -> str:
    """Create a run for `config`, execute the training notebook into it, and return the run id.

    Args:
        config: the validated parameters of the run.
        tags: extra tags set on the run when it is created (e.g. a parent run). Defaults to None.
        output: where to keep the executed notebook as well. Defaults to None (only in MLflow).
        kernel: a kernel to reuse (see `warm_kernel`). Defaults to None (a fresh kernel).
    """
    client = tracking.connect()
    run_id = tracking.create_run(client, config.experiment, config.run_name, {"mlflow.source.name": TRAIN_NOTEBOOK.name, **(tags or {})})
    with tempfile.TemporaryDirectory() as folder:
        executed = Path(output) if output else Path(folder) / TRAIN_NOTEBOOK.name
        try:
            execute(TRAIN_NOTEBOOK, executed, {**config.to_dict(), "run_id": run_id}, kernel)
        except BaseException as error:
            reason = str(error) if isinstance(error, NotebookError) else f"{type(error).__name__}: {error}"
            tracking.fail_run(client, run_id, reason, status="KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise
        finally:
            if executed.exists():
                client.log_artifact(run_id, str(executed), "notebook")
    return run_id
