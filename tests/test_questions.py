"""The question modules: the arithmetic behind each answer on hand-made tables, and the parent run's lifecycle."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regstudy.questions import (
    common,
    when_to_stop,
)
from regstudy.questions import (
    does_regularization_cost_accuracy as accuracy,
)
from regstudy.questions import (
    ng_2004_l1_vs_l2 as ng2004,
)
from regstudy.questions import (
    srivastava_2014_dropout as srivastava,
)
from regstudy.questions import (
    zhang_2017_random_labels as zhang2017,
)
from regstudy.questions.common import Question, against, child_statuses, mean_std

from helpers import runs_of


def test_a_failing_question_ends_its_parent_failed_and_leaves_nothing_running(client, experiment):
    """A child with bad parameters is refused before its run exists; the parent ends FAILED with the reason."""
    with pytest.raises(Exception, match="epochs"):
        with Question(experiment, {"what": "a bad child"}) as question:
            question.train({"part": "good"}, dataset="digits", train_size=100, hidden_units=[8], epochs=1)
            question.train({"part": "bad"}, dataset="digits", epochs=0)
    runs = runs_of(client, experiment)
    assert sorted((run.data.tags["regstudy.role"], run.info.status) for run in runs) == [
        ("child", "FINISHED"),
        ("question", "FAILED"),
    ]
    parent = client.get_run(question.run_id)
    assert "epochs" in parent.data.tags["failure_reason"]
    assert child_statuses(question.run_id) == {"FINISHED": 1}


def test_mean_std_groups_in_order_of_appearance():
    table = pd.DataFrame({"method": ["b", "b", "a", "a"], "score": [1.0, 3.0, 2.0, 2.0]})
    summary = mean_std(table, ["method"], ["score"])
    assert summary["method"].tolist() == ["b", "a"]
    assert summary["score_mean"].tolist() == [2.0, 2.0]
    assert summary["score_std"].tolist() == pytest.approx([np.sqrt(2), 0.0])


def _summary(train, test, strengths=(0.0, 0.001, 0.01)):
    gap = np.array(train) - np.array(test)
    return pd.DataFrame(
        {
            "method": "l2",
            "strength": strengths,
            "train_accuracy_mean": train,
            "test_accuracy_mean": test,
            "generalization_gap_mean": gap,
        }
    )


def test_the_accuracy_answer_follows_the_numbers():
    rising_then_falling = accuracy._answer("l2", _summary([1.0, 0.95, 0.8], [0.7, 0.8, 0.75]))
    assert "training accuracy fell" in rising_then_falling
    assert "peak of 80.0 % at 0.001 and then fell" in rising_then_falling
    assert "gap narrowed" in rising_then_falling
    no_gain = accuracy._answer("l2", _summary([1.0, 1.0, 1.0], [0.8, 0.7, 0.6]))
    assert "did not fall" in no_gain and "highest without regularization" in no_gain and "did not narrow" in no_gain


def test_a_strength_that_collapses_the_network_to_chance_is_named_so_and_left_out_of_the_trade_off():
    # Question 04's published l2 = 0.1: training accuracy 10.0 % on ten classes, test 10.1 %.
    rows = _summary([1.0, 0.97, 0.9, 0.1], [0.92, 0.925, 0.91, 0.101], strengths=(0.0, 0.001, 0.01, 0.1))
    answer = accuracy._answer("l2", rows, chance=0.1)
    assert answer.startswith("With l2 from 0 to 0.01, training accuracy fell (100.0 % → 90.0 %)")
    assert "then fell (to 91.0 % at 0.01)" in answer and "gap narrowed (8.0 % → -1.0 %)" in answer
    assert (
        "l2 at 0.1 collapsed the network to chance (training accuracy 10.0 % at most, test 10.1 %; chance 10.0 %)"
        in answer
    )
    assert "collapsed" not in accuracy._answer("l2", rows)  # without a chance level nothing is called a collapse
    assert list(accuracy.collapsed_rows(rows, 0.5)["strength"]) == [0.1]  # two classes: at most 55 %


def test_the_cross_validation_answer_costs_each_seeds_choice_against_the_best_lambda_in_hindsight():
    from regstudy.questions import choosing_strength_by_cross_validation as choosing

    choices = pd.DataFrame(
        {"candidate": ["0.01", "0.01", "0.1"], "cv_accuracy_mean": [0.9, 0.92, 0.91], "test_accuracy": [0.9, 0.9, 0.8]},
        index=pd.Index([0, 1, 2], name="seed"),
    )
    summary = pd.DataFrame({"test_accuracy": [0.95, 0.9, 0.85]}, index=["0.001", "0.01", "0.1"])
    hindsight = choices.assign(candidate="0.001", test_accuracy=[0.94, 0.95, 0.96])
    paired = pd.concat([choices.reset_index().assign(choice="cv"), hindsight.reset_index().assign(choice="best")])
    versus = against(paired, "choice", "best", "test_accuracy")
    answer = choosing._answer(5, choices, summary, "0.001", versus)
    assert answer.startswith("Over 3 seeds, 5-fold cross-validation chose λ = 0.01 at 2 of 3, λ = 0.1 at 1 of 3")
    assert "would have been 0.001 (95.0 % mean test accuracy)" in answer
    assert "The choices' mean test accuracy was 86.7 %, 8.3 points less" in answer
    assert "paired by seed: -8.3 points" in answer


def test_when_to_stop_names_criteria_it_cannot_tell_apart_and_how_surely_the_slowest_differs_from_the_fastest():
    rows = []
    for data in ("a", "b"):
        for seed in range(3):
            errors = {"full": 0.20, "GL1": 0.22, "PQ1": 0.20, "UP2": 0.20, "PQ2": 0.21 + 0.01 * (seed == 0)}
            epochs = {"full": 100, "GL1": 10, "PQ1": 50, "UP2": 60, "PQ2": 90}
            rows += [
                {"data": data, "seed": seed, "criterion": c, "test_error": e, "test_accuracy": 1 - e}
                | {"epochs_trained": epochs[c], "relative_epochs": epochs[c] / 100, "relative_test_error": e / 0.2}
                for c, e in errors.items()
            ]
    table = pd.DataFrame(rows)
    summary = mean_std(table, ["criterion"], ["epochs_trained", "relative_epochs", "test_error", "relative_test_error"])
    answer = when_to_stop._answer(summary, "full", None, table)
    # PQ1 and UP2 err exactly as full training does at every data set and seed: three criteria, one result.
    assert "3 of the 5 criteria (full, PQ1, UP2) reached the identical test error at every data set and seed" in answer
    # PQ2 (slowest) against GL1 (fastest): identical at seed 0 of each data set, else 1 point better.
    assert "(relative); paired by data set and seed, identical on 2 of 6: +0.7 points" in answer


def test_sureness_gives_the_detectable_difference_in_the_differences_unit():
    row = pd.Series(
        {"low": -0.001, "high": 0.006, "p_holm": 0.43, "mean_difference": 0.003}
        | {"verdict": "not distinguishable from noise at 5 seeds (it could detect 0.0114 or more); about 23 seeds"}
    )
    assert common.sureness(row) == (
        "+0.3 points, 95 % CI [-0.1, +0.6], Holm p = 0.43: not distinguishable from noise at 5 seeds (it could "
        "detect 1.1 points or more); about 23 seeds"
    )
    whole = pd.Series({**row, "verdict": "not distinguishable from noise at 5 seeds (it could detect 0.01 or more)"})
    assert common.sureness(whole).endswith("(it could detect 1.0 points or more)")  # not "1 points"
    assert [common.two_figures(value) for value in (0.714, 9.96, 23.4, 100.0)] == ["0.71", "10", "23", "100"]


def test_ng_growth_is_the_slope_per_decade():
    summary = pd.DataFrame({"l1_mean": [5.0, 6.0, 7.0], "l2_mean": [5.0, 15.0, 25.0]}, index=[10, 100, 1000])
    assert ng2004.growth(summary, "l1") == pytest.approx(1.0)
    assert ng2004.growth(summary, "l2") == pytest.approx(10.0)
    summary[["l1_std", "l2_std"]] = 0.0
    assert "as Ng (2004) predicts" in ng2004._answer(summary)
    # One count of irrelevant features has no slope: none is reported, and no claim is made from it.
    single = summary.iloc[:1]
    assert np.isnan(ng2004.growth(single, "l1")) and "no growth to compare" in ng2004._answer(single)


def test_ng_answer_names_its_training_and_stands_beside_scikit_learns_optimum():
    summary = pd.DataFrame(
        {"l1_mean": [5.0, 7.0], "l2_mean": [5.0, 40.0], "sklearn_l1_mean": [4.0, 6.5], "sklearn_l2_mean": [5.5, 41.0]},
        index=[10, 1000],
    )
    training = {"train_size": 100, "optimizer": "sgd", "learning_rate": 0.5, "epochs": 300}
    answer = ng2004._answer(summary, None, training)
    assert "(100 training examples, sgd at learning rate 0.5 for 300 epochs, λ by cross-validation)" in answer
    assert "same λ on the same splits: L1 4.0 % → 6.5 %, L2 5.5 % → 41.0 %." in answer


def test_ng_reference_is_scikit_learns_l1_optimum_at_regstudys_scale():
    """The reference is scikit-learn itself; what is tested is regstudy's λ → C: at the λ where the mean loss's
    gradient at zero equals λ (the largest λ with a nonzero weight), L1 keeps no weight and predicts the majority."""
    from regstudy.data.splitting import Splits

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    y = (x[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(int)
    splits = Splits(x[:100], y[:100], x[:0], y[:0], x[100:], y[100:], "classification", 2, None)
    p = y[:100].mean()  # the intercept-only model's probability: the mean loss's gradient there is X^T (p - y) / n
    largest = float(np.max(np.abs(x[:100].T @ (p - y[:100]))) / 100)
    majority = max(np.mean(y[100:] == 1), np.mean(y[100:] == 0))
    assert ng2004.reference_accuracy(splits, "l1", 1.01 * largest) == pytest.approx(majority)
    assert ng2004.reference_accuracy(splits, "l1", 0.2 * largest) > majority + 0.2


def test_epochs_to_fit_is_the_first_epoch_at_the_threshold():
    assert zhang2017.epochs_to_fit([0.2, 0.5, 0.96, 0.94, 0.99], 0.95) == 3
    assert np.isnan(zhang2017.epochs_to_fit([0.2, 0.5], 0.95))


def test_stopping_needs_a_reference_that_never_stops():
    assert when_to_stop._full_training({"GL2": {"gl": {}}, "full": {"none": {}}}) == "full"
    with pytest.raises(ValueError, match="never stops"):
        when_to_stop._full_training({"GL2": {"gl": {}}})


def test_srivastava_pairs_are_paired_by_seed_with_holms_correction():
    rows = [
        {"seed": seed, "method": method, "test_error": error}
        for seed, errors in enumerate([(2.0, 1.5, 1.0), (2.2, 1.6, 1.1), (2.1, 1.7, 1.3)])
        for method, error in zip(("L2", "Max-norm", "Dropout + Max-norm"), errors)
    ]
    pairs = srivastava._pairs(pd.DataFrame(rows)).set_index(["paper_worse", "paper_better"])
    assert pairs.loc[("L2", "Max-norm"), "seeds_agreeing"] == 3
    assert pairs.loc[("L2", "Max-norm"), "mean_difference"] == pytest.approx(0.5)
    # Reference: scipy's paired t-test on the three seeds' errors, Holm-corrected by hand over the 3 pairs.
    errors = pd.DataFrame(rows).pivot_table(index="seed", columns="method", values="test_error")
    raw = {
        pair: stats.ttest_rel(errors[pair[0]], errors[pair[1]]).pvalue
        for pair in [("L2", "Max-norm"), ("L2", "Dropout + Max-norm"), ("Max-norm", "Dropout + Max-norm")]
    }
    ordered = sorted(raw, key=raw.get)
    holm = {
        pair: max(min(1, (3 - i) * raw[p]) for i, p in enumerate(ordered[: ordered.index(pair) + 1])) for pair in raw
    }
    for pair, p_value in holm.items():
        assert pairs.loc[pair, "p_holm"] == pytest.approx(p_value)
    assert pairs.loc[("L2", "Dropout + Max-norm"), "verdict"] == "the paper's order holds"
    # "Max-norm is better" ends "Dropout + Max-norm is better" too: the verdict is matched whole.
    assert pairs.loc[("Max-norm", "Dropout + Max-norm"), "verdict"] == "the paper's order holds"
    comparison = srivastava._comparison(pd.DataFrame(rows))
    assert comparison["our_rank"].tolist() == comparison["paper_rank"].tolist()
    answer = srivastava._answer(comparison, pairs.reset_index(), 3)
    significant = (pairs["p_holm"] < 0.05).all()
    assert ("The paper's ordering holds here" in answer) == significant
    assert ("cannot be concluded at 3 seeds: no pair is significantly reversed" in answer) == (not significant)
    # Max-norm better than dropout + max-norm at every seed by a steady 0.5 points: a significant reversal.
    reversed_rows = [
        {**row, "test_error": row["test_error"] + 1.0} if row["method"] == "Dropout + Max-norm" else row for row in rows
    ]
    reversed_rows = [
        {**row, "test_error": row["test_error"] - 0.5} if row["method"] == "Max-norm" else row for row in reversed_rows
    ]
    pairs = srivastava._pairs(pd.DataFrame(reversed_rows))
    answer = srivastava._answer(srivastava._comparison(pd.DataFrame(reversed_rows)), pairs, 3)
    assert answer.startswith("The paper's ordering does not hold here: Dropout + Max-norm worse than Max-norm")
    # Two seeds too noisy to tell: no verdict either way, and what the design could have detected.
    noisy = [row for row in rows if row["seed"] < 2 and row["method"] != "Dropout + Max-norm"]
    noisy = [
        {**row, "test_error": row["test_error"] + (0.4 if row["seed"] else -0.4) * (row["method"] == "L2")}
        for row in noisy
    ]
    pairs = srivastava._pairs(pd.DataFrame(noisy))
    answer = srivastava._answer(srivastava._comparison(pd.DataFrame(noisy)), pairs, 2)
    assert answer.startswith(
        "Whether the paper's ordering holds cannot be concluded at 2 seeds: no pair is significantly "
    )
    assert "1 of 1 cannot be told apart (these could detect" in answer


def test_srivastava_names_the_max_norm_bounds_no_unit_reached():
    # Question 08's full size: c = 3 and 4 never clipped (units grew to 2.34 at most), c = 2 held them at 2.
    methods = {
        "Max-norm": {f"c={c}": {"max_norm": {"max_value": float(c)}} for c in (2, 3)} | {"c=default": {"max_norm": {}}},
        "L2": {"l2=1e-4": {"l2": {"l2": 1e-4}}},
    }
    table = pd.DataFrame(
        [
            {"method": "Max-norm", "candidate": candidate, "seed": seed, "unit_norm_peak": peak + seed / 1000}
            for candidate, peak in (("c=2", 2.0 - 0.001), ("c=3", 2.34), ("c=default", 2.34))
            for seed in range(2)
        ]
        + [{"method": "L2", "candidate": "l2=1e-4", "seed": 0, "unit_norm_peak": 5.0}]
    )
    chosen = pd.DataFrame({"method": ["Max-norm", "L2"], "candidate": ["c=3", "l2=1e-4"]})
    said = srivastava.inactive_bounds(table, methods, chosen)
    # The plugin's default bound is 3: "c=default" never reached it either.
    assert said == (
        " Max-norm never reached its bound in Max-norm at c=3 (largest unit norm 2.34, the one chosen); Max-norm "
        "at c=default (largest unit norm 2.34): those networks trained as if without it, and a method chosen at "
        "one of them is compared without max-norm."
    )
    assert (
        srivastava.inactive_bounds(table[table["candidate"] != "c=3"].assign(unit_norm_peak=3.0), methods, chosen) == ""
    )


def test_kadra_says_what_seven_data_sets_can_detect_and_concludes_only_from_significant_tests():
    from regstudy.questions import kadra_2021_regularization_cocktails as kadra

    # Reference: the published critical values of the two-sided Wilcoxon signed-rank test at 5 % (n = 6..11:
    # T = 0, 2, 3, 5, 8, 10), the fewest wins being n minus the most losses whose smallest ranks sum to <= T.
    assert [kadra.fewest_wins(n) for n in range(5, 12)] == [None, 6, 6, 6, 7, 7, 7]
    neither = kadra._claim({"best single": False, "trees": True}, {"best single": False, "trees": False}, 7)
    assert neither == (
        "Whether Kadra et al.'s claim holds cannot be concluded here: the cocktail is not significantly better than "
        "the best single regularizer, and with 7 data sets a two-sided Wilcoxon test at 5% can tell only a "
        "cocktail that wins on at least 6 of them, its losses the smallest differences."
    )
    refuted = kadra._claim({"best single": False, "trees": False}, {"best single": False, "trees": True}, 9)
    assert refuted == "Kadra et al.'s claim does not hold here: the tuned trees significantly beat the cocktail."
    held = kadra._claim({"best single": True, "trees": True}, {"best single": False, "trees": False}, 9)
    assert held.startswith("Kadra et al.'s claim holds here")
    assert "no two-sided Wilcoxon test can reach 5%" in kadra._claim(
        {"best single": False, "trees": False}, {"best single": False, "trees": False}, 5
    )


def test_pruning_says_which_penalty_did_not_act():
    from regstudy.questions import regularization_or_pruning as pruning

    # Question 06's published l1 arm (proximal L1 at 1e-5 under Adam, before its threshold followed Adam's
    # steps): unpruned, exactly the unregularized network's test accuracy at every seed, and no zero weights.
    rows = [
        {"method": method, "seed": seed, "fraction": fraction, "pruned": accuracy - fraction / 10}
        | {"fine_tuned": accuracy, "trained_zeros": zeros}
        for seed in range(3)
        for method, accuracy, zeros in (("none", 0.9 + seed / 100, 0.0), ("l1", 0.9 + seed / 100, 0.0))
        + (("l2", 0.91 + seed / 100, 0.0), ("strong l1", 0.89, 0.4))
        for fraction in (0.0, 0.5, 0.9)
    ]
    curves = pd.DataFrame(rows)
    activity = pruning._activity(curves, "none").set_index("method")
    assert activity["acted"].to_dict() == {"none": "", "l1": "no", "l2": "yes", "strong l1": "yes"}
    assert activity.loc["strong l1", "zeros"] == pytest.approx(0.4)
    summary = mean_std(curves, ["method", "fraction"], ["pruned", "fine_tuned"])
    breaks = pruning._breaks(summary, 0.02).merge(activity.reset_index(), on="method")
    answer = pruning._answer(breaks, 0.02)
    assert "the strong l1 network (unpruned 89.0 %, 40.0 % of its weights exactly zero) loses" in answer
    assert "l1 did not act: unpruned, each tested exactly as the unregularized network did at every seed" in answer
    assert pruning._baseline({"plain": {}, "l1": {"l1": {}}}) == "plain"


def test_every_question_notebook_is_registered_with_its_module_and_parameters_file():
    import inspect

    from regstudy.questions import QUESTIONS, parameter_names, question_parameters

    from helpers import ROOT

    numbered = {path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")} - {"01-train", "02-compare"}
    assert set(QUESTIONS) == numbered
    for name, entry in QUESTIONS.items():
        module = entry.load()
        assert module.EXPERIMENT == name  # the experiment the module logs to is the one `regstudy question` reads
        run = inspect.signature(module.run).parameters
        takes_more = any(parameter.kind == parameter.VAR_KEYWORD for parameter in run.values())
        assert takes_more or set(parameter_names(entry.notebook)) <= set(run), name
        assert f"{entry.module}.run(" in entry.notebook.read_text(), f"{name} does not call its module"
        # The module declares the valid values of its own parameters beside `run`, each one the notebook has.
        assert set(module.PARAMETERS) <= set(parameter_names(entry.notebook)), name
        assert question_parameters(name)[2], f"{entry.params_file} holds no parameters"


def test_run_ending_decides_every_way_a_run_ends(client, experiment):
    from regstudy import tracking

    def status(run_id):
        run = client.get_run(run_id)
        return run.info.status, run.data.tags.get(tracking.FAILURE_TAG)

    runs = [tracking.create_run(client, experiment, None) for _ in range(5)]
    with tracking.ending(client, runs[0]):
        pass
    with pytest.raises(ValueError), tracking.ending(client, runs[1]):
        raise ValueError("bad value")
    with pytest.raises(KeyboardInterrupt), tracking.ending(client, runs[2]):
        raise KeyboardInterrupt
    with tracking.ending(client, runs[3]) as end:
        end.status, end.reason = "FAILED", "2 of 3 runs failed"
    with tracking.ending(client, runs[4], status=None):
        pass
    assert [status(run_id) for run_id in runs] == [
        ("FINISHED", None),
        ("FAILED", "ValueError: bad value"),
        ("KILLED", "interrupted"),
        ("FAILED", "2 of 3 runs failed"),
        ("RUNNING", None),
    ]
    client.set_terminated(runs[4], "FINISHED")
    with tracking.ending(client, runs[4]):  # a run that has already ended is left as it is
        pass
    assert status(runs[4]) == ("FINISHED", None)


def test_the_cocktail_is_compared_across_data_sets_by_wilcoxons_exact_test_and_mean_ranks():
    from regstudy.questions.kadra_2021_regularization_cocktails import compare, ranks

    accuracy = pd.DataFrame(
        {
            "none": [0.5] * 7,
            "best single": [0.80, 0.70, 0.60, 0.90, 0.85, 0.75, 0.65],
            "cocktail": [0.81, 0.72, 0.63, 0.94, 0.90, 0.81, 0.65],  # better on 6, tied on the last
            "trees": [0.81, 0.72, 0.63, 0.94, 0.90, 0.81, 0.65],  # tied everywhere
        },
        index=[f"set {i}" for i in range(7)],
    )
    tests = compare(accuracy).set_index("against")
    # Six positive differences of distinct sizes, the tie dropped (Wilcoxon's zero method): the exact
    # two-sided p-value is 2 / 2**6, the chance that all six signs agree.
    assert tests.loc["best single", "p (Wilcoxon)"] == pytest.approx(2 / 2**6)
    assert tuple(tests.loc["best single", ["wins", "ties", "losses"]]) == (6, 1, 0)
    assert np.isnan(tests.loc["trees", "p (Wilcoxon)"]) and tests.loc["trees", "ties"] == 7
    assert tests.loc["none", "p (Wilcoxon)"] == pytest.approx(2 / 2**7)
    mean_ranks = ranks(accuracy)
    # cocktail and trees tie for first on every set (1.5 each); best single third except where it ties.
    assert mean_ranks["cocktail"] == mean_ranks["trees"] == pytest.approx((6 * 1.5 + 2) / 7)
    assert mean_ranks["none"] == 4.0


def test_against_compares_each_value_with_the_reference_paired_by_seed_with_holms_correction():
    from regstudy.questions.common import against, sureness

    rows = [
        {"seed": seed, "regularizer": name, "test_accuracy": base + shift}
        for seed, base in enumerate([0.80, 0.82, 0.81, 0.79])
        for name, shift in (("none", 0.0), ("l2", 0.03 + 0.001 * seed), ("dropout", (-1) ** seed * 0.004))
    ]
    table = against(pd.DataFrame(rows), "regularizer", "none", "test_accuracy").set_index("regularizer")
    assert list(table.index) == ["l2", "dropout"] and set(table["against"]) == {"none"}
    l2 = np.array([0.03, 0.031, 0.032, 0.033])
    raw = [stats.ttest_rel(l2, np.zeros(4)).pvalue, stats.ttest_rel([0.004, -0.004, 0.004, -0.004], np.zeros(4)).pvalue]
    low, high = sorted(raw)
    assert table.loc["l2", "p_holm"] == pytest.approx(min(1, 2 * raw[0]) if raw[0] == low else max(2 * low, raw[0]))
    assert table.loc["l2", "verdict"] == "l2 is better"
    assert table.loc["dropout", "verdict"].startswith("not distinguishable from noise at 4 seeds")
    assert sureness(table.loc["l2"]).startswith("+3.2 points, 95 % CI [+3.")


def test_every_question_parameter_is_used_after_the_parameters_cell():
    """A parameter that only builds another inside the parameters cell (question 08's `dropout` once did) is
    set by papermill after that cell, too late to change anything: each must be read by a later cell."""
    import ast
    import json

    from regstudy.questions import QUESTIONS, parameter_names

    for name, entry in QUESTIONS.items():
        cells = [c for c in json.loads(entry.notebook.read_text())["cells"] if c["cell_type"] == "code"]
        start = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
        later = "\n".join("".join(c["source"]) for c in cells[start + 1 :] if not "".join(c["source"]).startswith("%"))
        read = {node.id for node in ast.walk(ast.parse(later)) if isinstance(node, ast.Name)}
        unused = [parameter for parameter in parameter_names(entry.notebook) if parameter not in read]
        assert unused == [], f"{name}: {unused} set by papermill but read by no cell after the parameters"
