"""Comparing the runs of a study, read back from MLflow: curves, per-variant statistics, a ranking.

The comparison notebook (`notebooks/02-compare.ipynb`, run by `regstudy report`) calls these functions;
every number comes from the tracking store, never from the sweep's memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regstudy import significance, tracking
from regstudy.errors import ConfigError
from regstudy.plugins import PLUGINS
from regstudy.tracking import ROLE_TAG, SEED_TAG, STUDY_TAG, VARIANT_TAG

_CHILDREN = f"tags.{STUDY_TAG} = '{{study}}' and tags.`{ROLE_TAG}` = 'variant' and attributes.status = 'FINISHED'"
_PARENT = f"tags.{STUDY_TAG} = '{{study}}' and tags.`{ROLE_TAG}` = 'study'"


def study_runs(study: str) -> pd.DataFrame:
    """One row per FINISHED run of `study` (the newest for each variant and seed).

    Columns: run_id, variant, seed, plugins (the plugin combination), model, method (the plugin combination,
    followed by the model in parentheses when the study trains several and this is not the one most of its
    runs train, e.g. "shake_drop (resmlp)"), strength (the one hyperparameter that varies among the method's
    variants, NaN if none does), strength_name, every final metric, and each plugin hyperparameter as
    `<plugin>.<name>`.
    """
    client = tracking.connect()
    runs = tracking.search_runs(client, study, _CHILDREN.format(study=study))
    if not runs:
        raise ConfigError("study", study, "has no finished runs in the tracking store " + tracking.tracking_uri())
    rows = []
    for run in sorted(runs, key=lambda r: r.info.start_time, reverse=True):
        params = run.data.params
        plugin_params = {
            key: _number(value)
            for key, value in params.items()
            if key.split(".", 1)[0] in params["plugins"].split(" + ")
        }
        rows.append(
            {
                "run_id": run.info.run_id,
                "variant": run.data.tags[VARIANT_TAG],
                "seed": int(run.data.tags[SEED_TAG]),
                "plugins": params["plugins"],
                "model": params.get("model", "mlp"),
                "dataset": params.get("dataset"),
                **plugin_params,
                **run.data.metrics,
            }
        )
    frame = pd.DataFrame(rows).drop_duplicates(["variant", "seed"]).reset_index(drop=True)
    usual = frame["model"].mode()[0]
    frame["method"] = [
        plugins if model == usual else f"{plugins} ({model})"
        for plugins, model in zip(frame["plugins"], frame["model"])
    ]
    frame["strength_name"], frame["strength"] = None, np.nan
    for _, group in frame.groupby("method"):
        names = group["plugins"].iloc[0].split(" + ")
        owned = [c for c in group.columns if c.startswith(tuple(f"{p}." for p in names))]
        varying = [c for c in owned if pd.api.types.is_numeric_dtype(group[c]) and group[c].nunique() > 1]
        if len(varying) == 1:
            frame.loc[group.index, "strength_name"] = varying[0]
            frame.loc[group.index, "strength"] = group[varying[0]].astype(float)
    return frame


def score_name(runs: pd.DataFrame) -> str:
    """ "accuracy" for classification studies, "mse" for regression."""
    return "accuracy" if "test_accuracy" in runs else "mse"


def validation_curves(runs: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The per-epoch `metric` (default: validation accuracy or MSE) of every run, long form: run_id, epoch, value."""
    metric = metric or f"val_{score_name(runs)}"
    client = tracking.connect()
    rows = [
        (run_id, point.step, point.value)
        for run_id in runs["run_id"]
        for point in client.get_metric_history(run_id, metric)
    ]
    return pd.DataFrame(rows, columns=["run_id", "epoch", "value"])


