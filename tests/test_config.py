"""`RunConfig`: a frozen value whose every parameter is checked against its declared range."""

import dataclasses

import pytest

from regstudy import ConfigError, RunConfig

_DECLARED = RunConfig.parameter_constraints


def test_every_parameter_is_declared_or_checked_by_its_registry():
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    assert set(_DECLARED) == fields - {"dataset", "dataset_options", "plugins"}
    defaults = RunConfig()
    for key, constraint in _DECLARED.items():
        assert constraint.check(key, getattr(defaults, key)) == getattr(defaults, key), key


@pytest.mark.parametrize(
    "key, value",
    [
        pytest.param(key, value, id=f"{key}={value!r}")
        for key, constraint in _DECLARED.items()
        for value in constraint.invalid_values()
    ],
)
def test_every_value_outside_a_declared_range_is_refused_naming_its_key(key, value):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{key: value})
    assert caught.value.key == key or caught.value.key.startswith(f"{key}[")  # a list names the item: filters[0]
    assert "\n" not in str(caught.value)


def test_a_run_config_is_frozen_and_holds_normalised_values():
    config = RunConfig(learning_rate=1, hidden_units=8, plugins="l2")
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.hidden_units == [8] and config.plugins == {"l2": {"l2": 0.001}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
