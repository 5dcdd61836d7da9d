"""Value checks shared by plugins, data sets and run parameters, and the constraints that declare them.

Each check returns the value normalised (an int stays an int, a float becomes a float) or raises
`ConfigError` naming the argument, the value received and what was expected. A class declares which values
each of its parameters accepts as `Constraint`s (`Interval`, `Options`, ...), as scikit-learn's parameter
constraints do; the declaration checks values, documents the valid range and gives the tests bad values.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from regstudy.errors import _NO_VALUE, ConfigError, UnknownNameError, brief

_PLAIN_NAME = re.compile(r"[A-Za-z0-9 _.,:+=/-]*")

ALLOW_LARGE_VARIABLE = "REGSTUDY_ALLOW_LARGE"
"""Set to 1 (`regstudy sweep --allow-large` does) to lift the limits on sizes, which catch a typo such as
`epochs: 1000000` before it runs for days."""

LARGEST_SEED = 2**32 - 1
"""The largest seed: NumPy, TensorFlow and scikit-learn all take seeds below 2**32."""


def limits_lifted() -> bool:
    """Whether the user has lifted the limits on sizes (`ALLOW_LARGE_VARIABLE`)."""
    return os.environ.get(ALLOW_LARGE_VARIABLE) == "1"


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


LONGEST_NAME = 200
"""The most characters of a study's or search's name, which names files (`<name>-best.yaml`) too."""


def check_file_name(name: str, value: Any) -> str:
    """A plain name (`check_name`) that can also name a file: no `/`, no `..`, at most `LONGEST_NAME` characters.

    A search's name becomes `<name>-best.yaml` beside its file: `../x` or an absolute name would write elsewhere.
    """
    value = check_name(name, value)
    if "/" in value or ".." in value:
        raise ConfigError(name, value, "names a file too: expected no '/' and no '..'")
    if len(value) > LONGEST_NAME:
        raise ConfigError(name, value, f"names a file too: expected at most {LONGEST_NAME} characters")
    return value


def unknown_name_problem(kind: str, value: Any, choices: Iterable[str], show_value: bool = True) -> str:
    """The text of an unknown-name error: the value, the closest valid choice if any, and all of them."""
    choices = sorted(choices)
    short = isinstance(value, str) and len(value) < 100
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5) if short else []
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    unknown = f"unknown {kind} {brief(value)}" if show_value else f"unknown {kind}"
    return f"{unknown}; {suggestion}valid {kind}s are: {', '.join(choices)}"


def unknown_key_error(key: str, choices: Iterable[str], kind: str = "parameter") -> UnknownNameError:
    """An error for a key that is not a known parameter name."""
    return UnknownNameError(key, _NO_VALUE, unknown_name_problem(kind, key, choices, show_value=False))


def check_keys(mapping: Iterable[Any], valid: Iterable[str], kind: str = "parameter", prefix: str = "") -> None:
    """Refuse the first key of `mapping` that is not among `valid`, naming it (under `prefix`, e.g. `space.`),
    the valid names and the closest; the one check of unknown keys for every file and mapping."""
    valid = list(valid)
    for key in mapping:
        if key not in valid:
            error = unknown_key_error(str(key), valid, kind)
            raise error.renamed(f"{prefix}{key}") if prefix else error


class Constraint:
    """What values one parameter accepts, declared once: it checks a value, describes the valid range in
    words (`regstudy plugins` prints it) and names values outside it (the tests feed them in).

    A class declares its parameters' constraints in `parameter_constraints`, as scikit-learn does.
    """

    def check(self, name: str, value: Any) -> Any:
        """Return `value` normalised, or raise `ConfigError` naming `name`, the value and what was expected."""
        raise NotImplementedError

    def invalid_values(self) -> list[Any]:
        """Values this constraint refuses, one of each kind it can refuse."""
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A number between bounds: `Interval(float, 0, 1, closed="left")` is [0, 1).

    Args:
        kind: `int` or `float`.
        low: the lower bound, or None for none.
        high: the upper bound, or None for none.
        closed: which bounds are included: "both", "left", "right" or "neither". Defaults to "both".
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    limit: bool = False
    """The upper bound is a limit against typos, lifted by `ALLOW_LARGE_VARIABLE`; the error says so."""

    def check(self, name, value):
        try:
            return check_number(
                name,
                value,
                minimum=self.low,
                maximum=None if self.limit and limits_lifted() else self.high,
                exclusive_minimum=self.closed in ("right", "neither"),
                exclusive_maximum=self.closed in ("left", "neither"),
                integer=self.kind is int,
            )
        except ConfigError as error:
            if self.limit and isinstance(value, (int, float)) and self.high is not None and value > self.high:
                lift = f"a limit against typos; set {ALLOW_LARGE_VARIABLE}=1 (or pass --allow-large) to go beyond it"
                raise ConfigError(name, value, f"{error.problem}, {lift}") from None
            raise

    def __str__(self) -> str:
        kind = "integer" if self.kind is int else "number"
        left, right = (
            ("[" if self.closed in ("both", "left") else "("),
            ("]" if self.closed in ("both", "right") else ")"),
        )
        if self.low is not None and self.high is not None:
            return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{kind} {'>=' if left == '[' else '>'} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<=' if right == ']' else '<'} {self.high:g}"
        return kind

    def invalid_values(self):
        values: list[Any] = ["text", True, [1]]
        if self.kind is int:
            values.append(1.5)
        else:
            values.append(math.nan)
        if self.low is not None:
            values.append(self.low if self.closed in ("right", "neither") else self.low - 1)
        if self.high is not None:
            values.append(self.high if self.closed in ("left", "neither") else self.high + 1)
        return values


SEED = Interval(int, 0, LARGEST_SEED)
"""A seed: a whole number from 0 to `LARGEST_SEED`."""

REPLICAS = Interval(int, 1, 256, limit=True)
"""The most runs trained together as replicas of one program (`regstudy.replicas`): 1 trains each alone."""


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of strings, e.g. `Options(("rows", "columns"), kind="mode")`.

    Args:
        choices: the valid strings.
        kind: what a choice is called in messages. Defaults to "value".
    """

    choices: tuple[str, ...]
    kind: str = "value"

    def check(self, name, value):
        return check_choice(name, value, self.choices, self.kind)

    def __str__(self) -> str:
        return "one of " + ", ".join(self.choices)

    def invalid_values(self):
        return ["no-such-" + self.kind.replace(" ", "-"), 1, None]


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or false."""

    def check(self, name, value):
        return check_bool(name, value)

    def __str__(self) -> str:
        return "true or false"

    def invalid_values(self):
        return ["yes", 1, None]


@dataclass(frozen=True)
class IntegerList(Constraint):
    """A list of integers, each accepted by `item` (a single integer is a list of one).

    Args:
        item: the constraint on each integer, e.g. `Interval(int, 1, 100_000)`.
    """

    item: Interval

    def check(self, name, value):
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(name, value, "expected a list of integers")
        return [self.item.check(f"{name}[{index}]", item) for index, item in enumerate(items)]

    def __str__(self) -> str:
        return f"list of {self.item}"

    def invalid_values(self):
        return ["text", None, *([value] for value in self.item.invalid_values() if not isinstance(value, list))]


@dataclass(frozen=True)
class PlainName(Constraint):
    """A plain name: letters, digits, space and `_ . , : + = / -` (see `check_name`)."""

    def check(self, name, value):
        return check_name(name, value)

    def __str__(self) -> str:
        return "a plain name"

    def invalid_values(self):
        return ["", "x'); import os; ('", 3, None]


@dataclass(frozen=True)
class OrNone(Constraint):
    """None, or a value `inner` accepts.

    Args:
        inner: the constraint on values other than None.
    """

    inner: Constraint

    def check(self, name, value):
        return None if value is None else self.inner.check(name, value)

    def __str__(self) -> str:
        return f"{self.inner} or null"

    def invalid_values(self):
        return [value for value in self.inner.invalid_values() if value is not None]


@dataclass(frozen=True)
class ListOf(Constraint):
    """A non-empty list whose every item `item` accepts.

    Args:
        item: the constraint on each item.
    """

    item: Constraint

    def check(self, name, value):
        if not isinstance(value, list) or not value:
            raise ConfigError(name, value, f"expected a non-empty list of {self.item}")
        return [self.item.check(f"{name}[{index}]", item) for index, item in enumerate(value)]

    def __str__(self) -> str:
        return f"list of {self.item}"

    def invalid_values(self):
        return ["text", None, [], *([value] for value in self.item.invalid_values())]


@dataclass(frozen=True)
class MappingOf(Constraint):
    """A non-empty mapping of names (each one of `keys`, if given) to values `value` accepts.

    Args:
        value: the constraint on each value.
        keys: the names allowed, or None for any string. Defaults to None.
    """

    value: Constraint
    keys: tuple[str, ...] | None = None

    def check(self, name, value):
        if not isinstance(value, dict) or not value:
            raise ConfigError(name, value, "expected a non-empty mapping of names to values")
        for key in value:
            if self.keys is not None and key not in self.keys:
                raise UnknownNameError(f"{name}.{key}", _NO_VALUE, unknown_name_problem("name", key, self.keys, False))
            if not isinstance(key, str):
                raise ConfigError(name, key, "expected names (strings) as keys")
        return {key: self.value.check(f"{name}.{key}", item) for key, item in value.items()}

    def __str__(self) -> str:
        return f"mapping of names to {self.value}"

    def invalid_values(self):
        key = self.keys[0] if self.keys else "a"
        return ["text", [1], {}, *({key: value} for value in self.value.invalid_values())]


def check_parameters(constraints: dict[str, Constraint], values: dict[str, Any]) -> dict[str, Any]:
    """Check every value that has a constraint; return them all, normalised."""
    return {key: constraints[key].check(key, value) if key in constraints else value for key, value in values.items()}
