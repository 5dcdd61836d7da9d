"""Seeds in stages: a study trains its seeds a stage at a time and stops adding seeds to the methods whose
comparison with the baseline is already decided.

A study file asks for it with `seeds: {until_decided: 4, max: 16}`: looks after 4, 8, 12 and 16 seeds. At each
look, every undecided method is compared with `none` as the report compares it (at its strength chosen on
validation, paired by seed, a two-sided paired t-test; the exact sign test where every seed differs by the
same amount), and Holm's correction runs over the undecided methods at that look's nominal level.

The nominal levels spend α over the looks by Lan and DeMets' (1983, "Discrete sequential boundaries for
clinical trials", Biometrika 70:659-663) O'Brien-Fleming-type spending function
α*(t) = 2 − 2Φ(z_{1−α/2} / √t), t the share of the most seeds reached: look k tests at α*(t_k) − α*(t_{k−1}).
Used as nominal levels, these increments keep the chance of any false positive, over every look and every
method, at most α by Bonferroni's inequality, whatever the looks' correlation (the exact boundaries, which
use it, are a little wider; tests/test_sequential.py shows the rate on 2,000 simulated null studies). The
early looks spend little: only a difference that is large against its spread stops early.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from regstudy.significance import ALPHA, same_difference

BASELINE = "none"
DECISIONS = "sequential.csv"
"""The decisions of a staged sweep, as its parent run holds them (and `sequential.md` beside, for reading)."""


def spent(fraction: float, alpha: float = ALPHA) -> float:
    """The α spent by the time `fraction` of the most seeds has been reached (O'Brien-Fleming type)."""
    if fraction <= 0:
        return 0.0
    return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(min(fraction, 1.0))))


def nominal_levels(stages: list[int], alpha: float = ALPHA) -> list[float]:
    """Each look's level: the α spent between it and the look before, the most seeds being the last stage's."""
    fractions = [0.0] + [seeds / stages[-1] for seeds in stages]
    return [spent(now, alpha) - spent(before, alpha) for before, now in zip(fractions, fractions[1:])]


def p_values(differences: np.ndarray) -> np.ndarray:
    """Two-sided p-values that the paired differences' mean is 0, along the last axis (one comparison's pairs):
    the paired t-test's, or the exact sign test's, 2 / 2^n, where every pair differs by the same amount (as
    `significance.paired` decides), 1 where every difference is 0 or there are fewer than 2 pairs."""
    differences = np.asarray(differences, dtype=float)
    pairs = differences.shape[-1]
    if pairs < 2:
        return np.ones(differences.shape[:-1])
    mean, spread = differences.mean(axis=-1), differences.std(axis=-1, ddof=1)
    constant = same_difference(mean, spread)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's note on a zero spread, answered below
        t_test = stats.ttest_1samp(differences, 0.0, axis=-1).pvalue
    sign = np.where(mean != 0, min(1.0, 2 * 0.5**pairs), 1.0)  # scipy's binomtest(n, n, 0.5), in closed form
    return np.where(constant, sign, t_test)


def decide(differences: dict[str, np.ndarray], level: float) -> dict[str, str]:
    """The methods decided at one look: Holm's correction at `level` over the undecided methods' p-values;
    each rejected one is "better" or "worse" than the baseline by the sign of its mean difference."""
    if not differences:
        return {}
    methods = list(differences)
    rejected = holm_rejects(np.array([float(p_values(differences[m])) for m in methods]), level)
    return {
        method: "better" if np.mean(differences[method]) > 0 else "worse"
        for method, reject in zip(methods, rejected)
        if reject
    }


def holm_rejects(p_values: np.ndarray, level: float) -> np.ndarray:
    """Holm's step-down at `level`: the smallest p-value against level / m, the next against level / (m - 1),
    ..., stopping at the first that fails. statsmodels' `multipletests(method="holm")` decides the same (the
    suite checks it), but runs a full garbage collection on every call, a quarter of a second in a process
    holding TensorFlow: too slow for a look inside a simulation of thousands of studies."""
    order = np.argsort(p_values, kind="stable")
    passes = p_values[order] <= level / np.arange(len(p_values), 0, -1)
    first_failure = int(np.argmin(passes)) if not passes.all() else len(passes)
    rejected = np.zeros(len(p_values), dtype=bool)
    rejected[order[:first_failure]] = True
    return rejected


def paired_differences(runs: pd.DataFrame, methods: list[str], score: str = "accuracy") -> dict[str, np.ndarray]:
    """Each method's test score minus the baseline's, paired by seed, at the method's strength with the best
    mean validation score (`report.study_runs`' columns; minus the MSE for regression)."""
    sign = 1.0 if score == "accuracy" else -1.0
    baseline = runs[runs["method"] == BASELINE].set_index("seed")[f"test_{score}"]
    differences = {}
    for method in methods:
        rows = runs[runs["method"] == method]
        chosen = (sign * rows.groupby("variant")[f"validation_{score}"].mean()).idxmax()
        scores = rows[rows["variant"] == chosen].set_index("seed")[f"test_{score}"]
        shared = scores.index.intersection(baseline.index)
        differences[method] = sign * (scores[shared] - baseline[shared]).to_numpy()
    return differences


