"""A search space over run parameters and plugins, for Optuna: what a search file's `space` declares.

    space:
      learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      plugins:
        l2: {l2: {log_uniform: [1.0e-6, 1.0e-2]}}                 # optional: each trial turns it on or off
        dropout: {optional: false, rate: {uniform: [0.0, 0.7]}}   # in every trial
        mixup: {alpha: {categorical: [0.1, 0.2, 0.4]}}
        cutout: {}
      one_of: [[mixup, cutout]]          # each trial takes at most one plugin of each group

A range is `log_uniform`, `uniform` or `integer` (`[low, high]`, both included) or `categorical` (a list of
values); any other value is fixed. A plugin is optional unless `optional: false`, and its hyperparameters
exist in a trial only when it is on (Optuna's conditional parameters, named `<plugin>.<name>`; the switch
is named `plugins.<plugin>`). The plugins of a `one_of` group are chosen together, by one categorical
parameter named `one_of.<first>,<second>,...` whose choices are `none` and each plugin: a group holds plugins
that cannot train together (two final models, `swa` and `ema`) or that a search should not stack (several
data augmentations, as Kadra et al. 2021 grouped them). Every bound and choice is checked against the declared
range of the parameter it sets, and plugins that cannot train together are refused in one space, before any
trial runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from regstudy.combination import Combination
from regstudy.config import RunConfig
from regstudy.errors import ConfigError, IncompatiblePluginsError
from regstudy.plugins import PLUGINS
from regstudy.validation import Constraint, check_bool, check_keys

if TYPE_CHECKING:
    import optuna

RANGES = ("log_uniform", "uniform", "integer", "categorical")
FIXED_RUN_PARAMETERS = ("experiment", "run_name", "seed", "plugins", "dataset", "dataset_options")
"""Run parameters a space cannot vary: where a trial is logged, its seed, and the data (a search file's fixed
`parameters` give them)."""


@dataclass(frozen=True)
class Range:
    """The values one parameter takes in a search: `kind` (one of `RANGES`) over `values` (`[low, high]`, or
    the choices of a categorical range)."""

    kind: str
    values: tuple

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The value Optuna's `trial` draws for the parameter `name`."""
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.values))
        low, high = self.values
        if self.kind == "integer":
            return trial.suggest_int(name, low, high)
        return trial.suggest_float(name, low, high, log=self.kind == "log_uniform")


def parse_value(key: str, value: Any, constraint: Constraint) -> Range | Any:
    """A `Range` if `value` declares one, else the fixed `value`; every bound or choice checked by `constraint`."""
    if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in RANGES):
        if isinstance(value, dict) and set(value) & set(RANGES):
            raise ConfigError(key, value, f"expected one range: {', '.join(RANGES)}")
        return constraint.check(key, value)
    ((kind, values),) = value.items()
    if kind == "categorical":
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}.categorical", values, "expected a non-empty list of choices")
        for choice in values:
            if not (choice is None or isinstance(choice, (bool, int, float, str))):
                problem = "holds a choice that is not a number, text, true, false or null, which Optuna stores"
                raise ConfigError(f"{key}.categorical", choice, problem)
        return Range(kind, tuple(constraint.check(key, choice) for choice in values))
    if not isinstance(values, list) or len(values) != 2:
        raise ConfigError(f"{key}.{kind}", values, "expected [low, high]")
    low, high = (constraint.check(key, bound) for bound in values)
    if kind == "integer" and not all(isinstance(bound, int) and not isinstance(bound, bool) for bound in (low, high)):
        raise ConfigError(f"{key}.{kind}", values, "expected integer bounds")
    if not low < high:
        raise ConfigError(f"{key}.{kind}", values, "expected low < high")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{key}.{kind}", values, "expected low > 0 on a log scale")
    return Range(kind, (low, high))


