"""Helpers the tests import: where the repository is, and the runs of an experiment."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def runs_of(client, experiment):
    """Every run of `experiment` (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def model_for(plugin_name):
    """The model a plugin acts on: a `resmlp` for one that joins residual branches, else an `mlp`."""
    from regstudy import PLUGINS, Plugin

    return "resmlp" if PLUGINS.get(plugin_name).residual_join is not Plugin.residual_join else "mlp"
