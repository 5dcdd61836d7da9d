"""`Configurable`: the convention shared by plugins and data sets, Keras' for layers and regularizers.

Every keyword argument of `__init__` has a default and is stored as given in an attribute of the same name,
so the hyperparameters, the config and the documentation all come from the signature. Which values each
accepts is declared in `parameter_constraints` (as scikit-learn declares them) and checked in one place,
`create`, which is also `from_config`: every instance built from user input is checked the same way.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from regstudy.errors import ConfigError
from regstudy.validation import Constraint, check_keys, check_parameters


@functools.cache
def _keyword_defaults(function) -> tuple[tuple[str, Any], ...]:
    """The keyword arguments of `function` (a method: its first argument left out) with their defaults; read
    once per function, since `inspect.signature` costs more than the rest of validating a run together."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return tuple(
        (parameter.name, parameter.default)
        for parameter in parameters
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    )


class Configurable:
    """A class whose keyword arguments are its hyperparameters."""

    name: ClassVar[str] = ""
    """The name it is registered under; set by the registry."""

    parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    """Each hyperparameter's valid values, e.g. `{"rate": Interval(float, 0, 1, closed="left")}`."""

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Return each keyword argument of `__init__` with its default."""
        return dict(_keyword_defaults(cls.__init__))

    @classmethod
    def describe(cls) -> str:
        """Return the first line of the class docstring."""
        return (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def create(cls, config: dict[str, Any] | None = None) -> Configurable:
        """Build an instance from `config`, checking every value against `parameter_constraints`.

        Raises `ConfigError` naming an unknown key and the valid ones, or a value out of its range.
        """
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ConfigError(None, config, "expected a mapping of hyperparameters")
        defaults = cls.hyperparameters()
        check_keys(config, defaults, kind=f"hyperparameter of '{cls.name}'")
        instance = cls(**check_parameters(cls.parameter_constraints, {**defaults, **config}))
        instance.validate()
        return instance

    from_config = create

    def validate(self) -> None:
        """Raise `ConfigError` if hyperparameters that are each valid do not fit together."""

    def get_config(self) -> dict[str, Any]:
        """Return the hyperparameters as JSON-safe values; `from_config` rebuilds an equal instance."""
        return {key: getattr(self, key) for key in self.hyperparameters()}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"
