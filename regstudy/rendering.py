"""An executed notebook as one self-contained HTML page a person opens: its figures embedded, its code cells
and the kernels' log lines (stderr) left out by default, and nothing fetched from the network.

nbconvert's `lab` template loads require.js, MathJax, mermaid and the widgets' script from a CDN; the
template here empties those blocks, so that the page renders the same offline, and inside MLflow's artifact
viewer, as it does anywhere else.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def to_html(notebook: Path, code: bool = False, title: str | None = None) -> str:
    """The executed `notebook` as a self-contained HTML page.

    Args:
        code: keep the code cells. Defaults to False (the outputs and the text only).
        title: the page's title. Defaults to None (the notebook's file name).
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(str(notebook), as_version=4)
    for cell in node.cells:
        if cell.cell_type == "code":  # TensorFlow's and Optuna's log lines are for the kernel's log, not the reader
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"regstudy.html.j2": TEMPLATE})],
        template_file="regstudy.html.j2",
        exclude_input=not code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": title or Path(notebook).stem}})
    return body
