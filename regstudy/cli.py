"""The `regstudy` command: run a parameters file, a study or a question notebook; list plugins; open the MLflow UI."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from regstudy.errors import ConfigError, RegstudyError, StoreError, Terminated, one_line

# Each command imports what it uses when it runs, so that `regstudy --help`, `regstudy plugins` and every
# refusal of bad input come before TensorFlow, MLflow or papermill is imported (tested).

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # as a shell reports a process stopped by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    # SIGTERM (a scheduler's or `kill`'s stop) ends a command as Ctrl-C does: its runs end KILLED, not RUNNING.
    main_thread = threading.current_thread() is threading.main_thread()  # only it may handle signals
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return COMMANDS[arguments.command](arguments)
    except (ConfigError, StoreError) as error:
        print(f"regstudy: error: {one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RegstudyError as error:
        print(f"regstudy: error: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as error:
        print(f"regstudy: {error or 'interrupted'}; the runs it had started are marked KILLED", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def parser() -> argparse.ArgumentParser:
    """The command line: the commands that train (`run`, `sweep`, `tune`) and those that read what they left."""
    parser = argparse.ArgumentParser(prog="regstudy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run_and_sweep(commands)
    _add_tune(commands)
    _add_readers(commands)
    return parser


def _add_run_and_sweep(commands) -> None:
    run = commands.add_parser("run", help="run the training notebook with a parameters file, through papermill")
    run.add_argument("params", type=Path, help="a parameters file, e.g. params/train.yaml")
    run.add_argument("--output", type=Path, help="also keep the executed notebook here")
    sweep = commands.add_parser("sweep", help="run every variant of a study file, each through papermill")
    sweep.add_argument("study", type=Path, help="a study file, e.g. params/default-study.yaml")
    sweep.add_argument("--workers", type=int, default=None, help="runs at once (default: the number of cores)")
    sweep.add_argument(
        "--executor", choices=("local", "dask"), default="local", help="a local process pool, or a Dask cluster"
    )
    sweep.add_argument("--scheduler", help="a Dask scheduler address (default: start a LocalCluster)")
    sweep.add_argument("--force", action="store_true", help="rerun runs that already finished")
    sweep.add_argument(
        "--replicas",
        type=int,
        help="the most runs of one program trained together (default: the study's, else 64); 1 trains each alone",
    )
    sweep.add_argument(
        "--dashboard", action="store_true", help="with a LocalCluster, show Dask's dashboard on 127.0.0.1:8787"
    )
    sweep.add_argument(
        "--allow-large", action="store_true", help="lift the limits against typos (10,000 runs, 100,000 epochs, ...)"
    )


def _add_tune(commands) -> None:
    tune = commands.add_parser(
        "tune", help="search a search file's space with Optuna, each trial a run of the training notebook"
    )
    tune.add_argument("search", type=Path, help="a search file, e.g. params/search-cocktail-digits.yaml")
    tune.add_argument("--trials", type=int, help="end the search at this many trials (default: the file's)")
    tune.add_argument(
        "--workers", type=int, default=1, help="trials at once (default: 1, whose trials follow from file and seed)"
    )
    tune.add_argument(
        "--executor", choices=("local", "dask"), default="local", help="a local process pool, or a Dask cluster"
    )
    tune.add_argument("--scheduler", help="a Dask scheduler address (default: start a LocalCluster)")
    tune.add_argument(
        "--storage",
        help="Optuna's database URL (default: optuna.db beside the embedded tracking store); "
        "workers on other machines need a shared one, e.g. postgresql://...",
    )
    tune.add_argument(
        "--output",
        type=Path,
        help="where to write the best trial's parameters (default: <name>-best.yaml beside the file)",
    )
    tune.add_argument(
        "--replicas",
        type=int,
        help="the most trials asked at once, those of one program trained together (default: the file's, else 16 "
        "on the jax engine and 1 on the others); 1 asks for each trial when a worker is free",
    )


def _add_readers(commands) -> None:
    report = commands.add_parser("report", help="run the comparison notebook over a study's runs, through papermill")
    report.add_argument("study", help="a study name, or its study file")
    report.add_argument("--output", type=Path, help="also write the report's page (HTML) here")
    report.add_argument("--code", action="store_true", help="keep the code cells in the page")
    question = commands.add_parser(
        "question", help="run a question notebook at its full size (params/<name>.yaml), through papermill"
    )
    question.add_argument("name", nargs="?", help="a notebook name, e.g. 07-when-to-stop; omit to list them")
    question.add_argument("--params", type=Path, help="another parameters file (default: params/<name>.yaml)")
    question.add_argument("--output", type=Path, help="also keep the executed notebook here")
    question.add_argument("--html", type=Path, help="also write the answer's page (HTML) here")
    question.add_argument("--code", action="store_true", help="keep the code cells in the page")
    results = commands.add_parser(
        "results", help="publish the default study's and every question's full-size answer to results/ and the README"
    )
    results.add_argument(
        "--no-run", action="store_true", help="only publish what the store holds; run nothing that is missing"
    )
    results.add_argument(
        "--allow-dirty", action="store_true", help="publish from a tree with uncommitted changes (the findings say so)"
    )
    commands.add_parser("plugins", help="list every plugin with its hyperparameters and defaults")
    ui = commands.add_parser("ui", help="start the MLflow UI on the tracking store, on 127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)


def _terminate(number, frame):
    raise Terminated("terminated by SIGTERM")


def _writable_output(path: Path | None, option: str = "--output") -> None:
    """Refuse an output file (`option`) that could not be written to, before any run is created: a folder,
    a device or pseudo file, a name too long, and a folder where a probe cannot be written (read-only, full)."""
    if path is None:
        return
    folder = path.absolute().parent
    if not folder.is_dir():
        raise ConfigError(option, str(path), f"its folder {folder} does not exist")
    if len(os.fsencode(path.name)) > os.pathconf(folder, "PC_NAME_MAX"):
        raise ConfigError(option, str(path), "its name is longer than the file system allows")
    if path.is_dir():
        raise ConfigError(option, str(path), "is a folder: give a file's name")
    if path.exists() and not path.is_file():
        raise ConfigError(option, str(path), "is not a regular file (a device or a pseudo file): give a file's name")
    probe = folder / f".regstudy-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as file:  # written through to the disk: a full device refuses it now
            file.write(b"probe\n" * 512)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise ConfigError(option, str(path), f"cannot be written in {folder} ({error.strerror})") from None
    finally:
        probe.unlink(missing_ok=True)


def _run(arguments) -> int:
    from regstudy.config import load_params_file

    config = load_params_file(arguments.params)  # validated before MLflow, papermill or TensorFlow is imported
    _writable_output(arguments.output)
    from regstudy import tracking
    from regstudy.notebooks import run_training_notebook

    run_id = run_training_notebook(config, output=arguments.output)
    metrics = tracking.connect().get_run(run_id).data.metrics
    print(f"run {run_id} FINISHED in experiment '{config.experiment}' ({tracking.tracking_uri()})")
    for key in sorted(metrics):
        print(f"  {key:24} {metrics[key]:.4f}")
    return 0


def _sweep(arguments) -> int:
    from regstudy.study import load_study

    if arguments.workers is not None and arguments.workers < 1:
        raise ConfigError("--workers", arguments.workers, "expected an integer >= 1")
    if arguments.allow_large:  # the sweep's workers, and their kernels, inherit it
        from regstudy.validation import ALLOW_LARGE_VARIABLE

        os.environ[ALLOW_LARGE_VARIABLE] = "1"
    study = load_study(arguments.study, echo=print)  # validated before MLflow or papermill is imported
    if arguments.replicas is not None:
        from regstudy.validation import REPLICAS

        REPLICAS.check("--replicas", arguments.replicas)
    from regstudy import tracking
    from regstudy.sweep import summary_table, sweep

    print(f"study '{study.name}': {len(study.runs)} runs validated")
    options = {
        "workers": arguments.workers,
        "executor": arguments.executor,
        "scheduler": arguments.scheduler,
        "force": arguments.force,
        "dashboard": arguments.dashboard,
        "replicas": arguments.replicas,
    }
    if study.stages:  # seeds in stages, each for the methods not yet decided
        from regstudy.sequential import staged_sweep

        outcomes, decisions = staged_sweep(study, **options)
        print(decisions.to_string(index=False))
    else:
        outcomes = sweep(study, **options)
    print(summary_table(outcomes))
    failed = sum(1 for outcome in outcomes if outcome.failure)
    print(f"{len(outcomes) - failed} finished, {failed} failed; experiment '{study.name}' in {tracking.tracking_uri()}")
    print("Compare them with `regstudy report` or in the MLflow UI (`make ui`, http://127.0.0.1:5000).")
    return EXIT_FAILED if failed else 0


def _tune(arguments) -> int:
    from regstudy.search_file import load_search

    if arguments.workers < 1:
        raise ConfigError("--workers", arguments.workers, "expected an integer >= 1")
    search = load_search(arguments.search)  # validated before MLflow, Optuna's storage or papermill is touched
    trials = search.trials_asked(arguments.trials)
    if arguments.replicas is not None:
        from regstudy.validation import REPLICAS

        REPLICAS.check("--replicas", arguments.replicas)
    best_file = arguments.output or arguments.search.parent / f"{search.name}-best.yaml"
    _writable_output(best_file)
    from regstudy import tracking
    from regstudy.pruning import check_storage
    from regstudy.search_report import publish, summary_table
    from regstudy.tune import tune

    storage = arguments.storage or tracking.search_storage()
    check_storage(storage)
    tuned = tune(
        search, trials, arguments.workers, arguments.executor, arguments.scheduler, storage, replicas=arguments.replicas
    )
    note = publish(tuned, best_file)
    print(summary_table(tuned))
    print(note)
    if "no trial completed" in note:
        return EXIT_FAILED
    print(f"The best trial's parameters: {best_file} (train them with `regstudy run {best_file}`).")
    print(f"The search is the parent run '{search.name}' in {tracking.tracking_uri()} (`make ui`).")
    return 0


def _report(arguments) -> int:
    from regstudy.study import load_study

    name = load_study(arguments.study).name if arguments.study.endswith((".yaml", ".yml")) else arguments.study
    _writable_output(arguments.output)
    from regstudy.notebooks import run_comparison_notebook
    from regstudy.report import parent_run, study_runs

    # A study never swept, or none of whose runs finished, is refused before the notebook's kernel starts.
    parent_id = parent_run(name)
    study_runs(name)
    run_comparison_notebook(name, parent_id, arguments.output, arguments.code)
    print(
        f"report of study '{name}' logged to its parent run {parent_id} "
        "(report.html, figures/, ranking.csv, ranking.md, notebook/)"
        + (f"; the page is also in {arguments.output}" if arguments.output else "")
    )
    return 0


def _question(arguments) -> int:
    if arguments.name is None:
        from regstudy.questions import QUESTIONS

        print("\n".join(QUESTIONS))
        return 0
    from regstudy.questions import question_parameters

    question_parameters(arguments.name, arguments.params)  # checked before MLflow or papermill is imported
    _writable_output(arguments.output)
    _writable_output(arguments.html, "--html")
    from regstudy import tracking
    from regstudy.questions.execution import run_question

    run_id = run_question(arguments.name, arguments.params, arguments.output, arguments.html, arguments.code)
    answer = tracking.connect().get_run(run_id).data.tags.get("mlflow.note.content", "")
    print(
        f"{arguments.name}: parent run {run_id} FINISHED in experiment '{arguments.name}' ({tracking.tracking_uri()})"
    )
    print(answer)
    return 0


def _results(arguments) -> int:
    from regstudy.results import publish

    findings = publish(run_missing=not arguments.no_run, allow_dirty=arguments.allow_dirty)
    print(f"{len(findings)} findings in results/ (results/README.md) and in the README's Findings section")
    return 0


def _plugins(arguments) -> int:
    from regstudy.plugins import PLUGINS

    for name in PLUGINS.names():
        plugin = PLUGINS.get(name)
        aliases = PLUGINS.aliases(name)
        print(f"{name:18} {plugin.describe()}" + (f" (also: {', '.join(aliases)})" if aliases else ""))
        for key, default in plugin.hyperparameters().items():
            constraint = plugin.parameter_constraints.get(key)
            print(f"{'':18}   {key} = {default!r}" + (f"  ({constraint})" if constraint else ""))
    return 0


def _ui(arguments) -> int:
    if not 1 <= arguments.port <= 65535:
        raise ConfigError("--port", arguments.port, "expected a TCP port from 1 to 65535")
    from regstudy import tracking

    uri = tracking.tracking_uri()
    tracking.connect()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(arguments.port),
    ]
    print(f"MLflow UI on http://127.0.0.1:{arguments.port} for {uri}", flush=True)
    os.execv(command[0], command)


COMMANDS = {
    "run": _run,
    "sweep": _sweep,
    "tune": _tune,
    "report": _report,
    "question": _question,
    "results": _results,
    "plugins": _plugins,
    "ui": _ui,
}
"""Each command's function, which takes the parsed arguments and returns the exit status."""


if __name__ == "__main__":
    sys.exit(main())
