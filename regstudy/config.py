"""`RunConfig`: the parameters of one training run, validated, and the parameters files that hold them.

The same names are the keyword arguments of `regstudy.train`, the variables of the training notebook's
`parameters` cell and the keys of a parameters file in `params/`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import yaml

from regstudy.combination import Combination
from regstudy.datasets import DATASETS, Dataset, Splits, split
from regstudy.engines import ENGINES
from regstudy.errors import _NO_VALUE, ConfigError
from regstudy.plugins import PLUGINS, Plugin
from regstudy.validation import (
    check_bool,
    check_choice,
    check_int_list,
    check_name,
    check_number,
    unknown_key_error,
)

MODELS = ("mlp", "cnn")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "softplus", "linear")
OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
"""The optimizers a run can name, and the Keras class each name builds."""


@dataclass
class RunConfig:
    """The parameters of one training run; constructing it validates every value and the plugin combination.

    Args:
        experiment: the MLflow experiment the run goes to. Defaults to "regstudy".
        run_name: the MLflow run name. Defaults to None (MLflow picks one).
        dataset: a registered data set name. Defaults to "digits".
        dataset_options: keyword arguments of the data set (e.g. `n_features` for "linear"). Defaults to {}.
        train_size: training examples kept, or None for all left after validation and test. Defaults to None.
        validation_fraction: the share of the whole set held out for validation. Defaults to 0.2.
        test_fraction: the share of the whole set held out for testing. Defaults to 0.2.
        split_seed: the seed of the splits, fixed separately from the training seed. Defaults to 0.
        folds: cut the training set into this many folds for cross-validation, or None. Defaults to None.
        fold: with `folds`, the fold (from 0) held out as the validation set. Defaults to 0.
        model: "mlp" or "cnn" (image data only). Defaults to "mlp".
        hidden_units: sizes of the hidden Dense layers; [] gives a linear/logistic model. Defaults to [64].
        filters: the CNN's convolution blocks (3×3 conv + 2×2 max-pool each). Defaults to [16, 32].
        activation: the hidden layers' activation. Defaults to "relu".
        plugins: plugin name to hyperparameters, e.g. `{"l2": {"l2": 1e-4}, "dropout": {}}`; a list of names
            or a string "l2 + dropout" takes each at its defaults. Defaults to {} (the baseline, "none").
        optimizer: "adam", "sgd" or "rmsprop". Defaults to "adam".
        learning_rate: > 0. Defaults to 0.001.
        batch_size: >= 1. Defaults to 32.
        epochs: the most epochs trained, >= 1. Defaults to 10.
        seed: the seed of initialisation, shuffling and noise. Defaults to 0.
        engine: "graph" (one graph call per epoch, the default) or "keras" (`model.fit`); both train the same
            steps on the same batches, see `regstudy.engines`. Defaults to "graph".
        figures: also render the learning curves and the weight histogram into the run as PNG files. The
            curves are logged as metric series, which the MLflow UI charts, either way; rendering costs more
            than the rest of a small run's logging together (see `make bench`). Defaults to False.
    """

    experiment: str = "regstudy"
    run_name: str | None = None
    dataset: str = "digits"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    train_size: int | None = None
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0
    folds: int | None = None
    fold: int = 0
    model: str = "mlp"
    hidden_units: list[int] = field(default_factory=lambda: [64])
    filters: list[int] = field(default_factory=lambda: [16, 32])
    activation: str = "relu"
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    optimizer: str = "adam"
    learning_rate: float = 0.001
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    engine: str = "graph"
    figures: bool = False

    def __post_init__(self):
        self.experiment = check_name("experiment", self.experiment)
        self.run_name = check_name("run_name", self.run_name, optional=True)
        self.dataset = check_choice("dataset", self.dataset, DATASETS.names(), kind="data set")
        if not isinstance(self.dataset_options, dict):
            raise ConfigError("dataset_options", self.dataset_options, "expected a mapping of data set options")
        self.dataset_options = _located(lambda: DATASETS.get(self.dataset).create(self.dataset_options), "dataset_options").get_config()
        if self.train_size is not None:
            self.train_size = check_number("train_size", self.train_size, minimum=1, integer=True)
        self.validation_fraction = check_number("validation_fraction", self.validation_fraction, minimum=0, maximum=0.9, exclusive_minimum=True)
        self.test_fraction = check_number("test_fraction", self.test_fraction, minimum=0, maximum=0.9, exclusive_minimum=True)
        if self.validation_fraction + self.test_fraction >= 1:
            raise ConfigError("validation_fraction", self.validation_fraction, "leaves no training data: validation_fraction + test_fraction must be < 1")
        self.split_seed = check_number("split_seed", self.split_seed, minimum=0, integer=True)
        if self.folds is not None:
            self.folds = check_number("folds", self.folds, minimum=2, integer=True)
        self.fold = check_number("fold", self.fold, minimum=0, maximum=(self.folds or 1) - 1, integer=True)
        self.model = check_choice("model", self.model, MODELS, kind="model")
        if self.model == "cnn" and DATASETS.get(self.dataset).image_shape is None:
            raise ConfigError("model", self.model, f"needs image data, but '{self.dataset}' is not images")
        self.hidden_units = check_int_list("hidden_units", self.hidden_units)
        self.filters = check_int_list("filters", self.filters)
        self.activation = check_choice("activation", self.activation, ACTIVATIONS, kind="activation")
        self.plugins = _resolve_plugins(self.plugins)
        self.optimizer = check_choice("optimizer", self.optimizer, OPTIMIZERS, kind="optimizer")
        self.learning_rate = check_number("learning_rate", self.learning_rate, minimum=0, exclusive_minimum=True)
        self.batch_size = check_number("batch_size", self.batch_size, minimum=1, integer=True)
        self.epochs = check_number("epochs", self.epochs, minimum=1, integer=True)
        self.seed = check_number("seed", self.seed, minimum=0, integer=True)
        self.engine = check_choice("engine", self.engine, ENGINES, kind="engine")
        self.figures = check_bool("figures", self.figures)
        self.combination().check(self)
        self.splits()  # a training set larger than the data is refused now, not when the run starts

    @classmethod
    def from_mapping(cls, mapping: Any, source: str | None = None) -> "RunConfig":
        """Build from a mapping of parameter names, every error naming `source` (a file) and the key."""
        if not isinstance(mapping, dict):
            raise ConfigError(None, mapping, "expected a mapping of parameter names to values", source)
        names = [f.name for f in dataclasses.fields(cls)]
        try:
            for key in mapping:
                if key not in names:
                    raise unknown_key_error(str(key), names)
            return cls(**mapping)
        except ConfigError as error:
            raise error.located(source=source) from None

    @property
    def task(self) -> str:
        """"classification" or "regression", from the data set."""
        return DATASETS.get(self.dataset).task

    @property
    def hidden_layer_count(self) -> int:
        """Hidden layers a plugin can act after: the CNN's blocks and the hidden Dense layers."""
        return len(self.hidden_units) + (len(self.filters) if self.model == "cnn" else 0)

    def build_dataset(self) -> Dataset:
        return DATASETS.get(self.dataset).from_config(self.dataset_options)

    def splits(self) -> Splits:
        """The train, validation and test sets of this run."""
        return _located(
            lambda: split(self.build_dataset(), self.train_size, self.validation_fraction, self.test_fraction, self.split_seed, self.folds, self.fold)
        )

    def build_plugins(self) -> list[Plugin]:
        return [PLUGINS.get(name).from_config(options) for name, options in self.plugins.items()]

    def combination(self) -> Combination:
        return Combination(self.build_plugins())

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, resolved: defaults filled in, plugins with all their hyperparameters."""
        return dataclasses.asdict(self)

    def mlflow_params(self) -> dict[str, str]:
        """Flat params for MLflow: run-level ones by name, plugin and data set options prefixed by their owner."""
        params = {
            key: value
            for key, value in self.to_dict().items()
            if key not in ("plugins", "dataset_options", "experiment", "run_name")
        }
        params["plugins"] = self.plugin_label
        params.update({f"{self.dataset}.{key}": value for key, value in self.dataset_options.items()})
        for name, options in self.plugins.items():
            params.update({f"{name}.{key}": value for key, value in options.items()})
        return {key: str(value) for key, value in params.items()}

    @property
    def plugin_label(self) -> str:
        """The plugins of this run joined by " + ", e.g. "l2 + dropout"."""
        return " + ".join(self.plugins)


def _resolve_plugins(plugins: Any) -> dict[str, dict[str, Any]]:
    """Normalise the `plugins` parameter to name → every hyperparameter, validating each."""
    if isinstance(plugins, str):
        plugins = [name.strip() for name in plugins.split("+") if name.strip()]
    if isinstance(plugins, (list, tuple)):
        if len(set(plugins)) != len(plugins):
            raise ConfigError("plugins", plugins, "names a plugin twice")
        plugins = {name: {} for name in plugins}
    if not isinstance(plugins, dict):
        raise ConfigError("plugins", plugins, "expected a mapping of plugin names to hyperparameters")
    resolved = {}
    for name, options in (plugins or {"none": {}}).items():
        plugin_class = _located(lambda: PLUGINS.get(name), "plugins")
        resolved[name] = _located(lambda: plugin_class.create(options or {}), f"plugins.{name}").get_config()
    return resolved


def _located(build, prefix: str | None = None):
    """Call `build()`, placing any ConfigError it raises under the key `prefix`."""
    try:
        return build()
    except ConfigError as error:
        raise error.located(prefix=prefix) from None


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` as a string; this loader reads it as the float a user means."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning a missing file or malformed YAML into a one-line ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(None, str(path), "no such file", str(path)) from None
    except OSError as error:
        raise ConfigError(None, str(path), f"cannot be read: {error.strerror}", str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(None, _NO_VALUE, f"malformed YAML{where}: {problem}", str(path)) from None


def load_params_file(path: str | Path) -> RunConfig:
    """Read and validate a parameters file (YAML) for one run."""
    return RunConfig.from_mapping(read_yaml(path) or {}, source=str(path))


