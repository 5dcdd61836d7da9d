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


def test_the_stores_connections_commit_to_its_write_ahead_log_without_waiting_for_the_disk(client, tmp_path):
    """SQLite's `synchronous` pragma reads 1 for NORMAL and 2 for FULL, its default (sqlite.org/pragma.html):
    MLflow's own connections to the store, which is in write-ahead-log mode, read 1, as does any new connection
    of this process to a WAL database; one to a database in SQLite's default rollback journal keeps 2."""
    import sqlite3

    import sqlalchemy

    with client._tracking_client.store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    for mode, expected in (("wal", 1), ("delete", 2)):
        path = tmp_path / f"{mode}.db"
        with sqlite3.connect(path) as plain:
            plain.execute(f"PRAGMA journal_mode={mode}")
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == expected, mode
        engine.dispose()


def test_a_groups_runs_are_read_back_by_id_in_searches_of_a_hundred(client, experiment):
    """101 runs (two searches), one of them FAILED, and a run of another experiment, which is left out."""
    ids = tracking.create_runs(client, [(experiment, f"run {index}", None) for index in range(101)])
    elsewhere = tracking.create_run(client, f"{experiment} other", "elsewhere")
    client.set_terminated(ids[50], "FAILED")
    read = tracking.read_runs(client, experiment, [*ids, elsewhere])
    assert sorted(read) == sorted(ids)
    assert [read[run_id].info.run_name for run_id in ids] == [f"run {index}" for index in range(101)]
    assert [run_id for run_id in ids if read[run_id].info.status != "RUNNING"] == [ids[50]]
    for run_id in [*ids, elsewhere]:
        client.set_terminated(run_id)


def test_an_owner_that_ends_its_run_itself_is_not_read_again_before_it_ends(client, experiment):
    """`ending(read_first=False)` ends the run FINISHED without reading its status (the client's reads
    counted); by default it reads first, and leaves a run the block ended FAILED as it is."""
    reads = []
    original = client.get_run
    client.get_run = lambda run_id: reads.append(run_id) or original(run_id)
    trusted, checked = (tracking.create_run(client, experiment, name) for name in ("trusted", "checked"))
    with tracking.ending(client, trusted, read_first=False):
        pass
    assert reads == [] and original(trusted).info.status == "FINISHED"
    with tracking.ending(client, checked):
        client.set_terminated(checked, "FAILED")
    assert reads == [checked] and original(checked).info.status == "FAILED"
