"""Running a study: every variant a papermill execution, in parallel, resumable, under one parent run.

Runs go to a local process pool or to a Dask cluster; each is a child of the study's parent run, tagged
with the study, its variant id and its seed. A rerun skips runs that already FINISHED, marks runs left
RUNNING by an interrupted sweep as KILLED, and runs everything else again; `force` reruns everything.
"""

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
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from regstudy import tracking
from regstudy.config import RunConfig
from regstudy.errors import ConfigError
from regstudy.notebooks import run_training_notebook, warm_kernel
from regstudy.study import Study, Variant
from regstudy.tracking import PARENT_TAG, ROLE_TAG, SEED_TAG, STUDY_TAG, VARIANT_TAG

EXECUTORS = ("local", "dask")


@dataclass
class Outcome:
    """What became of one run of a sweep."""

    variant: Variant
    run_id: str | None
    failure: str | None = None
    seconds: float = 0.0
    skipped: bool = False


def execute_run(
    config: RunConfig, tags: dict[str, str], tracking_uri: str, threads: int | None = None
) -> tuple[str | None, str | None, float]:
    """Run one variant's notebook (in a pool worker or on a Dask worker); return run id, failure, seconds.

    Never raises: a failure is returned as text so that one variant cannot stop the others.

    Args:
        threads: TensorFlow's intra- and inter-op threads in this worker's kernel, or None for TensorFlow's
            default (every core). Variables the user set themselves are kept.
    """
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # the kernel inherits it
    if threads is not None:  # read by TensorFlow when the kernel first uses it
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(threads))
    started = time.perf_counter()
    try:
        run_id = run_training_notebook(config, tags, kernel=warm_kernel())
        return run_id, None, time.perf_counter() - started
    except Exception as error:  # noqa: BLE001  (reported in the summary, and the run is FAILED)
        return None, f"{type(error).__name__}: {error}", time.perf_counter() - started