@dataclass(frozen=True)
class PluginSpace:
    """One plugin of a space: whether each trial may leave it out, and its hyperparameters (ranges or fixed)."""

    name: str
    optional: bool
    hyperparameters: dict[str, Any]


@dataclass(frozen=True)
class SearchSpace:
    """Run parameters and plugins a search varies. Build it with `SearchSpace.from_mapping`."""

    parameters: dict[str, Any]
    plugins: tuple[PluginSpace, ...]
    groups: tuple[tuple[str, ...], ...] = ()
    """Plugins of which each trial takes at most one (`one_of`)."""

    @classmethod
    def from_mapping(cls, space: Any) -> SearchSpace:
        """Parse and check a search file's `space`; errors name the key under `space`."""
        if not isinstance(space, dict) or not space:
            raise ConfigError("space", space, "expected a mapping of parameters (and `plugins`) to ranges")
        constraints = {k: v for k, v in RunConfig.parameter_constraints.items() if k not in FIXED_RUN_PARAMETERS}
        parameters = {}
        check_keys(space, [*constraints, "plugins", "one_of"], prefix="space.")
        for key, value in space.items():
            if key in ("plugins", "one_of"):
                continue
            parameters[key] = parse_value(f"space.{key}", value, constraints[key])
        plugins = tuple(_plugin_space(name, options) for name, options in _mapping(space.get("plugins", {})).items())
        groups = _groups(space.get("one_of", []), plugins)
        _check_together(plugins, groups)
        return cls(parameters, plugins, groups)

    @property
    def varies(self) -> bool:
        """Whether two trials can draw differently: a range, or a plugin that may be off (groups are of
        optional plugins)."""
        return any(isinstance(value, Range) for value in self.parameters.values()) or any(
            plugin.optional or any(isinstance(value, Range) for value in plugin.hyperparameters.values())
            for plugin in self.plugins
        )

    def grid(self) -> dict[str, list]:
        """Every parameter's values as Optuna's grid sampler takes them (names as `suggest` draws them); a
        space a grid cannot cover (a continuous range, or an optional plugin with ranges) is refused."""
        grid = {key: _grid_values(f"space.{key}", value) for key, value in self.parameters.items()}
        for plugin in self.plugins:
            ranges = {key: value for key, value in plugin.hyperparameters.items() if isinstance(value, Range)}
            if (plugin.optional or self._group_of(plugin.name)) and ranges:
                raise ConfigError(
                    f"space.plugins.{plugin.name}.optional",
                    True,
                    "a grid cannot leave out a plugin whose hyperparameters it varies: set `optional: false`",
                )
            if plugin.optional and not self._group_of(plugin.name):
                grid[f"plugins.{plugin.name}"] = [True, False]
            for key, value in ranges.items():
                grid[f"{plugin.name}.{key}"] = _grid_values(f"space.plugins.{plugin.name}.{key}", value)
        for group in self.groups:
            grid[_group_name(group)] = ["none", *group]
        return {key: values for key, values in grid.items() if values is not None}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The run parameters of one trial: each range drawn by `trial`, each optional plugin on or off."""
        chosen = {key: _drawn(trial, key, value) for key, value in self.parameters.items()}
        taken = {trial.suggest_categorical(_group_name(group), ["none", *group]) for group in self.groups}
        plugins = {}
        for plugin in self.plugins:
            if self._group_of(plugin.name):
                if plugin.name not in taken:
                    continue
            elif plugin.optional and not trial.suggest_categorical(f"plugins.{plugin.name}", [True, False]):
                continue
            plugins[plugin.name] = {
                key: _drawn(trial, f"{plugin.name}.{key}", value) for key, value in plugin.hyperparameters.items()
            }
        return {**chosen, "plugins": plugins}

    def _group_of(self, name: str) -> tuple[str, ...] | None:
        return next((group for group in self.groups if name in group), None)


def _group_name(group: tuple[str, ...]) -> str:
    """The categorical parameter that chooses a group's plugin."""
    return "one_of." + ",".join(group)


