"""Replica groups: runs of one program trained together (`regstudy.replicas`, `Engine.fit_replicas`).

The reference each test holds a replica to is the same run trained alone, by the same engine: a replica must
compute what its run alone computes, whichever other runs share its program.
"""

import dataclasses

import numpy as np
import optuna
import pytest
import yaml
from jax_jobs import on_jax

from regstudy import PLUGINS, RunConfig
from regstudy.config import splits_for
from regstudy.replicas import groups, program_key

from helpers import kill_mid_run, model_for, regstudy_command, runs_of

ON_JAX = [name for name in PLUGINS.names() if "jax" not in PLUGINS.get(name).refused_engines]


def _run(experiment, seed, **more):
    return {
        "experiment": experiment,
        "train_size": 64,
        "epochs": 3,
        "hidden_units": [8],
        "engine": "jax",
        "seed": seed,
        **more,
    }


def _close(replica, alone, rtol):
    np.testing.assert_allclose(replica["history"]["loss"], alone["history"]["loss"], rtol=rtol)
    np.testing.assert_allclose(replica["history"]["val_loss"], alone["history"]["val_loss"], rtol=rtol)
    for name in ("train_loss", "validation_loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(replica["metrics"][name], alone["metrics"][name], rtol=rtol, atol=1e-7)


def test_runs_differing_in_seed_and_learning_rate_share_a_program_and_others_do_not():
    base = RunConfig.from_mapping({"plugins": {"l2": {"l2": 1e-3}}, "engine": "jax"})
    replace = dataclasses.replace
    same = [replace(base, seed=3), replace(base, learning_rate=0.1)]
    assert {program_key(config) for config in [base, *same]} == {program_key(base)}
    # The L2 strength is a value of the state (`L2.in_state`), and so are spectral norm's iterations.
    assert program_key(replace(base, plugins={"l2": {"l2": 1e-2}})) == program_key(base)
    other = [
        replace(base, epochs=11),
        replace(base, plugins={"spectral_norm": {"power_iterations": 2}}),
        replace(base, batch_size=16),
    ]
    assert len({program_key(config) for config in [base, *other]}) == 4
    assert program_key(replace(base, plugins={"spectral_norm": {"power_iterations": 3}})) == program_key(other[1])
    # L1, L2 and the elastic net build one penalty (`Plugin.program`); a proximal L1 step is a program of its own,
    # and two plugins' penalties are two.
    penalties = [{"l1": {"l1": 1e-4}}, {"l1l2": {"l1": 1e-4, "l2": 1e-3}}, {"l1l2": {"method": "subgradient"}}]
    assert {program_key(replace(base, plugins=each)) for each in penalties} == {program_key(base)}
    proximal = [{"l1": {"method": "proximal"}}, {"l1l2": {"method": "proximal"}}, {"l1": {}, "l2": {}}]
    assert len({program_key(replace(base, plugins=each)) for each in proximal} - {program_key(base)}) == 3
    # A schedule of the learning rate is traced into the program: snapshot ensembles' learning rates split it, and
    # their cycles do not (`weight_averaging.CosineCycles`).
    snapshot = RunConfig.from_mapping({"plugins": ["snapshot_ensemble"], "engine": "jax"})
    assert program_key(snapshot) != program_key(replace(snapshot, learning_rate=0.1))
    assert program_key(snapshot) == program_key(replace(snapshot, plugins={"snapshot_ensemble": {"cycles": 5}}))
    # Plugins acting only through callbacks (stopping, SWA) train on the program of the same run without them.
    plain = RunConfig.from_mapping({"plugins": ["none"], "engine": "jax"})
    callbacks_only = [{"early_stopping": {"patience": 2}}, ["gl"], ["pq"], ["up"], ["swa"]]
    keys = {program_key(RunConfig.from_mapping({"plugins": each, "engine": "jax"})) for each in callbacks_only}
    assert keys == {program_key(plain)}
    assert program_key(replace(base, plugins={"l2": {}, "swa": {}})) == program_key(base) != program_key(plain)
    configs = [replace(base, seed=seed) for seed in range(5)] + [other[1], replace(base, seed=9)]
    assert groups(configs, 3) == [[0, 1, 2], [3, 4, 6], [5]]
    assert groups(configs, 1) == [[i] for i in range(7)]
    graph = [replace(config, engine="graph") for config in configs]
    assert groups(graph, 16) == [[i] for i in range(7)]  # the graph engine trains each run alone


def test_the_replicas_of_a_split_share_it_read_only_and_a_run_alone_keeps_its_own():
    from regstudy.preparation import prepare_replicas

    base = RunConfig.from_mapping({"train_size": 64, "hidden_units": [8], "plugins": ["dropout"]})
    other = dataclasses.replace(base, split_seed=1)
    configs = [dataclasses.replace(base, seed=seed) for seed in range(3)] + [other]
    prepared = prepare_replicas(configs)
    # The reference: each run's own split, made by `splits_for` as a run alone makes it.
    for config, each in zip(configs, prepared):
        expected = splits_for(config)
        for name in ("x_train", "y_train", "x_validation", "y_validation", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(each.splits, name), getattr(expected, name))
    assert prepared[0].splits is prepared[1].splits is prepared[2].splits
    assert not prepared[0].splits.x_train.flags.writeable and not prepared[2].splits.y_test.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        prepared[1].splits.x_train[0, 0] = 1.0
    # The run of another split is alone in it: its own arrays, writable as a run alone's are.
    assert prepared[3].splits is not prepared[0].splits and prepared[3].splits.x_train.flags.writeable
    assert not np.array_equal(prepared[3].splits.y_train, prepared[0].splits.y_train)
    assert [each.data.seed for each in prepared] == [0, 1, 2, 0]


def test_a_runs_split_is_made_from_its_split_parameters_only():
    from regstudy.config import SPLIT_PARAMETERS

    read = []

    class Recording:
        def __init__(self, config):
            self.config = config

        def __getattr__(self, name):
            read.append(name)
            return getattr(self.config, name)

    splits_for(Recording(RunConfig(train_size=64)))
    assert sorted(set(read)) == sorted(SPLIT_PARAMETERS)


def test_a_replica_without_randomness_under_sgd_equals_its_run_alone(experiment, tmp_path):
    """Five seeds, learning rates and penalties in one program, under SGD: L2 at three strengths, L1 and the
    elastic net (one penalty, `Plugin.program`). Each replica's curves and final metrics equal its run's alone
    to 1e-5 (relative)."""
    penalties = [{"l2": {"l2": 1e-3}}, {"l2": {"l2": 1e-2}}, {"l2": {"l2": 0.0}}, {"l1": {"l1": 1e-3}}]
    penalties.append({"l1l2": {"l1": 1e-2, "l2": 1e-2}})
    runs = [
        _run(experiment, seed, optimizer="sgd", learning_rate=rate, plugins=plugins)
        for seed, rate, plugins in zip(range(5), [0.05, 0.1, 0.02, 0.05, 0.05], penalties)
    ]
    *alone, together = on_jax([*runs, {"replicas": runs}], tmp_path)
    for replica, single in zip(together["replicas"], alone):
        _close(replica, single, 1e-5)
        assert replica["tags"]["seed"] == str(runs[alone.index(single)]["seed"])
    assert len({result["history"]["loss"][-1] for result in alone}) == 5  # five runs, not one five times


def test_replicas_with_dropout_under_adam_match_their_runs_alone_over_eight_seeds(experiment, tmp_path):
    """Each replica draws its own dropout masks from its own seed: over 8 seeds the test accuracies of the
    replicas and of the runs alone agree within seed noise (and here, seed by seed, to float precision)."""
    runs = [_run(experiment, seed, plugins={"dropout": {"rate": 0.5}}, train_size=128, epochs=4) for seed in range(8)]
    *alone, together = on_jax([*runs, {"replicas": runs}], tmp_path)
    replicas = np.array([result["metrics"]["test_accuracy"] for result in together["replicas"]])
    singles = np.array([result["metrics"]["test_accuracy"] for result in alone])
    noise = singles.std(ddof=1) / np.sqrt(len(runs))
    assert abs(replicas.mean() - singles.mean()) <= 2 * noise + 1e-6
    for replica, single in zip(together["replicas"], alone):
        _close(replica, single, 1e-4)
    assert len({tuple(result["history"]["loss"]) for result in together["replicas"]}) == 8


def test_a_later_group_of_the_same_program_runs_on_what_an_earlier_group_compiled(experiment, tmp_path):
    """A process keeps the programs it compiled (`jax_epochs.kept`): a second group of the program of a first
    (other seeds and dropout rates) traces nothing and computes exactly what it computes in a fresh process,
    so nothing of the first group's models is baked into the program; a group of another program traces its
    own."""
    first, second = (
        [_run(experiment, seed, plugins={"dropout": {"rate": rate}}) for seed, rate in pairs]
        for pairs in ([(0, 0.2), (1, 0.5)], [(2, 0.6), (3, 0.1)])
    )
    other = [_run(experiment, seed, plugins={"l2": {"l2": 1e-3}}) for seed in (0, 1)]
    done = on_jax([{"replicas": first}, {"replicas": second}, {"replicas": other}], tmp_path)
    (tmp_path / "fresh").mkdir()
    (fresh,) = on_jax([{"replicas": second}], tmp_path / "fresh")
    assert [group["traced"] for group in done] == [1, 1, 2] and fresh["traced"] == 1
    for kept, alone in zip(done[1]["replicas"], fresh["replicas"]):
        assert (kept["history"], kept["metrics"]) == (alone["history"], alone["metrics"])
    assert done[1]["replicas"][0]["history"]["loss"] != done[0]["replicas"][0]["history"]["loss"]


def test_the_snapshot_ensembles_of_a_group_are_evaluated_by_programs_compiled_once(experiment, tmp_path):
    """A final model a plugin returns (a snapshot ensemble) is evaluated from programs compiled once for the
    group, one for each size of the sets it is evaluated on, not traced again for each replica by Keras'
    `evaluate` (the default study's snapshot groups spent 1.8 s a run on it); each replica's ensemble is
    evaluated on its own snapshots, not the first replica's."""
    runs = [_run(experiment, seed, plugins={"snapshot_ensemble": {"cycles": 3}}) for seed in range(3)]
    (group,) = on_jax([{"replicas": runs}], tmp_path)
    sizes = set(splits_for(RunConfig.from_mapping(runs[0])).sizes.values())  # train, validation and test
    assert group["evaluations"] == len(sizes)
    metrics = [replica["metrics"] for replica in group["replicas"]]
    assert [each["snapshots"] for each in metrics] == [3, 3, 3]
    assert len({each["test_loss"] for each in metrics}) == 3


def test_a_replica_whose_loss_becomes_nan_ends_failed_alone_while_the_others_finish(experiment, client, tmp_path):
    """One replica of three under SGD at a learning rate that overflows its weights: its run ends FAILED with
    the reason, and the two others finish with the numbers they have alone."""
    runs = [
        _run(experiment, seed, optimizer="sgd", learning_rate=rate) for seed, rate in [(0, 0.05), (1, 1e30), (2, 0.1)]
    ]
    together, *alone = on_jax([{"replicas": runs}, runs[0], runs[2]], tmp_path)
    first, diverged, last = together["replicas"]
    assert diverged["failed"].startswith("the training loss became "), diverged
    for replica, single in zip((first, last), alone):
        _close(replica, single, 1e-5)
    grouped = {first["run_id"], last["run_id"]}
    statuses = sorted(
        (run.info.status, run.data.tags["seed"])
        for run in runs_of(client, experiment)
        if run.info.run_id in grouped or run.info.status == "FAILED"
    )
    assert statuses == [("FAILED", "1"), ("FINISHED", "0"), ("FINISHED", "2")]
    (failed,) = [run for run in runs_of(client, experiment) if run.info.status == "FAILED"]
    assert failed.data.tags["failure_reason"].startswith("TrainingError: the training loss became ")


# Hyperparameters Keras reads where no scope maps the model's state (the optimizer's step and its learning-rate
# schedule: `Plugin.held`), in the loss and the batch transforms, or as a layer's count of loop turns (spectral
# norm's power iterations), each at two values far enough apart to change the training.
HELD = {
    "weight_decay": ("weight_decay", 0.0, 50.0),
    "ema": ("momentum", 0.0, 0.9),
    "max_norm": ("max_value", 0.3, 100.0),
    "label_smoothing": ("smoothing", 0.0, 0.5),
    "cutout": ("fraction", 0.1, 0.7),
    "cutmix": ("alpha", 0.05, 1.0),
    "augment": ("shift", 0.0, 0.4),
    "snapshot_ensemble": ("cycles", 1, 3),
    "spectral_norm": ("power_iterations", 1, 5),
}


def test_hyperparameters_read_in_the_optimizer_the_loss_and_the_transforms_are_each_replicas_own(experiment, tmp_path):
    """Two runs of one seed whose hyperparameter differs widely, trained as one group: each replica computes
    what its run alone computes, and the two runs alone differ (so a replica reading its neighbour's value, or
    the number the program was traced with, would fail)."""
    requests = []
    for name, (key, first, second) in HELD.items():
        runs = [_run(experiment, 0, plugins={name: {key: value}}, epochs=3) for value in (first, second)]
        requests += [{"replicas": runs}, *runs]
    results = iter(on_jax(requests, tmp_path))
    for name in HELD:
        together, *alone = next(results), next(results), next(results)
        for replica, single in zip(together["replicas"], alone):
            try:
                _close(replica, single, 1e-4)
            except AssertionError as error:
                raise AssertionError(f"plugin {name}: {error}") from None
        losses = [[*single["history"]["loss"], single["metrics"]["test_loss"]] for single in alone]
        assert not np.allclose(*losses, rtol=1e-3), name  # EMA's average acts at the end: on the test loss


def _another(plugin, name):
    """Another valid value of the plugin's hyperparameter `name` than its default."""
    value = plugin.hyperparameters()[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.01
    return next(choice for choice in plugin.parameter_constraints[name].choices if choice != value)


def test_every_plugin_trains_as_a_replica_as_it_trains_alone(experiment, tmp_path):
    """Registry-parametrized in one process: each plugin's run with seed 1 and every hyperparameter it declares
    `replicable` changed, trained beside its defaults at seed 0 in one program (beside `none`, for a plugin that
    acts only through callbacks), computes what it computes alone (its random draws, hyperparameters,
    callbacks, stopping and averaging its own)."""
    requests = []
    for name in ON_JAX:
        plugin = PLUGINS.get(name)
        changed = {key: _another(plugin, key) for key in plugin.replicable()}
        beside = name if plugin.traced() else "none"  # a plugin acting only in callbacks trains on none's program
        runs = [
            _run(experiment, 0, plugins=[beside], model=model_for(name), epochs=2),
            _run(experiment, 1, plugins={name: changed}, model=model_for(name), epochs=2),
        ]
        assert program_key(RunConfig.from_mapping(runs[0])) == program_key(RunConfig.from_mapping(runs[1])), name
        requests += [{"replicas": runs}, runs[1]]
    results = on_jax(requests, tmp_path)
    for name, together, alone in zip(ON_JAX, results[::2], results[1::2]):
        assert "failed" not in together["replicas"][1], (name, together)
        try:
            _close(together["replicas"][1], alone, 1e-4)
        except AssertionError as error:
            raise AssertionError(f"plugin {name}: {error}") from None
    replicable = {name for name in ON_JAX if PLUGINS.get(name).replicable()}
    assert {"l1", "l2", "l1l2", "orthogonal", "activity", "early_stopping", "gl", "pq", "up", "swa"} <= replicable
    assert {"dropout", "dropconnect", "gaussian_noise", "gaussian_dropout", "sam", "fgsm"} <= replicable
    assert set(HELD) <= replicable


def test_a_sweep_trains_a_group_per_program_and_records_each_replica_as_its_own_run(client, tmp_path):
    study = tmp_path / "study.yaml"
    name = f"replicas-{tmp_path.name}"
    study.write_text(
        f"name: {name}\n"
        "parameters: {train_size: 64, hidden_units: [8], epochs: 3, engine: jax}\n"
        "grid: {plugins: [none, dropout]}\n"
        "seeds: [0, 1]\n"
    )
    grouped = regstudy_command("sweep", study, "--workers", "2")
    assert grouped.returncode == 0, grouped.stderr[-2000:]
    assert "4 to run in 2 group(s) of at most 64" in grouped.stdout
    runs = [run for run in runs_of(client, name) if run.data.tags.get("regstudy.role") == "variant"]
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    assert sorted(run.data.tags["seed"] for run in runs) == ["0", "0", "1", "1"]
    by_group = {}
    for run in runs:
        by_group.setdefault(run.data.tags["replica_group"], []).append(run)
    assert sorted(map(len, by_group.values())) == [2, 2]
    for first, members in by_group.items():
        assert first in {run.info.run_id for run in members}  # the group's first run names it
        assert {run.data.metrics["replicas"] for run in members} == {2.0}
        for stage in ("building", "compiling", "steps", "evaluating", "logging"):
            assert len({run.data.metrics[f"group_{stage}_seconds"] for run in members}) == 1  # the group's
            assert members[0].data.metrics[f"group_{stage}_seconds"] >= 0.0
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 3  # its own curve
        assert [a.path for a in client.list_artifacts(run.info.run_id, "notebook")] == ["notebook/01-train.ipynb"]
    scores = {(run.data.tags["variant"], run.data.tags["seed"]): run.data.metrics["test_accuracy"] for run in runs}
    alone = regstudy_command("sweep", study, "--workers", "2", "--force", "--replicas", "1")
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert "4 to run in 4 group(s) of at most 1" in alone.stdout
    again = [run for run in runs_of(client, name) if run.data.tags.get("regstudy.role") == "variant"]
    latest = {}
    for run in sorted(again, key=lambda run: run.info.start_time):
        latest[(run.data.tags["variant"], run.data.tags["seed"])] = run.data.metrics["test_accuracy"]
    assert latest.keys() == scores.keys()
    for key, score in scores.items():
        assert latest[key] == pytest.approx(score, abs=1e-6), key


def test_a_search_on_jax_trains_the_trials_of_one_program_together_as_they_train_alone(client, tmp_path):
    """Optuna is asked for the trials at once; those of one program (here all: the learning rate and L2's
    strength are values of the state) train as one group, each its own trial and run, with what it scores alone."""
    document = {
        "parameters": {"train_size": 64, "hidden_units": [8], "epochs": 3, "engine": "jax"},
        "space": {
            "learning_rate": {"log_uniform": [1.0e-3, 3.0e-2]},
            "plugins": {"l2": {"optional": False, "l2": {"log_uniform": [1.0e-6, 1.0e-2]}}},
        },
        "objective": "val_accuracy",
        "trials": 4,
        "sampler": {"name": "random", "seed": 3},
        "pruner": "none",
    }
    scores = {}
    for label, more in (("together", []), ("alone", ["--replicas", "1"])):
        name = f"replicas-search-{label}-{tmp_path.name}"
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **document}))
        done = regstudy_command("tune", path, "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", *more)
        assert done.returncode == 0, done.stderr[-2000:]
        runs = [run for run in runs_of(client, name) if run.data.tags.get("regstudy.role") == "trial"]
        assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
        groups_seen = {run.data.tags["replica_group"] for run in runs}
        assert len(groups_seen) == (1 if label == "together" else 4)
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
        assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 4
        for trial in study.trials:
            (run,) = [run for run in runs if run.data.tags["trial"] == str(trial.number)]
            assert trial.value == run.data.metrics["validation_accuracy"]
            drawn = trial.user_attrs["parameters"]
            assert float(run.data.params["l2.l2"]) == pytest.approx(drawn["plugins"]["l2"]["l2"])
            assert float(run.data.params["learning_rate"]) == pytest.approx(drawn["learning_rate"])
        scores[label] = [(trial.params, trial.value) for trial in study.trials]
    for (params, value), (alone_params, alone_value) in zip(scores["together"], scores["alone"]):
        assert params == alone_params  # the same draws, seeded by each trial's position
        assert value == pytest.approx(alone_value, abs=1e-6)


