"""Search files: which regularization, at which strength, for a data set, searched by Optuna.

    name: cocktail-digits
    parameters: {dataset: digits, train_size: 300, hidden_units: [128, 128], epochs: 30}
    space:                                     # see regstudy.search_space
      learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      plugins:
        l2: {l2: {log_uniform: [1.0e-6, 1.0e-2]}}
        dropout: {rate: {uniform: [0.0, 0.7]}}
    objective: val_accuracy                    # a validation metric; `direction` follows from it
    folds: 5                                   # optional: the objective is its mean over 5 folds
    trials: 50
    sampler: {name: tpe, seed: 0}              # tpe (default; startup_trials: 10), random or grid
    pruner: median                             # median (default; startup_trials: 5, warmup_epochs: 0),
                                               # hyperband (min_epochs: 1, reduction_factor: 3),
                                               # wilcoxon (with folds; p_threshold: 0.1) or none

A trial reports its validation score after each epoch (after each fold, with `folds`), and the pruner stops
those that fall behind. A grid sampler needs categorical or integer ranges, and a plugin whose
hyperparameters it varies must be in every trial (`optional: false`).

The whole file is checked before the first trial, and each error names the file and the key: every fixed
parameter, every range against the parameter it sets, and every plugin of the space against the fixed
parameters (an image plugin on a table is refused here, not in the tenth trial).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regstudy.config import RunConfig
from regstudy.errors import _NO_VALUE, ConfigError
from regstudy.search_space import SearchSpace
from regstudy.validation import REPLICAS, SEED, Interval, Options, check_file_name, check_keys
from regstudy.yaml_files import read_mapping

SEARCH_KEYS = ("name", "parameters", "space", "objective", "folds", "trials", "sampler", "pruner", "replicas")
SAMPLER_OPTIONS = {"tpe": {"startup_trials": (Interval(int, 0, 10_000), 10)}, "random": {}, "grid": {}}
"""Each sampler's options, with the constraint and the default of each."""
PRUNER_OPTIONS = {
    "median": {"startup_trials": (Interval(int, 0, 10_000), 5), "warmup_epochs": (Interval(int, 0, 100_000), 0)},
    "hyperband": {"min_epochs": (Interval(int, 1, 100_000), 1), "reduction_factor": (Interval(int, 2, 100), 3)},
    "wilcoxon": {"p_threshold": (Interval(float, 0, 1, closed="neither"), 0.1)},
    "none": {},
}
"""Each pruner's options, with the constraint and the default of each."""
TRIALS = Interval(int, 1, 100_000, limit=True)
"""How many trials a search may ask for (in its file, or with `--trials`)."""
MAXIMIZED = ("val_accuracy",)
"""Objectives a search maximizes; it minimizes the others (losses, errors)."""


@dataclass(frozen=True)
class Search:
    """A validated search file. `parameters` are the fixed run parameters every trial shares."""

    name: str
    parameters: dict[str, Any]
    space: SearchSpace
    objective: str
    trials: int
    sampler: str
    seed: int
    pruner: str
    folds: int | None = None
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner_options: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict, compare=False)
    """The file as read, for the search's parent run."""
    replicas: int | None = None
    """The most trials of one program trained together (`regstudy.replicas`), or None for the default."""

    def trials_asked(self, trials: int | None) -> int:
        """The trials a `regstudy tune --trials` asks for, checked as the file's are (at most the grid's size
        with the grid sampler), or the file's when None."""
        if trials is None:
            return self.trials
        trials = TRIALS.check("--trials", trials)
        return _check_grid(self.space, trials, "--trials") if self.sampler == "grid" else trials

    @property
    def direction(self) -> str:
        """ "maximize" or "minimize", as Optuna names them."""
        return "maximize" if self.objective in MAXIMIZED else "minimize"


