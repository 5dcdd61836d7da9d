"""Question 11: Kadra et al. (2021) at this machine's scale: does a tuned cocktail of regularizers make a plain
MLP beat the best single regularizer, and gradient-boosted trees?

On each data set, with the same budget of trials for every search (Optuna's TPE; Optuna's median pruner on
each epoch's validation accuracy): the MLP without regularization; each regularizer of the cocktail's space
tuned alone, the best of them chosen by validation accuracy; the cocktail, every regularizer optional; and
scikit-learn's `HistGradientBoostingClassifier` tuned on the same split. What each search chose is trained
again with every seed and compared on the test set: ranks per data set, and Wilcoxon's signed-rank test of
the per-data-set differences across data sets, as the paper compares methods.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier

from regstudy import significance
from regstudy.config import RunConfig, splits_for
from regstudy.errors import ConfigError, TrainingError
from regstudy.pruning import PRUNED_EPOCH_METRIC, make_pruner
from regstudy.questions import experiment_of
from regstudy.questions.common import Answer, Question
from regstudy.questions.constraints import RunParameters, Space
from regstudy.search_space import Range, SearchSpace
from regstudy.validation import Constraint, Interval, MappingOf

EXPERIMENT = experiment_of(__name__)

PAPER = (
    "Kadra et al. (2021), on 40 tabular data sets with a cocktail of 13 regularizers tuned per data set, found "
    "that well-regularized plain MLPs significantly outperform specialized neural architectures and even XGBoost."
)
METHODS = ("none", "best single", "cocktail", "trees")
"""The four contenders, in the order the tables show them."""
TREE_SPACE = {
    "learning_rate": Range("log_uniform", (0.01, 0.3)),
    "max_leaf_nodes": Range("integer", (8, 64)),
    "min_samples_leaf": Range("integer", (2, 40)),
    "l2_regularization": Range("log_uniform", (1.0e-6, 10.0)),
    "max_iter": Range("integer", (50, 300)),
}
"""The hyperparameters of `HistGradientBoostingClassifier` searched, with the trials' budget."""
SIGNIFICANCE = 0.05


PARAMETERS: dict[str, Constraint] = {
    "datasets": MappingOf(RunParameters()),
    "space": Space(),
    "trials": Interval(int, 1, 10_000, limit=True),
}
"""The valid values of this question's own parameters (those it shares with a run are `RunConfig`'s)."""


