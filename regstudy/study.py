"""Studies: many runs of the training notebook under one MLflow parent run.

A study file (YAML) names the study, the parameters every run shares, the variants (each a mapping of
parameters that differ, usually `plugins`) and the seeds. Every variant is validated before the first run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from regstudy import tracking
from regstudy.config import RunConfig, read_yaml
from regstudy.errors import ConfigError, RegstudyError
from regstudy.notebooks import run_training_notebook
from regstudy.validation import check_name, unknown_key_error

STUDY_KEYS = ("name", "parameters", "variants", "seeds")


@dataclass
class Study:
    """A validated study: its name, its runs' configs, and the file it came from."""

    name: str
    runs: list[RunConfig]
    source: dict[str, Any]


def load_study(path: str | Path) -> Study:
    """Read a study file and validate every run it expands to, before anything runs."""
    path = str(path)
    document = read_yaml(path)
    if not isinstance(document, dict):
        raise ConfigError(None, document, "expected a mapping with keys " + ", ".join(STUDY_KEYS), path)
    for key in document:
        if key not in STUDY_KEYS:
            raise unknown_key_error(str(key), STUDY_KEYS, kind="study key").located(source=path)
    try:
        name = check_name("name", document.get("name"))
        shared = document.get("parameters") or {}
        if not isinstance(shared, dict):
            raise ConfigError("parameters", shared, "expected a mapping of parameters every run shares")
        variants = document.get("variants") or [{}]
        if not isinstance(variants, list) or not all(isinstance(variant, dict) for variant in variants):
            raise ConfigError("variants", variants, "expected a list of mappings of parameters")
        seeds = document.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            raise ConfigError("seeds", seeds, "expected a non-empty list of seeds")
    except ConfigError as error:
        raise error.located(source=path) from None
    runs = [
        RunConfig.from_mapping({**shared, **variant, "seed": seed, "experiment": name}, source=f"{path}: variants[{index}]")
        for index, variant in enumerate(variants)
        for seed in seeds
    ]
    return Study(name, runs, document)


def run_study(study: Study, echo=print) -> list[tuple[RunConfig, str | None, str | None]]:
    """Run every run of `study` as a child of one parent run; a failing run does not stop the others.

    Returns (config, run id, failure) for each run, failure being None for a run that finished.
    """
    client = tracking.connect()
    parent_id = tracking.create_run(client, study.name, f"{study.name} study", {"study": study.name, "regstudy.role": "study"})
    client.log_text(parent_id, yaml.safe_dump(study.source, sort_keys=False), "study.yaml")
    outcomes = []
    try:
        for index, config in enumerate(study.runs, 1):
            label = f"{config.plugin_label} seed={config.seed}"
            echo(f"[{index}/{len(study.runs)}] {label}")
            tags = {"mlflow.parentRunId": parent_id, "study": study.name, "seed": str(config.seed)}
            config.run_name = config.run_name or label
            try:
                outcomes.append((config, run_training_notebook(config, tags), None))
            except RegstudyError as error:
                echo(f"    failed: {error}")
                outcomes.append((config, None, str(error)))
    except BaseException as error:
        tracking.fail_run(client, parent_id, f"{type(error).__name__}: {error}", status="KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    failures = sum(1 for *_, failure in outcomes if failure)
    client.set_terminated(parent_id, "FAILED" if failures else "FINISHED")
    return outcomes
