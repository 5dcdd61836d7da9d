"""Running a study: every variant a papermill execution, in parallel, resumable, under one parent run.

Runs go to a local process pool or to a Dask cluster; each is a child of the study's parent run, tagged
with the study, its variant id and its seed. A rerun skips runs that already FINISHED, marks runs left
RUNNING by an interrupted sweep as KILLED, and runs everything else again; `force` reruns everything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from tqdm import tqdm

from regstudy import tracking
from regstudy.replicas import DEFAULT_REPLICAS, groups
from regstudy.study import Study, Variant
from regstudy.tracking import PARENT_TAG, ROLE_TAG, SEED_TAG, STUDY_TAG, VARIANT_TAG
from regstudy.workers import alone, check_executor, execute_runs, threads_per_worker
from regstudy.workers import executor as workers_of


@dataclass
class Outcome:
    """What became of one run of a sweep."""

    variant: Variant
    run_id: str | None
    failure: str | None = None
    seconds: float = 0.0
    skipped: bool = False


def sweep(
    study: Study,
    workers: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    dashboard: bool = False,
    replicas: int | None = None,
) -> list[Outcome]:
    """Run every run of `study` not yet FINISHED (all of them with `force`) and return what became of each.

    Runs of one program train together, at most `replicas` a group (`regstudy.replicas.groups`; the study's
    own `replicas`, or `DEFAULT_REPLICAS`, if None); each is still its own run."""
    check_executor(executor)  # before the parent run is touched
    size = replicas or study.replicas or DEFAULT_REPLICAS
    workers = workers or os.cpu_count() or 1
    threads = threads_per_worker(workers, scheduler)
    client = tracking.connect()
    with (
        alone("study", study.name, tracking.tracking_uri()),
        tracking.ending(client, parent_id := open_parent_run(client, study)) as end,
    ):
        children = tracking.search_runs(
            client, study.name, f"tags.{STUDY_TAG} = '{study.name}' and tags.{ROLE_TAG} = 'variant'"
        )
        # No other sweep of this study runs (`alone`): a run still RUNNING was left by one that was killed.
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
        together = _pending_groups(study, size, {v.key for v in pending})
        echo(
            f"study '{study.name}': {len(study.runs)} runs ({study.variant_count} variants × seeds); "
            f"{len(outcomes)} already finished, {len(pending)} to run in {len(together)} group(s) of at most "
            f"{size} on {workers} {executor} worker(s)"
        )
        with workers_of(executor, workers, scheduler, dashboard) as pool:
            outcomes += _run_groups(pool, together, study, parent_id, threads, outcomes)
        failed = sum(bool(outcome.failure) for outcome in outcomes)
        if failed:
            end.status, end.reason = "FAILED", f"{failed} of {len(outcomes)} runs failed"
    order = {v.key: index for index, v in enumerate(study.runs)}
    return sorted(outcomes, key=lambda outcome: order[outcome.variant.key])


def _pending_groups(study: Study, size: int, pending: set[tuple[str, str]]) -> list[list[Variant]]:
    """The study's groups (`regstudy.replicas.groups`, planned over all its runs, so that a run always trains
    in the same group: a replica's numbers depend on its group's size to float rounding) restricted to the
    runs still `pending`; the groups left empty are dropped."""
    planned = [[study.runs[i] for i in group] for group in groups([v.config for v in study.runs], size)]
    return [kept for group in planned if (kept := [v for v in group if v.key in pending])]


def _run_groups(
    pool, together: list[list[Variant]], study: Study, parent_id: str, threads: int | None, done: list[Outcome]
) -> list[Outcome]:
    """Train each group of runs on the pool's workers (`pool`: submit and as_completed); what became of each
    run, with a progress bar that counts `done` too."""
    submit, completed = pool
    uri, outcomes = tracking.tracking_uri(), []
    # The largest groups first, so that a worker's last group is a small one while the others finish theirs
    futures = {
        submit(execute_runs, [v.config for v in g], [_tags(v, study, parent_id) for v in g], uri, threads): g
        for g in sorted(together, key=len, reverse=True)
    }
    with tqdm(total=sum(map(len, together)), unit="run", desc=study.name, file=sys.stderr) as progress:
        for future in completed(futures):
            for variant, (run_id, failure, seconds) in zip(futures[future], future.result()):
                outcomes.append(Outcome(variant, run_id, failure, seconds))
            progress.update(len(futures[future]))
            every = done + outcomes
            progress.set_postfix(done=sum(not o.failure for o in every), failed=sum(bool(o.failure) for o in every))
    return outcomes


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


def open_parent_run(client, study: Study) -> str:
    """The study's parent run, created on its first sweep and RUNNING again on each later one."""
    return tracking.open_parent_run(
        client, study.name, {ROLE_TAG: "study", STUDY_TAG: study.name}, "study.yaml", study.document, "regstudy sweep"
    )


def _tags(variant: Variant, study: Study, parent_id: str) -> dict[str, str]:
    return {
        PARENT_TAG: parent_id,
        "mlflow.runName": f"{variant.label} seed={variant.seed}",
        ROLE_TAG: "variant",
        STUDY_TAG: study.name,
        VARIANT_TAG: variant.id,
        SEED_TAG: str(variant.seed),
    }
