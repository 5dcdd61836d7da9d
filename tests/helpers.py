"""Helpers the tests import: where the repository is, and the runs of an experiment."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def runs_of(client, experiment):
    """Every run of `experiment` (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])
