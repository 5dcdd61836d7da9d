"""Search files: which regularization, at which strength, for a data set, searched by Optuna.

    name: cocktail-digits
    parameters: {dataset: digits, train_size: 300, hidden_units: [128, 128], epochs: 30}
    space:                                     # see regstudy.search_space
      learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      plugins:
        l2: {l2: {log_uniform: [1.0e-6, 1.0e-2]}}
        dropout: {rate: {uniform: [0.0, 0.7]}}
    objective: val_accuracy                    # a validation metric; `direction` follows from it
    trials: 50
    sampler: {name: tpe, seed: 0}              # tpe (default), random or grid
    pruner: median                             # median (default), hyperband or none

The whole file is checked before the first trial, and each error names the file and the key: every fixed
parameter, every range against the parameter it sets, and every plugin of the space against the fixed
parameters (an image plugin on a table is refused here, not in the tenth trial).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regstudy.config import RunConfig
from regstudy.errors import _NO_VALUE, ConfigError
from regstudy.search_space import SearchSpace
from regstudy.validation import SEED, Interval, Options, check_name, unknown_key_error
from regstudy.yaml_files import read_mapping

SEARCH_KEYS = ("name", "parameters", "space", "objective", "trials", "sampler", "pruner")
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
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

    @property
    def direction(self) -> str:
        """ "maximize" or "minimize", as Optuna names them."""
        return "maximize" if self.objective in MAXIMIZED else "minimize"


def load_search(path: str | Path) -> Search:
    """Read and check a search file; every error names the file and the key."""
    source = str(path)
    document = read_mapping(source, "a mapping with keys " + ", ".join(SEARCH_KEYS))
    try:
        for key in document:
            if key not in SEARCH_KEYS:
                raise unknown_key_error(str(key), SEARCH_KEYS, kind="search key")
        name = check_name("name", document.get("name"))
        parameters = document.get("parameters") or {}
        base = RunConfig.from_mapping({**parameters, "experiment": name}, folder=Path(source).resolve().parent)
        space = SearchSpace.from_mapping(document.get("space"))
        _check_each_plugin(base, space)
        objective = Options(_objectives(base), kind="objective").check("objective", document.get("objective"))
        trials = Interval(int, 1, 100_000, limit=True).check("trials", document.get("trials", 20))
        sampler, seed = _sampler(document.get("sampler", {}))
        pruner = Options(PRUNERS, kind="pruner").check("pruner", document.get("pruner", "median"))
    except ConfigError as error:
        raise error.located(source=source) from None
    fixed = {key: value for key, value in base.to_dict().items() if key in parameters or key == "dataset_options"}
    return Search(name, fixed, space, objective, trials, sampler, seed, pruner)


def _objectives(config: RunConfig) -> tuple[str, ...]:
    """The validation metrics a run of `config` reports each epoch."""
    score = "val_accuracy" if config.description().task == "classification" else "val_mse"
    return ("val_loss", score)


def _sampler(value: Any) -> tuple[str, int]:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ConfigError("sampler", value, "expected a sampler name, or a mapping with `name` and `seed`")
    for key in value:
        if key not in ("name", "seed"):
            raise unknown_key_error(str(key), ("name", "seed"), kind="sampler key").renamed(f"sampler.{key}")
    name = Options(SAMPLERS, kind="sampler").check("sampler.name", value.get("name", "tpe"))
    return name, Interval(int, 0, SEED).check("sampler.seed", value.get("seed", 0))


def _check_each_plugin(base: RunConfig, space: SearchSpace) -> None:
    """Refuse a plugin of the space that cannot act on the fixed run (e.g. `cutmix` on a table)."""
    for plugin in space.plugins:
        fixed = {key: value for key, value in plugin.hyperparameters.items() if not hasattr(value, "suggest")}
        try:
            RunConfig(**{**base.to_dict(), "plugins": {plugin.name: fixed}})
        except ConfigError as error:
            raise ConfigError(f"space.plugins.{plugin.name}", _NO_VALUE, error.problem) from None
