"""MLflow tracking: where the store is, how a run ends, what a parent run records of its code, and every tag.

The embedded store is `mlflow/mlflow.db` (SQLite) with artifacts in `mlflow/artifacts/`, at the repository
root whichever folder a command runs from; `MLFLOW_TRACKING_URI` points everything at another store or at
an `mlflow server`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import platform
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from regstudy import lazy_modules
from regstudy.errors import StoreError
from regstudy.paths import repository_root

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# Lazy, so that commands which only validate (and `regstudy --help`) start without MLflow's import.
mlflow = lazy_modules.load("mlflow")

FAILURE_TAG = "failure_reason"
"""Why a run ended FAILED or KILLED."""
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
PARENT_TAG = "mlflow.parentRunId"
ROLE_TAG = "regstudy.role"
"""What a run is: "study" (a sweep's parent), "variant" (a sweep's run), "search" (a search's parent), "trial"
(a search's run), "question" or "child" (of a question)."""
STUDY_TAG, VARIANT_TAG, SEED_TAG = "study", "variant", "seed"
"""A sweep's runs: the study's name, the variant's id (a hash of its parameters) and the seed."""
SEARCH_TAG, TRIAL_TAG, TRIAL_STATE_TAG, FOLD_TAG = "search", "trial", "trial.state", "fold"
"""A search's runs: the search's name, the trial's number, its state as Optuna ends it (COMPLETE, PRUNED or
FAIL) and, with `folds`, the fold."""
PARAMS_DIGEST_TAG = "regstudy.params_digest"
"""On a question's parent run: the digest of the parameters file `regstudy question` ran it at (`results`
finds the full-size runs by it)."""
SOURCE_COMMIT_TAG, SOURCE_NAME_TAG = "mlflow.source.git.commit", "mlflow.source.name"
"""MLflow's own tags of what produced a run: the commit (the UI's Version column) and the source."""
DIRTY_TAG = "regstudy.git.dirty"
"""Whether tracked files had uncommitted changes when the run started: "true", "false" or "unknown"."""
UNCOMMITTED_DIFF = "provenance/uncommitted.diff"
"""The artifact of a parent run made from a tree with uncommitted changes: those changes (`git diff HEAD`)."""
BEST_TRIAL_TAG = "best_trial"
"""On the runs of a search's best trial: "true"."""
OWNER_TAG = "regstudy.owner"
"""The process that created a run and is to end it, as "host:pid". A run still RUNNING whose owner on this
machine no longer exists (killed with SIGKILL, or the machine's out-of-memory killer) is ended KILLED the
next time a run is created in its experiment (`end_orphans`)."""
INVOCATION_TAG = "regstudy.invocation"
INVOCATION_VARIABLE = "REGSTUDY_INVOCATION"
"""Set by `regstudy question` for the kernel it starts; the parent run carries it as `INVOCATION_TAG`, so the
command finds its own run even when other executions of the same notebook run at the same time."""
_MAX_TAG_LENGTH = 5000
_VERSIONED_PACKAGES = ("regstudy", "tensorflow", "keras", "mlflow", "numpy", "scikit-learn", "papermill")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the embedded SQLite store under `mlflow/`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repository_root() / 'mlflow' / 'mlflow.db'}"


def search_storage() -> str:
    """Where searches keep their Optuna studies by default: `optuna.db` beside an embedded (SQLite) tracking
    store, or in the repository's `mlflow/` folder when the tracking store is a server."""
    database = _sqlite_path(tracking_uri())
    folder = database.parent if database is not None else repository_root() / "mlflow"
    return f"sqlite:///{folder / 'optuna.db'}"


def connect() -> MlflowClient:
    """Point MLflow at the tracking store (creating an embedded store's folder) and return a client.

    The first contact of a process checks the store, so that a fault is one line (`StoreError`) within
    seconds, before any work: a server that does not answer or refuses the credentials, a folder or database
    that cannot be written, a file that is not an MLflow database.
    """
    uri = tracking_uri()
    database = _sqlite_path(uri)
    mlflow.set_tracking_uri(uri)
    if uri in _prepared and (database is None or database.exists()):
        return mlflow.tracking.MlflowClient(uri)
    if database is None:
        if uri.startswith(("http://", "https://")):
            _check_server(uri)
        client = mlflow.tracking.MlflowClient(uri)
    else:
        client = _open_database(uri, database)
    _prepared.add(uri)
    return client


def _open_database(uri: str, database: Path) -> MlflowClient:
    folder = database.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(uri, f"its folder {folder} cannot be created ({error.strerror})") from None
    if not os.access(folder, os.W_OK) or (database.exists() and not os.access(database, os.W_OK)):
        where = "the database" if database.exists() else f"its folder {folder}"
        raise StoreError(uri, f"{where} is read-only, so no run can be written: use a writable store")
    if database.exists() and database.stat().st_size and _header(database) != b"SQLite format 3\x00":
        raise StoreError(uri, "the file is not a SQLite database: move it away, or set MLFLOW_TRACKING_URI")
    # MLflow announces creating and migrating a database at INFO level: start-up lines on the user's terminal.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    _sync_at_checkpoints()
    try:
        # MLflow creates and migrates a new database when a client first opens it, and processes starting
        # together (sweep workers) would race at it: one at a time, under a lock beside the file.
        with open(database.with_name(database.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Write-ahead logging lets readers and one writer work at once: parallel runs share the file.
            with contextlib.closing(sqlite3.connect(database, timeout=60)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            client = mlflow.tracking.MlflowClient(uri)
            client.search_experiments(max_results=1)
    except (sqlite3.Error, mlflow.exceptions.MlflowException, OSError, AttributeError) as error:
        # A truncated or corrupted file ("database disk image is malformed"), an immutable one (MLflow's
        # migration then fails with an AttributeError), or a lock file that cannot be written.
        problem = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise StoreError(uri, f"cannot be used ({problem}): move the file away, or set MLFLOW_TRACKING_URI") from None
    return client


def _sync_at_checkpoints() -> None:
    """Have every SQLite connection this process opens from now on (MLflow's, through SQLAlchemy's pool) to a
    database in write-ahead-log mode commit at `synchronous=NORMAL` (`_wal_commits_unsynced`)."""
    import sqlalchemy

    if not sqlalchemy.event.contains(sqlalchemy.pool.Pool, "connect", _wal_commits_unsynced):
        sqlalchemy.event.listen(sqlalchemy.pool.Pool, "connect", _wal_commits_unsynced)


def _wal_commits_unsynced(connection, _record=None) -> None:
    """On a new SQLite connection to a database in write-ahead-log mode, `PRAGMA synchronous=NORMAL`: a commit
    appends to the log without waiting for the disk, which the log's checkpoints sync. SQLite's own advice
    for WAL mode (sqlite.org/pragma.html#pragma_synchronous): the database cannot be corrupted, and a commit
    survives the process being killed (kill -9); only a power loss or the machine's crash may undo the last
    commits. At the default (FULL) each of a run's commits waited for the disk. A database in another
    journal mode keeps the default, which its safety needs."""
    if isinstance(connection, sqlite3.Connection):
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            connection.execute("PRAGMA synchronous=NORMAL")


def _header(database: Path) -> bytes:
    with open(database, "rb") as file:
        return file.read(16)


def _check_server(uri: str, patience: float = 60.0) -> None:
    """Ask a tracking server for one experiment, with the credentials MLflow's client would send
    (`MLFLOW_TRACKING_USERNAME` and `_PASSWORD`, or `_TOKEN`).

    A refused connection, an unknown host or refused credentials fail at once. A server that accepts the
    connection but answers late (a loaded machine) is asked again with a longer timeout each time (5, 10,
    20 s ...) for up to `patience` seconds, saying once on stderr that it is waiting: MLflow's own client
    would retry for minutes without a word.
    """
    started, timeout = time.monotonic(), 5.0
    while True:
        try:
            _ask_server(uri, min(timeout, max(patience - (time.monotonic() - started), 1.0)))
            return
        except TimeoutError:
            waited = time.monotonic() - started
            if waited >= patience:
                problem = f"does not answer within {waited:.0f} s: is it overloaded? Or set MLFLOW_TRACKING_URI"
                raise StoreError(uri, problem) from None
            if timeout == 5.0:
                print(
                    f"regstudy: the tracking server {uri} is slow to answer; waiting up to {patience:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            timeout *= 2


def _ask_server(uri: str, seconds: float) -> None:
    """One request to a tracking server; `TimeoutError` when it does not answer within `seconds`."""
    request = urllib.request.Request(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1")
    username, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if username and password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())
    elif os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}")
    context = None
    if uri.startswith("https://"):
        context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=seconds, context=context) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            problem = "refuses the credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            raise StoreError(uri, problem) from None
        raise StoreError(uri, f"answers HTTP {error.code} ({error.reason}): is it an MLflow server?") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(error, TimeoutError) or isinstance(reason, TimeoutError):
            raise TimeoutError(seconds) from None
        raise StoreError(uri, f"does not answer ({reason}): start the server, or set MLFLOW_TRACKING_URI") from None


_prepared: set[str] = set()
"""Stores this process has already checked (embedded ones created or opened under the lock, in WAL mode,
which persists)."""


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if needed with its artifacts beside a SQLite store."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    database = _sqlite_path(client.tracking_uri)
    # A SQLite store would otherwise put artifacts under the working directory of whoever created it.
    location = (database.parent / "artifacts").as_uri() if database is not None else None
    try:
        # The kind makes the MLflow UI open the experiment as model training (runs, charts), not GenAI traces.
        return client.create_experiment(
            name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: "custom_model_development"}
        )
    except mlflow.exceptions.MlflowException:  # created meanwhile by a concurrent writer
        return client.get_experiment_by_name(name).experiment_id


def create_run(client: MlflowClient, experiment: str, run_name: str | None, tags: dict[str, str] | None = None) -> str:
    """Create a RUNNING run owned by this process and return its id; first end the experiment's orphans."""
    return create_runs(client, [(experiment, run_name, tags)])[0]


def create_runs(
    client: MlflowClient,
    runs: list[tuple[str, str | None, dict[str, str] | None]],
    created: list[str] | None = None,
) -> list[str]:
    """`create_run` for each (experiment, run name, tags) of `runs` (a replica group's), each experiment's id
    read and its orphans ended once for all its runs: searching a study's RUNNING runs again before each of a
    group of 64 cost more than creating it. Each id is appended to `created`, if given, as its run is
    created, so that a caller knows them even if a later one fails."""
    created = [] if created is None else created
    identifiers: dict[str, str] = {}
    for experiment, run_name, tags in runs:
        if experiment not in identifiers:
            identifiers[experiment] = experiment_id(client, experiment)
            end_orphans(client, identifiers[experiment])
        run = client.create_run(identifiers[experiment], run_name=run_name, tags={OWNER_TAG: owner(), **(tags or {})})
        created.append(run.info.run_id)
    return created


def owner() -> str:
    """This process, as `OWNER_TAG` names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def end_orphans(client: MlflowClient, experiment_id: str) -> list[str]:
    """End KILLED each RUNNING run of the experiment whose owner on this machine no longer exists; return
    their ids. A run owned by another machine's process is left: from here it cannot be told alive."""
    orphans = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        owned_by = run.data.tags.get(OWNER_TAG, "")
        if _gone(owned_by):
            fail_run(
                client, run.info.run_id, f"interrupted: its process ({owned_by}) ended without ending it", "KILLED"
            )
            orphans.append(run.info.run_id)
    return orphans


def _gone(owned_by: str) -> bool:
    """Whether the "host:pid" process is known to have ended: it is on this machine and no such process exists."""
    host, _, pid = owned_by.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and process_ended(int(pid))


def process_ended(pid: int) -> bool:
    """Whether no process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's
        return False
    return False


def search_runs(client: MlflowClient, experiment: str, filter_string: str) -> list:
    """Every run of `experiment` matching `filter_string`, newest first (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs, token = [], None
    while True:
        page = client.search_runs([found.experiment_id], filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def read_runs(client: MlflowClient, experiment: str, run_ids: list[str]) -> dict:
    """The runs `run_ids` of `experiment` by id, read in one search rather than one read each (a replica
    group's, after its notebook); an id not found there is left out."""
    found = {}
    for start in range(0, len(run_ids), 100):  # a filter of a hundred ids stays well inside MLflow's limits
        chosen = ", ".join(f"'{run_id}'" for run_id in run_ids[start : start + 100])
        runs = search_runs(client, experiment, f"attributes.run_id IN ({chosen})")
        found.update((run.info.run_id, run) for run in runs)
    return found


def open_parent_run(
    client: MlflowClient, experiment: str, tags: dict[str, str], file_name: str, document: dict, source: str
) -> str:
    """The parent run of a sweep or search (the run of `experiment` that has `tags`): created the first time,
    and RUNNING again, owned by this process, each later time; `document` (the study or search file) is
    logged to it as `file_name`, and the code of this sweep or search (`record_provenance`, with `source` the
    command) is recorded."""
    found = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    existing = search_runs(client, experiment, found)
    if existing:
        parent_id = existing[0].info.run_id
        client.set_tag(parent_id, OWNER_TAG, owner())  # first, so that it is never an orphan
        client.update_run(parent_id, status="RUNNING")
    else:
        parent_id = create_run(client, experiment, experiment, tags)
    client.log_text(parent_id, yaml.safe_dump(document, sort_keys=False), file_name)
    record_provenance(client, parent_id, source)
    return parent_id


def fail_run(client: MlflowClient, run_id: str, reason: str, status: str = "FAILED") -> None:
    """End a run as FAILED (or KILLED) with the reason as a tag, unless it has already ended."""
    if client.get_run(run_id).info.status != "RUNNING":
        return
    client.set_tag(run_id, FAILURE_TAG, reason[:_MAX_TAG_LENGTH])
    client.set_terminated(run_id, status)


class RunEnd:
    """How a run inside `ending` ends if nothing raises: `status` ("FINISHED", "FAILED" or None to leave the
    run as it is) and, for FAILED, the `reason`."""

    def __init__(self, status: str | None):
        self.status = status
        self.reason = ""


@contextlib.contextmanager
def ending(
    client: MlflowClient, run_id: str, status: str | None = "FINISHED", read_first: bool = True
) -> Iterator[RunEnd]:
    """The one place a run's end is decided: FINISHED (or what the block sets on the `RunEnd` it is given) if
    the block returns, FAILED with the exception as the reason if it raises, KILLED on Ctrl-C.

    A run that has already ended (by the code inside the block) is left as it is.

    Args:
        status: how the run ends if the block returns; None leaves it to the block. Defaults to "FINISHED".
        read_first: read the run's status before ending it FINISHED, for a block that may have ended the run
            by other means. False for an owner that ends its run only here or says so by setting the
            `RunEnd`'s status to None (`regstudy.recording.Recorder`): one store read fewer a run. Defaults
            to True.
    """
    end = RunEnd(status)
    try:
        yield end
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        reason = (
            (f"interrupted ({error})" if str(error) else "interrupted")
            if interrupted
            else f"{type(error).__name__}: {error}"
        )
        fail_run(client, run_id, reason, status="KILLED" if interrupted else "FAILED")
        raise
    if end.status == "FAILED":
        fail_run(client, run_id, end.reason)
    elif end.status is not None and (not read_first or client.get_run(run_id).info.status == "RUNNING"):
        client.set_terminated(run_id, end.status)


RUNS_TABLE = "runs"
"""A parent run's tidy table of its runs, one row per run (its parameters, seed and final metrics), as
`runs.csv` and `runs.parquet`."""


def log_runs_table(client: MlflowClient, run_id: str, table) -> None:
    """Log a pandas table of runs to the parent run `run_id` as `RUNS_TABLE`, in CSV and in Parquet.

    A column of mixed values (a fold numbered 0, 1, ... and "all") is text in the Parquet file, which holds one
    type a column; numbers stay numbers."""
    import tempfile

    client.log_text(run_id, table.to_csv(index=False), f"{RUNS_TABLE}.csv")
    mixed = [column for column in table.columns if table[column].dtype == object]
    typed = table.astype({column: "string" for column in mixed})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{RUNS_TABLE}.parquet"
        typed.to_parquet(path, index=False)
        client.log_artifact(run_id, str(path))


def params_digest(path: Path) -> str:
    """What identifies a parameters file's content (`PARAMS_DIGEST_TAG`)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Stopwatch:
    """Wall time spent inside `with stopwatch:` blocks, added up in `seconds`."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exception):
        self.seconds += time.perf_counter() - self._start


def log_at_once(
    client: MlflowClient,
    run_id: str,
    *,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    series: dict[str, list[float]] | None = None,
    points: list[mlflow.entities.Metric] | None = None,
) -> None:
    """Write params, tags, metrics, per-epoch series (step = epoch, from 1) and metric `points` as they are to a
    run in one store call: each call costs a small run more than the data it carries."""
    timestamp = int(time.time() * 1000)
    points = [
        *(points or []),
        *(mlflow.entities.Metric(key, float(value), timestamp, 0) for key, value in (metrics or {}).items()),
    ]
    for key, values in (series or {}).items():
        points += [
            mlflow.entities.Metric(key, float(value), timestamp, step) for step, value in enumerate(values, start=1)
        ]
    client.log_batch(
        run_id,
        metrics=points,
        params=[mlflow.entities.Param(key, str(value)) for key, value in (params or {}).items()],
        tags=[mlflow.entities.RunTag(key, str(value)) for key, value in (tags or {}).items()],
        synchronous=True,
    )


def environment_tags(root: Path | None = None) -> dict[str, str]:
    """Tags that say what produced a run: the git commit (as regstudy's `git_commit`, with "-dirty" when
    tracked files had changed, and as MLflow's own `mlflow.source.git.commit`, which the UI's Version column
    shows, with `regstudy.git.dirty`), package versions, Python and platform.

    Args:
        root: the repository whose state is recorded. Defaults to None (regstudy's own).
    """
    commit, dirty = git_state(root)
    tags = {f"versions.{package}": _version(package) for package in _VERSIONED_PACKAGES}
    tags["versions.python"] = platform.python_version()
    tags["platform"] = platform.platform()
    tags["git_commit"] = commit + ("-dirty" if dirty else "")
    tags[DIRTY_TAG] = {True: "true", False: "false", None: "unknown"}[dirty]
    if dirty is not None:
        tags[SOURCE_COMMIT_TAG] = commit
    return tags


def record_provenance(client: MlflowClient, run_id: str, source: str, root: Path | None = None) -> None:
    """Give a parent run (a study's, a search's, a question's) what says which code produced it: the
    environment tags, MLflow's `mlflow.source.name` (`source`, e.g. the notebook or command), and, when tracked
    files had uncommitted changes, those changes as the artifact `UNCOMMITTED_DIFF` (`git diff HEAD`)."""
    tags = {**environment_tags(root), SOURCE_NAME_TAG: source}
    log_at_once(client, run_id, tags=tags)
    if tags[DIRTY_TAG] == "true":
        client.log_text(run_id, _git(["diff", "HEAD"], root or repository_root()) or "", UNCOMMITTED_DIFF)


def git_state(root: Path | None = None) -> tuple[str, bool | None]:
    """HEAD's commit in `root` (default regstudy's repository) and whether tracked files have changed since;
    ("unknown", None) outside git."""
    root = root or repository_root()
    commit = _git(["rev-parse", "HEAD"], root)
    changes = _git(["status", "--porcelain", "--untracked-files=no"], root)
    if commit is None or changes is None:
        return "unknown", None
    return commit.strip(), bool(changes.strip())


def _git(arguments: list[str], root: Path) -> str | None:
    try:
        done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout


def _version(package: str) -> str:
    names = (package, "tensorflow-cpu") if package == "tensorflow" else (package,)
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            return version(name)
    return "not installed"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, or None for any other store."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None
