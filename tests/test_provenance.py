"""Provenance: every parent run names the code that produced it (MLflow's `mlflow.source.git.commit`, a dirty
flag, the uncommitted changes as an artifact), and findings are never published from untraceable code."""

import subprocess

import pytest

from regstudy import tracking
from regstudy.errors import ConfigError


@pytest.fixture
def repository(tmp_path):
    """A real git repository with one commit."""
    root = tmp_path / "repository"
    root.mkdir()
    for command in (["init", "-q"], ["config", "user.email", "t@example.org"], ["config", "user.name", "T"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    (root / "code.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "code.py"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "first"], cwd=root, check=True)
    return root


def _head(root):
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()


def test_a_parent_run_of_a_clean_tree_names_its_commit_and_has_no_diff(client, experiment, repository):
    run_id = tracking.create_run(client, experiment, None)
    tracking.record_provenance(client, run_id, "regstudy sweep", root=repository)
    tags = client.get_run(run_id).data.tags
    assert tags[tracking.SOURCE_COMMIT_TAG] == _head(repository) == tags["git_commit"]
    assert tags[tracking.DIRTY_TAG] == "false" and tags[tracking.SOURCE_NAME_TAG] == "regstudy sweep"
    assert tags["versions.mlflow"][0].isdigit()
    assert [a.path for a in client.list_artifacts(run_id, "provenance")] == []


def test_a_parent_run_of_a_dirty_tree_keeps_the_uncommitted_changes(client, experiment, repository):
    (repository / "code.py").write_text("x = 2\n")
    run_id = tracking.create_run(client, experiment, None)
    tracking.record_provenance(client, run_id, "07-when-to-stop.ipynb", root=repository)
    tags = client.get_run(run_id).data.tags
    assert tags[tracking.SOURCE_COMMIT_TAG] == _head(repository)
    assert tags["git_commit"] == _head(repository) + "-dirty" and tags[tracking.DIRTY_TAG] == "true"
    diff = open(client.download_artifacts(run_id, tracking.UNCOMMITTED_DIFF)).read()
    expected = subprocess.run(["git", "diff", "HEAD"], cwd=repository, capture_output=True, text=True).stdout
    assert diff == expected and "-x = 1\n+x = 2" in diff


def test_outside_git_the_commit_is_unknown(tmp_path):
    assert tracking.git_state(tmp_path) == ("unknown", None)
    assert tracking.SOURCE_COMMIT_TAG not in tracking.environment_tags(tmp_path)


def test_every_parent_run_names_the_code_that_made_it(client, tmp_path):
    """A study's parent run, as a sweep opens it (searches and questions record theirs the same way)."""
    from regstudy.study import load_study
    from regstudy.sweep import open_parent_run

    path = tmp_path / "study.yaml"
    path.write_text("name: provenance-study\nparameters: {epochs: 1}\ngrid: {plugins: [none]}\nseeds: [0]\n")
    parent = open_parent_run(client, load_study(path))
    tags = client.get_run(parent).data.tags
    commit, dirty = tracking.git_state()
    assert tags[tracking.SOURCE_COMMIT_TAG] == commit and tags[tracking.DIRTY_TAG] == str(dirty).lower()
    assert tags[tracking.SOURCE_NAME_TAG] == "regstudy sweep"


def test_findings_are_not_published_from_a_dirty_tree_unless_allowed(repository, tmp_path):
    from regstudy import results

    (repository / "code.py").write_text("x = 3\n")
    with pytest.raises(ConfigError, match="uncommitted changes: commit them, or allow it"):
        results.publish(folder=tmp_path / "results", repository=repository, echo=lambda line: None)
    assert not (tmp_path / "results").exists()
