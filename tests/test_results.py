"""`make results` from a tiny store: what the store lacks runs first, then each finding's page, figure and
summary are read back from MLflow, and the README's findings block is rewritten, never typed in."""

import pytest
import yaml
from matplotlib.figure import Figure

from regstudy import tracking
from regstudy.results import full_size_run, publish

from helpers import browser_page, rendered_images, runs_of

QUESTION = "04-does-regularization-cost-accuracy"


def test_results_runs_what_is_missing_then_publishes_each_finding_from_the_store(client, tmp_path):
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        "name: results-study\nparameters: {train_size: 100, hidden_units: [8], epochs: 2}\n"
        "grid: {plugins: [none, l2]}\nseeds: [0, 1]\n"
    )
    question_file = tmp_path / "question.yaml"
    question_file.write_text(
        yaml.safe_dump(
            {"grids": {"l2": [0, 0.01]}, "seeds": [0, 1], "train_size": 100, "hidden_units": [8], "epochs": 2}
        )
    )
    readme = tmp_path / "README.md"
    readme.write_text("# Example\n\n## Findings\n\n<!-- findings:start -->\nstale\n<!-- findings:end -->\n\nAfter.\n")
    folder = tmp_path / "results"
    arguments = {"folder": folder, "study_file": study_file, "questions": {QUESTION: question_file}, "readme": readme}
    arguments["allow_dirty"] = True  # this checkout may be mid-change: tests/test_provenance.py covers the refusal

    findings = publish(run_missing=True, **arguments)
    assert [finding.name for finding in findings] == ["results-study", QUESTION]
    run_id = full_size_run(QUESTION, question_file)
    assert findings[1].run_id == run_id
    assert findings[1].answer == client.get_run(run_id).data.tags["mlflow.note.content"]  # read back, not typed
    assert findings[0].answer.startswith("Of 2 methods, each at the strength chosen on validation")
    for finding in findings:
        page = folder / finding.name / "report.html"
        assert page.read_text() == open(client.download_artifacts(finding.run_id, "report.html")).read()
        assert (folder / finding.name / "figure.png").stat().st_size > 0
        assert finding.answer in (folder / finding.name / "README.md").read_text()
    with browser_page(folder / QUESTION / "report.html") as page:
        shown, decoded = rendered_images(page)
        assert shown == decoded >= 1
    text = readme.read_text()
    assert "stale" not in text and text.endswith("<!-- findings:end -->\n\nAfter.\n")
    assert f"- [{QUESTION}](results/{QUESTION}/README.md) ([report](results/{QUESTION}/report.html)): " in text

    # Everything is in the store now: a second call runs nothing and writes the same.
    runs_before = len(runs_of(client, QUESTION)) + len(runs_of(client, "results-study"))
    again = publish(run_missing=False, **arguments)
    assert again == findings
    assert len(runs_of(client, QUESTION)) + len(runs_of(client, "results-study")) == runs_before
    assert readme.read_text() == text
    assert tracking.PARAMS_DIGEST_TAG in client.get_run(run_id).data.tags


def test_a_run_logged_before_pages_existed_gets_its_page_from_its_executed_notebook(client, experiment, tmp_path):
    from regstudy.results import Finding, _write

    from helpers import ROOT

    notebook = ROOT / "notebooks" / "11-kadra-2021-regularization-cocktails.ipynb"
    run_id = tracking.create_run(client, experiment, "old")
    client.log_artifact(run_id, str(notebook), "notebook")
    client.log_figure(run_id, Figure(), "figures/answer.png")
    client.set_terminated(run_id)
    _write(tmp_path / "old", Finding("old", "An answer.", run_id))
    page = (tmp_path / "old" / "report.html").read_text()
    assert page == open(client.download_artifacts(run_id, "report.html")).read()  # logged to the run too
    assert "Kadra et al.'s claim" in page and "An answer." in (tmp_path / "old" / "README.md").read_text()


@pytest.mark.parametrize(
    "answer, headline",
    [
        # A number's point and an abbreviation followed by more of the sentence end nothing.
        (
            "The best is l2 (0.9509, e.g. the first one). Then more words.",
            "The best is l2 (0.9509, e.g. the first one).",
        ),
        (
            "Kadra et al.'s claim holds: 3 of 4 data sets. (Wilcoxon's p = 0.03.)",
            "Kadra et al.'s claim holds: 3 of 4 data sets.",
        ),
        # Sentences are added while they fit in 60 characters; the first always is, cut at a clause if too long.
        ("First one. Second one. " + "Third " * 8 + "one.", "First one. Second one."),
        ("x" * 50 + ", " + "y" * 30 + ".", "x" * 50 + " …"),
        ("", ""),
    ],
)
def test_a_findings_line_is_the_answers_first_sentences_that_fit(answer, headline):
    from regstudy.results import _headline

    assert _headline(answer, limit=60) == headline
