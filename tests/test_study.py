"""The study files shipped in params/ are valid and cover what they promise."""

from regstudy import PLUGINS
from regstudy.study import load_study

from helpers import ROOT


def test_the_default_study_runs_every_regularizer_at_three_strengths_and_three_seeds():
    study = load_study(ROOT / "params" / "default-study.yaml")
    methods = {run.config.plugin_label for run in study.runs}
    assert methods == {name for name in PLUGINS.names() if PLUGINS.get(name).regularizer}
    for method in methods - {"none"}:
        variants = {run.id for run in study.runs if run.config.plugin_label == method}
        assert len(variants) >= 3, method
    assert {run.seed for run in study.runs} == {0, 1, 2}
    assert len(study.runs) == study.variant_count * 3


def test_every_shipped_study_file_is_valid():
    for path in (ROOT / "params").glob("*study*.yaml"):
        assert load_study(path).runs, path
