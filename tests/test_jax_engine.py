"""The jax engine: the same Keras models and plugins on Keras' JAX backend, one compiled call per epoch.

The suite's own process runs Keras on TensorFlow; runs on JAX go to a process of their own (`jax_jobs.on_jax`),
to a kernel started on JAX (`regstudy run`, sweeps), or are refused.
"""

import numpy as np
import pytest
import scipy.stats
import yaml
from jax_jobs import FixedStart, on_jax

import regstudy
from regstudy import PLUGINS, ConfigError, RunConfig
from regstudy.training import train

from helpers import model_for, regstudy_command, runs_of, with_role

ALL_PLUGINS = PLUGINS.names()
REFUSED_ON_JAX: set[str] = set()
"""The built-in plugins refused on `engine: jax` (none: each is written in `keras.ops`, and the state of an
update after the step, lookahead's slow weights, is carried through the compiled epoch)."""
RANDOM = ["dropout", "gaussian_noise", "mixup", "cutout", "shake_shake", "batch_norm"]
"""Plugins that draw random numbers in the step (dropout masks, noise, batch transforms, shake coefficients)."""


def _tiny(experiment, name, **more):
    return {
        "experiment": experiment,
        "plugins": [name],
        "model": model_for(name),
        "train_size": 64,
        "epochs": 2,
        "hidden_units": [8],
        "engine": "jax",
        **more,
    }


def test_every_plugin_trains_on_jax_the_same_way_twice_or_is_refused_with_its_reason(client, experiment, tmp_path):
    runs = [_tiny(experiment, name) for name in ALL_PLUGINS]
    runs += [_tiny(experiment, name) for name in RANDOM]  # again, for the same numbers
    runs += [_tiny(experiment, name, seed=1) for name in RANDOM]  # another seed, other numbers
    results = on_jax(runs, tmp_path)
    by_name = dict(zip(ALL_PLUGINS, results))
    refused = {name for name, result in by_name.items() if "refused" in result}
    assert refused == REFUSED_ON_JAX == {name for name in ALL_PLUGINS if "jax" in PLUGINS.get(name).refused_engines}
    for name in refused:
        message = by_name[name]["refused"]
        assert message.startswith("key 'engine': cannot train plugin") and f"'{name}'" in message
        assert PLUGINS.get(name).refused_engines["jax"] in message and "\n" not in message
    for name, result in by_name.items():
        if name in refused:
            continue
        assert len(result["history"]["loss"]) in (1, 2), name  # early stopping may stop after one epoch
        assert np.isfinite(result["metrics"]["test_loss"]), name
        assert result["tags"]["engine"] == result["tags"]["keras.backend"] == "jax", name
    again = results[len(ALL_PLUGINS) : len(ALL_PLUGINS) + len(RANDOM)]
    other_seed = results[len(ALL_PLUGINS) + len(RANDOM) :]
    for name, first, second, other in zip(RANDOM, (by_name[n] for n in RANDOM), again, other_seed):
        assert (first["history"], first["metrics"]) == (second["history"], second["metrics"]), name
        assert first["history"]["loss"] != other["history"]["loss"], name
    # Nothing refused reached the store: 30 plugins and 12 repeats, each one run.
    assert len(runs_of(client, experiment)) == len(runs) - len(refused)


WITHOUT_RANDOMNESS = {
    "penalties": {"l2": {"l2": 1e-3}, "max_norm": {}, "label_smoothing": {}, "weight_decay": {}},
    "sam": {"sam": {"rho": 0.05}, "l2": {"l2": 1e-3}},
    "fgsm": {"fgsm": {"epsilon": 0.1}},
    "proximal l1": {"l1": {"l1": 0.05, "method": "proximal"}},
    "snapshot ensemble": {"snapshot_ensemble": {"cycles": 2}},
}
"""Runs that draw no random number, one for each way a plugin acts in the step: the loss, constraints and the
optimizer's options; a second gradient pass at moved weights (SAM) or inputs (FGSM); an update after the step;
a final model that is not the trained one (a snapshot ensemble: Keras' `evaluate` on the graph engine, the
compiled evaluation on jax)."""


def test_a_smaller_last_batch_is_filled_up_with_the_epochs_first_examples_and_masked():
    from regstudy.engines.jax_epochs import padded_batches

    positions, mask = padded_batches(200, 32)  # 6 batches of 32 and one of 8, padded with the first 24 again
    assert positions.shape == mask.shape == (7, 32)
    assert positions[:6].ravel().tolist() == list(range(192))
    assert positions[6].tolist() == [*range(192, 200), *range(24)]
    assert mask[:6].all() and mask[6].tolist() == [1.0] * 8 + [0.0] * 24
    positions, mask = padded_batches(5, 8)  # fewer examples than a batch: the order again, and again
    assert positions.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]] and mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    positions, mask = padded_batches(64, 32)  # every batch full: nothing padded, no mask
    assert positions.tolist() == [list(range(32)), list(range(32, 64))] and mask is None


