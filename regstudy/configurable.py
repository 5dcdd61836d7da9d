"""`Configurable`: the scikit-learn convention shared by plugins and data sets.

Every keyword argument of `__init__` has a default and is stored as an attribute of the same name, so the
hyperparameters, the config and the documentation all come from the signature.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from regstudy.errors import ConfigError
from regstudy.validation import unknown_key_error


class Configurable:
    """A class whose keyword arguments are its hyperparameters."""

    name: ClassVar[str] = ""
    """The name it is registered under; set by the registry."""

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Return each keyword argument of `__init__` with its default."""
        signature = inspect.signature(cls.__init__)
        return {
            parameter.name: parameter.default
            for parameter in list(signature.parameters.values())[1:]
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        }

    @classmethod
    def describe(cls) -> str:
        """Return the first line of the class docstring."""
        return (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def create(cls, config: dict[str, Any] | None = None) -> "Configurable":
        """Build an instance from `config`, naming any unknown key and the valid ones."""
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ConfigError(None, config, "expected a mapping of hyperparameters")
        valid = cls.hyperparameters()
        for key in config:
            if key not in valid:
                raise unknown_key_error(key, valid, kind=f"hyperparameter of '{cls.name}'")
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        """Return the hyperparameters as JSON-safe values; `from_config` rebuilds an equal instance."""
        return {key: getattr(self, key) for key in self.hyperparameters()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Configurable":
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"
