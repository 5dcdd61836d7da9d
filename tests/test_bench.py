"""The benchmark's arithmetic and measurements (its timings are reported by `make bench`, never asserted)."""

import pytest

from regstudy import bench


def test_epoch_flops_counts_six_per_weight_to_train_and_two_to_validate():
    layers = [64, 256, 256, 10]
    weights = 64 * 256 + 256 * 256 + 256 * 10
    assert weights == 84_480
    assert bench.epoch_flops({"train": 100, "validation": 10}, layers) == 6 * weights * 100 + 2 * weights * 10


def test_the_matmul_rate_is_a_positive_rate():
    assert bench.matmul_gflops(size=128, repeats=2) > 0


def test_the_mlflow_share_is_the_median_of_what_each_run_measured(monkeypatch):
    monkeypatch.setitem(bench.REFERENCE, "epochs", 2)
    results = [bench.regstudy_fit(0, figures=figures)[2] for figures in (False, True, True)]
    shares = sorted(r.seconds["mlflow_seconds"] / r.seconds["run_seconds"] for r in results)
    assert 0.0 < shares[0] and shares[-1] < 1.0
    assert bench.mlflow_share(results) == shares[1]


def test_both_paths_train_the_same_model_and_report_every_epoch(monkeypatch):
    monkeypatch.setitem(bench.REFERENCE, "epochs", 3)
    naive_epochs, naive_accuracy = bench.naive_fit(0)
    our_epochs, our_accuracy, result = bench.regstudy_fit(0)
    assert len(naive_epochs) == len(our_epochs) == 3
    assert result.model.count_params() == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert 0.5 < naive_accuracy <= 1 and 0.5 < our_accuracy <= 1
    assert our_accuracy == pytest.approx(naive_accuracy, abs=0.1)


def test_the_line_through_sweep_times_is_least_squares():
    slope, intercept, r_squared = bench._line([2, 4, 8, 16], [30, 34, 42, 58])
    assert (slope, intercept, r_squared) == pytest.approx((2.0, 26.0, 1.0))
    slope, intercept, r_squared = bench._line([1, 2, 3], [1, 3, 2])
    assert (slope, intercept) == pytest.approx((0.5, 1.0)) and r_squared == pytest.approx(0.25)


def test_startup_times_each_command_in_a_fresh_process():
    started = bench.startup(repeats=1)
    assert set(started) == {"regstudy --help", "regstudy plugins", "import tensorflow"}
    assert all(seconds > 0 for seconds in started.values())


def test_hook_costs_time_the_reference_and_each_hooks_plugin(monkeypatch):
    monkeypatch.setitem(bench.REFERENCE, "epochs", 2)
    monkeypatch.setattr(bench, "HOOKS", {"mixup": "batch transform", "sam": "step gradients"})
    costs = bench.hook_costs(seeds=1)
    assert set(costs) == {"reference", "mixup", "sam"}
    assert all(seconds > 0 for seconds in costs.values())


def test_pruning_savings_runs_the_same_draws_with_and_without_the_pruner(monkeypatch):
    search = {**bench.PRUNING_SEARCH, "trials": 4, "parameters": {**bench.PRUNING_SEARCH["parameters"], "epochs": 4}}
    monkeypatch.setattr(bench, "PRUNING_SEARCH", {**search, "pruner": {"startup_trials": 1, "warmup_epochs": 1}})
    measured = bench.pruning_savings()
    pruned, unpruned = measured["median"], measured["none"]
    assert unpruned["epochs"] == 4 * 4 and unpruned["pruned"] == 0
    # Each pruned trial trained fewer epochs than its unpruned twin, and nothing else changed.
    assert pruned["epochs"] <= unpruned["epochs"] and pruned["epochs"] >= 4 + 2 * (4 - 1)
    assert (pruned["epochs"] < unpruned["epochs"]) == (pruned["pruned"] > 0)
    if pruned["best trial"] == unpruned["best trial"]:
        assert pruned["best"] == unpruned["best"]  # the same run, trained the same way: the same number


def test_the_jax_path_trains_the_reference_in_a_process_of_its_own():
    epochs, accuracy = bench.jax_fit(0)
    assert len(epochs) == bench.REFERENCE["epochs"] and all(seconds > 0 for seconds in epochs)
    assert 0.9 < accuracy <= 1
