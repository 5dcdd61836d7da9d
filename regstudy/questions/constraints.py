"""The constraints question parameters share: plugins by label, run parameters, a data set's options, a search
space, and lists of strengths and fractions. Each question module declares its own `PARAMETERS` with them."""

from __future__ import annotations

from dataclasses import dataclass

from regstudy.combination import Combination
from regstudy.config import RunConfig, build_plugins
from regstudy.errors import ConfigError
from regstudy.search_space import SearchSpace
from regstudy.validation import Constraint, Interval, ListOf, MappingOf


@dataclass(frozen=True)
class Plugins(Constraint):
    """A run's plugins, as `RunConfig.plugins` takes them (`{}` is the baseline)."""

    def check(self, name, value):
        try:
            plugins = build_plugins(value)
            Combination(plugins).check_together()  # what depends on the run is checked when it is trained
            return {plugin.name: plugin.get_config() for plugin in plugins}
        except ConfigError as error:  # named under this parameter: `methods.l1.l1` rather than `plugins.l1.l1`
            raise error.renamed(name + (error.key or "")[len("plugins") :]) from None

    def __str__(self) -> str:
        return "plugins with their hyperparameters"

    def invalid_values(self):
        return ["no_such_plugin", {"no_such_plugin": {}}, {"l2": {"l2": -1.0}}, {"none": {}, "l2": {}}]


@dataclass(frozen=True)
class RunParameters(Constraint):
    """Parameters of a run (some of `RunConfig`'s), e.g. a data set with its options."""

    def check(self, name, value):
        if not isinstance(value, dict):
            raise ConfigError(name, value, "expected a mapping of run parameters")
        try:
            RunConfig.from_mapping(value)
        except ConfigError as error:
            raise error.located(prefix=name) from None
        return value

    def __str__(self) -> str:
        return "run parameters"

    def invalid_values(self):
        return ["text", {"epochs": 0}, {"no_such_parameter": 1}]


@dataclass(frozen=True)
class DatasetOptions(Constraint):
    """Options of the data set `dataset`."""

    dataset: str

    def check(self, name, value):
        return RunParameters().check(name, {"dataset": self.dataset, "dataset_options": value})["dataset_options"]

    def __str__(self) -> str:
        return f"options of the {self.dataset} data set"

    def invalid_values(self):
        return ["text", {"no_such_option": 1}]


@dataclass(frozen=True)
class Space(Constraint):
    """A search space over run parameters and plugins (`regstudy.search_space`)."""

    def check(self, name, value):
        try:
            SearchSpace.from_mapping(value)
        except ConfigError as error:  # named under this parameter: `space.plugins.l2` as in a search file
            raise error.renamed(name + (error.key or "")[len("space") :]) from None
        return value

    def __str__(self) -> str:
        return "a search space over run parameters and plugins"

    def invalid_values(self):
        return ["text", {"plugins": {"no_such_plugin": {}}}, {"learning_rate": {"uniform": [0.1, 0.01]}}]


STRENGTH_GRID = ListOf(Interval(float, 0, None))
FRACTIONS = ListOf(Interval(float, 0, 1))
PLUGINS_BY_LABEL = MappingOf(Plugins())
