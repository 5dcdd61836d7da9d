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


def example_options(dataset_name, folder):
    """Options that make `dataset_name` loadable: for the data sets read from files, a small file written in
    `folder` (a table with a categorical column and missing values; images in an .npz); else none."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    if dataset_name == "table":
        path = folder / "example.csv"
        frame = pd.DataFrame(
            {
                "size": rng.normal(size=200),
                "colour": rng.choice(["red", "blue"], 200),
                "kind": rng.choice(["a", "b"], 200),
            }
        )
        frame.loc[0, "size"] = np.nan
        frame.to_csv(path, index=False)
        return {"path": str(path), "target": "kind"}
    if dataset_name == "arrays":
        path = folder / "example.npz"
        np.savez(path, x=rng.normal(size=(200, 4, 4)).astype(np.float32), y=rng.integers(0, 3, 200))
        return {"path": str(path)}
    return {}