def test_runs_without_randomness_match_the_graph_engine_to_float_precision(experiment, tmp_path, monkeypatch):
    """No dropout, noise or transform, the same examples in the same order, the same starting weights (drawn with
    numpy): the jax engine's epochs compute what the graph engine's do, the smaller last batch included, up to
    the kernels' rounding. The graph engine trains the last batch at its own size (8 examples); the jax engine
    pads it to 32 and masks the padding (`jax_epochs.padded_batches`), so that its program traces one training
    step, not two: its losses, metrics (the epochs' means over the examples) and SAM's and FGSM's second
    passes must leave the padding out to match."""
    monkeypatch.setattr(PLUGINS, "_entries", dict(PLUGINS._entries))
    PLUGINS.add("fixed_start", FixedStart)
    common = {
        "experiment": experiment,
        "train_size": 200,  # 6 batches of 32 and one of 8
        "hidden_units": [32, 16],
        "epochs": 4,
    }
    runs = [{**common, "plugins": {"fixed_start": {"seed": 3}, **plugins}} for plugins in WITHOUT_RANDOMNESS.values()]
    graph = [train(**parameters) for parameters in runs]
    jax = on_jax([{**parameters, "engine": "jax"} for parameters in runs], tmp_path)
    for name, on_graph, on_jax_ in zip(WITHOUT_RANDOMNESS, graph, jax):
        for key, values in on_graph.history.items():
            assert on_jax_["history"][key] == pytest.approx(values, rel=2e-4, abs=1e-5), (name, key)
        for key in ("train_loss", "train_accuracy", "validation_loss", "test_loss", "test_accuracy"):
            assert on_jax_["metrics"][key] == pytest.approx(on_graph.metrics[key], rel=2e-4, abs=1e-5), (name, key)
        assert on_graph.history["loss"][-1] < on_graph.history["loss"][0], name  # it trained
        assert on_jax_["steps traced"] == 1, name  # the last batch went through the scanned step
    # The proximal step leaves exact zeros on both engines.
    assert jax[3]["history"]["weights_zero"][-1] > 0 and graph[3].history["weights_zero"][-1] > 0


def test_over_seeds_each_engine_reaches_the_same_test_accuracy_on_the_reference_workload(experiment, tmp_path):
    """The README's speed workload (digits, MLP 64-256-256-10, dropout 0.5 and L2 1e-4, Adam, batch 32): the
    engines draw different random numbers, so their runs differ, but not beyond seed noise (Welch's t-test,
    scipy's, over 5 seeds each)."""
    parameters = {
        "experiment": experiment,
        "plugins": {"dropout": {"rate": 0.5}, "l2": {"l2": 1e-4}},
        "hidden_units": [256, 256],
        "epochs": 5,
    }
    seeds = range(5)
    graph = [train(**parameters, seed=seed).metrics["test_accuracy"] for seed in seeds]
    jax = [
        run["metrics"]["test_accuracy"]
        for run in on_jax([{**parameters, "seed": s, "engine": "jax"} for s in seeds], tmp_path)
    ]
    assert min(graph) > 0.9 and min(jax) > 0.9
    assert scipy.stats.ttest_ind(graph, jax, equal_var=False).pvalue > 0.01, (graph, jax)
    assert len(set(jax)) > 1  # the seeds differ on JAX too


def test_a_run_compiled_afresh_and_one_loaded_from_the_compilation_cache_give_the_same_numbers(experiment, tmp_path):
    """Two processes, one XLA cache: the first compiles into the empty cache, the second loads what it kept."""
    run = {"experiment": experiment, "train_size": 100, "hidden_units": [16], "epochs": 3, "engine": "jax"}
    run["plugins"] = {"dropout": {"rate": 0.3}, "l2": {}}
    cache = tmp_path / "cache"
    (tmp_path / "fresh").mkdir()
    (tmp_path / "cached").mkdir()
    (fresh,) = on_jax([run], tmp_path / "fresh", cache)
    assert any(cache.iterdir())  # the epoch's program was kept
    (cached,) = on_jax([run], tmp_path / "cached", cache)
    assert (cached["history"], cached["metrics"]) == (fresh["history"], fresh["metrics"])


