"""Studies: the default study covers every plugin; validation before running; parent and child runs."""

import pytest

from conftest import ROOT, runs_of
from regstudy import PLUGINS, ConfigError
from regstudy.cli import main
from regstudy.study import load_study


def test_the_default_study_runs_every_plugin_at_its_defaults():
    study = load_study(ROOT / "params" / "default-study.yaml")
    assert sorted(config.plugin_label for config in study.runs) == PLUGINS.names()
    assert all(config.plugins[config.plugin_label] == PLUGINS.get(config.plugin_label)().get_config() for config in study.runs)


def test_a_bad_variant_is_named_before_anything_runs(tmp_path, client):
    path = tmp_path / "study.yaml"
    path.write_text("name: bad-study\nvariants:\n  - plugins: l2\n  - plugins: {l2: {l2: -1}}\n")
    with pytest.raises(ConfigError, match=r"variants\[1\]: key 'plugins.l2.l2': expected a number >= 0 \(got -1\)"):
        load_study(path)
    assert client.get_experiment_by_name("bad-study") is None


def test_a_sweep_makes_a_parent_run_with_one_child_per_run(tmp_path, client, experiment, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(
        f"name: {experiment}\nparameters: {{train_size: 100, epochs: 1, hidden_units: [8]}}\n"
        "variants:\n  - plugins: none\n  - {dataset: linear, optimizer: sgd, learning_rate: 1.0e6}\nseeds: [0]\n"
    )
    assert main(["sweep", str(path)]) == 1  # the second variant's loss becomes NaN
    runs = runs_of(client, experiment)
    (parent,) = [run for run in runs if run.data.tags.get("regstudy.role") == "study"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(child.info.status for child in children) == ["FAILED", "FINISHED"]
    assert parent.info.status == "FAILED"
    assert "1 finished, 1 failed" in capsys.readouterr().out
