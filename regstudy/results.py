"""`make results`: the findings, published from the tracking store, never typed in.

For the default study and each question at its full size (`params/<name>.yaml`), `results/<name>/` holds the
page a person reads (`report.html`, as logged to the parent run), the key figure, and a `README.md` with the
computed answer; `results/README.md` lists them, and the README's "Findings" section (between its
`findings` markers) gets one line per question. A question's full-size run is the newest FINISHED parent run
tagged with the digest of its parameters file (`regstudy question` tags it): runs at the notebooks' small
defaults are never mistaken for it. What the store lacks is run first, unless told not to.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from regstudy import report, sequential, tracking
from regstudy.errors import ConfigError
from regstudy.notebooks import REPORT_COMMIT_TAG, log_page, run_comparison_notebook
from regstudy.paths import params_folder, repository_root
from regstudy.questions import QUESTIONS
from regstudy.questions.execution import run_question
from regstudy.study import load_study
from regstudy.sweep import sweep

STUDY_FILE = "default-study.yaml"
FINDINGS = re.compile(r"(<!-- findings:start -->\n).*?(<!-- findings:end -->)", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    """One published answer: its name, the answer in words, and the parent run it was read from."""

    name: str
    answer: str
    run_id: str


def full_size_run(name: str, params_file: Path) -> str | None:
    """The newest FINISHED parent run of question `name` run at `params_file` (its full size), or None."""
    digest = tracking.params_digest(params_file)
    found = f"tags.`{tracking.PARAMS_DIGEST_TAG}` = '{digest}' and attributes.status = 'FINISHED'"
    runs = tracking.search_runs(tracking.connect(), name, found)
    return max(runs, key=lambda run: run.info.start_time).info.run_id if runs else None


def publish(
    folder: Path | None = None,
    run_missing: bool = True,
    study_file: Path | None = None,
    questions: dict[str, Path] | None = None,
    readme: Path | None = None,
    echo: Callable[[str], None] = print,
    allow_dirty: bool = False,
    repository: Path | None = None,
) -> list[Finding]:
    """Write `results/` from the store, first running what it lacks; update the README's findings.

    Args:
        folder: where. Defaults to None (`results/` in the repository).
        run_missing: run what the store lacks; else report it and leave it out. Defaults to True.
        study_file: the study. Defaults to None (`params/default-study.yaml`).
        questions: question name → the parameters file of its published size. Defaults to None (every
            question, at `params/<name>.yaml`).
        readme: the README whose findings block is rewritten. Defaults to None (the repository's).
        echo: where progress lines go. Defaults to print.
        allow_dirty: publish from a tree with uncommitted changes (each finding then says so); else refused,
            since the findings could not be traced to code. Defaults to False.
        repository: the git repository whose state is checked. Defaults to None (regstudy's).
    """
    commit, dirty = tracking.git_state(repository)
    if dirty and not allow_dirty:
        problem = "tracked files have uncommitted changes: commit them, or allow it (regstudy results --allow-dirty)"
        raise ConfigError("results", commit, problem)
    folder = folder or repository_root() / "results"
    findings, missing = [], []
    study_file = Path(study_file or params_folder() / STUDY_FILE)
    study = _study(study_file, run_missing, echo)
    if study is not None:
        findings.append(study)
    else:
        missing.append(load_study(study_file).name)
    for name, params_file in (questions or {name: entry.params_file for name, entry in QUESTIONS.items()}).items():
        finding = _question(name, params_file, run_missing, echo)
        if finding is None:
            missing.append(name)
        else:
            findings.append(finding)
    if missing:  # published findings are never removed for want of their runs
        problem = (
            f"{len(missing)} of {len(findings) + len(missing)} findings have no runs in the store "
            f"{tracking.tracking_uri()}: results/ and the README are left as they are (run `make results`)"
        )
        raise ConfigError("results", missing, problem)
    folder.mkdir(exist_ok=True)
    # A few files, each downloaded at once: MLflow's progress bar for each would only clutter the terminal.
    with mock.patch.dict(os.environ, {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):
        for finding in findings:
            _write(folder / finding.name, finding, commit if dirty else None)
    (folder / "README.md").write_text(_index(findings))
    _update_readme(readme or repository_root() / "README.md", findings, folder)
    return findings


def _question(name: str, params_file: Path, run_missing: bool, echo: Callable[[str], None]) -> Finding | None:
    """Question `name`'s finding at its full size, `params_file`, from its newest run (run first if the store
    lacks one and `run_missing`), or None."""
    run_id = full_size_run(name, params_file)
    if run_id is None and run_missing:
        echo(f"{name}: no run at {params_file} in the store; running it (regstudy question {name})")
        run_question(name, params_file)
        run_id = full_size_run(name, params_file)
    if run_id is None:
        echo(f"{name}: no full-size run in the store (run `regstudy question {name}`)")
        return None
    return Finding(name, tracking.connect().get_run(run_id).data.tags.get("mlflow.note.content", ""), run_id)


def _study(study_file: Path, run_missing: bool, echo: Callable[[str], None]) -> Finding | None:
    """The default study's finding: its report's headline, from its parent run (swept and reported first if
    the store lacks them)."""
    study = load_study(study_file)
    client = tracking.connect()
    finished = f"tags.{tracking.STUDY_TAG} = '{study.name}' and tags.`{tracking.ROLE_TAG}` = 'variant'"
    done = {
        (run.data.tags.get(tracking.VARIANT_TAG), run.data.tags.get(tracking.SEED_TAG))
        for run in tracking.search_runs(client, study.name, finished + " and attributes.status = 'FINISHED'")
    }
    # A staged study is done when its design needs no more runs: not every seed of every method.
    if not (sequential.complete(study, done) if study.stages else all(variant.key in done for variant in study.runs)):
        if not run_missing:
            echo(f"{study.name}: not every run is in the store (run `make study`)")
            return None
        echo(f"{study.name}: sweeping what the store lacks (regstudy sweep {study_file})")
        if study.stages:
            sequential.staged_sweep(study, echo=echo)
        else:
            sweep(study)
    parent_id = report.parent_run(study.name)
    if not any(artifact.path == "report.html" for artifact in client.list_artifacts(parent_id)):
        echo(f"{study.name}: reporting (regstudy report {study.name})")
        run_comparison_notebook(study.name, parent_id)
    runs = report.study_runs(study.name)
    return Finding(study.name, report.headline(report.ranking(report.variant_summary(runs), runs)), parent_id)


def _write(folder: Path, finding: Finding, dirty_commit: str | None = None) -> None:
    """The finding's folder: its page and key figure, downloaded from its parent run, and its README, which
    names the commit of the code that produced the runs (and, for a study, of the report's), and says so when
    it was published from a tree with uncommitted changes (`dirty_commit`, the commit they are on)."""
    client = tracking.connect()
    folder.mkdir(parents=True, exist_ok=True)
    _ensure_page(client, finding)
    shutil.copyfile(client.download_artifacts(finding.run_id, "report.html"), folder / "report.html")
    figures = sorted(artifact.path for artifact in client.list_artifacts(finding.run_id, "figures"))
    figure_line = ""
    if figures:
        shutil.copyfile(client.download_artifacts(finding.run_id, figures[0]), folder / "figure.png")
        figure_line = f"\n![{Path(figures[0]).stem}](figure.png)\n"
    artifacts = {artifact.path for artifact in client.list_artifacts(finding.run_id)}
    for table in (f"{tracking.RUNS_TABLE}.csv", f"{tracking.RUNS_TABLE}.parquet"):
        if table in artifacts:  # the tidy table of the runs behind the finding, beside it
            shutil.copyfile(client.download_artifacts(finding.run_id, table), folder / table)
    tags = client.get_run(finding.run_id).data.tags
    code = f"code at commit `{tags.get('git_commit', 'unknown')}`"
    if REPORT_COMMIT_TAG in tags:
        code += f", its report at `{tags[REPORT_COMMIT_TAG]}`"
    published = f" from a tree with uncommitted changes on `{dirty_commit}`" if dirty_commit else ""
    (folder / "README.md").write_text(
        f"# {finding.name}\n\n{finding.answer}\n{figure_line}\n"
        f"The whole answer, with its tables and figures: [report.html](report.html). Read from MLflow run "
        f"`{finding.run_id}` ({code}), by `make results`{published}. A commit ending in `-dirty` had "
        "uncommitted changes, kept with the run as `provenance/uncommitted.diff`.\n"
    )


def _ensure_page(client, finding: Finding) -> None:
    """Give a parent run that has its executed notebook but no page (logged before pages existed) its page,
    rendered from that notebook."""
    if any(artifact.path == "report.html" for artifact in client.list_artifacts(finding.run_id)):
        return
    notebooks = [a.path for a in client.list_artifacts(finding.run_id, "notebook") if a.path.endswith(".ipynb")]
    if not notebooks:
        raise FileNotFoundError(f"run {finding.run_id} of {finding.name} has neither report.html nor its notebook")
    log_page(
        client, finding.run_id, Path(client.download_artifacts(finding.run_id, notebooks[0])), None, False, finding.name
    )


HEADLINE_CHARACTERS = 360
"""The longest line an answer's headline gets in the Findings (its whole answer is in its summary)."""
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def _index(findings: list[Finding]) -> str:
    lines = ["# Findings", "", "Each answer at its full size, computed from its runs by `make results`.", ""]
    lines += [f"- [{f.name}]({f.name}/README.md): {_headline(f.answer)}" for f in findings]
    return "\n".join(lines) + "\n"


def _update_readme(readme: Path, findings: list[Finding], folder: Path) -> None:
    """Replace the README's findings block (between its markers) with one line per finding."""
    text = readme.read_text()
    where = Path(os.path.relpath(folder, readme.parent)).as_posix()
    lines = "".join(
        f"- [{f.name}]({where}/{f.name}/README.md) ([report]({where}/{f.name}/report.html)): {_headline(f.answer)}\n"
        for f in findings
    )
    if FINDINGS.search(text):
        readme.write_text(FINDINGS.sub(lambda match: match.group(1) + lines + match.group(2), text))


def _headline(answer: str, limit: int = HEADLINE_CHARACTERS) -> str:
    """The answer's first sentences, as many as fit in `limit` characters (always the first, cut at a clause
    if it alone is longer). A sentence ends at `.`, `!` or `?` before a capital letter or the end: not in a
    number (0.95) or an abbreviation followed by more of the sentence (e.g. the)."""
    sentences = [part.strip() for part in SENTENCE_END.split(answer.strip()) if part.strip()]
    if not sentences:
        return ""
    headline = sentences[0]
    for sentence in sentences[1:]:
        if len(headline) + 1 + len(sentence) > limit:
            break
        headline += " " + sentence
    if len(headline) > limit:
        cut = max(headline.rfind("; ", 0, limit), headline.rfind(", ", 0, limit))
        headline = headline[: cut if cut > 0 else limit].rstrip() + " …"
    return headline
