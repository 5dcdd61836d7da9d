"""Reading the YAML files users write (parameters files, study files) so that no file can hang or flood.

A parameters or study file is a few hundred bytes. The reader refuses what no such file needs and what
would make a small file expensive: a file over `MAX_FILE_BYTES`, bytes that are not UTF-8 text, a mapping
that names a key twice (YAML would keep the last silently), and aliases that expand to more than
`MAX_VALUES` values (a "billion laughs" file of a few hundred bytes). It parses with libyaml's C parser
where PyYAML has it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from regstudy.errors import _NO_VALUE, ConfigError

MAX_FILE_BYTES = 1_000_000
"""The largest YAML file read: a thousand times a large study file."""

MAX_VALUES = 100_000
"""The most values (mappings, lists and scalars, each alias counted every time it is used) a file may hold."""

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):
    """PyYAML's safe loader that reads `1e-4` as the float a user means (YAML 1.1 reads it as a string) and
    refuses a mapping that names a key twice."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden, as YAML means it
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise ConfigError(
                        str(key), _NO_VALUE, f"appears twice in one mapping (lines {seen[key]} and {line})"
                    )
                seen[key] = line
            except TypeError:  # an unhashable key: the constructor refuses it with its own message
                continue
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing, unreadable, oversized, binary or malformed file is a one-line ConfigError."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problem = f"is {size:,} bytes: a parameters or study file is at most {MAX_FILE_BYTES:,}"
            raise ConfigError(None, _NO_VALUE, problem, source)
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(None, _NO_VALUE, "no such file", source) from None
    except IsADirectoryError:
        raise ConfigError(None, _NO_VALUE, "is a folder, not a file", source) from None
    except UnicodeDecodeError as error:
        raise ConfigError(None, _NO_VALUE, f"is not UTF-8 text (byte {error.start})", source) from None
    except OSError as error:
        raise ConfigError(None, _NO_VALUE, f"cannot be read: {error.strerror}", source) from None
    try:
        document = yaml.load(text, Loader=_Loader)
    except ConfigError as error:
        raise error.located(source=source) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(None, _NO_VALUE, f"malformed YAML{where}: {problem}", source) from None
    _count_values(document, source)
    return document


def read_mapping(path: str | Path, expected: str = "a mapping of parameter names to values") -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; an empty file, or anything else, is a one-line ConfigError."""
    document = read_yaml(path)
    if document is None:
        raise ConfigError(None, _NO_VALUE, f"is empty: expected {expected}", str(path))
    if not isinstance(document, dict):
        raise ConfigError(None, document, f"expected {expected}", str(path))
    return document


def _count_values(document: Any, source: str) -> None:
    """Refuse a document whose aliases expand beyond `MAX_VALUES` values; stops counting there."""
    pending, count = [document], 0
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(
                None, _NO_VALUE, f"expands to more than {MAX_VALUES:,} values (YAML aliases repeating a value)", source
            )
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
