"""`make bench`: regstudy's training path beside plain Keras and beside the machine's limits, in one run.

Every figure is a median over repeats, and every comparison a ratio between things measured in this run,
so that a shared, noisy machine still gives a fair table. The reference workload is issue 5's: digits, an
MLP 64-256-256-10 (ReLU), dropout 0.5 + L2 1e-4, Adam, batch 32, 20 epochs, validation every epoch.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

REFERENCE = {
    "dataset": "digits",
    "hidden_units": [256, 256],
    "plugins": {"dropout": {"rate": 0.5}, "l2": {"l2": 1e-4}},
    "optimizer": "adam",
    "batch_size": 32,
    "epochs": 20,
}
TARGETS = {
    "speed-up": 8.0,
    "of the matmul limit": 3.0,
    "fixed cost (s)": 6.0,
    "MLflow share": 0.03,
    "2-worker speed-up": 1.8,
}


def naive_fit(seed: int) -> tuple[list[float], float]:
    """The plain-Keras path: the same model, a default compile, `fit` on NumPy arrays; epoch times and test accuracy."""
    import keras

    from regstudy.callbacks import EpochTimer
    from regstudy.combination import Combination
    from regstudy.config import RunConfig, splits_for
    from regstudy.determinism import make_deterministic
    from regstudy.preparation import run_model

    config = RunConfig(**REFERENCE, seed=seed)
    splits = splits_for(config)
    make_deterministic(seed)
    model = run_model(config, splits, Combination.from_config(config.plugins))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    one_hot = lambda y: keras.utils.to_categorical(y, splits.classes)  # noqa: E731
    timer = EpochTimer()
    model.fit(
        splits.x_train,
        one_hot(splits.y_train),
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(splits.x_validation, one_hot(splits.y_validation)),
        callbacks=[timer],
        verbose=0,
    )
    return timer.seconds, float(model.evaluate(splits.x_test, one_hot(splits.y_test), verbose=0)[1])


def regstudy_fit(seed: int, experiment: str = "bench", **options) -> tuple[list[float], float, object]:
    """regstudy's path, tracking on: epoch times, test accuracy and the result; `options` are run parameters
    beside the reference workload's, such as `engine` or `figures`."""
    from regstudy.training import train

    result = train(**{**REFERENCE, **options}, seed=seed, experiment=experiment)
    return result.epoch_seconds, result.metrics["test_accuracy"], result


def jax_fit(seed: int, cache: Path | None = None) -> tuple[list[float], float]:
    """regstudy's path on the jax engine, in a process of its own (Keras' backend is chosen per process):
    epoch times (the first includes compiling, or loading from XLA's cache `cache`) and test accuracy."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "regstudy.bench", "--jax-run", str(seed)],
        env={**os.environ, "KERAS_BACKEND": "jax", **({"JAX_COMPILATION_CACHE_DIR": str(cache)} if cache else {})},
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return measured["epochs"], measured["accuracy"]


def engine_sweeps(folder: Path, variants: int = 8) -> dict[str, float]:
    """Wall time of one study of `variants` runs of the reference workload (10 epochs) swept by 2 local
    workers, on each engine; each sweep starts its workers' kernels, as a user's does."""
    return {
        engine: _timed_sweep(
            folder,
            f"bench-sweep-{engine}",
            variants,
            2,
            {"dataset": "digits", "hidden_units": [256, 256], "epochs": 10, "engine": engine},
            "dropout + l2",
        )
        for engine in ("graph", "jax")
    }


HOOKS = {
    "batch_norm": "hidden layers",
    "spectral_norm": "layer wrapper",
    "mixup": "batch transform",
    "cutout": "batch transform",
    "augment": "batch transform",
    "sam": "step gradients",
    "fgsm": "step gradients",
    "lookahead": "update after each step",
    "ema": "optimizer option",
    "snapshot_ensemble": "learning-rate schedule, end of training",
    "swa": "end of training",
}
"""A plugin for each hook, added to the reference workload's plugins to measure what the hook costs."""


def hook_costs(seeds: int) -> dict[str, float]:
    """Median epoch time (graph engine, first epoch left out) of the reference workload, alone and with each
    plugin of `HOOKS` added, over `seeds` seeds; interleaved so that every variant sees the same machine."""
    epochs: dict[str, list[float]] = {name: [] for name in ["reference", *HOOKS]}
    for name in HOOKS:
        regstudy_fit(0, plugins={**REFERENCE["plugins"], name: {}}, epochs=2)  # warm-up: first tracing
    for seed in range(seeds):
        epochs["reference"] += regstudy_fit(seed)[0][1:]
        for name in HOOKS:
            epochs[name] += regstudy_fit(seed, plugins={**REFERENCE["plugins"], name: {}})[0][1:]
    return {name: statistics.median(seconds) for name, seconds in epochs.items()}


