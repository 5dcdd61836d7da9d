"""The questions the study answers, one module per notebook: each runs its experiment and computes its answer.

A question is three files: its notebook `notebooks/NN-name.ipynb`, which sets the parameters, calls its
module's `run(...)` and shows the `Answer`; its module `regstudy/questions/name.py` (the notebook's name
without its number, `-` as `_`), which holds `run` and, beside it, `PARAMETERS`, the valid values of the
question's own parameters; and its full-size parameters file `params/NN-name.yaml`. `QUESTIONS` finds them by
the notebooks' names: the name is also the question's MLflow experiment. The trainings are child runs of one
MLflow parent run per execution, which also holds the answer, the tables and the figures. The other modules
here are what only the questions use.
"""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from regstudy.config import RunConfig, resolve_paths
from regstudy.data import DATASETS
from regstudy.errors import ConfigError
from regstudy.paths import notebooks_folder, params_folder
from regstudy.registry import Registered
from regstudy.validation import SEED, Constraint, ListOf, check_keys, unknown_name_problem
from regstudy.yaml_files import read_mapping

NOT_QUESTIONS = ("01-train", "02-compare")
"""The numbered notebooks that are not questions: one run, and the comparison of a study's runs."""


@dataclass(frozen=True)
class QuestionEntry:
    """One question, by its notebook's name (e.g. "07-when-to-stop"); its module is `module` under
    `regstudy.questions`, by default the name without its number (`when_to_stop`)."""

    name: str
    module: str = ""

    def __post_init__(self):
        if not self.module:
            object.__setattr__(self, "module", self.name.split("-", 1)[1].replace("-", "_"))

    @property
    def notebook(self) -> Path:
        return notebooks_folder() / f"{self.name}.ipynb"

    @property
    def params_file(self) -> Path:
        """The full-size parameters, which `regstudy question` and `make questions` run."""
        return params_folder() / f"{self.name}.yaml"

    @property
    def parameters(self) -> dict[str, Constraint]:
        """The valid values of the question's own parameters: its module's `PARAMETERS`."""
        return self.load().PARAMETERS

    def load(self) -> ModuleType:
        # By name: the modules import this package, which imports none of them.
        return importlib.import_module(f"{__name__}.{self.module}")


QUESTIONS: dict[str, QuestionEntry] = {
    path.stem: QuestionEntry(path.stem)
    for path in sorted(notebooks_folder().glob("[0-9][0-9]-*.ipynb"))
    if path.stem not in NOT_QUESTIONS
}
"""Every question by name: one per numbered notebook."""


def parameter_names(notebook: Path) -> list[str]:
    """The names assigned in a notebook's `parameters` cell (papermill's own parser skips dict values).

    The notebook is read as the JSON it is: nbformat would cost more than a second to import.
    """
    cells = json.loads(notebook.read_text())["cells"]
    source = next((cell["source"] for cell in cells if "parameters" in cell["metadata"].get("tags", [])), "")
    source = "".join(source) if isinstance(source, list) else source
    return [
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]


def question_parameters(name: str, params_file: Path | None = None) -> tuple[QuestionEntry, Path, dict]:
    """The question `name`, its parameters file (default `params/<name>.yaml`) and the parameters it holds,
    all checked: an unknown question, a missing notebook or file, and an unknown parameter name are refused."""
    if not isinstance(name, str) or name not in QUESTIONS:
        raise ConfigError(
            "question", name, unknown_name_problem("question notebook", name, list(QUESTIONS), show_value=False)
        )
    entry = QUESTIONS[name]
    if not entry.notebook.is_file():
        raise ConfigError("question", name, f"its notebook {entry.notebook} does not exist")
    params_file = Path(params_file or entry.params_file)
    parameters = _resolve_paths(read_mapping(params_file), params_file.resolve().parent)
    constraints = question_constraints(name)
    try:
        check_keys(parameters, parameter_names(entry.notebook))
    except ConfigError as error:
        raise error.located(source=str(params_file)) from None
    for key, value in parameters.items():
        if key in constraints:
            try:
                constraints[key].check(key, value)
            except ConfigError as error:
                raise error.located(source=str(params_file)) from None
    return entry, params_file, parameters


def _resolve_paths(parameters: dict, folder: Path) -> dict:
    """The parameters with each relative data file path (of the run's data set, or of each data set a
    question compares under `datasets`) resolved against `folder`, the parameters file's, as for a run."""
    resolved = resolve_paths(parameters, folder)
    if isinstance(resolved.get("datasets"), dict):
        runs = resolved["datasets"].items()
        resolved["datasets"] = {
            label: resolve_paths(run, folder) if isinstance(run, dict) else run for label, run in runs
        }
    return resolved


def question_constraints(name: str) -> dict[str, Constraint]:
    """The valid values of the parameters of question `name`: those that mean what they mean for one training
    run (`epochs`, `train_size`, `hidden_units`, `dataset`, ...), `seeds`, and the question's own."""
    return {
        **RunConfig.parameter_constraints,
        "dataset": Registered(DATASETS),
        "seeds": ListOf(SEED),
        **QUESTIONS[name].parameters,
    }


def experiment_of(module: str) -> str:
    """The experiment (the question's name) of the question module `module` (its `__name__`)."""
    return next(entry.name for entry in QUESTIONS.values() if f"{__name__}.{entry.module}" == module)
