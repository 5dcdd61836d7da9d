"""The comparison functions over real runs of a study in MLflow."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from scipy import stats

from regstudy import notebooks, report, significance, tracking
from regstudy.study import load_study
from regstudy.sweep import _tags, open_parent_run
from regstudy.training import train_config

from helpers import browser_page, rendered_images


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A real study trained in-process: baseline and l2 at two strengths, two seeds each."""
    path = tmp_path_factory.mktemp("study") / "study.yaml"
    path.write_text(
        "name: report-study\nparameters: {train_size: 150, hidden_units: [16], epochs: 3}\n"
        "grid: {plugins: [none, l2], l2.l2: [1.0e-4, 1.0e-1]}\nseeds: [0, 1]\n"
    )
    study = load_study(path)
    client = tracking.connect()
    parent = open_parent_run(client, study)
    for variant in study.runs:
        run_id = tracking.create_run(client, study.name, None, _tags(variant, study, parent))
        train_config(variant.config, run_id)
    client.set_terminated(parent, "FINISHED")
    return study


def test_study_runs_reads_every_finished_run_with_its_strength(study):
    runs = report.study_runs(study.name)
    assert len(runs) == 6 and set(runs["method"]) == {"none", "l2"}
    l2 = runs[runs["method"] == "l2"]
    assert set(l2["strength_name"]) == {"l2.l2"} and sorted(set(l2["strength"])) == [1e-4, 1e-1]
    assert runs[runs["method"] == "none"]["strength"].isna().all()


def test_summary_and_ranking_are_computed_from_the_runs(study):
    runs = report.study_runs(study.name)
    summary = report.variant_summary(runs)
    strong = runs[(runs["method"] == "l2") & (runs["strength"] == 1e-1)]
    row = summary[(summary["method"] == "l2") & (summary["strength"] == 1e-1)].iloc[0]
    assert row["test_accuracy_mean"] == pytest.approx(strong["test_accuracy"].mean())
    assert row["test_accuracy_std"] == pytest.approx(strong["test_accuracy"].std())
    assert row["seeds"] == 2
    table = report.ranking(summary, runs)
    assert list(table.index) == [1, 2] and table["test accuracy"].is_monotonic_decreasing
    l2_choice = summary[summary["method"] == "l2"].sort_values("validation_accuracy_mean").iloc[-1]
    assert table.set_index("method").loc["l2", "strength"] == f"l2={l2_choice['strength']:g}"  # chosen on validation


def test_curves_have_one_point_per_epoch_and_the_report_is_logged(study, client):
    runs = report.study_runs(study.name)
    curves = report.validation_curves(runs)
    assert curves.groupby("run_id")["epoch"].apply(list).tolist() == [[1, 2, 3]] * 6
    figures = {
        "validation_curves": report.curves_figure(runs, curves),
        "strength": report.strength_figure(report.variant_summary(runs)),
    }
    table = report.ranking(report.variant_summary(runs), runs)
    parent = report.log_report(study.name, figures, table)
    assert client.get_run(parent).data.tags["mlflow.note.content"] == report.headline(table)
    paths = {a.path for a in client.list_artifacts(parent)} | {a.path for a in client.list_artifacts(parent, "figures")}
    assert {"ranking.csv", "ranking.md", "study.yaml", "figures/validation_curves.png", "figures/strength.png"} <= paths
    # The tidy table of the runs, one row each, in CSV and Parquet (pandas reads both back alike).
    tidy = pd.read_parquet(client.download_artifacts(parent, "runs.parquet"))
    assert len(tidy) == len(runs) and {"run_id", "seed", "plugins", "test_accuracy"} <= set(tidy.columns)
    assert tidy["run_id"].tolist() == pd.read_csv(client.download_artifacts(parent, "runs.csv"))["run_id"].tolist()
    logged = pd.read_csv(client.download_artifacts(parent, "ranking.csv"), index_col="rank")
    assert np.allclose(logged["test accuracy"], report.ranking(report.variant_summary(runs), runs)["test accuracy"])


