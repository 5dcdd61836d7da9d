"""The study files shipped in params/ are valid and cover what they promise."""

import time

import pytest

from regstudy import PLUGINS, ConfigError, RunConfig
from regstudy.study import MAX_RUNS, load_study

from helpers import ROOT, model_for


def test_the_default_study_runs_every_regularizer_at_three_strengths_and_sixteen_seeds():
    study = load_study(ROOT / "params" / "default-study.yaml")
    methods = {run.config.plugin_label for run in study.runs}
    assert methods == {name for name in PLUGINS.names() if PLUGINS.get(name).regularizer}
    for method in methods - {"none"}:
        variants = {run.id for run in study.runs if run.config.plugin_label == method}
        assert len(variants) >= (3 if PLUGINS.get(method).parameter_constraints else 1), method
    residual = {name for name in methods if model_for(name) == "resmlp"}
    assert residual and all(run.config.model == "resmlp" for run in study.runs if run.config.plugin_label in residual)
    assert any(run.config.model == "resmlp" for run in study.runs if run.config.plugin_label == "none")
    assert {run.seed for run in study.runs} == set(range(16))
    assert len(study.runs) == study.variant_count * 16


def test_every_shipped_study_file_is_valid():
    for path in (ROOT / "params").glob("*study*.yaml"):
        assert load_study(path).runs, path


def test_a_study_is_counted_before_it_is_expanded_and_refused_above_the_limit(tmp_path, monkeypatch):
    strengths = ", ".join(str(10.0**-k) for k in range(1, 101))  # 100 × 100 strengths × 3 seeds: 30,000 runs
    path = tmp_path / "huge.yaml"
    path.write_text(
        f"name: huge\ngrid: {{plugins: [l1l2], l1l2.l1: [{strengths}], l1l2.l2: [{strengths}]}}\nseeds: [0, 1, 2]\n"
    )
    told = []
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"expands to 30,000 runs, more than the {MAX_RUNS:,}") as caught:
        load_study(path, echo=told.append)
    assert time.perf_counter() - started < 5  # counted, not expanded and validated
    assert told == ["study 'huge': 30,000 runs to validate"] and "--allow-large" in str(caught.value)
    small = tmp_path / "small.yaml"
    small.write_text("name: small\ngrid: {plugins: [none, l2], l2.l2: [0.1, 0.01]}\nseeds: [0, 1]\n")
    told.clear()
    assert len(load_study(small, echo=told.append).runs) == 6 and told == ["study 'small': 6 runs to validate"]


def test_lifting_the_limits_lets_a_large_value_through(monkeypatch):
    with pytest.raises(ConfigError, match="a limit against typos"):
        RunConfig(epochs=200_000)
    monkeypatch.setenv("REGSTUDY_ALLOW_LARGE", "1")
    assert RunConfig(epochs=200_000).epochs == 200_000