def test_a_grouped_sweep_killed_with_sigkill_reruns_exactly_the_runs_that_did_not_finish(client, tmp_path):
    """Two programs of two seeds each on one worker: the first group finishes, the second is killed while it
    trains; the next sweep ends its two runs KILLED and trains exactly those two again, as one group."""
    name = f"replicas-killed-{tmp_path.name}"
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: {name}\n"
        "parameters: {train_size: 64, hidden_units: [8], engine: jax}\n"
        "grid: [{plugins: [none], epochs: 2}, {plugins: [l2], epochs: 3000}]\n"
        "seeds: [0, 1]\n"
    )

    def variants():
        return [run for run in runs_of(client, name) if run.data.tags.get("regstudy.role") == "variant"]

    def one_group_finished_and_one_training(runs):
        statuses = sorted(run.info.status for run in runs)
        return statuses == ["FINISHED", "FINISHED", "RUNNING", "RUNNING"] and all(run.data.params for run in runs)

    runs = kill_mid_run(["sweep", study, "--workers", 1], variants, ready=one_group_finished_and_one_training)
    finished_first = {run.info.run_id for run in runs if run.info.status == "FINISHED"}

    done = regstudy_command("sweep", study, "--workers", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 already finished, 2 to run in 1 group(s)" in done.stdout
    runs = variants()
    assert sorted(run.info.status for run in runs) == ["FINISHED"] * 4 + ["KILLED"] * 2
    finished = [run for run in runs if run.info.status == "FINISHED"]
    assert finished_first <= {run.info.run_id for run in finished}
    assert len({(run.data.tags["variant"], run.data.tags["seed"]) for run in finished}) == 4
