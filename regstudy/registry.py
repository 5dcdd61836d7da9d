"""A registry is a dict of names to classes, a decorator that fills it, and an entry-point group.

Built-ins register on import with `@PLUGINS.register("l2")`; third-party packages declare an entry point
in the group (`regstudy.plugins` or `regstudy.datasets`) whose value is their class, and are found the
first time a name is looked up, with no change to regstudy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from regstudy.errors import RegstudyError, UnknownNameError
from regstudy.validation import unknown_name_problem

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

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the class under `name` and return it unchanged."""

        def decorate(cls: T) -> T:
            self.add(name, cls)
            return cls

        return decorate

    def add(self, name: str, cls: T) -> None:
        """Register `cls` under `name`; a second, different class under the same name is refused."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise RegstudyError(f"{self.kind} '{name}' must be a subclass of {self.base.__name__}, got {cls!r}")
        existing = self._entries.get(name)
        if existing is not None and existing is not cls:
            raise RegstudyError(
                f"{self.kind} name '{name}' is already taken by {existing.__module__}.{existing.__qualname__}"
            )
        cls.name = name
        self._entries[name] = cls

    def get(self, name: str) -> T:
        """Return the class registered under `name`, or raise naming the valid names and the closest."""
        if name not in self._entries:
            self._load_entry_points()
        if not isinstance(name, str) or name not in self._entries:
            raise UnknownNameError(None, name, unknown_name_problem(self.kind, name, self._entries))
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Return the registered names matching a shell-style wildcard pattern, sorted."""
        self._load_entry_points()
        return sorted(fnmatch.filter(self._entries, pattern))

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry_point in entry_points(group=self.group):
            self.add(entry_point.name, entry_point.load())