PRUNING_SEARCH = {
    "parameters": {"dataset": "digits", "train_size": 500, "hidden_units": [64], "epochs": 20},
    "space": {
        "learning_rate": {"log_uniform": [1.0e-5, 3.0e-2]},
        "plugins": {"dropout": {"rate": {"uniform": [0.0, 0.8]}}, "l2": {"l2": {"log_uniform": [1.0e-6, 1.0e-1]}}},
    },
    "trials": 16,
    "pruner": {"startup_trials": 4, "warmup_epochs": 4},
}
"""The search whose cost `pruning_savings` measures with and without Optuna's median pruner."""


def pruning_savings(seed: int = 0) -> dict[str, dict[str, float]]:
    """Run `PRUNING_SEARCH` twice, with Optuna's median pruner and with none: epochs trained, wall time, the
    best validation accuracy and its trial, and the trials pruned.

    The sampler is Optuna's random sampler with one seed: it draws the same trials whatever their outcomes, so
    the two searches differ only in how long each trial trains (TPE would also learn from the pruned ones).
    """
    import optuna

    from regstudy.config import RunConfig
    from regstudy.pruning import PRUNED_EPOCH_METRIC, make_pruner
    from regstudy.search_space import SearchSpace
    from regstudy.training import train_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace.from_mapping(PRUNING_SEARCH["space"])
    measured = {}
    for pruner in ("median", "none"):
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.RandomSampler(seed=seed),
            pruner=make_pruner(pruner, PRUNING_SEARCH["pruner"]),
        )
        epochs, started = 0, time.perf_counter()
        for _ in range(PRUNING_SEARCH["trials"]):
            trial = study.ask()
            parameters = {**PRUNING_SEARCH["parameters"], **space.suggest(trial), "seed": seed}
            result = train_config(RunConfig.from_mapping({**parameters, "experiment": "bench pruning"}), trial=trial)
            epochs += int(result.metrics["epochs_trained"])
            if PRUNED_EPOCH_METRIC in result.metrics:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, result.metrics["validation_accuracy"])
        measured[pruner] = {
            "epochs": epochs,
            "seconds": time.perf_counter() - started,
            "best": study.best_value,
            "best trial": study.best_trial.number,
            "pruned": len(study.get_trials(states=(optuna.trial.TrialState.PRUNED,))),
        }
    return measured


PRODUCTS = 10
"""Products per timed batch, chained (each takes the last one's result, through a tanh) and each with its own
right-hand operand, so that none can be folded into another or hoisted out of the loop. This bench once
summed ten products of one operand; timed alternately with this chain on one machine, that loop took 0.90×
the chain's time (the tanh's share), so it was not folded: the rate it gave was real for that machine's load.
The rate moves with the load (215 GFLOP/s beside a test suite, 454 on a quiet machine, the same day), which
is why every ratio to it comes from the same run."""


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's float32 matrix-multiply rate on TensorFlow: the best of several timed batches of
    `PRODUCTS` products of `size`², each with a new operand."""
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), seed=(1, 2))
    operands = tf.random.stateless_normal((PRODUCTS, size, size), seed=(3, 4)) / size**0.5

    @tf.function
    def products(a, operands):
        for index in tf.range(PRODUCTS):
            a = tf.tanh(tf.matmul(a, operands[index]))
        return a

    products(a, operands).numpy()
    best = min(_timed(lambda: products(a, operands).numpy()) for _ in range(repeats))
    return PRODUCTS * 2 * size**3 / best / 1e9


def jax_matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """`matmul_gflops` on JAX (one jitted program of the same products), in this process: run by `--jax-matmul`."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(1), (size, size))
    operands = jax.random.normal(jax.random.key(2), (PRODUCTS, size, size)) / size**0.5
    step = lambda a, operand: (jnp.tanh(a @ operand), None)  # noqa: E731
    products = jax.jit(lambda a, operands: jax.lax.scan(step, a, operands)[0])
    products(a, operands).block_until_ready()
    best = min(_timed(lambda: products(a, operands).block_until_ready()) for _ in range(repeats))
    return PRODUCTS * 2 * size**3 / best / 1e9


