"""A search's trials as its runs see them: Optuna's storage, the pruner, and the link from a run to its trial
(`callbacks.PruningCallback` reports each epoch through it).

A run learns which trial it belongs to from a plain mapping (`TrialLink.to_dict`), which papermill passes to
the training notebook as its `trial` parameter; the kernel opens the search's storage itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna

from regstudy.errors import ConfigError

PRUNED_EPOCH_METRIC = "pruned_at_epoch"
"""The final metric of a run that the pruner stopped: the last epoch it trained."""


@dataclass(frozen=True)
class TrialLink:
    """Where a run reports: the search's Optuna storage (a URL), study and trial, the epoch metric it reports
    (e.g. `val_accuracy`), and the pruner (name and options, as the search file gives them)."""

    storage: str
    study: str
    trial_id: int
    objective: str
    pruner: str
    pruner_options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def trial(self) -> optuna.Trial:
        """The trial itself, in a study loaded with the search's pruner."""
        study = optuna.load_study(
            study_name=self.study,
            storage=open_storage(self.storage),
            pruner=make_pruner(self.pruner, self.pruner_options),
        )
        return optuna.Trial(study, self.trial_id)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database at `url`. A SQLite file is shared by the search and the kernels of its runs, so it
    waits for a lock instead of failing, and logs ahead so that readers do not wait for the writer."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        database = Path(url[len(prefix) :])
        database.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(database, timeout=60)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def check_storage(url: str) -> None:
    """Open Optuna's database at `url` once, so that a storage that cannot be used is refused in one line
    (`ConfigError` on `--storage`) before a search writes anything: a URL SQLAlchemy cannot parse or whose
    database it does not know, a driver that is not installed, a folder that cannot be created, a file that is
    not a database, a server that refuses."""
    import sqlalchemy.exc

    try:
        open_storage(url)
    except ImportError as error:  # Optuna's, raised from the driver's ModuleNotFoundError
        driver = getattr(error.__cause__ or error.__context__ or error, "name", None) or "its database driver"
        problem = f"needs {driver}, which is not installed: pip install it"
        raise ConfigError("--storage", url, problem) from None
    except sqlalchemy.exc.ArgumentError:
        problem = "is not a database URL SQLAlchemy knows, e.g. sqlite:///optuna.db or postgresql://user@host/db"
        raise ConfigError("--storage", url, problem) from None
    except OSError as error:
        raise ConfigError("--storage", url, f"its folder cannot be created ({error.strerror})") from None
    except (sqlite3.Error, sqlalchemy.exc.SQLAlchemyError) as error:
        problem = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        raise ConfigError("--storage", url, f"cannot be used as Optuna's database ({problem})") from None


def make_pruner(name: str, options: dict[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner a search file names, with its options (see `search_file.PRUNER_OPTIONS`)."""
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=options["startup_trials"], n_warmup_steps=options["warmup_epochs"]
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=options["min_epochs"], reduction_factor=options["reduction_factor"]
        )
    if name == "wilcoxon":
        return optuna.pruners.WilcoxonPruner(p_threshold=options["p_threshold"])
    return optuna.pruners.NopPruner()
