"""Your own data: `table` (a CSV or Parquet file) and `arrays` (a NumPy `.npz` file).

Every problem with a file is a one-line `ConfigError` naming the option, the file and the column or key:
a missing or empty file, one too large for this machine's free memory, a missing target, a target with one
class, a column that mixes numbers and text. A relative path is resolved against the parameters file that
names it (`Dataset.path_options`), so a study and its data travel together.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from regstudy.data.base import DATASETS, Dataset, load_arrays
from regstudy.errors import _NO_VALUE, ConfigError, brief
from regstudy.validation import ALLOW_LARGE_VARIABLE, ListOf, Options, OrNone, PlainName, limits_lifted

TASKS = ("classification", "regression")
MEMORY_SHARE = 4
"""A file is refused when it is larger than this fraction (1/4) of the free memory: loading a table takes
several times its size on disk."""


def free_memory() -> int:
    """Bytes of memory free now (`os.sysconf`), or a large number where the system does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62


def _check_file(path: str | None, suffixes: tuple[str, ...], what: str) -> Path:
    """The existing, non-empty file `path`, of a size this machine can load."""
    if path is None:
        raise ConfigError("path", None, f"expected the {what} to read (dataset_options.path)")
    file = Path(path)
    if file.suffix.lower() not in suffixes:
        raise ConfigError("path", path, f"expected a {' or '.join(suffixes)} file")
    if not file.is_file():
        raise ConfigError("path", path, "no such file")
    size = file.stat().st_size
    if size == 0:
        raise ConfigError("path", path, "the file is empty")
    if not limits_lifted() and size * MEMORY_SHARE > free_memory():
        raise ConfigError(
            "path",
            path,
            f"the file ({size / 1e9:.1f} GB) is more than 1/{MEMORY_SHARE} of the free memory "
            f"({free_memory() / 1e9:.1f} GB), too large to load (set {ALLOW_LARGE_VARIABLE}=1 to try anyway)",
        )
    return file


def _file_key(path: str | None) -> tuple:
    try:
        stat = Path(path).stat()
        return (stat.st_size, stat.st_mtime_ns)
    except (OSError, TypeError):
        return ()


def _task(y, task: str | None) -> str:
    """The task given, or the one the targets imply: real numbers that are not all whole → regression."""
    if task is not None:
        return task
    values = np.asarray(y)
    if values.dtype.kind == "f" and not np.all(np.mod(values[~np.isnan(values)], 1) == 0):
        return "regression"
    return "classification"


def _targets(y: np.ndarray, task: str, path: str, key: str, name: str) -> np.ndarray:
    """Class indices from 0 (the labels as found, sorted) or real values as float32; errors name `key`."""
    if task == "regression":
        try:
            return np.asarray(y, dtype=np.float32)
        except (TypeError, ValueError):
            raise ConfigError(key, name, f"in {path} is not numeric, so it cannot be regressed") from None
    labels, indices = np.unique(np.asarray(y).astype(str) if y.dtype == object else y, return_inverse=True)
    if len(labels) < 2:
        raise ConfigError(key, name, f"in {path} has one class only ({brief(labels[0].item())}): nothing to learn")
    return indices.astype(np.int64)


class _UserFile(Dataset):
    """A data set read from the user's file `path`: checked when built (`validate` loads it), read once per
    process for each version of the file (its size and modification time), its task given or decided from the
    targets as read (`_raw_targets`)."""

    path_options = ("path",)

    def validate(self):
        # Every problem with the file surfaces now, before a run starts; the arrays are kept for the run.
        load_arrays(self)

    def cache_key(self):
        return (*super().cache_key(), _file_key(self.path))

    @property
    def task(self) -> str:
        return _task(self._raw_targets(), self._task) if self._loadable() else self._task

    @task.setter
    def task(self, value):
        self._task = value

    def _loadable(self) -> bool:
        return self.path is not None and Path(self.path).is_file()

    def _read_once(self):
        """What `_read()` gives for this file's current version, read again only when the file changed."""
        key = (self.path, _file_key(self.path))
        last = _LAST_READ.get(type(self))
        if last is None or last[0] != key:
            last = _LAST_READ[type(self)] = (key, self._read())
        return last[1]


_LAST_READ: dict = {}
"""Of each kind of user file, the last one read: its path and version, and what was read."""


