"""What `regstudy.tracking` writes beyond MLflow's own calls: the tidy table of a parent run's runs."""

import numpy as np
import pandas as pd

from regstudy import tracking


def test_a_table_of_runs_with_a_column_of_mixed_values_is_logged_in_csv_and_parquet(client, experiment):
    """Cross-validation labels its folds 0, 1, ... and its final run "all": Parquet holds one type a column, so
    such a column is text there, while numbers stay numbers (pandas reads both files back)."""
    table = pd.DataFrame(
        {"fold": [0, 1, "all"], "seed": [0, 0, 0], "test_accuracy": [0.9, 0.8, 0.85], "label": ["a", None, "c"]}
    )
    run_id = tracking.create_run(client, experiment, None)
    tracking.log_runs_table(client, run_id, table)
    parquet = pd.read_parquet(client.download_artifacts(run_id, "runs.parquet"))
    csv = pd.read_csv(client.download_artifacts(run_id, "runs.csv"))
    assert parquet["fold"].tolist() == ["0", "1", "all"] and csv["fold"].astype(str).tolist() == ["0", "1", "all"]
    assert parquet["test_accuracy"].tolist() == [0.9, 0.8, 0.85] and parquet["seed"].dtype == np.int64
    assert parquet["label"].isna().tolist() == [False, True, False]
