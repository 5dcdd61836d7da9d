"""Where regstudy's folders are: the repository's notebooks, parameters files and tracking store."""

from __future__ import annotations

from pathlib import Path


def repository_root() -> Path:
    """The folder holding regstudy's `pyproject.toml` (an editable install), else the working directory."""
    candidate = Path(__file__).resolve().parents[1]
    return candidate if (candidate / "pyproject.toml").is_file() else Path.cwd()


def notebooks_folder() -> Path:
    return repository_root() / "notebooks"


def params_folder() -> Path:
    return repository_root() / "params"
