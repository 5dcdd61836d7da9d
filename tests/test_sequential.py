"""Seeds in stages (regstudy.sequential): alpha spending, its false-positive rate on simulated null studies, the
study file's `seeds: {until_decided, max}`, and a real staged sweep that stops training a decided method."""

import numpy as np
import pytest
from scipy import stats

from regstudy import ConfigError
from regstudy.sequential import complete, decide, holm_rejects, logged_decisions, nominal_levels, p_values, spent
from regstudy.significance import paired
from regstudy.study import load_study
from regstudy.sweep import sweep

from helpers import regstudy_command, runs_of, with_role


def test_the_spending_function_is_lan_and_demets_obrien_fleming_type():
    # Reference: Lan & DeMets (1983), α*(t) = 2 - 2Φ(z_{1-α/2} / √t); at α = 0.05 the tabled two-sided values
    # are 0.0056 at t = 0.5 and 0.0001 at t = 0.25 (e.g. gsDesign's sfLDOF), and all of α at t = 1.
    assert spent(0.5) == pytest.approx(0.0056, abs=5e-5)
    assert spent(0.25) == pytest.approx(0.0001, abs=5e-5)
    assert spent(1.0) == pytest.approx(0.05) and spent(0.0) == 0.0
    levels = nominal_levels([4, 8, 12, 16])
    assert sum(levels) == pytest.approx(0.05) and levels == sorted(levels)  # little early, most at the end
    assert nominal_levels([16]) == pytest.approx([0.05])


def test_a_constant_difference_gets_the_exact_sign_test_and_one_pair_cannot_decide():
    assert p_values(np.full(6, 0.01)) == pytest.approx(stats.binomtest(6, 6, 0.5).pvalue)  # 2 / 2**6
    assert p_values(np.array([0.3])) == 1.0 and p_values(np.zeros(5)) == 1.0
    differences = np.array([0.01, 0.03, 0.02, 0.04])
    assert p_values(differences) == pytest.approx(stats.ttest_rel(differences, np.zeros(4)).pvalue)
    stacked = p_values(np.stack([differences, np.full(4, -0.2), np.zeros(4)]))  # many comparisons at once
    assert stacked == pytest.approx([float(p_values(differences)), 0.125, 1.0])
    # A difference the same at every seed up to rounding is one for the looks as for the report's comparisons
    # (`significance.same_difference`): the same p-value as `significance.paired`'s, whichever test it is.
    for each in (np.full(6, 0.01) + 1e-12 * np.arange(6), differences, np.full(4, -0.2)):
        assert float(p_values(each)) == pytest.approx(paired(each, np.zeros(len(each))).p_t)
    # Holm over the two at 5 %: a's p (0.0004) is below 0.025, b's (0.4) below nothing.
    assert decide({"a": -(differences + 0.1), "b": np.array([0.01, -0.01, 0.0, 0.02])}, 0.05) == {"a": "worse"}


def test_holms_step_down_decides_as_statsmodels_does():
    import gc

    from statsmodels.stats.multitest import multipletests

    gc.freeze()  # multipletests' Holm collects garbage on every call: slow in a process holding TensorFlow
    try:
        rng = np.random.default_rng(0)
        for size in (1, 2, 5, 30):
            for _ in range(50):
                p = rng.uniform(0, 0.1, size) ** rng.uniform(0.5, 3)
                assert (holm_rejects(p, 0.05) == multipletests(p, alpha=0.05, method="holm")[0]).all(), p
    finally:
        gc.unfreeze()


def _looks(rng, studies, effects, stages, noise=1.0):
    """Simulated studies, all at once: a baseline and methods with true mean differences `effects` (their
    scores and the baseline's drawn per seed, so the methods' differences share the baseline's noise), looked
    at `stages` as `staged_sweep` looks (`p_values`, then `holm_rejects` at each look's level over the methods
    not yet decided); the look at which each study decided each method, 0 where it never did."""
    baseline = rng.normal(0.0, noise, (studies, 1, stages[-1]))
    differences = rng.normal(np.array(effects)[None, :, None], noise, (studies, len(effects), stages[-1])) - baseline
    decided = np.zeros((studies, len(effects)), dtype=int)
    for look, (seeds, level) in enumerate(zip(stages, nominal_levels(stages)), start=1):
        p = p_values(differences[:, :, :seeds])
        for study in range(studies):
            open_ = np.flatnonzero(decided[study] == 0)
            decided[study, open_[holm_rejects(p[study, open_], level)]] = look
    return decided


def test_on_2000_null_studies_the_staged_design_declares_a_difference_at_most_alpha_of_the_time():
    rng = np.random.default_rng(20261201)
    studies, stages = 2000, [4, 8, 12, 16]
    false = int((_looks(rng, studies, [0.0] * 5, stages) > 0).any(axis=1).sum())
    # Any false positive over five methods and four looks: its Clopper-Pearson 95 % upper bound is below α.
    upper = stats.binomtest(false, studies).proportion_ci(0.95).high
    assert upper < 0.05, (false, upper)
    # And it has power: a method two spreads better is found in nearly every study, most of them early.
    found = _looks(rng, 200, [2.0, 0, 0, 0, 0], stages)[:, 0]
    assert (found > 0).sum() >= 190 and ((found > 0) & (found < 4)).sum() >= 100, np.bincount(found)


