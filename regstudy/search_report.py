"""What a search leaves behind: a table of its trials, the best trial's parameters as a ready-to-run file, its
runs tagged as the best, and Optuna's figures (optimization history, parameter importances, each trial's
epochs) on the search's parent run, where the MLflow UI shows them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from regstudy import tracking
from regstudy.search_file import Search
from regstudy.tracking import BEST_TRIAL_TAG, SEARCH_TAG
from regstudy.tune import PARAMETERS, RUN_IDS, Tuned, counted

FIGURES = {
    "optimization_history": optuna.visualization.matplotlib.plot_optimization_history,
    "param_importances": optuna.visualization.matplotlib.plot_param_importances,
    "intermediate_values": optuna.visualization.matplotlib.plot_intermediate_values,
}
"""The figures logged to the parent run (`figures/<name>.png`), by the Optuna function that draws each."""


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial with the best objective, or None if no trial has completed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return study.best_trial if complete else None


def best_parameters(search: Search, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A parameters file for `regstudy run` that trains the trial's model on the search's data (on the plain
    validation split: without the search's folds), logged to the experiment `<search>-best`."""
    parameters = {key: value for key, value in search.parameters.items() if key != "folds"}
    return {**parameters, **trial.user_attrs[PARAMETERS], "experiment": f"{search.name}-best"}


def write_best(search: Search, trial: optuna.trial.FrozenTrial, path: Path) -> str:
    """Write the best trial's parameters file to `path`; return its text."""
    header = (
        f"# The best trial of search '{search.name}' (trial {trial.number}, {search.objective} = {trial.value:.4f}),\n"
        f"# written by `regstudy tune`. Train it with: regstudy run {path}\n"
    )
    text = header + yaml.safe_dump(best_parameters(search, trial), sort_keys=False)
    path.write_text(text)
    return text


def summary_table(tuned: Tuned) -> str:
    """A markdown table of the search's trials: number, state, objective, where pruned, seconds, parameters."""
    search = tuned.search
    rows = [
        f"| trial | state | {search.objective} | stopped at | seconds | parameters |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for trial in counted(tuned.study):
        value = "" if trial.value is None else f"{trial.value:.4f}"
        stopped = trial.user_attrs.get("pruned_at", "")
        if stopped != "":
            stopped = f"{'fold' if search.folds else 'epoch'} {stopped}"
        drawn = _label(trial.user_attrs.get(PARAMETERS, {}))
        seconds = trial.user_attrs.get("seconds", "")
        rows.append(f"| {trial.number} | {trial.state.name} | {value} | {stopped} | {seconds} | {drawn} |")
    return "\n".join(rows)


def counts(study: optuna.Study) -> dict[str, int]:
    """How many counted trials ended in each state."""
    states = [trial.state.name for trial in counted(study)]
    return {state: states.count(state) for state in ("COMPLETE", "PRUNED", "FAIL")}


def publish(tuned: Tuned, best_file: Path | None) -> str:
    """Log the table, the best trial's parameters and the figures to the parent run, tag the best trial's runs,
    write `best_file`, and return a one-paragraph summary (also the parent run's description)."""
    client = tracking.connect()
    search, study, parent_id = tuned.search, tuned.study, tuned.parent_id
    numbers = counts(study)
    tally = f"{numbers['COMPLETE']} complete, {numbers['PRUNED']} pruned, {numbers['FAIL']} failed"
    client.log_text(parent_id, summary_table(tuned) + "\n", "trials.md")
    best = best_trial(study)
    if best is None:
        note = f"Search '{search.name}': no trial completed ({tally})."
    else:
        text = yaml.safe_dump(best_parameters(search, best), sort_keys=False)
        if best_file is not None:
            text = write_best(search, best, best_file)
        client.log_text(parent_id, text, "best.yaml")
        _tag_best(client, search, best)
        tracking.log_at_once(
            client,
            parent_id,
            metrics={f"best_{search.objective}": best.value},
            tags={"best_trial": best.number, "best_run_ids": ",".join(best.user_attrs.get(RUN_IDS, []))},
        )
        note = (
            f"Search '{search.name}': the best of {len(counted(study))} trials ({tally}) is trial {best.number}, "
            f"{search.objective} = {best.value:.4f}: {_label(best.user_attrs[PARAMETERS])}."
        )
    client.set_tag(parent_id, "mlflow.note.content", note)
    for name, figure in figures(study).items():
        client.log_figure(parent_id, figure, f"figures/{name}.png")
    return note


def figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's figures of the study (a figure that cannot be drawn yet, e.g. importances before two trials
    have completed, is left out)."""
    import matplotlib.pyplot as plt

    drawn = {}
    for name, plot in FIGURES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # importances from few trials "may be inaccurate"
            try:
                axes = plot(study)
            except (ValueError, RuntimeError):
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        drawn[name] = figure
        plt.close(figure)
    return drawn


def _tag_best(client, search: Search, best: optuna.trial.FrozenTrial) -> None:
    """Tag the best trial's runs, and untag those of a trial that was the best before a resumed search."""
    runs = tracking.search_runs(client, search.name, f"tags.`{SEARCH_TAG}` = '{search.name}'")
    for run in runs:
        is_best = run.info.run_id in best.user_attrs.get(RUN_IDS, [])
        if is_best:
            client.set_tag(run.info.run_id, BEST_TRIAL_TAG, "true")
        elif BEST_TRIAL_TAG in run.data.tags:
            client.delete_tag(run.info.run_id, BEST_TRIAL_TAG)


def _label(parameters: dict[str, Any]) -> str:
    """A trial's drawn parameters in a line, e.g. `learning_rate=0.0031, l2(l2=1.2e-05), dropout(rate=0.41)`."""
    parts = [f"{key}={_short(value)}" for key, value in parameters.items() if key != "plugins"]
    for name, options in parameters.get("plugins", {}).items():
        inner = ", ".join(f"{key}={_short(value)}" for key, value in options.items())
        parts.append(f"{name}({inner})" if inner else name)
    return ", ".join(parts) or "no regularization"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
