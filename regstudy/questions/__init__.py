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
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from regstudy.config import RunConfig
from regstudy.data import DATASETS
from regstudy.errors import ConfigError
from regstudy.paths import notebooks_folder, params_folder
from regstudy.registry import Registered
from regstudy.validation import (
    SEED,
    Constraint,
    Interval,
    ListOf,
    MappingOf,
    unknown_key_error,
    unknown_name_problem,
)
from regstudy.yaml_files import read_mapping


@dataclass(frozen=True)
class Plugins(Constraint):
    """A run's plugins, as `RunConfig.plugins` takes them (`{}` is the baseline)."""

    def check(self, name, value):
        from regstudy.combination import Combination
        from regstudy.config import build_plugins

        try:
            plugins = build_plugins(value)
            Combination(plugins).check_together()  # what depends on the run is checked when it is trained
            return {plugin.name: plugin.get_config() for plugin in plugins}
        except ConfigError as error:  # named under this parameter: `methods.l1.l1` rather than `plugins.l1.l1`
            raise error.renamed(name + (error.key or "")[len("plugins") :]) from None

    def __str__(self) -> str:
        return "plugins with their hyperparameters"

    def invalid_values(self):
        return ["no_such_plugin", {"no_such_plugin": {}}, {"l2": {"l2": -1.0}}, {"none": {}, "l2": {}}]


@dataclass(frozen=True)
class RunParameters(Constraint):
    """Parameters of a run (some of `RunConfig`'s), e.g. a data set with its options."""

    def check(self, name, value):
        if not isinstance(value, dict):
            raise ConfigError(name, value, "expected a mapping of run parameters")
        try:
            RunConfig.from_mapping(value)
        except ConfigError as error:
            raise error.located(prefix=name) from None
        return value

    def __str__(self) -> str:
        return "run parameters"

    def invalid_values(self):
        return ["text", {"epochs": 0}, {"no_such_parameter": 1}]


@dataclass(frozen=True)
class DatasetOptions(Constraint):
    """Options of the data set `dataset`."""

    dataset: str

    def check(self, name, value):
        return RunParameters().check(name, {"dataset": self.dataset, "dataset_options": value})["dataset_options"]

    def __str__(self) -> str:
        return f"options of the {self.dataset} data set"

    def invalid_values(self):
        return ["text", {"no_such_option": 1}]


@dataclass(frozen=True)
class Space(Constraint):
    """A search space over run parameters and plugins (`regstudy.search_space`)."""

    def check(self, name, value):
        from regstudy.search_space import SearchSpace

        try:
            SearchSpace.from_mapping(value)
        except ConfigError as error:  # named under this parameter: `space.plugins.l2` as in a search file
            raise error.renamed(name + (error.key or "")[len("space") :]) from None
        return value

    def __str__(self) -> str:
        return "a search space over run parameters and plugins"

    def invalid_values(self):
        return ["text", {"plugins": {"no_such_plugin": {}}}, {"learning_rate": {"uniform": [0.1, 0.01]}}]


_STRENGTHS = ListOf(Interval(float, 0, None))
_FRACTIONS = ListOf(Interval(float, 0, 1))
_PLUGINS_BY_LABEL = MappingOf(Plugins())


@dataclass(frozen=True)
class QuestionEntry:
    """One question: its name, the module (under `regstudy.questions`) whose `run` answers it, and the valid
    values of its own parameters (those it shares with a run are `RunConfig`'s: see `question_constraints`)."""

    name: str
    module: str
    parameters: dict[str, Constraint] = field(default_factory=dict, hash=False)

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
        QuestionEntry(
            "03-penalties-from-first-principles",
            "first_principles",
            {
                "dataset_options": DatasetOptions("linear"),
                "l2_grid": _STRENGTHS,
                "l1_grid": _STRENGTHS,
                "numpy_steps": Interval(int, 1, 10_000_000, limit=True),
                "keras_penalties": ListOf(MappingOf(Interval(float, 0, None), keys=("l1", "l2"))),
                "keras_epochs": Interval(int, 1, 100_000, limit=True),
                "keras_learning_rate": Interval(float, 0, None, closed="right"),
                "tolerance": Interval(float, 0, None, closed="right"),
                "sklearn_l1_grid": ListOf(Interval(float, 0, None, closed="neither")),  # C = 1 / (n·λ)
                "sklearn_epochs": Interval(int, 1, 100_000, limit=True),
                "sklearn_learning_rate": Interval(float, 0, None, closed="right"),
            },
        ),
        QuestionEntry(
            "04-does-regularization-cost-accuracy",
            "accuracy",
            {"grids": MappingOf(_STRENGTHS, keys=("l2", "dropout"))},
        ),
        QuestionEntry("05-choosing-strength-by-cross-validation", "strength", {"l2_grid": _STRENGTHS}),
        QuestionEntry(
            "06-regularization-or-pruning",
            "regularization_or_pruning",
            {
                "methods": _PLUGINS_BY_LABEL,
                "fractions": _FRACTIONS,
                "fine_tune_epochs": Interval(int, 0, 100_000, limit=True),
                "tolerance": Interval(float, 0, 1),
            },
        ),
        QuestionEntry(
            "07-when-to-stop",
            "when_to_stop",
            {"criteria": _PLUGINS_BY_LABEL, "datasets": MappingOf(RunParameters())},
        ),
        QuestionEntry("08-srivastava-2014-dropout", "srivastava", {"methods": MappingOf(_PLUGINS_BY_LABEL)}),
        QuestionEntry(
            "09-ng-2004-l1-vs-l2",
            "ng2004",
            {
                "irrelevant": ListOf(Interval(int, 0, 100_000, limit=True)),
                "strengths": MappingOf(_STRENGTHS, keys=("l1", "l2")),
                "trials": ListOf(SEED),
            },
        ),
        QuestionEntry(
            "10-zhang-2017-random-labels",
            "zhang2017",
            {
                "fractions": _FRACTIONS,
                "regularizers": _PLUGINS_BY_LABEL,
                "fit_threshold": Interval(float, 0, 1, closed="right"),
            },
        ),
        QuestionEntry(
            "11-kadra-2021-regularization-cocktails",
            "kadra2021",
            {"datasets": MappingOf(RunParameters()), "space": Space(), "trials": Interval(int, 1, 10_000, limit=True)},
        ),
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
    constraints = question_constraints(name)
    for key, value in parameters.items():
        if key not in known:
            raise unknown_key_error(str(key), list(known)).located(source=str(params_file))
        if key in constraints:
            try:
                constraints[key].check(key, value)
            except ConfigError as error:
                raise error.located(source=str(params_file)) from None
    return entry, params_file, parameters


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