def run(
    datasets: dict[str, dict[str, Any]],
    space: dict[str, Any],
    trials: int,
    seeds: list[int],
    experiment: str = EXPERIMENT,
    **training: Any,
) -> Answer:
    """Search, train again and compare the four contenders on every data set.

    Args:
        datasets: label → the run parameters of a classification data set (`dataset`, its options, sizes).
        space: the cocktail's search space (`regstudy.search_space`); each of its plugins alone is a single
            regularizer.
        trials: the budget of every search (a single regularizer without hyperparameters needs one trial).
        seeds: the seeds of the final runs; the searches train with the first.
        **training: parameters of every run (model, hidden_units, epochs, learning_rate, ...).
    """
    cocktail = SearchSpace.from_mapping(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the child runs and the tables say what each trial did
    parameters = {"datasets": datasets, "space": space, "trials": trials, "seeds": seeds, **training}
    with Question(experiment, parameters) as q:
        trees = []
        for index, (label, data) in enumerate(datasets.items()):
            fixed = {**training, **data}
            _check_classification(label, fixed)
            searches = {
                plugin.name: _search(q, label, plugin.name, _alone(cocktail, plugin), fixed, trials, seeds[0], index)
                for plugin in cocktail.plugins
            }
            single = max(searches, key=lambda name: searches[name][1])
            chosen = {
                "none": {"plugins": {}},
                "best single": searches[single][0],
                "cocktail": _search(q, label, "cocktail", cocktail, fixed, trials, seeds[0], index)[0],
            }
            for method, drawn in chosen.items():
                for seed in seeds:
                    q.train({"dataset": label, "method": method, "phase": "final"}, **{**fixed, **drawn, "seed": seed})
            trees += _trees(label, fixed, trials, seeds, index)
        table = pd.concat([q.table(), pd.DataFrame(trees)], ignore_index=True)
        final = table[table["phase"] == "final"]
        accuracy = final.pivot_table(index="dataset", columns="method", values="test_accuracy", aggfunc="mean")
        accuracy = accuracy.loc[list(datasets), list(METHODS)]
        chosen_table = _chosen(table)
        tests = compare(accuracy)
        answer = _answer(accuracy, tests)
        figure = _figure(accuracy)
        found = q.log_result(
            answer,
            tables={"runs": table, "test_accuracy": accuracy, "wilcoxon": tests, "chosen": chosen_table},
            figures={"test_accuracy": figure},
        )
    return found


def compare(accuracy: pd.DataFrame) -> pd.DataFrame:
    """The cocktail against each other contender across data sets: wins, ties and losses, the mean difference,
    and the two-sided Wilcoxon signed-rank p-value of the per-data-set differences (`significance.paired`: zero
    differences dropped; NaN when every difference is zero, where the test cannot be computed)."""
    rows = []
    for other in ("best single", "trees", "none"):
        difference = (accuracy["cocktail"] - accuracy[other]).to_numpy()
        comparison = significance.paired(accuracy["cocktail"].to_numpy(), accuracy[other].to_numpy(), unit="data set")
        rows.append(
            {
                "against": other,
                "data sets": len(difference),
                "wins": int(np.sum(difference > 0)),
                "ties": int(np.sum(difference == 0)),
                "losses": int(np.sum(difference < 0)),
                "mean difference": comparison.mean_difference,
                "p (Wilcoxon)": comparison.p_wilcoxon,
            }
        )
    return pd.DataFrame(rows)


def ranks(accuracy: pd.DataFrame) -> pd.Series:
    """Each contender's mean rank over data sets (1 is the best test accuracy; ties share their mean rank), in
    the table's order."""
    return significance.mean_ranks(accuracy).loc[list(accuracy.columns)]


def _alone(cocktail: SearchSpace, plugin) -> SearchSpace:
    """The space of one regularizer of the cocktail, in every trial."""
    return SearchSpace(cocktail.parameters, (replace(plugin, optional=False),))


def _check_classification(label: str, parameters: dict[str, Any]) -> None:
    config = RunConfig.from_mapping(parameters)
    if config.description().task != "classification":
        raise ConfigError(f"datasets.{label}.dataset", config.dataset, "compares test accuracy: expected classes")


def _search(
    question: Question, label: str, method: str, space: SearchSpace, fixed: dict, trials: int, seed: int, index: int
) -> tuple[dict[str, Any], float]:
    """Search `space` on data set `label` with `trials` trials (one if nothing in it varies); return the best
    trial's run parameters and its validation accuracy. Each trial is a child run labelled with the search."""
    epochs = RunConfig.from_mapping(fixed).epochs
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=_seed(seed, index, method), n_startup_trials=max(1, trials // 2)),
        pruner=make_pruner("median", {"startup_trials": max(1, trials // 4), "warmup_epochs": max(1, epochs // 4)}),
    )
    drawn = {}
    for _ in range(trials if space.varies else 1):
        trial = study.ask()
        drawn[trial.number] = space.suggest(trial)
        labels = {"dataset": label, "method": method, "phase": "search", "trial": trial.number}
        try:
            result = question.train(labels, trial=trial, **{**fixed, **drawn[trial.number], "seed": seed})
        except TrainingError:  # e.g. the loss diverged: a bad draw, not a failed question
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        if PRUNED_EPOCH_METRIC in result.metrics:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, result.metrics["validation_accuracy"])
    best = study.best_trial
    return drawn[best.number], best.value


def _trees(label: str, fixed: dict, trials: int, seeds: list[int], index: int) -> list[dict[str, Any]]:
    """Tune `HistGradientBoostingClassifier` on the runs' own training and validation split with the same budget
    (TPE), then score the best on the test set with every seed; one row per search trial and per final fit."""
    splits = splits_for(RunConfig.from_mapping(fixed))
    x_train, x_validation, x_test = (
        np.reshape(x, (len(x), -1)) for x in (splits.x_train, splits.x_validation, splits.x_test)
    )
    rows = []

    def fit(parameters: dict[str, Any], seed: int) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **parameters).fit(
            x_train, splits.y_train
        )

    def objective(trial: optuna.Trial) -> float:
        parameters = {name: value.suggest(trial, name) for name, value in TREE_SPACE.items()}
        score = fit(parameters, seeds[0]).score(x_validation, splits.y_validation)
        rows.append(
            {"dataset": label, "method": "trees", "phase": "search", "trial": trial.number, "seed": seeds[0]}
            | {"validation_accuracy": score, **parameters}
        )
        return score

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=_seed(seeds[0], index, "trees"), n_startup_trials=max(1, trials // 2)),
    )
    study.optimize(objective, n_trials=trials)
    for seed in seeds:
        model = fit(study.best_params, seed)
        rows.append(
            {"dataset": label, "method": "trees", "phase": "final", "seed": seed, **study.best_params}
            | {
                "validation_accuracy": model.score(x_validation, splits.y_validation),
                "test_accuracy": model.score(x_test, splits.y_test),
            }
        )
    return rows


def _seed(seed: int, index: int, method: str) -> int:
    """The sampler seed of one search: fixed by the run seed, the data set's position and the method."""
    return int(np.random.SeedSequence([seed, index, *method.encode()]).generate_state(1)[0])


def _chosen(table: pd.DataFrame) -> pd.DataFrame:
    """What each search chose on each data set, read from its best search trial."""
    search = table[table["phase"] == "search"]
    rows = []
    for (dataset, method), trials in search.groupby(["dataset", "method"], sort=False):
        best = trials.loc[trials["validation_accuracy"].idxmax()]
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "trials": len(trials),
                "best validation": best["validation_accuracy"],
            }
        )
    return pd.DataFrame(rows)


