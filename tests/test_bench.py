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


def test_the_study_rows_give_the_ratios_the_shares_of_the_workers_time_and_the_paired_accuracy_differences():
    stages = {"building": 10.0, "compiling": 30.0, "steps": 50.0, "evaluating": 5.0, "logging": 5.0}
    many = {"building": 40.0, "compiling": 60.0, "steps": 240.0, "evaluating": 20.0, "logging": 40.0}
    accuracy = {("a", "0"): 0.9, ("a", "1"): 0.8, ("b", "0"): 0.7}
    paths = {
        "fast": [{"wall": 100.0, "runs": 3, "groups": 2, "in groups": 100.0, "spans": 180.0, "stages": stages}],
        "alone": [{"wall": 400.0, "runs": 3, "groups": 3, "in groups": 390.0, "spans": 395.0, "stages": stages}],
        "fast, 16 seeds": [
            {"wall": 300.0, "runs": 16, "groups": 2, "in groups": 400.0, "spans": 500.0, "stages": many}
        ],
    }
    paths["fast"][0]["accuracy"] = paths["alone"][0]["accuracy"] = accuracy
    rows = {row[0]: row[1] for row in bench._study_rows(paths)}
    assert rows["default study (3 runs, jax engine, 2 workers): fast path vs `replicas: 1`"].endswith("(4.00×)")
    assert "(0.75× the time)" in next(value for key, value in rows.items() if "16 seeds" in key)
    assert "3 of 3 runs identical" in rows["test accuracy, fast path − runs alone, same variant and seed"]
    # The workers' time is 2 × 100 s at 3 seeds and 2 × 300 s at 16: the steps are 25 % and 40 % of it; the
    # groups' spans less their insides are around them, and the workers' time less the spans between them.
    times = "fast path's time at 3 / 16 seeds (share of the workers' time): "
    assert rows[times + "steps (the training steps and callbacks)"] == "50 s (25%) / 240 s (40%)"
    around = next(value for key, value in rows.items() if key.startswith(times + "around its groups"))
    between = next(value for key, value in rows.items() if key.startswith(times + "between its groups"))
    assert (around, between) == ("80 s (40%) / 100 s (17%)", "20 s (10%) / 100 s (17%)")
    # Every second of the workers is in one part: the shares add up to the whole.
    three = bench._time_parts(paths["fast"][0], 2)
    assert sum(three.values()) == pytest.approx(2 * paths["fast"][0]["wall"])
    # One sweep each way is no repeat: no row compares repeats.
    assert not any(key.startswith("runs whose test accuracy differs") for key in rows)


def test_repeated_sweeps_give_medians_of_pairwise_ratios_the_median_sweeps_parts_and_what_differed():
    """Three repeats: the fast path takes 100, 120 and 90 s where the runs alone take 330, 480 and 450 s, so
    the ratios pair by pair are 3.3, 4 and 5 (median 4.00×), where the median walls' ratio would be 4.5; 16
    seeds take 300, 270 and 360 s, 0.91, 0.56 and 0.80 of the runs alone (median 0.80×, not 300 / 450). The
    parts of the time are those of the sweep of median wall time (100 s; 300 s at 16 seeds), and the third
    fast sweep gave one run another accuracy."""
    accuracy = {("a", "0"): 0.9, ("a", "1"): 0.8, ("b", "0"): 0.7}

    def sweep(wall, runs, steps):
        stages = {"building": 0.0, "compiling": 0.0, "steps": steps, "evaluating": 0.0, "logging": 0.0}
        return {"wall": wall, "runs": runs, "groups": 2, "in groups": steps, "spans": steps, "stages": stages}

    paths = {
        "fast": [sweep(100.0, 3, 50.0), sweep(120.0, 3, 70.0), sweep(90.0, 3, 40.0)],
        "alone": [sweep(330.0, 3, 320.0), sweep(480.0, 3, 470.0), sweep(450.0, 3, 440.0)],
        "fast, 16 seeds": [sweep(300.0, 16, 240.0), sweep(270.0, 16, 200.0), sweep(360.0, 16, 300.0)],
    }
    for sweeps in paths.values():
        for each in sweeps:
            each["accuracy"] = dict(accuracy)
    paths["fast"][2]["accuracy"][("b", "0")] = 0.71
    rows = {row[0]: row[1] for row in bench._study_rows(paths)}
    study = "default study (3 runs, jax engine, 2 workers): fast path vs `replicas: 1` (medians of 3 sweeps each)"
    assert rows[study] == "100 s (2 groups) vs 450 s (4.00×, 3.30–5.00× across repeats)"
    sixteen = next(value for key, value in rows.items() if "16 seeds (16 runs)" in key)
    assert sixteen == "300 s vs 450 s (0.80× the time, 0.56–0.91× across repeats)"
    times = "fast path's time at 3 / 16 seeds (share of the workers' time, in the sweep of median wall time): "
    assert rows[times + "steps (the training steps and callbacks)"] == "50 s (25%) / 240 s (40%)"
    differs = rows["runs whose test accuracy differs between the 3 sweeps of the same way"]
    assert differs == "fast: 1 of 3; alone: 0 of 3; fast, 16 seeds: 0 of 3"


def test_a_bench_of_no_study_sweeps_is_refused_before_anything_is_measured(capsys):
    with pytest.raises(SystemExit) as refused:
        bench.main(["--study-repeats", "0"])
    assert refused.value.code == 2
    assert "--study-repeats: expected a whole number from 1 up, got 0" in capsys.readouterr().err


def test_a_groups_span_runs_from_its_first_run_created_to_its_last_ended_and_its_inside_is_its_first_write(client):
    """On runs of a real store: a group of two runs created at 1.0 s and 1.5 s and ended at 5.0 s and 6.0 s
    spans 5 s; the one-run group from 10 s to 12 s spans 2 s. Inside a group is its least `run_seconds` (its
    first run's, measured where the runs' last writes begin)."""
    experiment = client.create_experiment("test group spans")

    def run(start, end, seconds):
        run_id = client.create_run(experiment, start_time=start).info.run_id
        client.log_metric(run_id, "run_seconds", seconds)
        client.set_terminated(run_id, end_time=end)
        return client.get_run(run_id)

    groups = [[run(1000, 5000, 2.5), run(1500, 6000, 2.0)], [run(10_000, 12_000, 1.5)]]
    assert bench._group_spans(groups) == {"in groups": 3.5, "spans": 7.0}


def test_the_cpu_peak_is_cores_times_clock_times_flops_a_cycle():
    peak, how = bench.cpu_peak_gflops()
    cores, ghz, per_cycle = how.split(" × ")
    assert peak == pytest.approx(int(cores.split()[0]) * float(ghz.split()[0]) * int(per_cycle.split()[0]), rel=0.01)
    assert ghz.endswith("GHz nominal")
    assert int(per_cycle.split()[0]) in (8, 16, 32, 64)
