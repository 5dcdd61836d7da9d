"""Study files: a name, the parameters every run shares, a grid and/or a list of variants, and seeds.

    name: l2-strength
    parameters: {dataset: digits, train_size: 300, epochs: 20}
    grid:                                  # see regstudy.grid: lists are alternatives
      - plugins: [none, l2]
        l2.l2: [1.0e-5, 1.0e-4, 1.0e-3]
    variants:                              # explicit runs, each a mapping of parameters
      - plugins: {l2: {l2: 0.01}, dropout: {rate: 0.5}}
    seeds: [0, 1, 2]

Every run is expanded and validated before anything runs; a variant is identified by a hash of its
resolved parameters (seed excluded), so duplicates merge and a rerun recognises what is already done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regstudy.config import RunConfig, read_yaml
from regstudy.errors import ConfigError
from regstudy.grid import expand_block
from regstudy.plugins import PLUGINS
from regstudy.validation import check_name, check_number, unknown_key_error

STUDY_KEYS = ("name", "parameters", "grid", "variants", "seeds")


@dataclass(frozen=True)
class Variant:
    """One run of a study: a validated config, its variant id (seed excluded) and a readable label."""

    config: RunConfig

    @property
    def id(self) -> str:
        return variant_id(self.config)

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def label(self) -> str:
        return describe(self.config)

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the run in the tracking store: variant id and seed, as tagged."""
        return self.id, str(self.seed)


@dataclass
class Study:
    """A validated study: its name, every run it expands to, and the document it was read from."""

    name: str
    runs: list[Variant]
    document: dict[str, Any]

    @property
    def variant_count(self) -> int:
        return len({run.id for run in self.runs})


def variant_id(config: RunConfig) -> str:
    """A short hash of every resolved parameter but the seed, the experiment and the run name."""
    parameters = {k: v for k, v in config.to_dict().items() if k not in ("seed", "experiment", "run_name")}
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:12]


def describe(config: RunConfig) -> str:
    """The plugins with the hyperparameters that differ from their defaults, e.g. "l2(l2=0.0001) + dropout"."""
    parts = []
    for name, options in config.plugins.items():
        defaults = PLUGINS.get(name).hyperparameters()
        changed = ", ".join(
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in options.items()
            if value != defaults[key]
        )
        parts.append(f"{name}({changed})" if changed else name)
    return " + ".join(parts)


def load_study(path: str | Path) -> Study:
    """Read a study file, expand its grid and variants over its seeds, and validate every run."""
    source = str(path)
    document = read_yaml(source)
    try:
        if not isinstance(document, dict):
            raise ConfigError(None, document, "expected a mapping with keys " + ", ".join(STUDY_KEYS))
        for key in document:
            if key not in STUDY_KEYS:
                raise unknown_key_error(str(key), STUDY_KEYS, kind="study key")
        name = check_name("name", document.get("name"))
        shared = document.get("parameters") or {}
        if not isinstance(shared, dict):
            raise ConfigError("parameters", shared, "expected a mapping of parameters every run shares")
        seeds = document.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            raise ConfigError("seeds", seeds, "expected a non-empty list of seeds")
        seeds = [check_number(f"seeds[{i}]", seed, minimum=0, integer=True) for i, seed in enumerate(seeds)]
        specified = _specified_runs(document)
    except ConfigError as error:
        raise error.located(source=source) from None
    runs: dict[tuple[str, str], Variant] = {}
    for where, parameters in specified:
        for seed in seeds:
            config = RunConfig.from_mapping(
                {**shared, **parameters, "seed": seed, "experiment": name}, source=f"{source}: {where}"
            )
            variant = Variant(config)
            runs.setdefault(variant.key, variant)  # a duplicate variant merges into the first
    return Study(name, list(runs.values()), document)


def _specified_runs(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, parameters) of every run the grid and the variants name, before seeds and validation."""
    grid = document.get("grid") or []
    blocks = [grid] if isinstance(grid, dict) else grid
    variants = document.get("variants") or []
    if not isinstance(blocks, list):
        raise ConfigError("grid", grid, "expected a mapping of parameters to alternatives, or a list of them")
    if not isinstance(variants, list) or not all(isinstance(variant, dict) for variant in variants):
        raise ConfigError("variants", variants, "expected a list of mappings of parameters")
    runs = []
    for index, block in enumerate(blocks):
        try:
            runs.extend((f"grid[{index}]", parameters) for parameters in expand_block(block))
        except ConfigError as error:
            raise error.located(prefix=f"grid[{index}]") from None
    runs.extend((f"variants[{index}]", variant) for index, variant in enumerate(variants))
    if not runs:
        raise ConfigError("grid", None, "the study names no runs: give a grid, variants, or both")
    return runs
