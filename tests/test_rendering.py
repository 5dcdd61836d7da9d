"""An executed notebook's page, opened in a real headless browser: figures render, tables are there, and
nothing is fetched from the network."""

import json

from regstudy.rendering import to_html

from helpers import ROOT, browser_page, rendered_images

NOTEBOOK = ROOT / "notebooks" / "11-kadra-2021-regularization-cocktails.ipynb"
"""A committed, executed notebook with a figure, tables, stderr lines and code."""


def _image_outputs(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


def test_the_page_shows_every_figure_and_table_offline_without_code_or_log_lines(tmp_path):
    page_file = tmp_path / "page.html"
    page_file.write_text(to_html(NOTEBOOK))
    with browser_page(page_file) as page:
        shown, decoded = rendered_images(page)
        assert shown == decoded == _image_outputs(NOTEBOOK) >= 1
        headers = page.locator("table th").all_inner_texts()
        assert {"none", "best single", "cocktail", "trees"} <= {text.strip() for text in headers}
        text = page.inner_text("body")
        assert "Kadra et al.'s claim" in text
        # No code cells, no stderr.
        assert "kadra_2021_regularization_cocktails.run(" not in text and "oneDNN" not in text
        assert page.refused == []


def test_code_cells_are_kept_when_asked(tmp_path):
    page_file = tmp_path / "page.html"
    page_file.write_text(to_html(NOTEBOOK, code=True))
    with browser_page(page_file) as page:
        assert "kadra_2021_regularization_cocktails.run(" in page.inner_text("body")


def test_the_mlflow_ui_shows_the_page_inline_among_the_runs_artifacts(mlflow_server):
    """What a person sees: the page logged to a run of a real `mlflow server`, opened in the MLflow UI's
    artifact viewer, which renders it in a frame of its own."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server)
    experiment = client.create_experiment("rendering")
    run_id = client.create_run(experiment).info.run_id
    client.log_text(run_id, to_html(NOTEBOOK), "report.html")
    client.set_terminated(run_id)
    with browser_page(f"{mlflow_server}/#/experiments/{experiment}/runs/{run_id}/artifacts/report.html") as page:
        page.wait_for_function("() => document.querySelector('iframe') !== null", timeout=60_000)
        frame = next(frame for frame in page.frames if frame != page.main_frame)
        frame.wait_for_function('() => document.body && document.body.innerText.includes("Kadra et al.\'s claim")')
        shown, decoded = rendered_images(frame)
        assert shown == decoded == _image_outputs(NOTEBOOK)
        assert frame.locator("table").count() >= 2
