"""Running a question's notebook at a parameters file, and logging what it leaves to the parent run it made."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from unittest import mock

from regstudy import tracking
from regstudy.errors import NotebookError
from regstudy.notebooks import execute, keep_kernel_output, log_page
from regstudy.questions import question_parameters


def run_question(
    name: str, params_file: Path | None = None, output: Path | None = None, html: Path | None = None, code: bool = False
) -> str:
    """Execute a question notebook at the parameters of `params_file` (default `params/<name>.yaml`).

    The executed notebook, its page (`report.html`, see `rendering.to_html`) and the kernel's output are
    logged to the parent run the notebook created, found by a tag unique to this call (see
    `tracking.INVOCATION_VARIABLE`); returns that run's id. Unknown question names, missing files and unknown
    parameter names are refused before anything runs.

    Args:
        output: also keep the executed notebook here. Defaults to None.
        html: also write its page here. Defaults to None.
        code: keep the code cells in the page. Defaults to False.
    """
    entry, params_path, parameters = question_parameters(name, params_file)
    client = tracking.connect()
    invocation = uuid.uuid4().hex
    # A fresh kernel, which inherits the variable.
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.dict(os.environ, {tracking.INVOCATION_VARIABLE: invocation}),
    ):
        executed = Path(output) if output else Path(folder) / entry.notebook.name
        output_of_kernel: list[str] = []
        execute(entry.notebook, executed, parameters, kernel_output=output_of_kernel.append)
        runs = tracking.search_runs(client, entry.name, f"tags.`{tracking.INVOCATION_TAG}` = '{invocation}'")
        if not runs:
            raise NotebookError(f"{entry.name} finished without creating its parent run in experiment '{entry.name}'")
        run_id = max(runs, key=lambda run: run.info.start_time).info.run_id
        client.log_artifact(run_id, str(executed), "notebook")
        client.set_tag(run_id, tracking.PARAMS_DIGEST_TAG, tracking.params_digest(params_path))
        log_page(client, run_id, executed, html, code, entry.name)
        keep_kernel_output(client, run_id)(output_of_kernel[0])
    return run_id