def staged_sweep(study, echo: Callable[[str], None] = print, **options) -> tuple[list, pd.DataFrame]:
    """Sweep `study` a stage of seeds at a time (`study.stages`), each stage only for the methods not yet
    decided (and the baseline); return every outcome and the decisions, one row per method, which are also
    logged to the study's parent run as `sequential.csv` and `sequential.md`.

    Args:
        **options: passed to every stage's `sweep.sweep` (workers, executor, replicas, ...).
    """
    from regstudy import report, tracking
    from regstudy.sweep import sweep

    levels = nominal_levels(study.stages)
    outcomes, decided, methods = {}, {}, None
    for look, (seeds, level) in enumerate(zip(study.stages, levels), start=1):
        wanted = None if methods is None else {v for v, m in methods.items() if m == BASELINE or m not in decided}
        runs = [run for run in study.runs if run.seed < seeds and (wanted is None or run.id in wanted)]
        echo(f"study '{study.name}': look {look} of {len(levels)}, {seeds} seeds, level {level:.3g}")
        for outcome in sweep(replace(study, runs=runs), echo=echo, **options):  # a run once, as its first look left it
            outcomes.setdefault(outcome.variant.key, outcome)
        table = report.study_runs(study.name)
        table = table[table["seed"] < seeds]
        methods = dict(zip(table["variant"], table["method"]))
        undecided = [m for m in dict.fromkeys(table["method"]) if m != BASELINE and m not in decided]
        score = report.score_name(table)
        found = decide(paired_differences(table, undecided, score), level)
        decided.update({method: (verdict, look, level) for method, verdict in found.items()})
        if len(decided) == len(set(methods.values()) - {BASELINE}):
            break
    decisions = _decisions(table, decided, study.stages, levels)
    client = tracking.connect()
    parent = report.parent_run(study.name)
    client.log_text(parent, decisions.to_csv(index=False), DECISIONS)
    client.log_text(parent, decisions.to_markdown(index=False) + "\n", "sequential.md")
    return list(outcomes.values()), decisions


def logged_decisions(study: str) -> pd.DataFrame | None:
    """The decisions the staged sweep of `study` logged to its parent run (`staged_sweep`), or None for a study
    whose seeds were never swept in stages, or whose last sweep (the study file the parent run holds) was not
    in stages: the decisions are then older than its runs."""
    import yaml

    from regstudy import report, tracking

    client = tracking.connect()
    parent = report.parent_run(study)
    if not any(artifact.path == DECISIONS for artifact in client.list_artifacts(parent)):
        return None
    with open(client.download_artifacts(parent, "study.yaml")) as file:
        swept = yaml.safe_load(file)
    if not isinstance(swept.get("seeds"), dict):
        return None
    return pd.read_csv(client.download_artifacts(parent, DECISIONS)).astype({"look": "Int64"})


def complete(study, finished: set[tuple[str, str]]) -> bool:
    """Whether the staged sweep of `study` has nothing left to train, given the keys (variant, seed) of its
    finished runs: every variant trained the first stage, the sweep logged its decisions, and every run not
    finished is one the decisions made unnecessary. A decided method needs only the seeds it trained; one not
    decided needs every seed up to the study's last stage (more, if its study file raised the maximum); the
    baseline needs as many as the method that needs the most."""
    from regstudy import report

    if any(variant.key not in finished for variant in study.runs if variant.seed < study.stages[0]):
        return False
    decisions = logged_decisions(study.name)
    if decisions is None:
        return False
    needed = {
        method: int(seeds) if not pd.isna(look) else study.stages[-1]
        for method, seeds, look in zip(decisions["method"], decisions["seeds"], decisions["look"])
    }
    needed[BASELINE] = max(needed.values(), default=study.stages[0])
    runs = report.study_runs(study.name)
    method_of = dict(zip(runs["variant"], runs["method"]))
    missing = [variant for variant in study.runs if variant.key not in finished]
    return all(variant.seed >= needed.get(method_of.get(variant.id), math.inf) for variant in missing)


def _decisions(runs: pd.DataFrame, decided: dict, stages: list[int], levels: list[float]) -> pd.DataFrame:
    """One row per method, the decided first: its decision against the baseline, the look it was made at, the
    seeds it trained, and that look's level."""
    rows = []
    for method in dict.fromkeys(runs["method"]):
        if method == BASELINE:
            continue
        verdict, look, level = decided.get(method, ("not decided", None, None))
        trained = int(runs.loc[runs["method"] == method, "seed"].nunique())
        rows.append(
            {
                "method": method,
                "decision": f"{method} is {verdict} than {BASELINE}" if verdict != "not decided" else verdict,
                "look": look,
                "seeds": trained,
                "level": level,
            }
        )
    order = sorted(rows, key=lambda row: (row["look"] is None, row["look"] or 0, row["method"]))  # decided first
    return pd.DataFrame(order, columns=["method", "decision", "look", "seeds", "level"]).astype({"look": "Int64"})