def test_the_ranking_says_how_sure_each_difference_is_paired_by_seed_with_holms_correction():
    """A planted table: `good` beats the baseline by 5 points at every seed, `same` by noise."""
    none = np.array([0.80, 0.81, 0.82, 0.79, 0.80])
    planted = {
        "none": none,
        "good": none + [0.05, 0.06, 0.04, 0.05, 0.055],
        "same": none + [0.01, -0.01, 0.0, 0.005, -0.004],
    }
    runs = pd.DataFrame(
        [
            _planted_run(method, method, seed, score)
            for method, scores in planted.items()
            for seed, score in enumerate(scores)
        ]
    )
    table = report.ranking(report.variant_summary(runs), runs).set_index("method")
    assert list(table.index) == ["good", "same", "none"]
    assert table.loc["good", "vs none: verdict"] == "good is better"
    assert table.loc["same", "vs none: verdict"].startswith(
        "not distinguishable from noise at 5 seeds (it could detect "
    )
    # Four comparisons (good and same against none; same and none against the best, good), corrected together
    # by Holm's method: the smallest p-value times 4, the next times 3, ..., never decreasing (by hand here;
    # scipy's paired t-test gives the raw p-values).
    raw = {
        ("good", "none"): stats.ttest_rel(planted["good"], none).pvalue,
        ("same", "none"): stats.ttest_rel(planted["same"], none).pvalue,
        ("same", "good"): stats.ttest_rel(planted["same"], planted["good"]).pvalue,
        ("none", "good"): stats.ttest_rel(none, planted["good"]).pvalue,
    }
    ordered = sorted(raw, key=raw.get)
    holm, running = {}, 0.0
    for position, key in enumerate(ordered):
        running = max(running, min(1.0, (len(raw) - position) * raw[key]))
        holm[key] = running
    assert table.loc["good", "vs none: p (Holm)"] == pytest.approx(holm[("good", "none")])
    assert table.loc["same", "vs none: p (Holm)"] == pytest.approx(holm[("same", "none")])
    assert table.loc["same", "vs best (good): p (Holm)"] == pytest.approx(holm[("same", "good")])
    assert table.loc["none", "vs best (good): verdict"] == "good is better"
    differences = planted["good"] - none
    assert table.loc["good", "vs none: d_z"] == pytest.approx(differences.mean() / differences.std(ddof=1))
    # Five positive differences: Wilcoxon's exact two-sided p-value is 2 / 2**5 (scipy's is the reference).
    assert table.loc["good", "vs none: p (Wilcoxon)"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert np.isnan(table.loc["none", "vs none: difference"]) and table.loc["good", "vs best (good): verdict"] == ""
    assert report.headline(table.reset_index()) == (
        "Of 3 methods, each at the strength chosen on validation, the best test accuracy is good's (0.8550, over 5 "
        "seeds). Against no regularization, paired by seed with Holm's correction: 1 are better, 0 worse, and 1 not "
        "distinguishable from it (at these seeds the design could detect differences in test accuracy of "
        f"{table.loc['same', 'vs none: detectable']:.2g} to {table.loc['same', 'vs none: detectable']:.2g})."
    )
    html = report.styled(table.reset_index()).to_html()
    assert table.loc["same", "vs none: verdict"] in html  # whole, not cut at 50 characters
    # The interval's bounds are numbers: scipy's BCa bootstrap of the mean difference, at the seed `paired` uses.
    bootstrap = stats.bootstrap((differences,), np.mean, method="BCa", rng=np.random.default_rng(0))
    low, high = table.loc["good", "vs none: 95 % low"], table.loc["good", "vs none: 95 % high"]
    assert (low, high) == pytest.approx(tuple(bootstrap.confidence_interval))
    assert low < table.loc["good", "vs none: difference"] < high
    assert np.isnan(table.loc["none", "vs none: 95 % low"])  # no comparison of the baseline with itself
    assert f"{low:+.4f}" in html


def test_the_report_page_opens_in_a_browser_with_its_figures_and_the_ranking_and_is_logged(study, client, tmp_path):
    page_file = tmp_path / "report.html"
    parent = report.parent_run(study.name)
    notebooks.run_comparison_notebook(study.name, parent, html=page_file)
    assert open(client.download_artifacts(parent, "report.html")).read() == page_file.read_text()
    with browser_page(page_file) as page:
        shown, decoded = rendered_images(page)
        assert shown == decoded == 3  # the validation curves, the strengths and the forest, decoded by the browser
        text = page.inner_text("body")
        assert "vs none: verdict" in text and "vs best" in text  # the ranking with its statistics
        assert page.refused == []


def test_a_study_over_several_data_sets_is_ranked_within_each_and_across_them_by_friedman():
    rng = np.random.default_rng(0)
    rows = []
    for dataset in ("a", "b", "c", "d", "e", "f"):
        base = rng.uniform(0.6, 0.9)
        for method, shift in (("none", 0.0), ("l2", 0.02), ("dropout", 0.04)):
            for seed in range(3):
                score = base + shift + rng.normal(0, 0.002)
                rows.append({"dataset": dataset, **_planted_run(method, f"{method}-{dataset}", seed, score)})
    runs = pd.DataFrame(rows)
    table = report.ranking(report.variant_summary(runs), runs)
    assert table.index.names == ["dataset", "rank"]
    assert all(table.loc[d, "method"].tolist() == ["dropout", "l2", "none"] for d in "abcdef")
    scores, figure = report.across_datasets(runs)
    assert scores.loc["mean rank"].to_dict() == {"dropout": 1.0, "l2": 2.0, "none": 3.0}
    # scipy's Friedman test on the six data sets' mean scores is the reference.
    means = scores.drop(index="mean rank")
    assert f"Friedman p = {stats.friedmanchisquare(*means.T.to_numpy()).pvalue:.3g}" in figure.axes[0].get_title()
    assert report.across_datasets(runs[runs["dataset"] == "a"]) is None


def _planted_run(method, variant, seed, score):
    """A row of `study_runs` with the given test (and validation) accuracy, for the statistics' planted tables."""
    return {
        "method": method,
        "plugins": method,
        "variant": variant,
        "seed": seed,
        "strength": np.nan,
        "strength_name": None,
        "test_accuracy": score,
        "validation_accuracy": score,
        "train_accuracy": 1.0,
        "loss_gap": 0.1,
        "generalization_gap": 1.0 - score,
    }


def test_the_ranking_says_whether_each_method_acted_and_whether_its_strength_is_at_its_grids_edge():
    """Planted: max-norm's bound never reached (the constraint did nothing), an L2 grid whose best validation
    score is at its top, and a dropout grid whose best is its rate 0 (no dropout at all)."""
    rows = []
    for seed in range(3):
        rows.append(_planted_run("none", "none", seed, 0.80 + 0.01 * seed))
        clipped_never = _planted_run("max_norm", "max_norm", seed, 0.80 + 0.01 * seed)
        rows.append({**clipped_never, "max_norm.max_value": 2.0, "unit_norm_peak": 1.5 + 0.1 * seed})
        for strength, score in [(1e-4, 0.81), (1e-3, 0.83)]:
            row = _planted_run("l2", f"l2-{strength}", seed, score + 0.01 * seed)
            rows.append({**row, "strength": strength, "strength_name": "l2.l2"})
        for rate, score in [(0.0, 0.84), (0.5, 0.82)]:
            row = _planted_run("dropout", f"dropout-{rate}", seed, score + 0.01 * seed)
            rows.append({**row, "strength": rate, "strength_name": "dropout.rate"})
    runs = pd.DataFrame(rows)
    table = report.ranking(report.variant_summary(runs), runs).set_index("method")
    assert table.loc["max_norm", "acted"] == "no: max-norm never reached its bound (largest unit norm 1.7 < 2)"
    assert table.loc["dropout", "acted"] == "no: strength 0" and table.loc["dropout", "grid edge"] == "lowest"
    assert table.loc["l2", "acted"] == "yes" and table.loc["l2", "grid edge"] == "highest"
    assert table.loc["none", "acted"] == "" and table.loc["max_norm", "grid edge"] == ""
    headline = report.headline(table.reset_index())
    assert (
        "2 did not act at the strength chosen (" in headline
        and "2 chose a strength at an end of their grid" in headline
    )
    # A bound a unit reached: the constraint held it there.
    runs.loc[runs["method"] == "max_norm", "unit_norm_peak"] = 2.0 * (1 - 1e-5)
    assert report.ranking(report.variant_summary(runs), runs).set_index("method").loc["max_norm", "acted"] == "yes"


def _many_methods(seeds=3):
    """Planted runs of every registered regularizer at three strengths (as the default study runs them), one
    of which collapses to chance: what the strength figure and the forest plot must keep legible."""
    from regstudy import PLUGINS

    rng, rows = np.random.default_rng(1), []
    for seed in range(seeds):
        rows.append(_planted_run("none", "none", seed, 0.90 + rng.normal(0, 0.004)))
    for index, name in enumerate(sorted(n for n in PLUGINS.names() if n not in ("none", "random_labels"))):
        for strength in (1e-3, 1e-2, 1e-1):
            shift = -0.8 if (name, strength) == ("l2", 1e-1) else 0.01 * np.sin(index + 10 * strength)
            for seed in range(seeds):
                row = _planted_run(name, f"{name}-{strength}", seed, 0.90 + shift + rng.normal(0, 0.004))
                rows.append({**row, "strength": strength, "strength_name": f"{name}.strength"})
    return pd.DataFrame(rows)


def test_the_forest_plot_draws_each_methods_difference_from_the_baseline_with_its_interval_in_order():
    runs = _many_methods()
    table = report.ranking(report.variant_summary(runs), runs)
    axes = report.forest_figure(table).axes[0]
    compared = table[table["vs none: difference"].notna()].sort_values("vs none: difference")
    assert [label.get_text() for label in axes.get_yticklabels()] == compared["method"].tolist()
    # The interval drawn for each method is the ranking's own (its bootstrap 95 % interval).
    segments = axes.collections[0].get_segments()
    bounds = zip(compared["vs none: 95 % low"], compared["vs none: 95 % high"])
    for (start, end), (low, high) in zip(segments, bounds):
        assert (start[0], end[0]) == pytest.approx((low, high))
    assert any(list(line.get_xdata()) == [0, 0] for line in axes.get_lines())  # the line at zero
    (filled,) = [line for line in axes.get_lines() if line.get_label() == "distinguishable (Holm)"]
    better = compared["vs none: verdict"].str.endswith(" is better")
    assert sorted(filled.get_ydata()) == list(np.flatnonzero(better.to_numpy()))


def test_the_strength_figure_draws_a_row_of_panels_for_each_family_with_axes_fitted_to_its_methods():
    runs = _many_methods()
    summary = report.variant_summary(runs)
    figure = report.strength_figure(summary)
    families = sorted({report.family(name, f"{name}.x") for name in summary["method"] if name != "none"})
    assert "penalties" in families and "structure" in families and len(figure.axes) == 2 * len(families)
    titles = [axes.get_title() for axes in figure.axes[::2]]
    assert titles == [f"{name}: test accuracy" for name in families]
    # L2's collapse to chance widens only its own family's axis: another family's stays within a few points.
    by_title = dict(zip(titles, figure.axes[::2]))
    penalties, structure = by_title["penalties: test accuracy"], by_title["structure: test accuracy"]
    assert penalties.get_ylim()[0] < 0.2 and structure.get_ylim()[1] - structure.get_ylim()[0] < 0.1


def test_the_figures_are_legible_at_the_size_the_mlflow_ui_shows_them(mlflow_server, tmp_path):
    """What a person sees: the report's figures of a study of every regularizer (and the critical-difference
    diagram of a study over data sets), logged to a run of a real
    `mlflow server` and opened in the MLflow UI's artifact viewer in a real browser on a laptop's screen (1440 ×
    900; a screenshot of each is kept beside the test's files). The viewer fits an image to its panel's width:
    each figure is shown whole across, and its smallest text is at least 8 pixels high as shown."""
    from mlflow.tracking import MlflowClient

    runs = _many_methods()
    summary = report.variant_summary(runs)
    runs["run_id"] = [f"run-{index}" for index in range(len(runs))]
    curves = pd.DataFrame(
        [
            (run_id, epoch, score * epoch / 10)
            for run_id, score in zip(runs["run_id"], runs["test_accuracy"])
            for epoch in range(1, 11)
        ],
        columns=["run_id", "epoch", "value"],
    )
    figures = {
        "forest": report.forest_figure(report.ranking(summary, runs)),
        "strength": report.strength_figure(summary),
        "validation_curves": report.curves_figure(runs, curves),
        # A study over data sets adds Demšar's diagram: here every method's test accuracy on seven of them.
        "critical_difference": significance.critical_difference_figure(
            pd.DataFrame(
                np.random.default_rng(0).uniform(0.8, 0.95, (7, runs["method"].nunique())),
                columns=list(dict.fromkeys(runs["method"])),
            )
        ),
    }
    client = MlflowClient(mlflow_server)
    experiment = client.create_experiment("figures")
    run_id = client.create_run(experiment).info.run_id
    for name, figure in figures.items():
        client.log_figure(run_id, figure, f"figures/{name}.png")
    client.set_terminated(run_id)
    artifacts = f"{mlflow_server}/#/experiments/{experiment}/runs/{run_id}/artifacts/figures"
    with browser_page(f"{mlflow_server}/health") as page:  # one browser, each figure in turn
        page.set_viewport_size({"width": 1440, "height": 900})
        for name, figure in figures.items():
            shown_texts = figure.findobj(lambda artist: isinstance(artist, Text) and artist.get_visible())
            smallest = min(text.get_fontsize() for text in shown_texts if text.get_text())
            natural = round(figure.get_figwidth() * figure.dpi)
            page.goto("about:blank")  # a fresh load of the UI: no image of the figure before stays on the page
            page.goto(f"{artifacts}/{name}.png", wait_until="load")
            # The viewer's image: the one of the figure's own width (the UI's icons are others).
            find = f"Array.from(document.images).find(i => i.naturalWidth === {natural} && i.clientWidth > 0)"
            page.wait_for_function(f"() => {find} !== undefined", timeout=60_000)
            left, width = page.evaluate(
                f"() => {{ const r = ({find}).getBoundingClientRect(); return [r.left, r.width]; }}"
            )
            page.screenshot(path=str(tmp_path / f"{name}.png"))
            assert left >= 0 and left + width <= 1440, name  # whole across, not cut by the panel
            pixels = smallest * figure.dpi / 72 * width / natural
            assert pixels >= 8, f"{name}: its {smallest:g}-point text is {pixels:.1f} pixels high in the viewer"