def _answer(accuracy: pd.DataFrame, tests: pd.DataFrame) -> str:
    """The answer in words, from the test accuracies and the Wilcoxon tests."""
    names = {"best single": "the best single regularizer", "trees": "the tuned trees", "none": "the unregularized MLP"}
    parts, significant, worse = [], {}, {}
    for row in tests.to_dict("records"):
        p_value = row["p (Wilcoxon)"]
        verdict = "no differences to test" if np.isnan(p_value) else f"Wilcoxon p = {p_value:.3g}"
        parts.append(
            f"{names[row['against']]} on {row['wins']} of {row['data sets']} ({row['ties']} ties; mean difference "
            f"{100 * row['mean difference']:+.1f} points, {verdict})"
        )
        significant[row["against"]] = p_value < SIGNIFICANCE and row["mean difference"] > 0
        worse[row["against"]] = p_value < SIGNIFICANCE and row["mean difference"] < 0
    mean_ranks = ranks(accuracy).sort_values()
    ranking = ", ".join(f"{method} {rank:.2f}" for method, rank in mean_ranks.items())
    return (
        f"On {len(accuracy)} data sets, the tuned cocktail's mean test accuracy beat " + "; ".join(parts) + ". "
        f"Mean ranks (1 is best): {ranking}. {_claim(significant, worse, len(accuracy))} The paper: {PAPER}"
    )


def _claim(better: dict[str, bool], worse: dict[str, bool], datasets: int) -> str:
    """Kadra et al.'s claim (the cocktail beats both the best single regularizer and the trees) in words: held
    where both are significantly beaten, refuted where the cocktail is significantly worse than either, and
    otherwise not concluded, with the least that this many data sets could have detected."""
    rivals = {"best single": "the best single regularizer", "trees": "the tuned trees"}
    if better["best single"] and better["trees"]:
        return (
            f"Kadra et al.'s claim holds here: the cocktail is significantly better ({SIGNIFICANCE:.0%}, two-sided) "
            "than both the best single regularizer and the tuned trees."
        )
    beaten_by = [name for key, name in rivals.items() if worse[key]]
    if beaten_by:
        return f"Kadra et al.'s claim does not hold here: {' and '.join(beaten_by)} significantly beat the cocktail."
    untold = [name for key, name in rivals.items() if not better[key]]
    wins = fewest_wins(datasets)
    could = (
        f"with {datasets} data sets a two-sided Wilcoxon test at {SIGNIFICANCE:.0%} can tell only a cocktail that "
        f"wins on at least {wins} of them, its losses the smallest differences"
        if wins is not None
        else f"with {datasets} data sets no two-sided Wilcoxon test can reach {SIGNIFICANCE:.0%}"
    )
    return (
        f"Whether Kadra et al.'s claim holds cannot be concluded here: the cocktail is not significantly better than "
        f"{' or '.join(untold)}, and {could}."
    )


def fewest_wins(datasets: int, alpha: float = SIGNIFICANCE) -> int | None:
    """The fewest data sets (of `datasets`, no ties) a method must win for a two-sided exact Wilcoxon signed-rank
    test to find it better at `alpha`: its losses placed on the smallest differences, the best case (scipy's
    exact distribution); None when even winning all of them is not enough."""
    for wins in range(datasets // 2 + 1, datasets + 1):
        differences = np.arange(1, datasets + 1) * np.where(np.arange(datasets) < datasets - wins, -1, 1)
        if stats.wilcoxon(differences, method="exact").pvalue < alpha:
            return wins
    return None


def _figure(accuracy: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(9, 4.5))
    axes = figure.subplots()
    width = 0.8 / len(accuracy.columns)
    positions = np.arange(len(accuracy))
    for offset, method in enumerate(accuracy.columns):
        axes.bar(positions + offset * width, accuracy[method], width, label=method)
    axes.set_xticks(positions + 0.4 - width / 2, accuracy.index, rotation=20)
    low = float(np.nanmin(accuracy.to_numpy()))
    axes.set_ylim(max(0.0, low - 0.05), 1.0)
    axes.set_ylabel("test accuracy (mean over seeds)")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure
