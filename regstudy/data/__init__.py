"""Data sets: the base class and registry (`base`), the sets that ship (`builtin`), the user's own files
(`files`: `table` and `arrays`) and splitting into fixed train, validation and test sets (`splitting`).

Importing the package registers the built-ins; a third party's data set registers through the
`regstudy.datasets` entry-point group (see the README, "Adding to regstudy").
"""

from regstudy.data import builtin, files  # noqa: F401  (register the data sets that ship)
from regstudy.data.base import DATASETS, Dataset, load_arrays
from regstudy.data.splitting import Splits, check_sizes, fold_indices, split

__all__ = ["DATASETS", "Dataset", "Splits", "check_sizes", "fold_indices", "load_arrays", "split"]
