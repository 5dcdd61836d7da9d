"""Where the runs of a sweep or a search execute: a local process pool or a Dask cluster, each run a papermill
execution of the training notebook in its worker's warm kernel; and the lock that lets one process at a time
sweep a study, or run a search, into one store."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import fcntl
import hashlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from regstudy.config import RunConfig
from regstudy.errors import ConfigError

EXECUTORS = ("local", "dask")


def check_executor(kind: str) -> None:
    """Refuse an executor that is not one of `EXECUTORS`."""
    if kind not in EXECUTORS:
        raise ConfigError("--executor", kind, "expected one of " + ", ".join(EXECUTORS))


def threads_per_worker(workers: int, scheduler: str | None) -> int | None:
    """TensorFlow's threads in each worker's kernel: this machine's cores shared among its workers (competing
    for every core would slow them all, and small models run faster on one thread anyway), or None (every
    core) on a remote cluster, whose machines are their own."""
    return max(1, (os.cpu_count() or 1) // workers) if scheduler is None else None


def execute_run(
    config: RunConfig,
    tags: dict[str, str],
    tracking_uri: str,
    threads: int | None = None,
    notebook_parameters: dict[str, Any] | None = None,
) -> tuple[str | None, str | None, float]:
    """Run the training notebook for `config` in this worker; return the run id, the failure and the seconds.

    Never raises: a failure is returned as text so that one run cannot stop the others.

    Args:
        threads: TensorFlow's intra- and inter-op threads in this worker's kernel, or None for TensorFlow's
            default (every core). Variables the user set themselves are kept. Defaults to None.
        notebook_parameters: parameters of the notebook beyond the run's (e.g. a search's `trial`). Defaults
            to None.
    """
    return execute_runs([config], [tags], tracking_uri, threads, notebook_parameters)[0]


def execute_runs(
    configs: list[RunConfig],
    tags: list[dict[str, str]],
    tracking_uri: str,
    threads: int | None = None,
    notebook_parameters: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> list[tuple[str | None, str | None, float]]:
    """`execute_run` for runs of one program (`regstudy.replicas`), trained together by one execution of the
    training notebook; each run's (run id, failure, seconds), its failure read from its run's end.
    `notebook_parameters` may be a list of each run's own (a search's `trial`)."""
    # Here, in the worker: the parent that submits the runs needs neither papermill nor Jupyter's client.
    from regstudy import tracking
    from regstudy.notebooks import run_replicas_notebook, warm_kernel

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # the kernel inherits it
    if threads is not None:  # read by TensorFlow when the kernel first uses it
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(threads))
    started, run_ids, failure = time.perf_counter(), [], None
    try:
        kernel = warm_kernel(configs[0].engine)
        run_replicas_notebook(list(zip(configs, tags)), kernel=kernel, parameters=notebook_parameters, created=run_ids)
    except Exception as error:  # noqa: BLE001  (reported in the summary, and the runs are FAILED)
        failure = f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    if len(run_ids) < len(configs):  # the runs could not all be created: none trained
        return [(None, failure, seconds)] * len(configs)
    client, ended = tracking.connect(), {}
    for experiment in dict.fromkeys(config.experiment for config in configs):
        ended.update(tracking.read_runs(client, experiment, run_ids))
    return [(run_id, _failure(ended.get(run_id), failure), seconds) for run_id in run_ids]


def _failure(run, failure: str | None) -> str | None:
    """Why the run did not finish (the execution's `failure` if its run tells no reason), or None if it did;
    `run` is the run as read after the execution, or None if it was not found."""
    if run is None:
        return failure or "the run is not in the tracking store"
    if run.info.status == "FINISHED":
        return None
    return failure or run.data.tags.get("failure_reason", f"the run ended {run.info.status}")


_BUSY = {"study": "is being swept already", "search": "is being searched already"}


@contextlib.contextmanager
def alone(kind: str, name: str, store: str) -> Iterator[None]:
    """Hold this machine's lock on the study or search (`kind`) `name` in `store`; refuse if another process
    holds it.

    Two sweeps of one study at once would each run every variant (and each take the other's runs for the
    leftovers of a killed sweep); two processes of one search would each count and retry the other's trials.
    The lock is a file lock, released by the kernel whatever ends the process.
    """
    key = hashlib.sha256(f"{store}\n{kind}\n{name}".encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"regstudy-{kind}-{key}.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigError(kind, name, f"{_BUSY[kind]}, by {holder}: wait for it to end, or stop it") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} on this machine")
        lock.flush()
        yield


@contextlib.contextmanager
def executor(
    kind: str, workers: int, scheduler: str | None, dashboard: bool = False
) -> Iterator[tuple[Callable, Callable]]:
    """(submit, as_completed) of a local process pool or of a Dask cluster.

    A LocalCluster listens on 127.0.0.1 only, and shows its dashboard (on 127.0.0.1:8787) only if asked:
    `dashboard_address=None` does not close it (dask/distributed#8136), so the scheduler's HTTP endpoint,
    which Dask always starts, is put on a free loopback port without the dashboard's pages.
    """
    if kind == "local":
        context = multiprocessing.get_context("spawn")  # never fork a process that has TensorFlow loaded
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent) as pool:
            yield pool.submit, concurrent.futures.as_completed
        return
    from dask.distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:8787" if dashboard else "127.0.0.1:0",
                    scheduler_kwargs={"dashboard": dashboard},
                )
            )
            dask_client = stack.enter_context(Client(cluster))
        else:
            dask_client = stack.enter_context(Client(scheduler))
        yield (lambda fn, *args: dask_client.submit(fn, *args, pure=False)), as_completed


def _die_with_parent() -> None:
    """Make a pool worker die with its parent (even on SIGKILL), so that its kernel stops and no run goes on.

    The kernel itself exits when its parent, the worker, is gone (ipykernel's parent poller).
    """
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