def variant_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each variant's final metrics."""
    score = score_name(runs)
    metrics = [f"test_{score}", f"validation_{score}", f"train_{score}", "loss_gap"] + (
        ["generalization_gap"] if score == "accuracy" else []
    )
    grouped = runs.groupby(["method", "variant"], dropna=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["strength"] = grouped["strength"].first()
    summary["strength_name"] = grouped["strength_name"].first()
    summary["seeds"] = grouped["seed"].nunique()
    return summary.reset_index().sort_values(["method", "strength"])


def ranking(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Methods ranked by test score, each at the strength with the best mean validation score, with how sure
    each difference is; a study over several data sets is ranked within each (a `dataset` index level).

    The strength is chosen on validation, not on test, so that the test score is an honest estimate. Each
    method is compared, paired by seed, with the baseline (`none`) and with the best method
    (`significance.paired`: the mean difference with its bootstrap 95 % interval, whose bounds are the columns
    "95 % low" and "95 % high", empty for one seed; the paired t-test's p-value
    after Holm's correction across every comparison of the table, Wilcoxon's signed-rank p-value and Cohen's
    d_z; the smallest difference the design could detect, with power 0.8 at Holm's first level), and the
    verdict says in words whether the difference is real, noise at the seeds run (with what the design could
    have detected, and how many seeds would show it), the same at every seed (an exact sign test, no effect
    size), or cannot be told. Differences are oriented so that positive is better: accuracy, or minus the MSE.
    """
    if runs.get("dataset") is not None and runs["dataset"].nunique() > 1:
        return pd.concat(
            {name: ranking(variant_summary(group), group) for name, group in runs.groupby("dataset", sort=False)},
            names=["dataset"],
        )
    score = "accuracy" if "test_accuracy_mean" in summary else "mse"
    better_is_higher = score == "accuracy"
    validation = summary[f"validation_{score}_mean"]
    best = summary.loc[(validation if better_is_higher else -validation).groupby(summary["method"]).idxmax()]
    table = pd.DataFrame(
        {
            "method": best["method"],
            "variant": best["variant"],
            "strength": [
                f"{n.split('.', 1)[1]}={s:g}" if isinstance(n, str) else ""
                for n, s in zip(best["strength_name"], best["strength"])
            ],
            f"test {score}": best[f"test_{score}_mean"],
            f"test {score} std": best[f"test_{score}_std"],
            "gap": best["generalization_gap_mean"] if better_is_higher else best["loss_gap_mean"],
            "gap std": best["generalization_gap_std"] if better_is_higher else best["loss_gap_std"],
            "seeds": best["seeds"],
        }
    )
    table["grid edge"] = [
        _grid_edge(summary, method, strength) for method, strength in zip(best["method"], best["strength"])
    ]
    table["acted"] = [
        _acted(runs[runs["variant"] == variant], strength)
        for variant, strength in zip(best["variant"], best["strength"])
    ]
    table = table.sort_values(f"test {score}", ascending=not better_is_higher).reset_index(drop=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return _with_significance(table, runs, score)


CLIPPED = 1e-3
"""A unit whose incoming weights' norm came within this share of max-norm's bound was held at it."""


def _grid_edge(summary: pd.DataFrame, method: str, strength: float) -> str:
    """ "lowest" or "highest" when the strength chosen on validation is an end of the method's grid (a wider
    grid might choose otherwise), else ""."""
    grid = summary.loc[summary["method"] == method, "strength"].dropna()
    if grid.nunique() < 2 or not np.isfinite(strength):
        return ""
    return "lowest" if strength == grid.min() else "highest" if strength == grid.max() else ""


def _acted(runs: pd.DataFrame, strength: float) -> str:
    """Whether the method acted on these runs (one variant's seeds): "no" at strength 0, or for a max-norm
    bound no unit ever reached (`unit_norm_peak`, the largest unit norm after any epoch), else "yes"."""
    plugins = runs["plugins"].iloc[0].split(" + ")
    if plugins == ["none"]:
        return ""
    if strength == 0:
        return "no: strength 0"
    if "max_norm" in plugins and "unit_norm_peak" in runs and "max_norm.max_value" in runs:
        bound, peak = float(runs["max_norm.max_value"].iloc[0]), float(runs["unit_norm_peak"].max())
        if peak < bound * (1 - CLIPPED):
            return f"no: max-norm never reached its bound (largest unit norm {peak:.3g} < {bound:g})"
    return "yes"


def _with_significance(table: pd.DataFrame, runs: pd.DataFrame, score: str) -> pd.DataFrame:
    """Add each method's comparisons with the baseline and with the best method (see `ranking`)."""
    sign = 1.0 if score == "accuracy" else -1.0
    per_seed = {
        method: sign * runs[runs["variant"] == variant].set_index("seed")[f"test_{score}"]
        for method, variant in zip(table["method"], table["variant"])
    }
    leader = table["method"].iloc[0]
    against = [("none", "none")] if "none" in per_seed else []
    against.append(("best", leader))
    comparisons, where = [], []
    for column, reference in against:
        for method in table["method"]:
            if method == reference:
                continue
            seeds = per_seed[method].index.intersection(per_seed[reference].index)
            comparisons.append(
                significance.paired(
                    per_seed[method].loc[seeds].to_numpy(),
                    per_seed[reference].loc[seeds].to_numpy(),
                    (method, reference),
                )
            )
            where.append((column, method))
    comparisons = significance.holm(comparisons)
    table = table.drop(columns="variant")
    for column, _ in against:
        label = "vs none" if column == "none" else f"vs best ({leader})"
        table[f"{label}: difference"] = np.nan
        table[f"{label}: 95 % low"] = np.nan
        table[f"{label}: 95 % high"] = np.nan
        table[f"{label}: p (Holm)"] = np.nan
        table[f"{label}: p (Wilcoxon)"] = np.nan
        table[f"{label}: d_z"] = np.nan
        table[f"{label}: detectable"] = np.nan
        table[f"{label}: verdict"] = ""
    for (column, method), comparison in zip(where, comparisons):
        label = "vs none" if column == "none" else f"vs best ({leader})"
        row = table.index[table["method"] == method][0]
        table.loc[row, f"{label}: difference"] = comparison.mean_difference
        table.loc[row, f"{label}: 95 % low"] = comparison.low
        table.loc[row, f"{label}: 95 % high"] = comparison.high
        table.loc[row, f"{label}: p (Holm)"] = comparison.p_holm
        table.loc[row, f"{label}: p (Wilcoxon)"] = comparison.p_wilcoxon
        table.loc[row, f"{label}: d_z"] = comparison.effect
        table.loc[row, f"{label}: detectable"] = comparison.detectable
        table.loc[row, f"{label}: verdict"] = comparison.verdict
    return table


def styled(table: pd.DataFrame):
    """The ranking as a person reads it (pandas' Styler): scores to 4 decimals, differences signed, p-values to 3
    significant digits, effect sizes to 2 decimals, and every verdict whole (a plain frame's HTML cuts long
    text at 50 characters)."""
    formats = {}
    for column in table.columns:
        if column.endswith(("difference", "95 % low", "95 % high")):
            formats[column] = "{:+.4f}"
        elif column.endswith(("(Holm)", "(Wilcoxon)")):
            formats[column] = "{:.3g}"
        elif column.endswith("d_z"):
            formats[column] = "{:+.2f}"
        elif pd.api.types.is_float_dtype(table[column]):
            formats[column] = "{:.4f}"
    return table.style.format(formats, na_rep="")


def headline(table: pd.DataFrame) -> str:
    """The ranking in two sentences: the best method, and how many are really better or worse than the baseline
    (by the table's verdicts) and how many are not told apart from it at the seeds run."""
    score = next(column for column in table.columns if column.startswith("test ") and not column.endswith("std"))
    best = table.iloc[0]
    text = (
        f"Of {len(table)} methods, each at the strength chosen on validation, the best {score} is "
        f"{best['method']}'s ({best[score]:.4f}, over {int(best['seeds'])} seeds)."
    )
    if "vs none: verdict" not in table:
        return text
    others = table[table["method"] != "none"]
    verdicts = others["vs none: verdict"]
    better = int((verdicts == others["method"] + " is better").sum())
    worse = int((verdicts == "none is better").sum())
    undecided = others[(verdicts != others["method"] + " is better") & (verdicts != "none is better")]
    could = undecided["vs none: detectable"].dropna() if "vs none: detectable" in undecided else pd.Series()
    detect = (
        f" (at these seeds the design could detect differences in {score} of {could.min():.2g} to {could.max():.2g})"
        if len(could)
        else ""
    )
    text += (
        f" Against no regularization, paired by seed with Holm's correction: {better} are better, {worse} worse, "
        f"and {len(undecided)} not distinguishable from it{detect}."
    )
    inactive = others[others["acted"].str.startswith("no")]["method"].tolist() if "acted" in others else []
    edges = int((others["grid edge"] != "").sum()) if "grid edge" in others else 0
    if inactive:
        text += f" {len(inactive)} did not act at the strength chosen ({', '.join(inactive[:5])})."
    if edges:
        text += f" {edges} chose a strength at an end of their grid, which a wider grid might move."
    return text


def across_datasets(runs: pd.DataFrame) -> tuple[pd.DataFrame, Figure] | None:
    """For a study over several data sets: each method's test score on each (at its strength chosen on that
    data set's validation score; methods not run on every data set left out), with its mean rank, Friedman's
    test and Demšar's critical-difference diagram (`significance`). None for a study of one data set."""
    if runs.get("dataset") is None or runs["dataset"].nunique() < 2:
        return None
    score = score_name(runs)
    scores = pd.DataFrame(
        {
            name: ranking(variant_summary(group), group).set_index("method")[f"test {score}"]
            for name, group in runs.groupby("dataset", sort=False)
        }
    ).T.dropna(axis=1)
    higher = score == "accuracy"
    figure = significance.critical_difference_figure(scores, higher)
    table = pd.concat([scores, significance.mean_ranks(scores, higher).rename("mean rank").to_frame().T])
    return table, figure


def curves_figure(runs: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Validation curves per method: one line per strength, the mean over seeds with its 95 % confidence band
    (Student's t over the seeds at each epoch; a point with one seed has no band)."""
    methods = sorted(runs["method"].unique())
    columns = min(3, len(methods))
    rows = -(-len(methods) // columns)
    figure = Figure(figsize=(7.5, 2.2 * rows + 0.4), layout="constrained")  # legible in MLflow's viewer (as below)
    axes_list = np.atleast_1d(figure.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
    merged = curves.merge(runs[["run_id", "method", "variant", "strength"]], on="run_id")
    seeds: set[int] = set()
    for axes, method in zip(axes_list, methods):
        for (strength, _variant), group in merged[merged["method"] == method].groupby(
            ["strength", "variant"], dropna=False
        ):
            bands = pd.DataFrame(
                [significance.confidence_band(values.to_numpy()) for _, values in group.groupby("epoch")["value"]],
                index=sorted(group["epoch"].unique()),
                columns=["mean", "low", "high", "seeds"],
            )
            seeds.update(bands["seeds"])
            label = "" if np.isnan(strength) else f"{strength:g}"
            axes.plot(bands.index, bands["mean"], label=label)
            axes.fill_between(bands.index, bands["low"], bands["high"], alpha=0.2)
        axes.set_title(method, fontsize="medium")
        axes.set_xlabel("epoch")
        if any(axes.get_legend_handles_labels()[1]):
            axes.legend(fontsize="small")
    for axes in axes_list[len(methods) :]:
        axes.set_visible(False)
    counted = f"{min(seeds)}" if len(seeds) == 1 else f"{min(seeds)} to {max(seeds)}"
    figure.supylabel(f"validation {score_name(runs)} (mean and 95 % confidence band over {counted} seeds)")
    return figure


def family(method: str, strength_name: str | None = None) -> str:
    """The family a method belongs to, for drawing its strengths beside its kin: the module that defines the
    plugin whose strength varies (`regstudy/plugins/penalties.py`: "penalties"), or "other"."""
    name = (strength_name or method).split(".", 1)[0].split(" ", 1)[0]
    if name not in PLUGINS.names():
        return "other"
    return PLUGINS.get(name).__module__.rsplit(".", 1)[-1]


def strength_figure(summary: pd.DataFrame) -> Figure:
    """Test score and generalization gap against each method's strength (log axis), mean ± std over seeds, as
    small multiples: a row for each family of methods (`family`), each panel with its own axis fitted to its
    methods and its own legend, so that a few points' difference stays visible beside a method that collapsed."""
    score = "accuracy" if "test_accuracy_mean" in summary else "mse"
    gap = "generalization_gap" if score == "accuracy" else "loss_gap"
    varied = summary.dropna(subset=["strength"])
    kin = pd.Series([family(m, n) for m, n in zip(varied["method"], varied["strength_name"])], index=varied.index)
    families = sorted(set(kin)) or ["other"]
    # The MLflow UI's artifact viewer fits an image to its panel, about 600 pixels wide on a laptop: a figure
    # 7.5 inches wide keeps its small text at 9 pixels there (tests/test_report.py checks it in a browser).
    figure = Figure(figsize=(7.5, 2.3 * len(families) + 0.4), layout="constrained")
    grid = np.atleast_2d(figure.subplots(len(families), 2, squeeze=False))
    for (score_axes, gap_axes), name in zip(grid, families):
        members = varied[kin == name]
        for method, group in members.groupby("method"):
            label = f"{method} ({group['strength_name'].iloc[0].split('.', 1)[1]})"
            for axes, column in ((score_axes, f"test_{score}"), (gap_axes, gap)):
                axes.errorbar(
                    group["strength"],
                    group[f"{column}_mean"],
                    group[f"{column}_std"],
                    marker="o",
                    capsize=3,
                    label=label,
                )
        reaches_zero = (members["strength"] <= 0).any()  # a log axis cannot show a strength of 0
        for axes, title in ((score_axes, f"{name}: test {score}"), (gap_axes, f"{name}: {gap.replace('_', ' ')}")):
            axes.set_xscale("symlog", linthresh=1e-6) if reaches_zero else axes.set_xscale("log")
            axes.set_title(title, fontsize="medium")
        gap_axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.supxlabel("strength (each method's own hyperparameter)", fontsize="medium")
    return figure


def forest_figure(table: pd.DataFrame) -> Figure:
    """The ranking as a forest plot: each method's paired difference from the baseline (the ranking's "vs
    none" columns: the mean over seeds, positive is better) with its 95 % interval, ordered, with a line at
    zero; a filled marker where the verdict says one is better (after Holm's correction). One panel for each
    data set of a study over several."""
    if "vs none: difference" not in table:
        figure = Figure(figsize=(7, 1.5), layout="constrained")
        figure.text(0.5, 0.5, "no baseline (none) in this study: nothing to draw", ha="center", va="center")
        return figure
    if "dataset" in (table.index.names or []):
        names = list(dict.fromkeys(table.index.get_level_values("dataset")))
        tables = [table.xs(name, level="dataset") for name in names]
    else:
        names, tables = [""], [table]
    heights = [0.28 * len(each) + 1.4 for each in tables]
    figure = Figure(figsize=(7, sum(heights)), layout="constrained")  # legible in MLflow's viewer (as above)
    panels = figure.subplots(len(tables), 1, squeeze=False, height_ratios=heights).ravel()
    for axes, name, each in zip(panels, names, tables):
        compared = each[each["vs none: difference"].notna()].sort_values("vs none: difference")
        difference = compared["vs none: difference"].to_numpy()
        # A comparison of one seed has no interval: its bar is the difference alone.
        low = compared["vs none: 95 % low"].fillna(compared["vs none: difference"]).to_numpy()
        high = compared["vs none: 95 % high"].fillna(compared["vs none: difference"]).to_numpy()
        positions = np.arange(len(compared))
        axes.errorbar(
            difference,
            positions,
            xerr=[difference - low, high - difference],
            fmt="none",
            ecolor="tab:blue",
            capsize=2,
        )
        decided = compared["vs none: verdict"].str.endswith(" is better").to_numpy()
        axes.plot(difference[decided], positions[decided], "o", color="tab:blue", label="distinguishable (Holm)")
        axes.plot(
            difference[~decided], positions[~decided], "o", mfc="white", color="tab:blue", label="not distinguishable"
        )
        axes.axvline(0.0, color="black", linewidth=0.8)
        axes.set_yticks(positions, compared["method"])
        axes.set_ylim(-0.7, max(len(compared), 1) - 0.3)
        score = "accuracy" if "test accuracy" in each else "MSE (lower is better: its negative)"
        axes.set_xlabel(f"test {score}: difference from none, paired by seed (95 % interval)")
        if name:
            axes.set_title(name)
        axes.legend(fontsize="small", loc="lower right")
    return figure


def parent_run(study: str) -> str:
    """The id of `study`'s parent run; a study never swept is a ConfigError."""
    parents = tracking.search_runs(tracking.connect(), study, _PARENT.format(study=study))
    if not parents:
        raise ConfigError("study", study, "has no parent run in the tracking store " + tracking.tracking_uri())
    return parents[0].info.run_id


def log_report(
    study: str,
    figures: dict[str, Figure],
    table: pd.DataFrame,
    across: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
) -> str:
    """Log the figures, the ranking and (for a study over several data sets) the ranking across them, each as
    CSV and markdown, and the tidy table of its runs (`runs`, default `study_runs(study)`; `tracking.RUNS_TABLE`)
    as artifacts of the study's parent run; its description is the ranking's headline."""
    client = tracking.connect()
    parent_id = parent_run(study)
    tracking.log_runs_table(client, parent_id, study_runs(study) if runs is None else runs)
    for name, figure in figures.items():
        client.log_figure(parent_id, figure, f"figures/{name}.png")
    for name, frame in {"ranking": table, "across_datasets": across}.items():
        if frame is not None:
            client.log_text(parent_id, frame.to_csv(), f"{name}.csv")
            client.log_text(parent_id, frame.to_markdown(floatfmt=".4f") + "\n", f"{name}.md")
    if "dataset" not in (table.index.names or []):
        client.set_tag(parent_id, "mlflow.note.content", headline(table))
    return parent_id


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text
