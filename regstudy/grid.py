"""Expanding a study's grid blocks into the parameter mappings of single runs.

A grid block is a mapping of parameters in which every list is a list of alternatives and every other
value is fixed (so a list-valued parameter such as `hidden_units` is given as a list of lists). `plugins`
lists plugin combinations (`"l2 + dropout"`); a dotted key `plugin.hyperparameter` sets a hyperparameter of
that plugin and multiplies only the combinations that contain the plugin; `dataset_options.key` sets a
data set option. For example

    plugins: [none, l2, dropout]
    l2.l2: [1.0e-4, 1.0e-3]
    dropout.rate: [0.2, 0.5]

expands to five runs: none; l2 at two strengths; dropout at two rates.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from regstudy.errors import ConfigError

DATASET_OPTIONS = "dataset_options"


def expand_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the run parameters of one grid block, in a stable order."""
    runs = []
    for names, axes in _axes(block):
        for values in itertools.product(*axes.values()):
            chosen = dict(zip(axes, values))
            run = {key: value for key, value in chosen.items() if "." not in key}
            run["plugins"] = {name: {} for name in names}
            for key, value in chosen.items():
                if "." in key:
                    owner, option = key.split(".", 1)
                    target = run.setdefault(DATASET_OPTIONS, {}) if owner == DATASET_OPTIONS else run["plugins"][owner]
                    target[option] = value
            runs.append(run)
    return runs


def block_size(block: dict[str, Any]) -> int:
    """How many runs `expand_block(block)` gives, counted without expanding it."""
    return sum(math.prod(len(values) for values in axes.values()) for _, axes in _axes(block))


def _axes(block: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, list[Any]]]]:
    """For each plugin combination of the block, its names and the alternatives of every parameter it varies."""
    if not isinstance(block, dict):
        raise ConfigError(None, block, "expected a mapping of parameters to alternatives")
    combinations = [_plugin_names(c) for c in _alternatives(block.get("plugins", ["none"]))]
    dotted = {key: value for key, value in block.items() if "." in key}
    plain = {key: value for key, value in block.items() if "." not in key and key != "plugins"}
    used = set().union(*combinations) | {DATASET_OPTIONS}
    for key in sorted(dotted):
        if key.split(".", 1)[0] not in used:
            raise ConfigError(
                key, dotted[key], f"names plugin '{key.split('.', 1)[0]}', which no combination of this block contains"
            )
    every = []
    for names in combinations:
        axes = {key: _alternatives(value) for key, value in plain.items()}
        axes.update(
            {
                key: _alternatives(value)
                for key, value in dotted.items()
                if key.split(".", 1)[0] in (*names, DATASET_OPTIONS)
            }
        )
        every.append((names, axes))
    return every


def _alternatives(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _plugin_names(combination: Any) -> tuple[str, ...]:
    if isinstance(combination, str):
        return tuple(name.strip() for name in combination.split("+") if name.strip())
    raise ConfigError("plugins", combination, 'expected plugin combinations as strings, e.g. "l2 + dropout"')
