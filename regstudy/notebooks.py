"""Running notebooks through papermill: the training notebook inside an MLflow run the caller owns, the
comparison notebook into a study's parent run, and (`execute`) any other, such as the questions'.

The caller creates the run and passes its id as a parameter, so the notebook's `regstudy.train` logs into
it; afterwards the executed notebook becomes an artifact of the run, and a run the kernel left RUNNING (a
crash before `train` could end it) is marked FAILED with the reason.

A process that runs many notebooks (a sweep worker) can keep one warm kernel and reuse it: TensorFlow is
then imported once per worker instead of once per run. Each run still starts from the same state, since
the notebook sets every parameter and `regstudy.train` clears Keras and reseeds everything.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import papermill
from jupyter_client.manager import AsyncKernelManager
from papermill.exceptions import PapermillExecutionError

from regstudy import tracking
from regstudy.backends import backend_of
from regstudy.config import RunConfig
from regstudy.errors import NotebookError
from regstudy.paths import notebooks_folder
from regstudy.rendering import to_html

TRAIN_NOTEBOOK = notebooks_folder() / "01-train.ipynb"
COMPARE_NOTEBOOK = notebooks_folder() / "02-compare.ipynb"
REPORT_COMMIT_TAG = "report.git_commit"
"""On a study's parent run: the commit (`git_commit`'s form) of the code that wrote its report."""


class Kernel:
    """A started Jupyter kernel whose own output goes to a log file, not the terminal.

    TensorFlow's and MLflow's start-up lines and warnings stay out of the user's terminal and are kept with
    the run instead (`kernel.log`). Where the platform has them the kernel talks over IPC sockets: no TCP
    port is opened, and Jupyter has no unencrypted TCP to warn about.

    Args:
        backend: the Keras backend the kernel's Keras runs on (`KERAS_BACKEND`), or None for this process's
            environment's. Defaults to None.
    """

    def __init__(self, backend: str | None = None):
        _remove_folders_of_ended_processes()
        KERNELS.mkdir(exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=KERNELS))
        self.log = self.folder / "kernel.log"
        self._output = open(self.log, "ab")  # open for the kernel's whole life; closed by `shutdown`
        options = {"transport": "ipc", "ip": str(self.folder / "ipc")} if sys.platform.startswith("linux") else {}
        self.manager = AsyncKernelManager(kernel_name="python3", **options)
        env = {**os.environ, **({"KERAS_BACKEND": backend} if backend else {})}
        asyncio.run(self.manager.start_kernel(stdout=self._output, stderr=self._output, env=env))

    def alive(self) -> bool:
        return asyncio.run(self.manager.is_alive())

    def output_since(self, offset: int) -> str:
        """What the kernel wrote from `offset` (bytes) on."""
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")

    def shutdown(self) -> None:
        if self._output.closed:  # already shut down
            return
        asyncio.run(self.manager.shutdown_kernel(now=True))
        self._output.close()
        shutil.rmtree(self.folder, ignore_errors=True)


KERNELS = Path(tempfile.gettempdir()) / "regstudy-kernels"
"""Each kernel's folder (its log and IPC sockets), named for the process that started it."""


def _remove_folders_of_ended_processes() -> None:
    """Remove the kernel folders of processes that have ended without removing them (killed, or a pool worker,
    which ends without running its exit handlers)."""
    for folder in KERNELS.glob("*-*"):
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and tracking.process_ended(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


_warm_kernels: dict[str, Kernel] = {}


def warm_kernel(engine: str = "graph") -> Kernel:
    """This process's reusable kernel for runs on `engine` (started on first use, replaced if it died): one per
    Keras backend, since a kernel's Keras keeps the backend it started with.

    The kernel exits by itself when this process dies, whatever kills it (ipykernel polls its parent).
    """
    backend = backend_of(engine)
    kernel = _warm_kernels.get(backend)
    if kernel is None or not kernel.alive():
        kernel = _warm_kernels[backend] = Kernel(backend)
        atexit.register(kernel.shutdown)
    return kernel


def execute(
    notebook: Path,
    output: Path,
    parameters: dict,
    kernel: Kernel | None = None,
    kernel_output: Callable[[str], None] | None = None,
    backend: str | None = None,
) -> None:
    """Execute `notebook` with papermill in this interpreter's kernel, raising `NotebookError` on failure.

    Args:
        kernel: a kernel to run in and leave running (see `warm_kernel`). Defaults to None: a fresh kernel,
            shut down afterwards.
        kernel_output: called with what the kernel wrote to its stdout and stderr during this execution
            (whether it succeeded or not), e.g. to keep it with the run. Defaults to None.
        backend: the Keras backend of a fresh kernel (see `Kernel`). Defaults to None.
    """
    fresh = kernel is None
    kernel = Kernel(backend) if fresh else kernel
    offset = kernel.log.stat().st_size
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(notebook.parent),
            km=kernel.manager,
        )
    except PapermillExecutionError as error:
        raise NotebookError(
            f"{notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}"
        ) from None
    except Exception as error:  # the kernel died or could not start
        raise NotebookError(f"{notebook.name} could not be executed: {type(error).__name__}: {error}") from error
    finally:
        if kernel_output is not None:
            kernel_output(kernel.output_since(offset))
        if fresh:
            kernel.shutdown()