def test_a_study_file_asks_for_seeds_in_stages(tmp_path):
    path = tmp_path / "staged.yaml"
    path.write_text("name: staged\nvariants: [{plugins: none}]\nseeds: {until_decided: 4, max: 10}\n")
    study = load_study(path)
    assert study.stages == [4, 8, 10] and sorted(run.seed for run in study.runs) == list(range(10))
    (tmp_path / "plain.yaml").write_text("name: plain\nvariants: [{plugins: none}]\nseeds: [0, 1]\n")
    assert load_study(tmp_path / "plain.yaml").stages is None
    for seeds, problem in [
        ("{until_decided: 1, max: 10}", "seeds.until_decided"),
        ("{until_decided: 4, max: 3}", "seeds.max"),
        ("{until_decided: 4}", "needs both until_decided"),
        ("{until_decided: 4, max: 8, alpha: 0.1}", "seeds.alpha"),
    ]:
        path.write_text(f"name: staged\nvariants: [{{plugins: none}}]\nseeds: {seeds}\n")
        with pytest.raises(ConfigError, match=problem) as caught:
            load_study(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_staged_sweep_stops_training_a_method_once_it_is_decided(client, experiment, tmp_path):
    path = tmp_path / "staged.yaml"
    path.write_text(
        f"name: {experiment}\n"
        "parameters: {train_size: 200, hidden_units: [16], epochs: 20, learning_rate: 0.01, engine: jax}\n"
        # l2 at 1.0 collapses the network to chance: decided worse at the first look. A bound of 1000 never
        # clips, so max_norm equals none at every seed and stays undecided to the last look.
        "variants:\n  - {plugins: none}\n  - {plugins: {l2: {l2: 1.0}}}\n"
        "  - {plugins: {max_norm: {max_value: 1000.0}}}\n"
        "seeds: {until_decided: 4, max: 8}\n"
    )
    done = regstudy_command("sweep", path, "--workers", 1)
    assert done.returncode == 0, done.stderr
    children = with_role(runs_of(client, experiment), "variant")
    seeds = {}
    for run in children:
        seeds.setdefault(run.data.params["plugins"], set()).add(int(run.data.tags["seed"]))
    assert seeds == {"none": set(range(8)), "l2": set(range(4)), "max_norm": set(range(8))}, done.stdout[-2500:]
    assert "l2 is worse than none" in done.stdout and "not decided" in done.stdout
    assert "20 finished, 0 failed" in done.stdout  # each run once: 8 + 4 + 8
    (parent,) = with_role(runs_of(client, experiment), "study")
    table = open(client.download_artifacts(parent.info.run_id, "sequential.csv")).read().splitlines()
    assert table[0] == "method,decision,look,seeds,level"
    assert table[1].startswith("l2,l2 is worse than none,1,4,0.0055") and table[2].startswith(
        "max_norm,not decided,,8,"
    )
    # Read back as the report page shows them: the decided method's look and level, the other's none.
    decisions = logged_decisions(experiment)
    assert decisions["decision"].tolist() == ["l2 is worse than none", "not decided"]
    assert decisions["seeds"].tolist() == [4, 8] and decisions["look"].isna().tolist() == [False, True]
    assert decisions.loc[0, "look"] == 1 and decisions.loc[0, "level"] == pytest.approx(nominal_levels([4, 8])[0])

    # The design needs nothing more, though l2 lacks seeds 4-7 (publishing then sweeps nothing); without one of
    # max_norm's runs, still undecided at the last look, it would need that run again.
    study = load_study(path)
    finished = {(run.data.tags["variant"], run.data.tags["seed"]) for run in children if run.info.status == "FINISHED"}
    assert len(finished) == 20 and complete(study, finished)
    (last,) = [run for run in children if run.data.params["plugins"] == "max_norm" and run.data.tags["seed"] == "7"]
    assert not complete(study, finished - {(last.data.tags["variant"], "7")})
    (early,) = [run for run in children if run.data.params["plugins"] == "l2" and run.data.tags["seed"] == "3"]
    assert not complete(study, finished - {(early.data.tags["variant"], "3")})  # a seed of the first stage
    # The study file asks for up to 12 seeds now: max_norm, not decided at 8, needs its next stage.
    path.write_text(path.read_text().replace("max: 8", "max: 12"))
    assert not complete(load_study(path), finished)

    # Swept since with plain seeds (nothing left to train), its decisions are older than its runs: none shown.
    path.write_text(path.read_text().replace("{until_decided: 4, max: 12}", "[0, 1]"))
    assert all(outcome.skipped for outcome in sweep(load_study(path), workers=1, echo=lambda line: None))
    assert logged_decisions(experiment) is None
