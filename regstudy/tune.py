"""Running a search (`regstudy tune`): Optuna proposes trials, each a papermill run of the training notebook.

Each trial is one run (with `folds`, one run per fold) in a local process pool or on a Dask cluster, a child of
the search's parent run, tagged with the search, the trial's number and, once it has ended, its state.
Optuna's study lives in a database of its own (`tracking.search_storage()`, or `--storage`), so a search
resumes as a sweep does: a rerun counts the trials that have ended, retries with the same parameters each
trial an interrupted process left running (marking its runs KILLED), and goes on until the search has its
number of trials.

The sampler is seeded afresh for each trial, from the search's seed and the trial's position among the
trials not interrupted: with one worker, a search draws the same trials in the same order whether it ran
through or was stopped and resumed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from regstudy import tracking
from regstudy.config import RunConfig
from regstudy.engines import ENGINES
from regstudy.errors import ConfigError
from regstudy.pruning import PRUNED_EPOCH_METRIC, TrialLink, open_storage
from regstudy.replicas import TRIALS_AT_ONCE, groups
from regstudy.search_file import Search
from regstudy.study import describe
from regstudy.tracking import FOLD_TAG, PARENT_TAG, ROLE_TAG, SEARCH_TAG, TRIAL_STATE_TAG, TRIAL_TAG
from regstudy.workers import alone, check_executor, execute_run, execute_runs, executor, threads_per_worker

INTERRUPTED = "interrupted"
"""User attribute of a trial its process left running: it is FAIL in Optuna, retried, and not counted."""
PARAMETERS = "parameters"
"""User attribute of every trial: the run parameters it drew (`SearchSpace.suggest`)."""
RUN_IDS = "mlflow_run_ids"
"""User attribute of an ended trial: its MLflow runs."""


@dataclass
class TrialRun:
    """What a worker reports of one trial: its runs, the objective (the folds' mean), where the pruner stopped
    it (an epoch, or with folds the number of folds run), the failure, and the seconds."""

    run_ids: list[str] = field(default_factory=list)
    value: float | None = None
    pruned_at: int | None = None
    failure: str | None = None
    seconds: float = 0.0


def final_metric(objective: str) -> str:
    """The final metric of a run that measures `objective` on the validation set: `val_accuracy` →
    `validation_accuracy` (computed from the final model, e.g. after SWA or restoring the best weights)."""
    return "validation_" + objective.removeprefix("val_")


def run_trial(
    configs: list[RunConfig], tags: list[dict[str, str]], tracking_uri: str, threads: int | None, link: TrialLink
) -> TrialRun:
    """Run one trial's runs in this worker, one after the other (one per fold, or one); never raises.

    Without folds the run reports each epoch to the trial itself (the notebook's `trial` parameter); with
    folds each fold's validation score is reported here, and the folds stop when the pruner says so.
    """
    outcome, scores = TrialRun(), []
    folded = len(configs) > 1
    for index, (config, run_tags) in enumerate(zip(configs, tags)):
        run_id, failure, seconds = execute_run(
            config, run_tags, tracking_uri, threads, None if folded else {"trial": link.to_dict()}
        )
        outcome.seconds += seconds
        if failure:
            outcome.failure = failure
            return outcome
        outcome.run_ids.append(run_id)
        try:
            if _reported(outcome, scores, run_id, link, index, len(configs)):
                break
        except Exception as error:  # noqa: BLE001  (the store or Optuna's database failed: the trial fails)
            outcome.failure = f"{type(error).__name__}: {error}"
            return outcome
    outcome.value = float(np.mean(scores))
    return outcome


def run_trials(
    configs: list[RunConfig], tags: list[dict[str, str]], tracking_uri: str, threads: int | None, links: list[TrialLink]
) -> list[TrialRun]:
    """Run trials of one program (one run each: no folds) together in this worker, as replicas of one program
    (`execute_runs`), each reporting its own epochs to its own trial; each trial's outcome. Never raises."""
    results = execute_runs(configs, tags, tracking_uri, threads, [{"trial": link.to_dict()} for link in links])
    outcomes = []
    for (run_id, failure, seconds), link in zip(results, links):
        outcome, scores = TrialRun(seconds=seconds, failure=failure), []
        if not failure:
            outcome.run_ids.append(run_id)
            try:
                _reported(outcome, scores, run_id, link, 0, 1)
                outcome.value = scores[0]
            except Exception as error:  # noqa: BLE001  (the store failed: the trial fails)
                outcome.failure = f"{type(error).__name__}: {error}"
        outcomes.append(outcome)
    return outcomes


def _reported(outcome: TrialRun, scores: list[float], run_id: str, link: TrialLink, fold: int, folds: int) -> bool:
    """Read a finished run's validation score into `scores` and whether the pruner stopped it; with folds,
    report the fold's score to the trial. Returns whether the trial's remaining folds are pruned."""
    metrics = tracking.connect().get_run(run_id).data.metrics
    scores.append(metrics[final_metric(link.objective)])
    if folds == 1:
        if PRUNED_EPOCH_METRIC in metrics:
            outcome.pruned_at = int(metrics[PRUNED_EPOCH_METRIC])
        return False
    trial = link.trial()
    trial.report(scores[-1], fold)
    if fold + 1 < folds and trial.should_prune():
        outcome.pruned_at = fold + 1
        return True
    return False


@dataclass
class Tuned:
    """A search as it stands after `tune`: its Optuna study and parent run."""

    search: Search
    study: optuna.Study
    parent_id: str
    storage: str


def tune(
    search: Search,
    trials: int | None = None,
    workers: int = 1,
    executor_kind: str = "local",
    scheduler: str | None = None,
    storage: str | None = None,
    echo: Callable[[str], None] = print,
    replicas: int | None = None,
) -> Tuned:
    """Run the trials `search` still lacks, up to `trials` (default: the search file's) ended trials.

    Args:
        workers: trials at once. With one, the trials and their order follow from the file and seed alone.
            Defaults to 1.
        executor_kind: "local" (a process pool) or "dask". Defaults to "local".
        scheduler: a Dask scheduler's address, or None to start a LocalCluster. Defaults to None.
        storage: Optuna's database URL. Defaults to None (`tracking.search_storage()`).
        replicas: the most trials asked at once, of which those of one program train together (`run_trials`);
            None for the search file's, else `TRIALS_AT_ONCE` on an engine that trains replicas in one
            program (the jax engine) and 1 (each trial asked when a worker is free) on the others. Asking
            several trials before the earlier ones end changes what a model-based sampler (TPE) proposes, not
            that one worker gives the same trials for the same file and seed. Defaults to None.
    """
    check_executor(executor_kind)
    target = trials or search.trials
    storage = storage or tracking.search_storage()
    optuna.logging.set_verbosity(logging.WARNING)  # the command reports each trial itself
    client = tracking.connect()
    with alone("search", search.name, storage):
        database = open_storage(storage)
        study = _open_study(search, database, storage)  # a mismatch is refused before any run is written
        tags = {ROLE_TAG: "search", SEARCH_TAG: search.name}
        parent_id = tracking.open_parent_run(client, search.name, tags, "search.yaml", search.document, "regstudy tune")
        # What a search is (the same at every resume: `_open_study` refuses another); the budget may grow.
        asked = _asked(search, replicas)
        tracking.log_at_once(
            client,
            parent_id,
            params=_what_it_is(search),
            tags={"trials": target, "optuna.storage": storage, "asked": asked},
        )
        runner = _Trials(study, database, search, client, parent_id, storage)
        with tracking.ending(client, parent_id):
            runner.retry_interrupted()
            ended = len(counted(study))
            echo(
                f"search '{search.name}': {ended} of {target} trials ended; "
                f"{max(0, target - ended)} to run on {workers} {executor_kind} worker(s); Optuna study in {storage}"
            )
            try:
                runner.run(target - ended, workers, executor_kind, scheduler, echo, asked)
            except KeyboardInterrupt:
                runner.retry_interrupted()
                raise
    return Tuned(search, study, parent_id, storage)


def _what_it_is(search: Search) -> dict[str, Any]:
    """The parent run's params: what the search is, the same at every resume."""
    return {
        "objective": search.objective,
        "direction": search.direction,
        "folds": search.folds,
        "sampler": search.sampler,
        "sampler.seed": search.seed,
        "pruner": search.pruner,
        **{f"pruner.{key}": value for key, value in search.pruner_options.items()},
    }


def _asked(search: Search, replicas: int | None) -> int:
    """How many trials to ask for at a time (see `tune`'s `replicas`); 1 with folds, whose trials train alone."""
    if search.folds:
        return 1
    if replicas or search.replicas:
        return replicas or search.replicas
    engine = search.parameters.get("engine", "graph")
    return TRIALS_AT_ONCE if ENGINES.get(engine).trains_replicas else 1


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count toward a search's number: every ended trial but those interrupted (retried)."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False)
        if trial.state.is_finished() and not trial.user_attrs.get(INTERRUPTED)
    ]


def make_sampler(search: Search, position: int) -> optuna.samplers.BaseSampler:
    """The search's sampler, seeded for the trial at `position` (see the module's docstring)."""
    seed = int(np.random.SeedSequence([search.seed, position]).generate_state(1)[0])
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "grid":
        return optuna.samplers.GridSampler(search.space.grid(), seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.sampler_options["startup_trials"])


def trial_config(search: Search, parameters: dict[str, Any], fold: int | None = None) -> RunConfig:
    """The run of a trial that drew `parameters` (of one `fold`, with folds)."""
    mapping = {**search.parameters, **parameters, "experiment": search.name}
    if fold is not None:
        mapping["fold"] = fold
    return RunConfig.from_mapping(mapping)


def _open_study(search: Search, database: optuna.storages.BaseStorage, storage: str) -> optuna.Study:
    """The search's Optuna study, created on its first run; refused if the study there was another search's."""
    study = optuna.create_study(
        storage=database, study_name=search.name, direction=search.direction, load_if_exists=True
    )
    identity = json.dumps({k: v for k, v in search.document.items() if k != "trials"}, sort_keys=True, default=str)
    stored = study.user_attrs.get("search")
    if stored is None:
        study.set_user_attr("search", identity)
    elif stored != identity:
        raise ConfigError(
            "name",
            search.name,
            f"a search of this name with other parameters, space, objective, sampler or pruner is in {storage}: "
            "rename this search (or delete the other's study with `optuna delete-study`)",
        )
    return study


class _Trials:
    """Starting a search's trials on the workers and ending them in Optuna and MLflow."""

    def __init__(self, study: optuna.Study, database, search: Search, client, parent_id: str, storage: str):
        self.study, self.database, self.search, self.client = study, database, search, client
        self.parent_id, self.storage = parent_id, storage
        self.threads: int | None = None  # TensorFlow's threads in each worker's kernel, set by `run`

    def run(
        self,
        count: int,
        workers: int,
        executor_kind: str,
        scheduler: str | None,
        echo: Callable[[str], None],
        replicas: int = 1,
    ) -> None:
        """Run `count` more trials, `workers` groups at once, echoing each as it ends: Optuna is asked for up
        to `replicas` trials at a time, and those of one program train together (`run_trials`)."""
        self.threads = threads_per_worker(workers, scheduler)
        ran, running = [], {}
        with executor(executor_kind, workers, scheduler) as (submit, completed):
            while running or len(ran) < count:
                while len(running) < workers and len(ran) + sum(map(len, running.values())) < count:
                    asked = min(replicas, count - len(ran) - sum(map(len, running.values())))
                    for trials, future in self.start(submit, asked):
                        if future is None:  # what it drew cannot train: it has ended already
                            ran.append(self.end(trials[0], TrialRun(failure=trials[0].user_attrs["failure"])))
                            echo(_line(ran[-1], self.search))
                        else:
                            running[future] = trials
                if running:
                    future = next(iter(completed(list(running))))
                    trials, outcomes = running.pop(future), future.result()
                    for trial, outcome in zip(trials, outcomes if isinstance(outcomes, list) else [outcomes]):
                        ran.append(self.end(trial, outcome))
                        echo(_line(ran[-1], self.search))

    def retry_interrupted(self) -> None:
        """End FAIL each trial still RUNNING (only this process runs the search: whoever ran it was interrupted),
        queue its parameters to run again, and end its runs KILLED."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.database.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
            self.study.tell(trial.number, state=TrialState.FAIL)
            self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        name = self.search.name
        running = f"tags.`{SEARCH_TAG}` = '{name}' and tags.`{ROLE_TAG}` = 'trial' and attributes.status = 'RUNNING'"
        for run in tracking.search_runs(self.client, name, running):
            tracking.fail_run(self.client, run.info.run_id, "interrupted: the search that started it stopped", "KILLED")

    def start(self, submit: Callable, asked: int = 1) -> list[tuple[list[optuna.Trial], Any]]:
        """Ask Optuna for `asked` trials and submit their runs: each trial alone (`run_trial`), or with more
        than one asked, the trials of one program together (`run_trials`); (trials, future) for each
        submission, the future None for a trial whose draw cannot train (the reason is its `failure`)."""
        drawn = [self._draw() for _ in range(asked)]
        started: list[tuple[list[optuna.Trial], Any]] = [([trial], None) for trial, configs, _ in drawn if not configs]
        ready = [(trial, configs, link) for trial, configs, link in drawn if configs]
        uri = tracking.tracking_uri()
        if asked == 1 or self.search.folds:
            for trial, configs, link in ready:
                tags = [self._tags(trial.number, config) for config in configs]
                started.append(([trial], submit(run_trial, configs, tags, uri, self.threads, link)))
            return started
        for group in groups([configs[0] for _, configs, _ in ready], asked):
            trials, configs, links = zip(*(ready[index] for index in group))
            tags = [self._tags(trial.number, each[0]) for trial, each in zip(trials, configs)]
            runs = [each[0] for each in configs]
            started.append((list(trials), submit(run_trials, runs, tags, uri, self.threads, list(links))))
        return started

    def _draw(self) -> tuple[optuna.Trial, list[RunConfig] | None, TrialLink | None]:
        """Ask Optuna for a trial, from the sampler seeded for its position; its runs' configs (one per fold)
        and its link, or None for both if what it drew cannot train (its `failure` says why)."""
        search = self.search
        position = sum(
            1
            for trial in self.study.get_trials(deepcopy=False)
            if trial.state != TrialState.WAITING and not trial.user_attrs.get(INTERRUPTED)
        )
        self.study.sampler = make_sampler(search, position)
        trial = self.study.ask()
        parameters = search.space.suggest(trial)
        trial.set_user_attr(PARAMETERS, parameters)
        folds = range(search.folds) if search.folds else [None]
        try:
            configs = [trial_config(search, parameters, fold) for fold in folds]
        except ConfigError as error:  # e.g. a drawn `swa.start_epoch` beyond drawn `epochs`
            trial.set_user_attr("failure", str(error))
            return trial, None, None
        link = TrialLink(
            self.storage, search.name, trial._trial_id, search.objective, search.pruner, search.pruner_options
        )
        return trial, configs, link

    def end(self, trial: optuna.Trial, outcome: TrialRun) -> optuna.trial.FrozenTrial:
        """Tell Optuna how the trial ended (COMPLETE, PRUNED or FAIL) and tag its runs with the state."""
        trial.set_user_attr(RUN_IDS, outcome.run_ids)
        trial.set_user_attr("seconds", round(outcome.seconds, 3))
        # Telling runs the sampler's `after_trial`, where the grid sampler stops `Study.optimize` when the grid is
        # covered and raises outside it; this loop counts its trials itself, and the others' do nothing here.
        self.study.sampler = optuna.samplers.RandomSampler()
        if outcome.value is not None and not math.isfinite(outcome.value):
            outcome.failure = f"the objective is {outcome.value}"
        if outcome.failure:
            trial.set_user_attr("failure", outcome.failure[:1000])
            frozen = self.study.tell(trial, state=TrialState.FAIL)
        elif outcome.pruned_at is not None:
            trial.set_user_attr("pruned_at", outcome.pruned_at)
            frozen = self.study.tell(trial, state=TrialState.PRUNED)
        else:
            frozen = self.study.tell(trial, outcome.value)
        name = self.search.name
        for run in tracking.search_runs(
            self.client, name, f"tags.`{SEARCH_TAG}` = '{name}' and tags.`{TRIAL_TAG}` = '{trial.number}'"
        ):
            if run.info.status != "KILLED":  # an interrupted earlier attempt stays as it ended
                self.client.set_tag(run.info.run_id, TRIAL_STATE_TAG, frozen.state.name)
        return frozen

    def _tags(self, number: int, config: RunConfig) -> dict[str, str]:
        folds = self.search.folds
        tags = {
            PARENT_TAG: self.parent_id,
            "mlflow.runName": f"trial {number}: {describe(config)}" + (f" fold {config.fold}" if folds else ""),
            ROLE_TAG: "trial",
            SEARCH_TAG: self.search.name,
            TRIAL_TAG: str(number),
        }
        if folds:
            tags[FOLD_TAG] = str(config.fold)
        return tags


def _line(trial: optuna.trial.FrozenTrial, search: Search) -> str:
    """One trial's line on the terminal."""
    value = "" if trial.value is None else f" {search.objective}={trial.value:.4f}"
    why = ""
    if trial.state == TrialState.PRUNED:
        why = f" at {'fold' if search.folds else 'epoch'} {trial.user_attrs.get('pruned_at')}"
    elif trial.state == TrialState.FAIL:
        why = f": {trial.user_attrs.get('failure', '')[:300]}"
    return f"trial {trial.number} {trial.state.name}{why}{value} ({trial.user_attrs.get('seconds', 0):.1f} s)"
