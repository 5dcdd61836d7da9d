"""`Question`: the MLflow parent run of one notebook execution, its child trainings, and their table; `Answer`,
what every question returns."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from regstudy import significance, tracking
from regstudy.config import RunConfig
from regstudy.training import TrainResult, train_config


@dataclass
class Answer:
    """What a question found: the answer in words, its tables and figures (all logged to the parent run, under
    these names), the few numbers it chose, and the parent run's id."""

    answer: str
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure]
    run_id: str
    values: dict[str, Any] = field(default_factory=dict)


class Question:
    """A parent run holding one question's trainings (child runs), its tables, figures and answer.

    Use as a context manager: the parent ends FINISHED, or FAILED with the reason if anything raises, so no
    run is left RUNNING.

    Args:
        experiment: the MLflow experiment: the question's name (see `regstudy.questions.QUESTIONS`).
        parameters: the notebook's parameters, logged to the parent run.
    """

    def __init__(self, experiment: str, parameters: dict[str, Any]):
        self.experiment = experiment
        self.parameters = parameters
        self.rows: list[dict[str, Any]] = []
        self.params: list[dict[str, str]] = []
        """Each child run's MLflow params, by row of `rows`, for the tidy table of runs."""

    def __enter__(self) -> Question:
        self.client = tracking.connect()
        variable = tracking.INVOCATION_VARIABLE
        invocation = {tracking.INVOCATION_TAG: os.environ[variable]} if variable in os.environ else {}
        self.run_id = tracking.create_run(
            self.client, self.experiment, None, {tracking.ROLE_TAG: "question", **invocation}
        )
        self._ending = tracking.ending(self.client, self.run_id)
        self._ending.__enter__()
        tracking.record_provenance(self.client, self.run_id, f"{self.experiment}.ipynb")
        self.client.log_text(self.run_id, yaml.safe_dump(self.parameters, sort_keys=False), "parameters.yaml")
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        return self._ending.__exit__(kind, error, traceback)

    def train(self, labels: dict[str, Any], trial: Any = None, **parameters: Any) -> TrainResult:
        """Train one child run, tagged with `labels`, and add a row (labels, seed, final metrics) to the table.

        Args:
            trial: an `optuna.Trial` the run reports its epochs to, and that may prune it. Defaults to None.
        """
        config = RunConfig.from_mapping({**parameters, "experiment": self.experiment})  # refused before any run exists
        tags = {
            tracking.PARENT_TAG: self.run_id,
            tracking.ROLE_TAG: "child",
            **{key: str(value) for key, value in labels.items()},
        }
        run_id = tracking.create_run(self.client, self.experiment, _run_name(labels, parameters), tags)
        result = train_config(config, run_id=run_id, trial=trial)
        self.rows.append({**labels, "seed": result.config.seed, **result.metrics, "run_id": result.run_id})
        self.params.append({f"param.{key}": value for key, value in config.params().items()})
        return result

    def table(self) -> pd.DataFrame:
        """Every child run trained so far: its labels, seed and final metrics, one row each."""
        return pd.DataFrame(self.rows)

    def log_result(
        self, answer: str, tables: dict[str, pd.DataFrame], figures: dict[str, Figure], **values: Any
    ) -> Answer:
        """Log the answer (`answer.md` and the run's description), each table (CSV and markdown), each figure,
        and the tidy table of the child runs (`tracking.RUNS_TABLE`: labels, seed, parameters, final metrics);
        return them as an `Answer`, with `values`."""
        if self.rows:
            tidy = pd.concat([pd.DataFrame(self.rows), pd.DataFrame(self.params)], axis=1)
            tracking.log_runs_table(self.client, self.run_id, tidy)
        for name, table in tables.items():
            self.client.log_text(self.run_id, table.to_csv(), f"tables/{name}.csv")
            self.client.log_text(self.run_id, table.to_markdown(floatfmt=".4g") + "\n", f"tables/{name}.md")
        for name, figure in figures.items():
            self.client.log_figure(self.run_id, figure, f"figures/{name}.png")
        self.client.log_text(self.run_id, answer + "\n", "answer.md")
        self.client.set_tag(self.run_id, "mlflow.note.content", answer)
        return Answer(answer, tables, figures, self.run_id, values)


def mean_std(table: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of `columns`, grouped by `by` (in order of appearance)."""
    summary = table.groupby(by, sort=False)[columns].agg(["mean", "std"])
    summary.columns = [f"{column}_{statistic}" for column, statistic in summary.columns]
    return summary.reset_index()


def against(
    table: pd.DataFrame, column: str, reference: Any, metric: str, paired_by: tuple[str, ...] = ("seed",)
) -> pd.DataFrame:
    """Each value of `column` against `reference` on `metric` (higher is better), paired by seed (or by the
    columns `paired_by`, e.g. data set and seed).

    One row per value: `significance.paired` over the seeds both have, every p-value corrected together by
    Holm's method, and the verdict in words; the same statement of uncertainty as the study's ranking.
    """
    by_seed = table.pivot_table(index=list(paired_by), columns=column, values=metric)
    unit = paired_by[0] if len(paired_by) == 1 else "pair"
    others = [value for value in dict.fromkeys(table[column]) if value != reference]
    comparisons = significance.holm(
        [
            significance.paired(
                *(by_seed[[value, reference]].dropna().to_numpy().T), (str(value), str(reference)), unit=unit
            )
            for value in others
        ]
    )
    return significance.table(comparisons).rename(columns={"first": column, "second": "against"})


def sureness(row: pd.Series, scale: float = 100.0, unit: str = " points") -> str:
    """One comparison of `against`'s table in words: the difference, its 95 % interval, Holm's p and verdict,
    the smallest detectable difference in the same unit as the difference."""
    interval = f", 95 % CI [{scale * row['low']:+.1f}, {scale * row['high']:+.1f}]" if np.isfinite(row["low"]) else ""
    p_value = f", Holm p = {row['p_holm']:.2g}" if np.isfinite(row["p_holm"]) else ""
    verdict = DETECTABLE.sub(
        lambda found: f"(it could detect {two_figures(scale * float(found[1]))}{unit} or more)", row["verdict"]
    )
    return f"{scale * row['mean_difference']:+.1f}{unit}{interval}{p_value}: {verdict}"


DETECTABLE = re.compile(r"\(it could detect (\S+) or more\)")
"""The smallest detectable difference in a verdict (`significance.Comparison.verdict`), on the scores' scale."""


def two_figures(value: float) -> str:
    """`value` to two significant figures, with the decimal of a whole number below 10 ("1.0 points", not
    "1 points"), and from 100 on the whole number ("100", not "1.0e+02")."""
    text = f"{value:#.2g}"
    return f"{value:.0f}" if "e" in text else text.rstrip(".")


def percent(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f} %"


def _run_name(labels: dict[str, Any], parameters: dict[str, Any]) -> str:
    parts = [f"{key}={value}" for key, value in labels.items()] + [f"seed={parameters.get('seed', 0)}"]
    return " ".join(parts)[:250]


def child_statuses(run_id: str) -> dict[str, int]:
    """How many child runs of `run_id` the tracking store holds, by status, read back from MLflow."""
    client = tracking.connect()
    parent = client.get_run(run_id)
    experiment = client.get_experiment(parent.info.experiment_id).name
    children = tracking.search_runs(client, experiment, f"tags.`{tracking.PARENT_TAG}` = '{run_id}'")
    statuses: dict[str, int] = {}
    for child in children:
        statuses[child.info.status] = statuses.get(child.info.status, 0) + 1
    return dict(sorted(statuses.items()))