def _groups(value: Any, plugins: tuple[PluginSpace, ...]) -> tuple[tuple[str, ...], ...]:
    """`one_of`'s groups, checked: lists of two or more plugins of the space, each in one group at most."""
    if not isinstance(value, list) or not all(isinstance(group, list) for group in value):
        raise ConfigError("space.one_of", value, "expected a list of groups, each a list of the space's plugins")
    names, seen, groups = {plugin.name for plugin in plugins}, set(), []
    for index, group in enumerate(value):
        key = f"space.one_of[{index}]"
        if len(group) < 2:
            raise ConfigError(key, group, "expected two or more plugins")
        group = [_canonical(f"{key}", name) for name in group]
        for name in group:
            if name not in names:
                raise ConfigError(key, name, "is not a plugin of the space: add it under `space.plugins`")
            if name in seen:
                raise ConfigError(key, name, "is in two groups: a plugin belongs to one group at most")
            seen.add(name)
        groups.append(tuple(group))
    required = [plugin.name for plugin in plugins if plugin.name in seen and not plugin.optional]
    if required:
        raise ConfigError(
            f"space.plugins.{required[0]}.optional", False, "its group chooses it: a plugin of a group is optional"
        )
    return tuple(groups)


def _canonical(key: str, name: Any) -> str:
    """A plugin's registered name (an alias resolved)."""
    try:
        return PLUGINS.get(name).name
    except ConfigError as error:
        raise error.renamed(key) from None


def _grid_values(key: str, value: Any) -> list | None:
    if not isinstance(value, Range):
        return None
    if value.kind == "categorical":
        return list(value.values)
    if value.kind == "integer":
        return list(range(value.values[0], value.values[1] + 1))
    raise ConfigError(f"{key}.{value.kind}", list(value.values), "a grid takes categorical or integer ranges only")


def _drawn(trial: optuna.Trial, name: str, value: Any) -> Any:
    return value.suggest(trial, name) if isinstance(value, Range) else value


def _mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError("space.plugins", value, "expected a mapping of plugin names to their hyperparameters")
    return value


def _plugin_space(name: Any, options: Any) -> PluginSpace:
    key = f"space.plugins.{name}"
    try:
        plugin_class = PLUGINS.get(name)
    except ConfigError as error:
        raise error.renamed("space.plugins") from None
    if plugin_class.trains_alone:
        raise ConfigError(key, options, f"cannot be searched: it trains alone ({plugin_class.trains_alone})")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ConfigError(key, options, "expected a mapping of hyperparameters to ranges, and `optional`")
    optional = check_bool(f"{key}.optional", options.get("optional", True))
    constraints = plugin_class.parameter_constraints
    check_keys(options, [*constraints, "optional"], kind="hyperparameter", prefix=f"{key}.")
    hyperparameters = {}
    for option, value in options.items():
        if option == "optional":
            continue
        hyperparameters[option] = parse_value(f"{key}.{option}", value, constraints[option])
    return PluginSpace(plugin_class.name, optional, hyperparameters)


def _check_together(plugins: tuple[PluginSpace, ...], groups: tuple[tuple[str, ...], ...]) -> None:
    """Refuse two plugins that a trial could draw together but not train together (two stopping rules, two
    final models, ...): those of one `one_of` group are never drawn together."""
    built = [PLUGINS.get(plugin.name)() for plugin in plugins]
    for index, first in enumerate(built):
        for second in built[index + 1 :]:
            if any(first.name in group and second.name in group for group in groups):
                continue
            try:
                Combination([first, second]).check_together()
            except IncompatiblePluginsError as error:
                raise ConfigError(
                    "space.plugins",
                    f"{first.name} + {second.name}",
                    f"cannot be in one space: {error.problem.removeprefix('cannot be combined: ')}; "
                    "put them in a `one_of` group to try each",
                ) from None