@DATASETS.register("table")
class Table(_UserFile):
    """Your own table: a CSV or Parquet file, one row per example and one column the target.

    Numeric columns are imputed with the median and standardized; other columns are imputed with the most
    frequent value and one-hot encoded (categories unseen in training become all zeros). Both are fitted on
    the training split only (scikit-learn's `ColumnTransformer`). Class labels may be any values: they are
    numbered in sorted order.

    Args:
        path: the `.csv` or `.parquet` file; relative to the parameters file that names it.
        target: the column to predict.
        task: "classification" or "regression", or None to decide from the target: real numbers that are
            not all whole make a regression. Defaults to None.
        drop: columns left out of the features (identifiers, leaks), or None. Defaults to None.
    """

    parameter_constraints = {
        "path": OrNone(PlainName()),
        "target": OrNone(PlainName()),
        "task": OrNone(Options(TASKS, kind="task")),
        "drop": OrNone(ListOf(PlainName())),
    }

    def __init__(self, path=None, target=None, task=None, drop=None):
        self.path = path
        self.target = target
        self.task = task
        self.drop = drop

    def get_config(self):
        return {"path": self.path, "target": self.target, "task": self._task, "drop": self.drop}

    def _loadable(self) -> bool:
        return self.target is not None and super()._loadable()

    def _frame(self):
        """The whole table as pandas reads it, checked."""
        return self._read_once()

    def _raw_targets(self):
        return self._frame()[self.target].to_numpy()

    def _read(self):
        import pandas as pd

        file = _check_file(self.path, (".csv", ".parquet"), "CSV or Parquet file")
        try:
            frame = pd.read_parquet(file) if file.suffix.lower() == ".parquet" else pd.read_csv(file)
        except pd.errors.EmptyDataError:
            raise ConfigError("path", self.path, "the file has no columns") from None
        except (ValueError, OSError, pd.errors.ParserError) as error:
            raise ConfigError("path", self.path, f"cannot be read: {brief(str(error).splitlines()[0])}") from None
        if frame.empty:
            raise ConfigError("path", self.path, "the file has a header but no rows")
        return frame

    def _features(self):
        """The feature columns, checked: every column but the target and `drop`."""
        frame = self._frame()
        columns = [str(column) for column in frame.columns]
        listed = f"{self.path}; its columns are {brief(columns)}"
        if self.target is None:
            raise ConfigError("target", None, f"expected the column to predict, in {listed}")
        if self.target not in columns:
            raise ConfigError("target", self.target, f"is not a column of {listed}")
        for column in self.drop or []:
            if column not in columns:
                raise ConfigError("drop", column, f"is not a column of {listed}")
        features = frame.drop(columns=[self.target, *(self.drop or [])])
        if features.shape[1] == 0:
            raise ConfigError("path", self.path, "has no feature columns besides the target and those dropped")
        for column in features.columns:
            _check_parsed(features[column], self.path)
            _check_finite(features[column], f"columns.{column}", self.path)
        return features

    def arrays(self):
        features = self._features()
        y = self._frame()[self.target]
        missing = np.flatnonzero(y.isna().to_numpy())
        if len(missing):
            rows = ", ".join(str(row + 2) for row in missing[:5])  # line numbers: the header is line 1
            raise ConfigError("target", self.target, f"in {self.path} is missing on {len(missing)} rows (lines {rows})")
        _check_finite(y, "target", self.path)
        return features, _targets(y.to_numpy(), self.task, self.path, "target", self.target)

    def preprocessor(self):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        features = self._features()
        numeric = [column for column in features.columns if features[column].dtype.kind in "biuf"]
        categorical = [column for column in features.columns if column not in numeric]
        return ColumnTransformer(
            [
                ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                (
                    "categorical",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    ),
                    categorical,
                ),
            ],
            sparse_threshold=0.0,
        )


def _check_finite(column, key: str, path: str) -> None:
    """Refuse a numeric column holding an infinite value (`inf` in a CSV), naming its first line."""
    if column.dtype.kind not in "f":
        return
    infinite = np.flatnonzero(np.isinf(column.to_numpy()))
    if len(infinite):
        line = infinite[0] + 2  # the header is line 1
        raise ConfigError(
            key, float(column.iloc[infinite[0]]), f"in {path} (line {line}) is infinite: a number is needed"
        )


def _check_parsed(column, path: str) -> None:
    """Refuse a text column most of whose values are numbers: a number that did not parse, not a category."""
    import pandas as pd

    if column.dtype.kind in "biufcmM":  # numbers, booleans, dates: parsed
        return
    values = column.dropna().astype(str)
    numbers = pd.to_numeric(values, errors="coerce")
    if len(values) and numbers.notna().mean() > 0.5:
        bad = values[numbers.isna()]
        row = column.index.get_loc(bad.index[0]) + 2  # the line in the file: the header is line 1
        raise ConfigError(
            f"columns.{column.name}",
            bad.iloc[0],
            f"in {path} (line {row}) is not a number, though most of the column is: fix or remove it",
        )