SEEDED_ON_JAX = """
import random, sys
import keras, numpy as np
import regstudy
from regstudy.determinism import set_random_seed

regstudy.train(experiment=sys.argv[1], train_size=32, hidden_units=[4], epochs=1, engine="jax", plugins="dropout")
print("tensorflow" in sys.modules)
draws = []
for seed_with in (set_random_seed, keras.utils.set_random_seed):  # regstudy's, then Keras' own (imports TensorFlow)
    seed_with(3)
    draws.append([float(keras.random.normal((2,))[0]), random.random(), float(np.random.rand())])
print(draws[0] == draws[1], draws[0] != [float(keras.random.normal((2,))[0]), random.random(), np.random.rand()])
"""


def test_a_run_on_jax_imports_no_tensorflow_and_is_seeded_as_keras_seeds(experiment):
    """Keras' `set_random_seed` imports TensorFlow to seed it even on JAX (seconds a worker); regstudy's seeds
    the rest as Keras does: Keras' unseeded draws, Python's and NumPy's after it equal those after Keras' own."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", SEEDED_ON_JAX, experiment], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "True", "True"]


def test_a_process_on_tensorflow_refuses_a_jax_run_before_writing_anything(client, experiment):
    with pytest.raises(ConfigError) as refused:
        regstudy.train(experiment=experiment, train_size=64, epochs=1, engine="jax")
    assert str(refused.value) == (
        "key 'engine': runs on Keras' jax backend, but Keras in this process already runs on tensorflow: start the "
        "process with KERAS_BACKEND=jax (`regstudy run` and sweeps do), or use an engine on tensorflow (got 'jax')"
    )
    assert runs_of(client, experiment) == []


def test_a_plugin_that_refuses_an_engine_is_refused_on_it_with_its_reason(monkeypatch):
    class TensorFlowOnly(PLUGINS.get("l2")):
        refused_engines = {"jax": "its layer calls tf.nn directly"}

    monkeypatch.setattr(PLUGINS, "_entries", dict(PLUGINS._entries))
    PLUGINS.add("tensorflow_only", TensorFlowOnly)
    with pytest.raises(ConfigError) as refused:
        RunConfig(plugins=["tensorflow_only"], engine="jax")
    assert str(refused.value) == (
        "key 'engine': cannot train plugin 'tensorflow_only': its layer calls tf.nn directly; use engine: graph "
        "(got 'jax')"
    )
    assert RunConfig(plugins=["tensorflow_only"], engine="graph").engine == "graph"


def test_lookaheads_step_count_and_slow_weights_live_on_across_jax_epochs(experiment, tmp_path):
    """One step an epoch and k = 2: lookahead first synchronizes at the second epoch's step, which it reaches
    only if its step count lives on from one compiled epoch to the next; until then it changes nothing."""
    one_step = {"experiment": experiment, "train_size": 32, "hidden_units": [8], "epochs": 3, "engine": "jax"}
    plain, lookahead = on_jax(
        [{**one_step, "plugins": "none"}, {**one_step, "plugins": {"lookahead": {"k": 2, "alpha": 0.5}}}], tmp_path
    )
    assert lookahead["history"]["val_loss"][0] == plain["history"]["val_loss"][0]
    assert lookahead["history"]["val_loss"][1] != plain["history"]["val_loss"][1]


def test_regstudy_run_and_a_sweep_on_jax_log_like_any_other_run(client, experiment, tmp_path):
    params = tmp_path / "run.yaml"
    common = {"train_size": 100, "hidden_units": [8], "epochs": 2, "engine": "jax"}
    params.write_text(yaml.safe_dump({"experiment": experiment, **common, "plugins": {"dropout": {}}}))
    done = regstudy_command("run", params)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {"name": f"{experiment} sweep", "parameters": common, "grid": {"plugins": ["none", "l2"]}, "seeds": [0]}
        )
    )
    swept = regstudy_command("sweep", study, "--workers", 1)
    assert swept.returncode == 0, swept.stdout[-2000:] + swept.stderr[-2000:]
    (run,) = runs_of(client, experiment)
    variants = with_role(runs_of(client, f"{experiment} sweep"), "variant")
    assert len(variants) == 2
    for each in [run, *variants]:
        assert each.info.status == "FINISHED"
        assert each.data.tags["engine"] == each.data.tags["keras.backend"] == "jax"
        assert each.data.params["engine"] == "jax"
        assert len(client.get_metric_history(each.info.run_id, "val_loss")) == 2
        assert {a.path for a in client.list_artifacts(each.info.run_id, "notebook")} == {"notebook/01-train.ipynb"}


def test_an_engine_whose_backend_is_not_installed_is_refused_with_the_extra_to_install(monkeypatch):
    from regstudy import backends

    monkeypatch.setitem(backends.EXTRAS, "jax", "a_package_nobody_installed")
    with pytest.raises(ConfigError) as refused:
        RunConfig(engine="jax")
    assert str(refused.value) == (
        "key 'engine': needs a_package_nobody_installed, which is not installed: pip install 'regstudy[jax]' "
        "(got 'jax')"
    )