def cpu_peak_gflops() -> tuple[float, str]:
    """The CPU's float32 peak at its nominal clock (`/proc/cpuinfo`'s, which a virtual machine reports as it
    started; boost clocks run higher): cores × clock × FLOPs a cycle, taking two fused multiply-add units a
    core as wide as the widest vector instructions it has (16 lanes with AVX-512, 8 with AVX2). A rate measured
    above it says the cores ran faster than the nominal clock. With how it was found."""
    flags, mhz = set(), 0.0
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
        if line.startswith("cpu MHz") and not mhz:
            mhz = float(line.split(":", 1)[1])
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * 2 * lanes if "fma" in flags or "avx512f" in flags else 2 * lanes
    cores = os.cpu_count() or 1
    return cores * mhz / 1e3 * per_cycle, f"{cores} cores × {mhz / 1e3:.2f} GHz nominal × {per_cycle} FLOPs a cycle"


def jax_matmul_in_process() -> float:
    """`jax_matmul_gflops` in a process of its own, whose Keras runs on JAX."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "regstudy.bench", "--jax-matmul"],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["gflops"]


def epoch_flops(sizes: dict[str, int], layers: list[int]) -> float:
    """Floating-point operations of one epoch of an MLP: 6 per weight per training example (forward, two
    backward products) and 2 per weight per validation example."""
    weights = sum(a * b for a, b in zip(layers, layers[1:]))
    return 6.0 * weights * sizes["train"] + 2.0 * weights * sizes["validation"]


def mlflow_share(results: list) -> float:
    """The median share of a run's wall time spent writing to MLflow, as each run measured it (`mlflow_seconds`)."""
    return statistics.median(r.seconds["mlflow_seconds"] / r.seconds["run_seconds"] for r in results)


def fixed_cost() -> dict[str, float]:
    """Seconds a papermill run costs beyond the same training in this process: fresh kernel and warm kernel."""
    from regstudy.config import RunConfig
    from regstudy.notebooks import run_training_notebook, warm_kernel
    from regstudy.training import train

    small = {"dataset": "digits", "train_size": 100, "hidden_units": [16], "epochs": 1, "experiment": "bench"}
    train(**small)
    in_process = statistics.median(_timed(lambda: train(**small)) for _ in range(3))
    config = RunConfig(**small)
    fresh = statistics.median(_timed(lambda: run_training_notebook(config)) for _ in range(2))
    kernel = warm_kernel()
    run_training_notebook(config, kernel=kernel)
    warm = statistics.median(_timed(lambda: run_training_notebook(config, kernel=kernel)) for _ in range(3))
    return {"fresh kernel": fresh - in_process, "warm kernel": warm - in_process}


def sweep_throughput(folder: Path) -> dict[str, object]:
    """Runs per minute with 1 and 2 workers on one small study, and wall time against the number of variants."""
    small = {"dataset": "digits", "train_size": 300, "hidden_units": [64], "epochs": 10}

    def timed_sweep(name: str, variants: int, workers: int) -> float:
        return _timed_sweep(folder, name, variants, workers, small, "l2")

    # Each sweep starts its workers' kernels (a fixed cost), then trains; every study name is new, so nothing resumes.
    one, two = timed_sweep("bench-one-worker", 16, 1), timed_sweep("bench-two-workers", 16, 2)
    counts = [2, 4, 8, 16]
    walls = [timed_sweep(f"bench-{n}-variants", n, 2) for n in counts]
    slope, intercept, r_squared = _line(counts, walls)
    # A long study is mostly the cost per run: the slopes of wall time against runs, with 1 and 2 workers.
    slope_one = _line([4, 16], [timed_sweep("bench-4-variants-one-worker", 4, 1), one])[0]
    return {
        "1 worker": 16 / one * 60,
        "2 workers": 16 / two * 60,
        "counts": counts,
        "walls": walls,
        "slope": slope,
        "intercept": intercept,
        "r_squared": r_squared,
        "slope 1 worker": slope_one,
    }


def _timed_sweep(folder: Path, name: str, variants: int, workers: int, parameters: dict, plugins: str) -> float:
    """Seconds to sweep a new study `name` of `variants` runs of `plugins` (one seed, `l2.l2` from 1e-5 up) with
    `parameters`, on `workers` local workers; the study file is written in `folder`."""
    import yaml

    from regstudy.study import load_study
    from regstudy.sweep import sweep

    path = folder / f"{name}.yaml"
    strengths = [round(1e-5 * (i + 1), 5) for i in range(variants)]
    study = {"name": name, "parameters": parameters, "grid": [{"plugins": [plugins], "l2.l2": strengths}], "seeds": [0]}
    path.write_text(yaml.safe_dump(study))
    return _timed(functools.partial(sweep, load_study(path), workers=workers, echo=lambda text: None))