@DATASETS.register("arrays")
class Arrays(_UserFile):
    """Your own arrays: a NumPy `.npz` file holding `x` (examples × features, or examples × height × width
    for images) and `y` (one target per example), and optionally `image_shape` (height, width) for flat `x`.

    The features are used as they are (cast to float32); class labels may be any values, numbered in sorted
    order. Images make `model: cnn` and the image plugins available.

    Args:
        path: the `.npz` file; relative to the parameters file that names it.
        task: "classification" or "regression", or None to decide from `y` as `table` does. Defaults to None.
    """

    parameter_constraints = {"path": OrNone(PlainName()), "task": OrNone(Options(TASKS, kind="task"))}

    def __init__(self, path=None, task=None):
        self.path = path
        self.task = task

    @property
    def image_shape(self):
        return self._load()["image_shape"] if self._loadable() else None

    def get_config(self):
        return {"path": self.path, "task": self._task}

    def _load(self) -> dict:
        """The file's checked arrays: `x`, `y` and `image_shape`."""
        return self._read_once()

    def _raw_targets(self):
        return self._load()["y"]

    def _read(self) -> dict:
        found = _npz_arrays(_check_file(self.path, (".npz",), ".npz file"), self.path)
        for name in ("x", "y"):
            if name not in found:
                raise ConfigError(f"arrays.{name}", None, f"is missing from {self.path}, which holds: {sorted(found)}")
        x, y = found["x"], np.ravel(found["y"])
        if x.dtype.kind not in "biuf":
            raise ConfigError("arrays.x", x.dtype.name, f"in {self.path} is not numeric")
        if y.dtype.kind not in "biufUS":
            raise ConfigError("arrays.y", y.dtype.name, f"in {self.path}: expected numbers or text labels")
        if len(x) != len(y):
            raise ConfigError("arrays.y", len(y), f"targets in {self.path}, but x has {len(x)} examples")
        image_shape = None
        if x.ndim == 3:
            image_shape, x = tuple(int(n) for n in x.shape[1:]), x.reshape(len(x), -1)
        elif x.ndim != 2:
            raise ConfigError(
                "arrays.x", list(x.shape), f"in {self.path}: expected examples × features or × height × width"
            )
        if x.shape[1] == 0:
            raise ConfigError("arrays.x", list(x.shape), f"in {self.path} has no features")
        if "image_shape" in found:
            image_shape = _image_shape(found["image_shape"], x.shape[1], self.path)
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ConfigError(
                "arrays.x", int((~np.isfinite(x)).sum()), f"values of x in {self.path} are NaN or infinite"
            )
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            rows = ", ".join(str(row) for row in np.flatnonzero(~np.isfinite(y))[:5])
            problem = f"targets in {self.path} are NaN or infinite (examples {rows}): a target is needed for each"
            raise ConfigError("arrays.y", int((~np.isfinite(y)).sum()), problem)
        return {"x": x, "y": y, "image_shape": image_shape}

    def arrays(self):
        found = self._load()
        return found["x"], _targets(found["y"], self.task, self.path, "arrays.y", "y")


def _npz_arrays(file: Path, path: str) -> dict[str, np.ndarray]:
    """Every member of an `.npz` archive, each one's header read and its size checked before its data is.

    Pickled objects are never loaded (`allow_pickle=False`); a member that would take more than 1/4 of the free
    memory is refused as a file of that size is.
    """
    import zipfile

    if not zipfile.is_zipfile(file):
        problem = "is not an .npz archive (a zip of .npy arrays, as numpy.savez writes), or is damaged"
        raise ConfigError("path", path, problem)
    try:
        with zipfile.ZipFile(file) as archive:
            for info in archive.infolist():
                _check_member(archive, info, path)
        with np.load(file, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except ConfigError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ConfigError("path", path, f"cannot be read as .npz: {brief(str(error))}") from None


def _check_member(archive, info, path: str) -> None:
    """Refuse a member of an `.npz` archive that is not a `.npy` array, holds objects, or is too large to load."""
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
        except ValueError:
            raise ConfigError(f"arrays.{name}", _NO_VALUE, f"in {path} is not a NumPy array (.npy)") from None
    if dtype.hasobject:
        raise ConfigError(f"arrays.{name}", _NO_VALUE, f"in {path} holds Python objects, which are never loaded")
    size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if not limits_lifted() and size * MEMORY_SHARE > free_memory():
        raise ConfigError(
            f"arrays.{name}",
            list(shape),
            f"in {path} would take {size / 1e9:.1f} GB, more than 1/{MEMORY_SHARE} of the free memory "
            f"({free_memory() / 1e9:.1f} GB) (set {ALLOW_LARGE_VARIABLE}=1 to try anyway)",
        )


def _image_shape(value: np.ndarray, features: int, path: str) -> tuple[int, int]:
    """The `image_shape` member: two positive whole numbers whose product is the number of features."""
    shape = np.ravel(value)
    if shape.dtype.kind not in "iu" or len(shape) != 2 or (shape <= 0).any():
        raise ConfigError("arrays.image_shape", shape.tolist(), f"in {path}: expected two positive whole numbers")
    if shape[0] * shape[1] != features:
        raise ConfigError("arrays.image_shape", shape.tolist(), f"in {path} does not make the {features} features")
    return int(shape[0]), int(shape[1])
