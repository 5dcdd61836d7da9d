"""The questions the study answers, one module per notebook: each runs its experiment and computes its answer.

A notebook in `notebooks/` sets the parameters, calls its module's `run(...)` and shows the `Answer`; the
trainings are child runs of one MLflow parent run per execution, which also holds the answer, the tables
and the figures. `QUESTIONS` ties each question's name to its notebook, module and parameters file: the
name is also the notebook's file name, its MLflow experiment and its parameters file's name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from regstudy.paths import notebooks_folder, params_folder


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


def experiment_of(module: str) -> str:
    """The experiment (the question's name) of the question module `module` (its `__name__`)."""
    return next(entry.name for entry in QUESTIONS.values() if f"{__name__}.{entry.module}" == module)