def load_search(path: str | Path) -> Search:
    """Read and check a search file; every error names the file and the key."""
    source = str(path)
    document = read_mapping(source, "a mapping with keys " + ", ".join(SEARCH_KEYS))
    try:
        check_keys(document, SEARCH_KEYS, kind="search key")
        name = check_file_name("name", document.get("name"))
        parameters = document.get("parameters") or {}
        base = RunConfig.from_mapping({**parameters, "experiment": name}, folder=Path(source).resolve().parent)
        space = SearchSpace.from_mapping(document.get("space"))
        _check_each_plugin(base, space)
        _check_extremes(base, space)
        objective = Options(_objectives(base), kind="objective").check("objective", document.get("objective"))
        folds = _folds(document.get("folds"), parameters)
        if folds:
            base = RunConfig(**{**base.to_dict(), "folds": folds})  # every fold's split is checked
        trials = TRIALS.check("trials", document.get("trials", 20))
        sampler, sampler_options = _algorithm("sampler", document.get("sampler", "tpe"), SAMPLER_OPTIONS)
        seed = SEED.check("sampler.seed", sampler_options.pop("seed", 0))
        pruner, pruner_options = _algorithm("pruner", document.get("pruner", "median"), PRUNER_OPTIONS)
        if pruner == "wilcoxon" and not folds:
            raise ConfigError("pruner", pruner, "compares a trial's folds with the best trial's: set `folds`")
        if sampler == "grid":
            trials = _check_grid(space, trials)
        replicas = REPLICAS.check("replicas", document["replicas"]) if "replicas" in document else None
    except ConfigError as error:
        raise error.located(source=source) from None
    fixed = {key: value for key, value in base.to_dict().items() if key in parameters or key == "dataset_options"}
    if folds:
        fixed["folds"] = folds
    return Search(
        name,
        fixed,
        space,
        objective,
        trials,
        sampler,
        seed,
        pruner,
        folds,
        sampler_options,
        pruner_options,
        document,
        replicas,
    )


def _objectives(config: RunConfig) -> tuple[str, ...]:
    """The validation metrics a run of `config` reports each epoch."""
    score = "val_accuracy" if config.description().task == "classification" else "val_mse"
    return ("val_loss", score)


def _algorithm(key: str, value: Any, choices: dict[str, dict]) -> tuple[str, dict[str, Any]]:
    """A sampler's or pruner's name and its options (defaults filled in), from a name or a mapping; a
    sampler's mapping also takes the `seed`, returned among the options."""
    if isinstance(value, str):
        return Options(tuple(choices), kind=key).check(key, value), _options(key, value, {}, choices)
    if not isinstance(value, dict):
        raise ConfigError(key, value, f"expected a {key} name, or a mapping with `name` and its options")
    name = Options(tuple(choices), kind=key).check(f"{key}.name", value.get("name", next(iter(choices))))
    return name, _options(key, name, value, choices)


def _options(key: str, name: str, value: dict, choices: dict[str, dict]) -> dict[str, Any]:
    """The options of sampler or pruner `name`: those `value` gives, checked, and the defaults of the others."""
    allowed = {**choices[name], **({"seed": None} if key == "sampler" else {})}
    check_keys(value, ["name", *allowed], kind=f"{name} option", prefix=f"{key}.")
    options = {option: default for option, (_, default) in choices[name].items()}
    for option, given in value.items():
        if option in choices[name]:
            options[option] = choices[name][option][0].check(f"{key}.{option}", given)
        elif option == "seed":
            options["seed"] = given
    return options


def _folds(value: Any, parameters: dict) -> int | None:
    """The number of folds whose mean is the objective, or None for the validation split."""
    if value is None:
        return None
    for key in ("folds", "fold"):
        if key in parameters:
            raise ConfigError(f"parameters.{key}", parameters[key], "a search sets the folds itself: use `folds`")
    return Interval(int, 2, 100).check("folds", value)


def _check_grid(space: SearchSpace, trials: int, key: str = "trials") -> int:
    """Refuse a space a grid cannot cover; return the trials, refused beyond the grid's size."""
    size = math.prod(len(values) for values in space.grid().values())
    if trials > size:
        raise ConfigError(key, trials, f"the grid has {size} points: ask for at most {size}")
    return trials


def _check_extremes(base: RunConfig, space: SearchSpace) -> None:
    """Refuse a range of a run parameter whose end (or a choice) the fixed run cannot take, such as a
    `train_size` beyond the examples the data set has: every trial drawing there would fail."""
    for key, value in space.parameters.items():
        if not hasattr(value, "suggest"):
            continue
        for end in value.values:
            try:
                RunConfig(**{**base.to_dict(), key: end})
            except ConfigError as error:
                raise ConfigError(f"space.{key}.{value.kind}", end, error.problem) from None


def _check_each_plugin(base: RunConfig, space: SearchSpace) -> None:
    """Refuse a plugin of the space that cannot act on the fixed run (e.g. `cutmix` on a table)."""
    for plugin in space.plugins:
        fixed = {key: value for key, value in plugin.hyperparameters.items() if not hasattr(value, "suggest")}
        try:
            RunConfig(**{**base.to_dict(), "plugins": {plugin.name: fixed}})
        except ConfigError as error:
            raise ConfigError(f"space.plugins.{plugin.name}", _NO_VALUE, error.problem) from None
