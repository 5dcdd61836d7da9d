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


def test_a_groups_runs_are_created_in_order_after_ending_the_orphans(client, experiment):
    """A run left RUNNING by a process that no longer exists (pid 2**22 + 1 is above Linux's largest) is ended
    KILLED before the group's runs are created; each id is in `created` in the group's order, its run RUNNING,
    named, tagged and owned by this process."""
    orphan = tracking.create_run(client, experiment, "orphan")
    client.set_tag(orphan, tracking.OWNER_TAG, f"{tracking.socket.gethostname()}:{2**22 + 1}")
    other = f"{experiment} other"
    created = []
    ids = tracking.create_runs(
        client, [(experiment, "a", {"k": "1"}), (other, "b", None), (experiment, "c", None)], created
    )
    assert ids is created and len(ids) == 3
    assert client.get_run(orphan).info.status == "KILLED"
    found = [client.get_run(run_id) for run_id in ids]
    assert [run.info.run_name for run in found] == ["a", "b", "c"] and found[0].data.tags["k"] == "1"
    assert [client.get_experiment(run.info.experiment_id).name for run in found] == [experiment, other, experiment]
    assert {run.info.status for run in found} == {"RUNNING"}
    assert {run.data.tags[tracking.OWNER_TAG] for run in found} == {tracking.owner()}
    for run_id in ids:
        client.set_terminated(run_id)
