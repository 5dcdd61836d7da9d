"""Splitting a data set into fixed train, validation and test sets (and folds), and checking sizes first."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from regstudy.data.base import Dataset, load_arrays
from regstudy.errors import ConfigError, brief


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


def check_sizes(
    dataset: Dataset, train_size: int | None, validation_fraction: float, test_fraction: float, folds: int | None
) -> None:
    """Refuse split sizes the data set cannot give, without splitting it.

    Counts as scikit-learn's `train_test_split` does: a fraction `f` of `n` examples holds `ceil(f·n)`.
    """
    examples, classes, smallest = _counts(dataset)
    if dataset.task == "classification" and smallest[1] < 2:
        label, count = smallest
        problem = f"has a class ({brief(label)}) with {count} example: a stratified split needs at least 2 of each"
        raise ConfigError("dataset", dataset.name, problem)
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


def _counts(dataset: Dataset) -> tuple[int, int, tuple]:
    """The number of examples and of distinct targets of a data set, and its rarest target with its count."""
    _, y = load_arrays(dataset)
    values, counts = np.unique(y, return_counts=True)
    return len(y), len(values), (values[np.argmin(counts)].item(), int(counts.min()))


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
