"""k-fold cross-validation of candidate settings on the training set only, each fold a training run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd


def cross_validate(
    train: Callable[..., Any],
    candidates: dict[str, dict[str, Any]],
    folds: int,
    score: str = "validation_accuracy",
    **common: Any,
) -> pd.DataFrame:
    """Train every candidate on every fold and return one row per (candidate, fold) with its score.

    Fold `k` holds out the k-th of `folds` stratified parts of the training set as its validation set
    (`RunConfig.folds`); the test set is never seen.

    Args:
        train: called as `train(label, **parameters)` for each fold, e.g. `Question.train`.
        candidates: label → the parameters that differ between candidates (e.g. `{"plugins": {...}}`).
        folds: the number of folds k, >= 2.
        score: the final metric compared; higher is better. Defaults to "validation_accuracy".
        **common: parameters every run shares.
    """
    rows = []
    for label, parameters in candidates.items():
        for fold in range(folds):
            result = train({"candidate": label, "fold": fold}, **{**common, **parameters, "folds": folds, "fold": fold})
            rows.append({"candidate": label, "fold": fold, score: result.metrics[score]})
    return pd.DataFrame(rows)


def choose(scores: pd.DataFrame, score: str = "validation_accuracy") -> tuple[str, pd.DataFrame]:
    """The candidate with the best mean score over folds (the first listed on a tie), and every mean ± std."""
    summary = scores.groupby("candidate", sort=False)[score].agg(["mean", "std"])
    return str(summary["mean"].idxmax()), summary
