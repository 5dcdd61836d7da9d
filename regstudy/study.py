"""Study files: a name, the parameters every run shares, a grid and/or a list of variants, and seeds.

    name: l2-strength
    parameters: {dataset: digits, train_size: 300, epochs: 20}
    grid:                                  # see regstudy.grid: lists are alternatives
      - plugins: [none, l2]
        l2.l2: [1.0e-5, 1.0e-4, 1.0e-3]
    variants:                              # explicit runs, each a mapping of parameters
      - plugins: {l2: {l2: 0.01}, dropout: {rate: 0.5}}
    seeds: [0, 1, 2]                       # or {until_decided: 4, max: 16}: in stages (regstudy.sequential)
    replicas: 64                           # the most runs trained together (regstudy.replicas); 1: each alone

Every run is expanded and validated before anything runs; a variant is identified by a hash of its
resolved parameters (seed excluded), so duplicates merge and a rerun recognises what is already done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regstudy.config import RunConfig
from regstudy.errors import _NO_VALUE, ConfigError
from regstudy.grid import block_size, expand_block
from regstudy.plugins import PLUGINS
from regstudy.validation import (
    ALLOW_LARGE_VARIABLE,
    REPLICAS,
    SEED,
    Interval,
    check_file_name,
    check_keys,
    limits_lifted,
)
from regstudy.yaml_files import read_mapping

STUDY_KEYS = ("name", "parameters", "grid", "variants", "seeds", "replicas")


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
    replicas: int | None = None
    """The most runs of one program trained together (`regstudy.replicas`), or None for the default."""
    stages: list[int] | None = None
    """With `seeds: {until_decided: k, max: n}`, the seeds trained by each look (k, 2k, ..., n); else None."""

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


MAX_RUNS = 10_000
"""The most runs a study may have unless the limits are lifted (`regstudy sweep --allow-large`): a grid's
size multiplies quickly, and a typo should not queue a million runs."""


def load_study(path: str | Path, echo: Callable[[str], None] = lambda text: None) -> Study:
    """Read a study file, expand its grid and variants over its seeds, and validate every run.

    The runs are counted before they are expanded (`echo` is told the count), and a study of more than
    `MAX_RUNS` is refused unless the limits are lifted.
    """
    source = str(path)
    document = read_mapping(source, "a mapping with keys " + ", ".join(STUDY_KEYS))
    try:
        check_keys(document, STUDY_KEYS, kind="study key")
        name = check_file_name("name", document.get("name"))
        shared = document.get("parameters") or {}
        if not isinstance(shared, dict):
            raise ConfigError("parameters", shared, "expected a mapping of parameters every run shares")
        seeds, stages = _seeds(document.get("seeds", [0]))
        replicas = REPLICAS.check("replicas", document["replicas"]) if "replicas" in document else None
        count = _run_count(document) * len(seeds)
        echo(f"study '{name}': {count:,} runs to validate")
        if count > MAX_RUNS and not limits_lifted():
            raise ConfigError(
                None,
                _NO_VALUE,
                f"expands to {count:,} runs, more than the {MAX_RUNS:,} a study may have (a limit against typos; "
                f"pass --allow-large or set {ALLOW_LARGE_VARIABLE}=1 to go beyond it)",
            )
        specified = _specified_runs(document)
    except ConfigError as error:
        raise error.located(source=source) from None
    runs: dict[tuple[str, str], Variant] = {}
    for where, parameters in specified:
        for seed in seeds:
            config = RunConfig.from_mapping(
                {**shared, **parameters, "seed": seed, "experiment": name},
                source=f"{source}: {where}",
                folder=Path(source).resolve().parent,
            )
            variant = Variant(config)
            runs.setdefault(variant.key, variant)  # a duplicate variant merges into the first
    return Study(name, list(runs.values()), document, replicas, stages)


SEQUENTIAL_KEYS = ("until_decided", "max")


def _seeds(seeds: Any) -> tuple[list[int], list[int] | None]:
    """The seeds to expand, and the stages of a sequential design (`seeds: {until_decided: k, max: n}`: looks
    after k, 2k, ... seeds up to n, seeds 0 to n - 1), or None for a list of seeds."""
    if isinstance(seeds, dict):
        check_keys(seeds, SEQUENTIAL_KEYS, kind="key of sequential seeds", prefix="seeds.")
        if set(seeds) != set(SEQUENTIAL_KEYS):
            raise ConfigError("seeds", seeds, "a sequential design needs both until_decided (seeds a stage) and max")
        step = STAGE.check("seeds.until_decided", seeds["until_decided"])
        most = Interval(int, step, 1000, limit=True).check("seeds.max", seeds["max"])
        stages = list(range(step, most, step)) + [most]
        return list(range(most)), stages
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError("seeds", seeds, "expected a non-empty list of seeds, or {until_decided: k, max: n}")
    return [SEED.check(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)], None


STAGE = Interval(int, 2, 1000, limit=True)
"""The seeds of one stage: at least two, the fewest a paired test can use."""


def _blocks_and_variants(document: dict[str, Any]) -> tuple[list, list]:
    grid = document.get("grid") or []
    blocks = [grid] if isinstance(grid, dict) else grid
    variants = document.get("variants") or []
    if not isinstance(blocks, list):
        raise ConfigError("grid", grid, "expected a mapping of parameters to alternatives, or a list of them")
    if not isinstance(variants, list) or not all(isinstance(variant, dict) for variant in variants):
        raise ConfigError("variants", variants, "expected a list of mappings of parameters")
    return blocks, variants


def _run_count(document: dict[str, Any]) -> int:
    """How many runs the grid and the variants name, before seeds, counted without expanding the grid."""
    blocks, variants = _blocks_and_variants(document)
    count = len(variants)
    for index, block in enumerate(blocks):
        try:
            count += block_size(block)
        except ConfigError as error:
            raise error.located(prefix=f"grid[{index}]") from None
    return count


def _specified_runs(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, parameters) of every run the grid and the variants name, before seeds and validation."""
    blocks, variants = _blocks_and_variants(document)
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
