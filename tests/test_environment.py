"""environment.yml describes the same environment as pyproject.toml."""

import tomllib

import yaml

from helpers import ROOT


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | {d for group in project["optional-dependencies"].values() for d in group}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert set(pip) - {"-e ."} == wanted
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert python == "python" + project["requires-python"]