def run_training_notebook(
    config: RunConfig,
    tags: dict[str, str] | None = None,
    output: Path | None = None,
    kernel: Kernel | None = None,
    parameters: dict | None = None,
) -> str:
    """Create a run for `config`, execute the training notebook into it, and return the run id.

    The executed notebook and what the kernel wrote (`kernel.log`) are artifacts of the run.

    Args:
        config: the validated parameters of the run.
        tags: extra tags set on the run when it is created (e.g. a parent run). Defaults to None.
        output: where to keep the executed notebook as well. Defaults to None (only in MLflow).
        kernel: a kernel to reuse (see `warm_kernel`). Defaults to None (a fresh kernel).
        parameters: the notebook's parameters beyond the run's (`trial`). Defaults to None.
    """
    return run_replicas_notebook([(config, tags or {})], output, kernel, parameters)[0]


def run_replicas_notebook(
    runs: list[tuple[RunConfig, dict[str, str]]],
    output: Path | None = None,
    kernel: Kernel | None = None,
    parameters: dict | list[dict] | None = None,
    created: list[str] | None = None,
) -> list[str]:
    """Create a run for each (config, tags) of `runs`, all of one program, and execute the training notebook
    once to train them together (its `replicas` parameter: `regstudy.train_replicas`); return the run ids.

    The notebook's parameters are the first run's; the executed notebook and the kernel's output are artifacts
    of every run. A run the notebook left RUNNING (a crash before its end was recorded) is marked FAILED.

    Args:
        output, kernel: as for `run_training_notebook`.
        parameters: the notebook's parameters beyond the runs' (`trial`), the same for every run, or a list of
            each run's own. Defaults to None.
        created: a list the run ids are appended to as they are created, so that a caller knows them even if
            the execution fails. Defaults to None.
    """
    client = tracking.connect()
    run_ids = tracking.create_runs(
        client,
        [
            (config.experiment, config.run_name, {"mlflow.source.name": TRAIN_NOTEBOOK.name, **tags})
            for config, tags in runs
        ],
        created,
    )
    each = parameters if isinstance(parameters, list) else [parameters or {}] * len(runs)
    replicas = [
        {**config.to_dict(), "run_id": run_id, "validated": config.digest(), **more}
        for (config, _), run_id, more in zip(runs[1:], run_ids[1:], each[1:])
    ]
    (config, _), run_id = runs[0], run_ids[0]
    # The notebook's `train` ends the runs; this ends one only if the kernel could not.
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as endings:
        for started in run_ids:
            endings.enter_context(tracking.ending(client, started, status=None))
        executed = Path(output) if output else Path(folder) / TRAIN_NOTEBOOK.name
        try:
            execute(
                TRAIN_NOTEBOOK,
                executed,
                {
                    **config.to_dict(),
                    "run_id": run_id,
                    "validated": config.digest(),
                    **({"replicas": replicas} if replicas else {}),
                    **each[0],
                },
                kernel,
                keep_kernel_output(client, run_ids),
                backend_of(config.engine),
            )
        finally:
            if executed.exists():
                for started in run_ids:
                    client.log_artifact(started, str(executed), "notebook")
    return run_ids


def keep_kernel_output(client, run_ids: str | list[str]) -> Callable[[str], None]:
    """Keep a kernel's output with the run (or each of the runs), as `kernel.log`."""

    def keep(text: str) -> None:
        if text.strip():
            for run_id in [run_ids] if isinstance(run_ids, str) else run_ids:
                client.log_text(run_id, text, "kernel.log")

    return keep


def run_comparison_notebook(study: str, parent_id: str, html: Path | None = None, code: bool = False) -> None:
    """Execute the comparison notebook for `study` and log it to the study's parent run `parent_id`, with the
    page a person reads (`report.html`: see `rendering.to_html`), which the MLflow UI shows inline.

    Args:
        html: also write the page here. Defaults to None.
        code: keep the code cells in the page. Defaults to False.
    """
    client = tracking.connect()
    client.set_tag(parent_id, REPORT_COMMIT_TAG, tracking.environment_tags()["git_commit"])
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / COMPARE_NOTEBOOK.name
        execute(COMPARE_NOTEBOOK, output, {"study": study}, kernel_output=keep_kernel_output(client, parent_id))
        client.log_artifact(parent_id, str(output), "notebook")
        log_page(client, parent_id, output, html, code, f"Study {study}")


def log_page(client, run_id: str, notebook: Path, html: Path | None, code: bool, title: str) -> None:
    """Log an executed notebook's page to the run as `report.html`, and write it to `html` too if given."""
    page = to_html(notebook, code, title)
    client.log_text(run_id, page, "report.html")
    if html is not None:
        Path(html).write_text(page)
