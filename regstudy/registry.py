"""A registry is a dict of names to classes, a decorator that fills it, and an entry-point group.

Built-ins register on import with `@PLUGINS.register("l2")`; third-party packages declare an entry point
in the group (`regstudy.plugins` or `regstudy.datasets`) whose value is their class, and are found the
first time a name is looked up, with no change to regstudy. A class may have further names, as Keras'
export names: `@PLUGINS.register("l1l2", "elastic_net")` finds it under both, and its `name` stays the first.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from regstudy.errors import RegstudyError, UnknownNameError
from regstudy.validation import Constraint, Options, unknown_name_problem

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Names to classes of one kind, with third-party entries from an entry-point group.

    Args:
        kind: what an entry is called in messages, e.g. "plugin".
        group: the entry-point group third-party packages register under.
        base: the class every entry must subclass.
    """

    def __init__(self, kind: str, group: str, base: type):
        self.kind = kind
        self.group = group
        self.base = base
        self._entries: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator: register the class under `name` (and any `aliases`) and return it unchanged."""

        def decorate(cls: T) -> T:
            for each in (name, *aliases):
                self.add(each, cls)
            return cls

        return decorate

    def add(self, name: str, cls: T) -> None:
        """Register `cls` under `name`; a second, different class under the same name is refused.

        The first name a class is registered under is its `name`; a later one is an alias and leaves it.
        """
        if not isinstance(name, str) or not name:
            raise RegstudyError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise RegstudyError(f"{self.kind} '{name}' must be a subclass of {self.base.__name__}, got {cls!r}")
        existing = self._entries.get(name)
        if existing is not None and existing is not cls:
            raise RegstudyError(
                f"{self.kind} name '{name}' is already taken by {existing.__module__}.{existing.__qualname__}"
            )
        if self._entries.get(cls.__dict__.get("name", "")) is not cls:  # not yet registered here: a first name
            cls.name = name
        self._entries[name] = cls

    def get(self, name: str) -> T:
        """Return the class registered under `name` or an alias, or raise naming the valid names and the closest."""
        if not isinstance(name, str):
            raise UnknownNameError(None, name, unknown_name_problem(self.kind, name, self.names()))
        if name not in self._entries:
            self._load_entry_points()
        if name not in self._entries:
            raise UnknownNameError(None, name, unknown_name_problem(self.kind, name, self.names()))
        return self._entries[name]

    def names(self, pattern: str = "*", aliases: bool = False) -> list[str]:
        """Return the registered names matching a shell-style wildcard pattern, sorted; aliases only if asked."""
        self._load_entry_points()
        names = self._entries if aliases else [name for name, cls in self._entries.items() if cls.name == name]
        return sorted(fnmatch.filter(names, pattern))

    def aliases(self, name: str) -> list[str]:
        """The other names the class registered as `name` answers to."""
        cls = self.get(name)
        return sorted(other for other, entry in self._entries.items() if entry is cls and other != cls.name)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry_point in entry_points(group=self.group):
            self.add(entry_point.name, entry_point.load())


@dataclass(frozen=True, eq=False)
class Registered(Constraint):
    """The name of an entry of `registry`, those of third parties included (looked up when a value is checked).

    Args:
        registry: the registry, e.g. `ENGINES`.
    """

    registry: Registry

    def check(self, name, value):
        return Options(tuple(self.registry.names()), kind=self.registry.kind).check(name, value)

    def __str__(self) -> str:
        return "one of " + ", ".join(self.registry.names())

    def invalid_values(self):
        return Options(tuple(self.registry.names()), kind=self.registry.kind).invalid_values()
