"""`RunConfig`: the parameters of one training run, validated, and the parameters files that hold them.

The same names are the keyword arguments of `regstudy.train`, the variables of the training notebook's
`parameters` cell and the keys of a parameters file in `params/`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from regstudy.backends import check_installed
from regstudy.combination import Combination
from regstudy.data import DATASETS, Dataset, Splits, check_sizes, split
from regstudy.engines import ENGINES
from regstudy.errors import ConfigError
from regstudy.plugins import PLUGINS, Plugin, RunDescription
from regstudy.registry import Registered
from regstudy.validation import (
    SEED,
    Boolean,
    Constraint,
    IntegerList,
    Interval,
    Options,
    OrNone,
    PlainName,
    check_keys,
    check_number,
)
from regstudy.yaml_files import read_mapping

MODELS = ("mlp", "cnn", "resmlp")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "softplus", "linear")
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
"""The optimizers a run can name, and the name of the `keras.optimizers` class each builds."""


@dataclass(frozen=True)
class RunConfig:
    """The parameters of one training run; constructing it validates every value and the plugin combination.

    A value: it validates and serializes, and nothing else. Training builds the data splits and the plugins
    from it, once per run (`splits_for`, `Combination.from_config`).

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
        model: "mlp", "cnn" (image data only) or "resmlp" (residual blocks, see `regstudy.models`). Defaults
            to "mlp".
        hidden_units: sizes of the hidden Dense layers; [] gives a linear/logistic model. In a `resmlp`, the
            inner size of each residual block, the first also the blocks' width. Defaults to [64].
        filters: the CNN's convolution blocks (3×3 conv + 2×2 max-pool each). Defaults to [16, 32].
        activation: the hidden layers' activation. Defaults to "relu".
        plugins: plugin name to hyperparameters, e.g. `{"l2": {"l2": 1e-4}, "dropout": {}}`; a list of names
            or a string "l2 + dropout" takes each at its defaults. Defaults to {} (the baseline, "none").
        optimizer: "adam", "sgd" or "rmsprop". Defaults to "adam".
        learning_rate: > 0. Defaults to 0.001.
        batch_size: >= 1. Defaults to 32.
        epochs: the most epochs trained, >= 1. Defaults to 10.
        seed: the seed of initialisation, shuffling and noise. Defaults to 0.
        engine: "graph" (one graph call per epoch, the default), "keras" (`model.fit`) or "jax" (one compiled
            call per epoch on Keras' JAX backend); all train the same steps on the same batches, see
            `regstudy.engines`. Defaults to "graph".
        figures: also render the learning curves and the weight histogram into the run as PNG files. The
            curves are logged as metric series, which the MLflow UI charts, either way; rendering costs more
            than the rest of a small run's logging together (see `make bench`). Defaults to False.
        log_model: also log the trained model to the run in MLflow's Keras flavor (`regstudy.load_model`
            gives it back). Defaults to False.
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
    log_model: bool = False

    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "experiment": PlainName(),
        "run_name": OrNone(PlainName()),
        "train_size": OrNone(Interval(int, 1, None)),
        "validation_fraction": Interval(float, 0, 0.9, closed="right"),
        "test_fraction": Interval(float, 0, 0.9, closed="right"),
        "split_seed": SEED,
        "folds": OrNone(Interval(int, 2, 1_000, limit=True)),
        "fold": Interval(int, 0, None),
        "model": Options(MODELS, kind="model"),
        "hidden_units": IntegerList(Interval(int, 1, 100_000, limit=True)),
        "filters": IntegerList(Interval(int, 1, 10_000, limit=True)),
        "activation": Options(ACTIVATIONS, kind="activation"),
        "optimizer": Options(tuple(OPTIMIZERS), kind="optimizer"),
        "learning_rate": Interval(float, 0, None, closed="right"),
        "batch_size": Interval(int, 1, 1_000_000, limit=True),
        "epochs": Interval(int, 1, 100_000, limit=True),
        "seed": SEED,
        "engine": Registered(ENGINES),
        "figures": Boolean(),
        "log_model": Boolean(),
    }
    """The valid values of every parameter but `dataset`, `dataset_options` and `plugins`, which their
    registries check."""

    def __post_init__(self):
        # The data set and the plugins are built once here, to check them, and not kept: a RunConfig is a value.
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "dataset":
                value = Options(tuple(DATASETS.names()), kind="data set").check("dataset", value)
            elif item.name == "dataset_options":
                dataset = _dataset(self.dataset, value)
                value = dataset.get_config()
            elif item.name == "plugins":
                plugins = build_plugins(value)
                value = {plugin.name: plugin.get_config() for plugin in plugins}
            else:
                value = self.parameter_constraints[item.name].check(item.name, value)
            object.__setattr__(self, item.name, value)
        if self.validation_fraction + self.test_fraction >= 1:
            raise ConfigError(
                "validation_fraction",
                self.validation_fraction,
                "leaves no training data: validation_fraction + test_fraction must be < 1",
            )
        check_number("fold", self.fold, maximum=(self.folds or 1) - 1, integer=True)
        if self.model == "cnn" and dataset.image_shape is None:
            raise ConfigError("model", self.model, f"needs image data, but '{self.dataset}' is not images")
        if self.model == "resmlp" and not self.hidden_units:
            raise ConfigError("hidden_units", self.hidden_units, "is empty, but a resmlp needs one size per block")
        Combination(plugins).check(self._description(dataset))
        check_installed(self.engine)
        for plugin in plugins:
            if self.engine in plugin.refused_engines:
                why = f"cannot train plugin '{plugin.name}': {plugin.refused_engines[self.engine]}; use engine: graph"
                raise ConfigError("engine", self.engine, why)
        ensembles = [plugin.name for plugin in plugins if plugin.final_predictions]
        if self.log_model and ensembles:
            why = f"cannot save the model of '{ensembles[0]}': its final predictions are an ensemble's, not a model's"
            raise ConfigError("log_model", self.log_model, why)
        # A training set larger than the data is refused now, not when the run starts.
        check_sizes(dataset, self.train_size, self.validation_fraction, self.test_fraction, self.folds)

    @classmethod
    def from_mapping(cls, mapping: Any, source: str | None = None, folder: str | Path | None = None) -> RunConfig:
        """Build from a mapping of parameter names, every error naming `source` (a file) and the key; a relative
        path among the data set's options (`Dataset.path_options`) is resolved against `folder`, if given."""
        if not isinstance(mapping, dict):
            raise ConfigError(None, mapping, "expected a mapping of parameter names to values", source)
        names = cls.names()
        try:
            check_keys(mapping, names)
            return cls(**resolve_paths(mapping, folder))
        except ConfigError as error:
            raise error.located(source=source) from None

    @classmethod
    def names(cls) -> list[str]:
        """The parameters' names, in order."""
        return [item.name for item in dataclasses.fields(cls)]

    @classmethod
    def parameters_in(cls, namespace: dict[str, Any]) -> dict[str, Any]:
        """The run parameters among `namespace`'s variables, e.g. the training notebook's `globals()` after its
        `parameters` cell: the notebook passes them on without naming each."""
        return {name: namespace[name] for name in cls.names() if name in namespace}

    def digest(self) -> str:
        """What identifies these validated parameters: a SHA-256 of `to_dict()` as JSON (see `trusted`)."""
        return _digest(self.to_dict())

    @classmethod
    def trusted(cls, parameters: dict[str, Any], digest: str | None) -> RunConfig:
        """The config of `parameters`, validated only if `digest` is not theirs.

        A process that validated a config and hands it to another (`regstudy run` and sweeps to the training
        notebook's kernel, through papermill, which passes plain values) passes `to_dict()` with `digest()`;
        the receiver then takes the values as they are instead of validating them again. Parameters changed
        on the way (a rerun of the executed notebook with an edited value) no longer match the digest, and are
        validated. The digest guards against accidents, not against a hand-made one: it is no signature.
        """
        if digest is None or set(parameters) != set(cls.names()) or _digest(parameters) != digest:
            return cls.from_mapping(parameters)
        config = object.__new__(cls)
        for name, value in parameters.items():
            object.__setattr__(config, name, value)
        return config

    def description(self) -> RunDescription:
        """What the run's plugins may know of it (`Plugin.check`)."""
        return self._description(_dataset(self.dataset, self.dataset_options))

    def _description(self, dataset: Dataset) -> RunDescription:
        cnn_blocks = len(self.filters) if self.model == "cnn" else 0
        return RunDescription(
            task=dataset.task,
            dataset=self.dataset,
            images=dataset.image_shape is not None,
            model=self.model,
            hidden_dense_layers=len(self.hidden_units),
            hidden_layers=len(self.hidden_units) + cnn_blocks,
            residual_blocks=len(self.hidden_units) if self.model == "resmlp" else 0,
            epochs=self.epochs,
            plugins=tuple(self.plugins),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, resolved: defaults filled in, plugins with all their hyperparameters."""
        return dataclasses.asdict(self)

    def params(self) -> dict[str, str]:
        """The run's MLflow params: run-level ones by name, plugin and data set options prefixed by their
        owner (`l2.l2`, `linear.n_features`)."""
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


def _digest(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:32]


def resolve_paths(mapping: dict[str, Any], folder: str | Path | None) -> dict[str, Any]:
    """`mapping` (run parameters) with each relative path among its data set options (`Dataset.path_options`)
    made relative to `folder` instead: the folder of the file that gives them."""
    options = mapping.get("dataset_options")
    if folder is None or not isinstance(options, dict):
        return mapping
    name = mapping.get("dataset")
    path_options = DATASETS.get(name).path_options if name in DATASETS.names() else ()
    resolved = {
        key: str(Path(folder) / value)
        if key in path_options and isinstance(value, str) and value and not Path(value).is_absolute()
        else value
        for key, value in options.items()
    }
    return {**mapping, "dataset_options": resolved}


def _dataset(name: str, options: Any) -> Dataset:
    """The data set `name` with `options`, checked."""
    if not isinstance(options, dict):
        raise ConfigError("dataset_options", options, "expected a mapping of data set options")
    with _under("dataset_options"):
        return DATASETS.get(name).create(options)


def build_plugins(plugins: Any) -> list[Plugin]:
    """The plugins the `plugins` parameter names (a mapping, a list or "a + b"), each built and checked."""
    if isinstance(plugins, str):
        plugins = [name.strip() for name in plugins.split("+") if name.strip()]
    if isinstance(plugins, (list, tuple)):
        if len(set(plugins)) != len(plugins):
            raise ConfigError("plugins", plugins, "names a plugin twice")
        plugins = {name: {} for name in plugins}
    if not isinstance(plugins, dict):
        raise ConfigError("plugins", plugins, "expected a mapping of plugin names to hyperparameters")
    built: dict[str, Plugin] = {}
    for name, options in (plugins or {"none": {}}).items():
        with _under("plugins"):
            plugin_class = PLUGINS.get(name)
        if plugin_class.name in built:  # two aliases of one plugin
            raise ConfigError("plugins", list(plugins), f"names plugin '{plugin_class.name}' twice")
        with _under(f"plugins.{name}"):
            built[plugin_class.name] = plugin_class.create(options or {})
    return list(built.values())


@contextlib.contextmanager
def _under(prefix: str) -> Iterator[None]:
    """Place any ConfigError the block raises under the key `prefix`, e.g. `plugins.l2`."""
    try:
        yield
    except ConfigError as error:
        raise error.located(prefix=prefix) from None


SPLIT_PARAMETERS = (
    "dataset",
    "dataset_options",
    "train_size",
    "validation_fraction",
    "test_fraction",
    "split_seed",
    "folds",
    "fold",
)
"""The parameters of a run that its train, validation and test sets are made from (`splits_for`)."""


def splits_for(config: RunConfig) -> Splits:
    """The train, validation and test sets of the run `config` describes, from its `SPLIT_PARAMETERS`."""
    dataset = DATASETS.get(config.dataset).from_config(config.dataset_options)
    return split(
        dataset,
        config.train_size,
        config.validation_fraction,
        config.test_fraction,
        config.split_seed,
        config.folds,
        config.fold,
    )


def load_params_file(path: str | Path) -> RunConfig:
    """Read and validate a parameters file (YAML) for one run; an empty file is refused, not run on defaults."""
    return RunConfig.from_mapping(read_mapping(path), source=str(path), folder=Path(path).resolve().parent)
