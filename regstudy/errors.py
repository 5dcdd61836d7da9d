"""The exceptions regstudy raises on purpose: one hierarchy, one docstring line each."""

from __future__ import annotations

import reprlib
from typing import Any

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 2, 60, 60, 40
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 5


def brief(value: Any) -> str:
    """`repr(value)`, cut short: at most a few items, two levels and 60 characters of a string, with the type
    and size of what was cut, so that an error quoting a huge value stays one short line (and is quick)."""
    text = _BRIEF.repr(value)
    if isinstance(value, (str, bytes)) and len(value) > _BRIEF.maxstring:
        return f"{text} ({type(value).__name__} of {len(value):,} characters)"
    if isinstance(value, (list, tuple, dict, set)) and "..." in text:
        return f"{text} ({type(value).__name__} of {len(value):,} item{'' if len(value) == 1 else 's'})"
    return text


def one_line(text: str, limit: int = 2000) -> str:
    """`text` as one line, as an error message must be: each line break shown as `\\n`, and cut at `limit`
    characters with the size of what was cut."""
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit]}... (message of {len(text):,} characters)"


def _brief_key(key: str) -> str:
    """A key as a message names it: a long one (a column's name of a user's file) cut short."""
    return key if len(key) <= 100 else f"{key[:80]}... ({len(key):,} characters)"


class RegstudyError(Exception):
    """Base class of every error regstudy raises on purpose."""


class ConfigError(RegstudyError, ValueError):
    """A parameter is unknown, of the wrong type or out of range.

    The message names where the value came from (file), the key that holds it and the value received,
    on one line, so that a command-line user can fix the file without reading a traceback.
    """

    def __init__(self, key: str | None, value: Any, problem: str, source: str | None = None):
        self.key = key
        self.value = value
        self.problem = problem
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        parts = []
        if self.source:
            parts.append(str(self.source))
        if self.key:
            parts.append(f"key '{_brief_key(self.key)}'")
        received = "" if self.value is _NO_VALUE else f" (got {brief(self.value)})"
        return one_line(": ".join(parts + [self.problem + received]))

    def located(self, source: str | None = None, prefix: str | None = None) -> ConfigError:
        """Return the same error placed inside a file and under a parent key, e.g. `plugins.l2`."""
        return self.renamed(".".join(part for part in (prefix, self.key) if part) or None, source)

    def renamed(self, key: str | None, source: str | None = None) -> ConfigError:
        """Return the same error (of the same type) about the key `key`."""
        error = type(self).__new__(type(self))
        ConfigError.__init__(error, key, self.value, self.problem, source or self.source)
        return error


class UnknownNameError(ConfigError, KeyError):
    """A plugin, data set or parameter name that nothing is registered under."""

    def _message(self) -> str:
        # The problem already names the value, before the (long) list of valid names.
        parts = [str(self.source)] if self.source else []
        return one_line(": ".join(parts + ([f"key '{_brief_key(self.key)}'"] if self.key else []) + [self.problem]))

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class IncompatiblePluginsError(ConfigError):
    """Plugins combined in one run that cannot work together."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): ended like Ctrl-C, so that its run is marked KILLED."""


class StoreError(RegstudyError):
    """The tracking store cannot be used: a server that does not answer, a store that cannot be written."""

    def __init__(self, uri: str, problem: str):
        super().__init__(f"tracking store {uri}: {problem}")


class TrainingError(RegstudyError):
    """Training itself failed, for example the loss became NaN."""


class NotebookError(RegstudyError):
    """A papermill execution of a notebook failed."""


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE: Any = _NoValue()
"""Marks a ConfigError about a whole key rather than about a value received."""
