"""Value checks shared by plugins, data sets and run parameters.

Each check returns the value normalised (an int stays an int, a float becomes a float) or raises
`ConfigError` naming the argument, the value received and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

from regstudy.errors import ConfigError, UnknownNameError, _NO_VALUE

_PLAIN_NAME = re.compile(r"[A-Za-z0-9 _.,:+=/-]*")


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    integer: bool = False,
) -> float | int:
    """Return `value` as a float (or int with `integer=True`) if it lies in the stated range."""
    kind = "an integer" if integer else "a number"
    # bool is an int subclass, but `epochs: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(name, value, f"expected {kind}")
    if not math.isfinite(value):
        raise ConfigError(name, value, f"expected a finite {kind[2:] if integer else 'number'}")
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        raise ConfigError(name, value, f"expected {kind} {'>' if exclusive_minimum else '>='} {minimum}")
    if maximum is not None and (value > maximum or (exclusive_maximum and value == maximum)):
        raise ConfigError(name, value, f"expected {kind} {'<' if exclusive_maximum else '<='} {maximum}")
    return int(value) if integer else float(value)


def check_bool(name: str, value: Any) -> bool:
    """Return `value` if it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(name, value, "expected true or false")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str], kind: str = "value") -> str:
    """Return `value` if it is one of `choices`; otherwise say which are valid and which is closest."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise UnknownNameError(name, value, unknown_name_problem(kind, value, choices))
    return value


def check_name(name: str, value: Any, optional: bool = False) -> str | None:
    """Return `value` if it is a plain name: letters, digits, space and `_ . , : + = / -`.

    Free-text parameters end up in notebooks, tags and file names; refusing anything that looks like code
    (quotes, brackets, semicolons) keeps them inert wherever they land.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or not _PLAIN_NAME.fullmatch(value):
        raise ConfigError(name, value, "expected a plain name (letters, digits, space and _ . , : + = / -)")
    return value


def check_int_list(name: str, value: Any, minimum: int = 1) -> list[int]:
    """Return `value` as a list of integers, each at least `minimum` (a single integer is a list of one)."""
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(name, value, "expected a list of integers")
    return [check_number(f"{name}[{index}]", item, minimum=minimum, integer=True) for index, item in enumerate(items)]


def unknown_name_problem(kind: str, value: Any, choices: Iterable[str], show_value: bool = True) -> str:
    """The text of an unknown-name error: the value, the closest valid choice if any, and all of them."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    unknown = f"unknown {kind} {value!r}" if show_value else f"unknown {kind}"
    return f"{unknown}; {suggestion}valid {kind}s are: {', '.join(choices)}"


def unknown_key_error(key: str, choices: Iterable[str], kind: str = "parameter") -> UnknownNameError:
    """An error for a key that is not a known parameter name."""
    return UnknownNameError(key, _NO_VALUE, unknown_name_problem(kind, key, choices, show_value=False))
