"""environment.yml describes the same environment as pyproject.toml (with its default, CPU-only TensorFlow)."""

import tomllib

import yaml

from helpers import ROOT


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["cpu"]) | set(extras["test"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert set(pip) - {"-e ."} == wanted
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert python == "python" + project["requires-python"]
