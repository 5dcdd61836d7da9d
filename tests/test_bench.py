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


def test_the_study_rows_give_the_ratios_the_stage_shares_and_the_paired_accuracy_differences():
    stages = {"building": 10.0, "compiling": 30.0, "steps": 50.0, "evaluating": 5.0, "logging": 5.0}
    accuracy = {("a", "0"): 0.9, ("a", "1"): 0.8, ("b", "0"): 0.7}
    paths = {
        "fast": {"wall": 100.0, "runs": 3, "groups": 2, "in groups": 150.0, "stages": stages, "accuracy": accuracy},
        "alone": {"wall": 400.0, "runs": 3, "groups": 3, "in groups": 390.0, "stages": stages, "accuracy": accuracy},
        "fast, 16 seeds": {"wall": 300.0, "runs": 16, "groups": 2, "in groups": 500.0, "stages": stages},
    }
    rows = {row[0]: row[1] for row in bench._study_rows(paths)}
    assert rows["default study (3 runs, jax engine, 2 workers): fast path vs `replicas: 1`"].endswith("(4.00×)")
    assert "(0.75× the time)" in next(value for key, value in rows.items() if "16 seeds" in key)
    assert "3 of 3 runs identical" in rows["test accuracy, fast path − runs alone, same variant and seed"]
    # The workers' time is 2 × 100 s: the steps' 50 s are a quarter of it, and 50 s are outside the groups.
    assert rows["fast path's time: steps (the training steps and callbacks)"] == "50 s (25% of the workers' time)"
    rest = "fast path's time: the rest (notebooks, kernels, scheduling, idle workers, each run's last write)"
    assert rows[rest] == "50 s (25%)"


def test_the_cpu_peak_is_cores_times_clock_times_flops_a_cycle():
    peak, how = bench.cpu_peak_gflops()
    cores, ghz, per_cycle = how.split(" × ")
    assert peak == pytest.approx(int(cores.split()[0]) * float(ghz.split()[0]) * int(per_cycle.split()[0]), rel=0.01)
    assert ghz.endswith("GHz nominal")
    assert int(per_cycle.split()[0]) in (8, 16, 32, 64)
