"""The questions the study answers, one module per notebook: each runs its experiment and computes its answer.

A notebook in `notebooks/` sets the parameters, calls its module's `run(...)` and shows the `Answer`; the
trainings are child runs of one MLflow parent run per execution, which also holds the answer, the tables
and the figures. `QUESTIONS` ties each question's name to its notebook, module and parameters file: the
name is also the notebook's file name, its MLflow experiment and its parameters file's name.
"""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from regstudy.config import RunConfig
from regstudy.datasets import DATASETS
from regstudy.errors import ConfigError
from regstudy.paths import notebooks_folder, params_folder
from regstudy.validation import (
    SEED,
    Constraint,
    IntegerList,
    Interval,
    Options,
    unknown_key_error,
    unknown_name_problem,
)
from regstudy.yaml_files import read_mapping


@dataclass(frozen=True)
class QuestionEntry:
    """One question: its name and the module (under `regstudy.questions`) whose `run` answers it."""

    name: str
    module: str

    @property
    def notebook(self) -> Path:
        return notebooks_folder() / f"{self.name}.ipynb"

    @property
    def params_file(self) -> Path:
        """The full-size parameters, which `regstudy question` and `make questions` run."""
        return params_folder() / f"{self.name}.yaml"

    def load(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.module}")


QUESTIONS: dict[str, QuestionEntry] = {
    entry.name: entry
    for entry in (
        QuestionEntry("03-penalties-from-first-principles", "first_principles"),
        QuestionEntry("04-does-regularization-cost-accuracy", "accuracy"),
        QuestionEntry("05-choosing-strength-by-cross-validation", "strength"),
        QuestionEntry("06-regularization-or-pruning", "regularization_or_pruning"),
        QuestionEntry("07-when-to-stop", "when_to_stop"),
        QuestionEntry("08-srivastava-2014-dropout", "srivastava"),
        QuestionEntry("09-ng-2004-l1-vs-l2", "ng2004"),
        QuestionEntry("10-zhang-2017-random-labels", "zhang2017"),
    )
}
"""Every question by name."""


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
    parameters = read_mapping(params_file)
    known = parameter_names(entry.notebook)
    constraints = question_constraints()
    for key, value in parameters.items():
        if key not in known:
            raise unknown_key_error(str(key), list(known)).located(source=str(params_file))
        if key in constraints:
            try:
                constraints[key].check(key, value)
            except ConfigError as error:
                raise error.located(source=str(params_file)) from None
    return entry, params_file, parameters


def question_constraints() -> dict[str, Constraint]:
    """The valid values of the question parameters that mean for a question what they mean for one training
    run (`epochs`, `train_size`, `hidden_units`, `dataset`, ...), and of `seeds`, the training seeds."""
    return {
        **RunConfig.parameter_constraints,
        "dataset": Options(tuple(DATASETS.names()), kind="data set"),
        "seeds": IntegerList(Interval(int, 0, SEED)),
    }


def experiment_of(module: str) -> str:
    """The experiment (the question's name) of the question module `module` (its `__name__`)."""
    return next(entry.name for entry in QUESTIONS.values() if f"{__name__}.{entry.module}" == module)