def sweep(
    study: Study,
    workers: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    dashboard: bool = False,
) -> list[Outcome]:
    """Run every run of `study` not yet FINISHED (all of them with `force`) and return what became of each."""
    if executor not in EXECUTORS:
        raise ConfigError("--executor", executor, "expected one of " + ", ".join(EXECUTORS))
    workers = workers or os.cpu_count() or 1
    # Workers on this machine share its cores: each worker's TensorFlow gets its share, not every core, which
    # would make them compete (and small models run faster on one thread anyway). A remote cluster's
    # machines are their own.
    threads = max(1, (os.cpu_count() or 1) // workers) if scheduler is None else None
    client = tracking.connect()
    with _alone(study.name), tracking.ending(client, parent_id := _open_parent_run(client, study)) as end:
        children = tracking.search_runs(
            client, study.name, f"tags.{STUDY_TAG} = '{study.name}' and tags.{ROLE_TAG} = 'variant'"
        )
        # No other sweep of this study runs (`_alone`): a run still RUNNING was left by one that was killed.
        for run in children:
            if run.info.status == "RUNNING":
                tracking.fail_run(
                    client, run.info.run_id, "interrupted: the sweep that started it stopped", status="KILLED"
                )
        finished = {
            (run.data.tags.get(VARIANT_TAG), run.data.tags.get(SEED_TAG)): run
            for run in children
            if run.info.status == "FINISHED"
        }
        outcomes = [
            Outcome(v, finished[v.key].info.run_id, skipped=True) for v in study.runs if v.key in finished and not force
        ]
        pending = [v for v in study.runs if force or v.key not in finished]
        echo(
            f"study '{study.name}': {len(study.runs)} runs ({study.variant_count} variants × seeds); "
            f"{len(outcomes)} already finished, {len(pending)} to run on {workers} {executor} worker(s)"
        )
        with _executor(executor, workers, scheduler, dashboard) as (submit, completed):
            futures = {
                submit(execute_run, v.config, _tags(v, study, parent_id), tracking.tracking_uri(), threads): v
                for v in pending
            }
            with tqdm(total=len(pending), unit="run", desc=study.name, file=sys.stderr) as progress:
                for future in completed(futures):
                    run_id, failure, seconds = future.result()
                    outcomes.append(Outcome(futures[future], run_id, failure, seconds))
                    progress.update()
                    progress.set_postfix(
                        done=sum(not o.failure for o in outcomes), failed=sum(bool(o.failure) for o in outcomes)
                    )
        failed = sum(bool(outcome.failure) for outcome in outcomes)
        if failed:
            end.status, end.reason = "FAILED", f"{failed} of {len(outcomes)} runs failed"
    order = {v.key: index for index, v in enumerate(study.runs)}
    return sorted(outcomes, key=lambda outcome: order[outcome.variant.key])


def summary_table(outcomes: list[Outcome], client=None) -> str:
    """A text table of every run: label, seed, status, test accuracy (or loss), seconds, and failures."""
    client = client or tracking.connect()
    rows = [("variant", "seed", "status", "test score", "seconds")]
    for outcome in outcomes:
        score = ""
        if outcome.run_id and not outcome.failure:
            metrics = client.get_run(outcome.run_id).data.metrics
            value = metrics.get("test_accuracy", metrics.get("test_mse"))
            score = f"{value:.4f}" if value is not None else ""
        status = "FAILED" if outcome.failure else "skipped" if outcome.skipped else "FINISHED"
        rows.append(
            (
                outcome.variant.label,
                str(outcome.variant.seed),
                status,
                score,
                f"{outcome.seconds:.1f}" if not outcome.skipped else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [f"FAILED {o.variant.label} seed={o.variant.seed}: {o.failure}" for o in outcomes if o.failure]
    return "\n".join(lines)


def _tags(variant: Variant, study: Study, parent_id: str) -> dict[str, str]:
    return {
        PARENT_TAG: parent_id,
        "mlflow.runName": f"{variant.label} seed={variant.seed}",
        ROLE_TAG: "variant",
        STUDY_TAG: study.name,
        VARIANT_TAG: variant.id,
        SEED_TAG: str(variant.seed),
    }


@contextlib.contextmanager
def _alone(study: str) -> Iterator[None]:
    """Hold this machine's lock on sweeping `study` into this tracking store; refuse if another process holds it.

    Two sweeps of one study at once would each run every variant (and each take the other's runs for the
    leftovers of a killed sweep). The lock is a file lock, released by the kernel whatever ends the process.
    """
    key = hashlib.sha256(f"{tracking.tracking_uri()}\n{study}".encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"regstudy-sweep-{key}.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigError(
                "study", study, f"is being swept already, by {holder}: wait for that sweep to end, or stop it"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} on this machine")
        lock.flush()
        yield


def _open_parent_run(client, study: Study) -> str:
    """The study's parent run, created on the first sweep and RUNNING again, owned by this process, on each
    later one."""
    existing = tracking.search_runs(
        client, study.name, f"tags.{STUDY_TAG} = '{study.name}' and tags.{ROLE_TAG} = 'study'"
    )
    if existing:
        parent_id = existing[0].info.run_id
        client.set_tag(parent_id, tracking.OWNER_TAG, tracking.owner())  # first, so that it is never an orphan
        client.update_run(parent_id, status="RUNNING")
    else:
        parent_id = tracking.create_run(client, study.name, study.name, {ROLE_TAG: "study", STUDY_TAG: study.name})
    client.log_text(parent_id, yaml.safe_dump(study.document, sort_keys=False), "study.yaml")
    return parent_id


@contextlib.contextmanager
def _executor(
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
    """Make a pool worker die with the sweep (even on SIGKILL), so that its kernel stops and no run goes on.

    The kernel itself exits when its parent, the worker, is gone (ipykernel's parent poller).
    """
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