DEFAULT_STUDY = Path(__file__).resolve().parent.parent / "params" / "default-study.yaml"
STAGES = {
    "building": "data, plugins and models",
    "compiling": "tracing and compiling the epoch",
    "steps": "the training steps and callbacks",
    "evaluating": "final metrics and end of training",
    "logging": "MLflow's writes",
}


STUDY_REPEATS = 3
"""How many times `make bench` sweeps the study each way, the three ways in turn. Two sweeps of the default
study at 16 seeds, of the same code on one quiet machine in one session, took 241 and 263 s (and 231 and 244 s
after a change): a spread wider than the difference the 16-seed row speaks of, whose ratio sat at 0.98-1.04
in single sweeps. So each ratio is the median of the ratios taken repeat by repeat, and the repeats also show
whether a sweep gives the same numbers again."""


def study_paths(
    folder: Path, study: Path = DEFAULT_STUDY, workers: int = 2, repeats: int = STUDY_REPEATS
) -> dict[str, list[dict]]:
    """The study swept three ways on `workers` workers, each into a new experiment and with an empty XLA
    compilation cache: on the fast path (replica groups), with `replicas: 1` (each run alone), and on the fast
    path at 16 seeds; the three in turn, `repeats` times, so that every repeat sees the machine's moment. For
    each way, one entry a repeat: its wall time, its runs' test accuracies by (variant, seed), and the seconds
    of its groups' stages (`_group_stages`)."""
    import yaml

    from regstudy.study import load_study
    from regstudy.sweep import sweep

    document = yaml.safe_load(study.read_text())
    measured: dict[str, list[dict]] = {}
    # The side-by-side pair at today's three seeds (the baseline), whatever the study file asks for.
    three, sixteen = [0, 1, 2], list(range(16))
    for repeat in range(1, repeats + 1):
        for label, replicas, seeds in (("fast", None, three), ("alone", 1, three), ("fast, 16 seeds", None, sixteen)):
            name = f"bench-{document['name']}-{label.replace(', ', '-').replace(' ', '-')}-{repeat}"
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump({**document, "name": name, "seeds": seeds}))
            loaded = load_study(path)
            # Each sweep compiles into an empty XLA cache that keeps every program, as regstudy's own does on a
            # first `make study` (the sweep's kernels inherit these variables).
            cache = {
                "JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="regstudy-bench-jax-", dir=folder),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            }
            os.environ.update(cache)
            try:
                wall = _timed(
                    functools.partial(sweep, loaded, workers=workers, replicas=replicas, echo=lambda text: None)
                )
            finally:
                for variable in cache:
                    del os.environ[variable]
            measured.setdefault(label, []).append({"wall": wall, "runs": len(loaded.runs), **_group_stages(name)})
    return measured


def _group_stages(experiment: str) -> dict:
    """The test accuracy of each run of `experiment` by (variant, seed), and the seconds of each stage summed
    over its replica groups (each group's stages are logged to every run of it), with the groups' count."""
    from regstudy import tracking
    from regstudy.recording import REPLICA_GROUP_TAG

    client = tracking.connect()
    runs = [run for run in tracking.search_runs(client, experiment, "tags.`regstudy.role` = 'variant'")]
    accuracy = {(run.data.tags["variant"], run.data.tags["seed"]): run.data.metrics["test_accuracy"] for run in runs}
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(run.data.tags[REPLICA_GROUP_TAG], []).append(run)
    stages = {
        stage: sum(group[0].data.metrics[f"group_{stage}_seconds"] for group in groups.values()) for stage in STAGES
    }
    return {"accuracy": accuracy, "stages": stages, "groups": len(groups), **_group_spans(groups.values())}


def _group_spans(groups) -> dict[str, float]:
    """The seconds of a sweep's replica groups (each a list of its runs): "in groups", inside their
    `train_replicas` (the stages; its first run's `run_seconds`, which ends where the runs' last writes
    begin), and "spans", from each group's first run created to its last run ended."""
    grouped = sum(min(run.data.metrics["run_seconds"] for run in group) for group in groups)
    spans = sum(
        (max(run.info.end_time for run in group) - min(run.info.start_time for run in group)) / 1000 for group in groups
    )
    return {"in groups": grouped, "spans": spans}


def _time_parts(sweep: dict, workers: int) -> dict[str, float]:
    """Where a sweep's workers' seconds went: its groups' stages, what surrounds each group and what lies
    between the groups (`_group_spans`)."""
    parts = {f"{stage} ({what})": sweep["stages"][stage] for stage, what in STAGES.items()}
    parts["around its groups (creating the runs, the notebook's start and end, each run's last write)"] = (
        sweep["spans"] - sweep["in groups"]
    )
    parts["between its groups (the kernels' start, the sweep's own start and end, idle workers)"] = (
        sweep["wall"] * workers - sweep["spans"]
    )
    return parts


def _study_rows(paths: dict[str, list[dict]], workers: int = 2) -> list[tuple[str, str, str]]:
    """The fast path against `replicas: 1` and at 16 seeds (medians of the ratios of each repeat's sweeps),
    whether every repeat gave the same numbers, where the fast path's time goes (in its repeat of median wall
    time), and its accuracies against the runs alone."""
    import numpy as np
    import scipy.stats

    fast, alone, many = paths["fast"], paths["alone"], paths["fast, 16 seeds"]
    speedups = [a["wall"] / f["wall"] for f, a in zip(fast, alone)]
    times = [m["wall"] / a["wall"] for m, a in zip(many, alone)]
    first = fast[0]
    keys = sorted(first["accuracy"])
    differences = np.array([first["accuracy"][key] - alone[0]["accuracy"][key] for key in keys])
    # Zeros (identical runs) split between the signs: dropping them would test only the runs that differ.
    test = scipy.stats.wilcoxon(differences, zero_method="zsplit") if np.any(differences) else None
    rows = [
        (
            f"default study ({first['runs']} runs, jax engine, {workers} workers): fast path vs `replicas: 1`"
            f"{_of_repeats(fast)}",
            f"{_median_wall(fast):.0f} s ({first['groups']} groups) vs {_median_wall(alone):.0f} s "
            f"({statistics.median(speedups):.2f}×{_spread(speedups, '×')})",
            "≥ 5×",
        ),
        (
            f"default study at 16 seeds ({many[0]['runs']} runs) on the fast path vs `replicas: 1` at its own seeds"
            f"{_of_repeats(many)}",
            f"{_median_wall(many):.0f} s vs {_median_wall(alone):.0f} s "
            f"({statistics.median(times):.2f}× the time{_spread(times, '×')})",
            "< 1×",
        ),
        (
            "test accuracy, fast path − runs alone, same variant and seed",
            f"{np.sum(differences == 0)} of {len(keys)} runs identical; mean difference {np.mean(differences):+.4f}, "
            f"largest |difference| {np.max(np.abs(differences)):.3f}"
            + (f" (Wilcoxon signed-rank p = {test.pvalue:.2f})" if test else ""),
            "equal within seed noise",
        ),
    ]
    if len(fast) > 1:
        rows.append(_repeat_row(paths))
    three, sixteen = _time_parts(_median_repeat(fast), workers), _time_parts(_median_repeat(many), workers)
    which = ", in the sweep of median wall time" if len(fast) > 1 else ""
    for part, seconds in three.items():
        rows.append(
            (
                f"fast path's time at 3 / 16 seeds (share of the workers' time{which}): {part}",
                f"{seconds:.0f} s ({seconds / (_median_wall(fast) * workers):.0%}) / "
                f"{sixteen[part]:.0f} s ({sixteen[part] / (_median_wall(many) * workers):.0%})",
                "≥ 50 % (3 seeds)" if part.startswith("steps") else "",
            )
        )
    return rows


def _median_repeat(sweeps: list[dict]) -> dict:
    """The sweep of median wall time among repeats (the later of the two middle ones for an even count)."""
    return sorted(sweeps, key=lambda sweep: sweep["wall"])[len(sweeps) // 2]


def _median_wall(sweeps: list[dict]) -> float:
    return _median_repeat(sweeps)["wall"]


def _of_repeats(sweeps: list[dict]) -> str:
    return f" (medians of {len(sweeps)} sweeps each)" if len(sweeps) > 1 else ""


def _spread(values: list[float], unit: str) -> str:
    return f", {min(values):.2f}–{max(values):.2f}{unit} across repeats" if len(values) > 1 else ""


def _repeat_row(paths: dict[str, list[dict]]) -> tuple[str, str, str]:
    """Whether each way's repeated sweeps gave every run the same test accuracy, as deterministic training
    should on one machine."""
    counts = []
    for label, sweeps in paths.items():
        reference = sweeps[0]["accuracy"]
        differing = sum(
            any(sweep["accuracy"].get(key) != value for sweep in sweeps[1:]) for key, value in reference.items()
        )
        counts.append(f"{label}: {differing} of {len(reference)}")
    return (
        f"runs whose test accuracy differs between the {len(next(iter(paths.values())))} sweeps of the same way",
        "; ".join(counts),
        "0 (deterministic)",
    )


def startup(repeats: int = 5) -> dict[str, float]:
    """Median wall time of commands that do not train, each a fresh process, beside importing TensorFlow."""
    import subprocess
    import sys

    commands = {
        "regstudy --help": [sys.executable, "-m", "regstudy.cli", "--help"],
        "regstudy plugins": [sys.executable, "-m", "regstudy.cli", "plugins"],
        "import tensorflow": [sys.executable, "-c", "import tensorflow"],
    }
    return {
        name: statistics.median(
            _timed(functools.partial(subprocess.run, command, capture_output=True, check=True)) for _ in range(repeats)
        )
        for name, command in commands.items()
    }


def _line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and R² of ys against xs."""
    import numpy as np

    slope, intercept = np.polyfit(xs, ys, 1)
    residuals = np.array(ys) - np.polyval([slope, intercept], xs)
    spread = np.sum((np.array(ys) - np.mean(ys)) ** 2)
    return float(slope), float(intercept), float(1 - np.sum(residuals**2) / spread) if spread else 1.0


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="regstudy-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of each path (default 5)")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--jax-run", type=int, help=argparse.SUPPRESS)  # one seed on the jax engine (`jax_fit`)
    parser.add_argument("--jax-matmul", action="store_true", help=argparse.SUPPRESS)  # `jax_matmul_gflops`
    parser.add_argument("--study", type=Path, default=DEFAULT_STUDY, help="the study of the replica rows")
    parser.add_argument(
        "--study-repeats",
        type=int,
        default=STUDY_REPEATS,
        help=f"sweeps of the study each way (default {STUDY_REPEATS})",
    )
    arguments = parser.parse_args(argv)
    if arguments.study_repeats < 1:
        parser.error(f"argument --study-repeats: expected a whole number from 1 up, got {arguments.study_repeats}")
    if arguments.jax_matmul:
        import json

        print(json.dumps({"gflops": jax_matmul_gflops()}))
        return 0
    if arguments.jax_run is not None:
        import json

        seconds, accuracy, _ = regstudy_fit(arguments.jax_run, engine="jax")
        print(json.dumps({"epochs": seconds, "accuracy": accuracy}))
        return 0
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp(prefix='regstudy-bench-')}/mlflow.db"
    paths = measure_paths(arguments.seeds)
    rows = [*_epoch_rows(paths, arguments.seeds), *_cost_rows(paths)]
    with tempfile.TemporaryDirectory() as folder:
        rows += _sweep_rows(sweep_throughput(Path(folder)), engine_sweeps(Path(folder)))
    rows += _search_and_hook_rows(pruning_savings(), hook_costs(arguments.seeds))
    with tempfile.TemporaryDirectory() as folder:
        rows += _study_rows(study_paths(Path(folder), arguments.study, repeats=arguments.study_repeats))
    table = "| measure | value | target |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    print(table)
    if arguments.output:
        arguments.output.write_text(table + "\n")
    return 0


def measure_paths(seeds: int) -> dict[str, list]:
    """Each path's epochs and test accuracies over `seeds` seeds, interleaved so that every path sees the same
    machine: the naive fit, the graph and keras engines (the graph's runs also with figures), the jax engine
    (its first-epoch costs too: compiling into an empty cache for the first seed, loading for the others)."""
    paths = {name: [] for name in ("naive", "naive accuracy", "graph", "graph accuracy", "keras", "results")}
    paths.update({name: [] for name in ("with figures", "jax", "jax accuracy", "jax compile")})
    naive_fit(0), regstudy_fit(0), regstudy_fit(0, engine="keras")  # warm-up: imports, data, first tracing
    jax_cache = Path(tempfile.mkdtemp(prefix="regstudy-bench-jax-"))  # empty: the first run compiles
    for seed in range(seeds):
        seconds, accuracy = naive_fit(seed)
        paths["naive"] += seconds[1:]  # the first epoch traces the graph: a fixed cost, not the steady state
        paths["naive accuracy"].append(accuracy)
        seconds, accuracy, result = regstudy_fit(seed)
        paths["graph"] += seconds[1:]
        paths["graph accuracy"].append(accuracy)
        paths["results"].append(result)
        paths["keras"] += regstudy_fit(seed, engine="keras")[0][1:]
        paths["with figures"].append(regstudy_fit(seed, figures=True)[2])
        seconds, accuracy = jax_fit(seed, jax_cache)
        paths["jax"] += seconds[1:]
        paths["jax accuracy"].append(accuracy)
        paths["jax compile"].append(seconds[0] - statistics.median(seconds[1:]))
    return paths


def _epoch_rows(paths: dict[str, list], seeds: int) -> list[tuple[str, str, str]]:
    """The epoch of each path, against the naive fit and the machine's matmul limit, and their test accuracies."""
    import numpy as np
    import scipy.stats

    naive_epoch, our_epoch, keras_epoch, jax_epoch = (
        statistics.median(paths[name]) for name in ("naive", "graph", "keras", "jax")
    )
    result, jax_compile = paths["results"][-1], paths["jax compile"]
    layers = [result.model.input_shape[-1], *REFERENCE["hidden_units"], 10]
    gflops, jax_gflops, (peak, how) = matmul_gflops(), jax_matmul_in_process(), cpu_peak_gflops()
    limit = epoch_flops(result.sizes, layers) / (gflops * 1e9)
    jax_limit = epoch_flops(result.sizes, layers) / (jax_gflops * 1e9)
    naive_accuracy, our_accuracy, jax_accuracy = (paths[f"{name} accuracy"] for name in ("naive", "graph", "jax"))
    welch = scipy.stats.ttest_ind(our_accuracy, jax_accuracy, equal_var=False).pvalue
    return [
        ("naive `model.fit` epoch (median)", f"{1000 * naive_epoch:.1f} ms", ""),
        ("regstudy epoch, keras engine (`model.fit`, median)", f"{1000 * keras_epoch:.1f} ms", ""),
        ("regstudy epoch, graph engine (the default, median)", f"{1000 * our_epoch:.1f} ms", ""),
        ("speed-up over naive (graph engine)", f"{naive_epoch / our_epoch:.2f}×", f"≥ {TARGETS['speed-up']:g}×"),
        ("regstudy epoch, jax engine (median)", f"{1000 * jax_epoch:.1f} ms", ""),
        ("speed-up over naive (jax engine)", f"{naive_epoch / jax_epoch:.2f}×", f"≥ {TARGETS['speed-up']:g}×"),
        (
            "jax engine's first-epoch cost (first epoch − median epoch): compiling / loading from XLA's cache",
            f"{jax_compile[0]:.2f} s / {statistics.median(jax_compile[1:] or jax_compile):.2f} s (median)",
            "",
        ),
        (
            f"matmul rate of this machine (float32, {PRODUCTS} products of new operands): TensorFlow / JAX / CPU peak",
            f"{gflops:.1f} / {jax_gflops:.1f} / {peak:.0f} GFLOP/s ({how})",
            "",
        ),
        ("regstudy's achieved rate", f"{epoch_flops(result.sizes, layers) / our_epoch / 1e9:.2f} GFLOP/s", ""),
        (
            "regstudy epoch / matmul limit",
            f"{our_epoch / limit:.1f}× ({1000 * limit:.1f} ms)",
            f"≤ {TARGETS['of the matmul limit']:g}×",
        ),
        (
            "jax engine epoch / matmul limit (JAX's own rate)",
            f"{jax_epoch / jax_limit:.1f}× ({1000 * jax_limit:.1f} ms)",
            f"≤ {TARGETS['of the matmul limit']:g}×",
        ),
        (
            f"test accuracy, naive ({seeds} seeds)",
            f"{np.mean(naive_accuracy):.4f} ± {np.std(naive_accuracy):.4f}",
            "",
        ),
        (
            f"test accuracy, regstudy ({seeds} seeds)",
            f"{np.mean(our_accuracy):.4f} ± {np.std(our_accuracy):.4f}",
            "equal within seed noise",
        ),
        (
            f"test accuracy, jax engine ({seeds} seeds)",
            f"{np.mean(jax_accuracy):.4f} ± {np.std(jax_accuracy):.4f} (Welch's p = {welch:.2f} against the graph's)",
            "equal within seed noise",
        ),
    ]


def _cost_rows(paths: dict[str, list]) -> list[tuple[str, str, str]]:
    """Start-up, papermill's fixed cost, the reference run's time and MLflow's share of it."""
    started, fixed, results, with_figures = startup(), fixed_cost(), paths["results"], paths["with figures"]
    return [
        (
            "start-up of `regstudy --help` / `regstudy plugins` (median of 5)",
            f"{started['regstudy --help']:.2f} s / {started['regstudy plugins']:.2f} s "
            f"({started['regstudy plugins'] / started['import tensorflow']:.0%} of importing TensorFlow, "
            f"{started['import tensorflow']:.1f} s)",
            "< 1 s",
        ),
        ("papermill fixed cost, fresh kernel", f"{fixed['fresh kernel']:.1f} s", f"≤ {TARGETS['fixed cost (s)']:g} s"),
        (
            "papermill fixed cost, warm kernel (sweeps)",
            f"{fixed['warm kernel']:.1f} s",
            f"≤ {TARGETS['fixed cost (s)']:g} s",
        ),
        (
            "run time of the reference run (median)",
            f"{statistics.median(r.seconds['run_seconds'] for r in results):.2f} s",
            "",
        ),
        (
            "MLflow share of a run (median)",
            f"{100 * mlflow_share(results):.1f} %",
            f"≤ {100 * TARGETS['MLflow share']:g} %",
        ),
        ("MLflow share of a run with `figures: true` (median)", f"{100 * mlflow_share(with_figures):.1f} %", ""),
    ]


def _sweep_rows(sweeps: dict[str, object], engine_walls: dict[str, float]) -> list[tuple[str, str, str]]:
    """Sweeps: throughput on one and two workers, wall time against the number of runs, graph against jax."""
    return [
        ("sweep throughput, 1 worker (16 runs)", f"{sweeps['1 worker']:.1f} runs/min", ""),
        (
            "sweep throughput, 2 workers (16 runs)",
            f"{sweeps['2 workers']:.1f} runs/min ({sweeps['2 workers'] / sweeps['1 worker']:.2f}×)",
            f"≥ {TARGETS['2-worker speed-up']:g}×",
        ),
        (
            "sweep wall time against variants (2 workers)",
            ", ".join(f"{n}: {w:.0f} s" for n, w in zip(sweeps["counts"], sweeps["walls"]))
            + f"; {sweeps['slope']:.1f} s per run + {sweeps['intercept']:.0f} s, R² = {sweeps['r_squared']:.3f}",
            "linear",
        ),
        (
            "seconds per run, 1 vs 2 workers (slopes: the cost per run of a long study)",
            f"{sweeps['slope 1 worker']:.2f} s vs {sweeps['slope']:.2f} s "
            f"({sweeps['slope 1 worker'] / sweeps['slope']:.2f}×)",
            f"≥ {TARGETS['2-worker speed-up']:g}×",
        ),
        (
            "sweep of 8 reference runs (10 epochs, 2 workers): graph vs jax engine",
            f"{engine_walls['graph']:.0f} s vs {engine_walls['jax']:.0f} s "
            f"(jax takes {engine_walls['jax'] / engine_walls['graph']:.2f}× the graph engine's time)",
            "",
        ),
    ]


def _search_and_hook_rows(pruning: dict[str, dict[str, float]], hooks: dict[str, float]) -> list[tuple[str, str, str]]:
    """A search with and without pruning, and the epoch's cost of each step hook."""
    pruned, unpruned = pruning["median"], pruning["none"]
    return [
        (
            f"a {PRUNING_SEARCH['trials']}-trial search with Optuna's median pruner vs none (the same random draws)",
            f"{pruned['epochs']} vs {unpruned['epochs']} epochs ({pruned['epochs'] / unpruned['epochs']:.2f}×), "
            f"{pruned['seconds']:.0f} s vs {unpruned['seconds']:.0f} s "
            f"({pruned['seconds'] / unpruned['seconds']:.2f}×); "
            f"{pruned['pruned']} trials pruned; best validation accuracy {pruned['best']:.4f} (trial "
            f"{pruned['best trial']}) vs {unpruned['best']:.4f} (trial {unpruned['best trial']})",
            "the same best, in less time",
        ),
        *(
            (
                f"epoch with `{name}` added ({hook}; median)",
                f"{1000 * hooks[name]:.1f} ms ({hooks[name] / hooks['reference']:.2f}× the reference's "
                f"{1000 * hooks['reference']:.1f} ms)",
                "",
            )
            for name, hook in HOOKS.items()
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
