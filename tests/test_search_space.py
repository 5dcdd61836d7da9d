"""Search spaces: parsing and every error, conditional plugin hyperparameters, and Optuna's draws fixed by a seed.

No training here: the objective of these searches is a function of the drawn parameters.
"""

import optuna
import pytest

from regstudy import ConfigError, RunConfig
from regstudy.search_space import Range, SearchSpace

SPACE = {
    "learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]},
    "batch_size": {"categorical": [16, 32, 64]},
    "plugins": {
        "l2": {"l2": {"log_uniform": [1.0e-6, 1.0e-2]}},
        "dropout": {"optional": False, "rate": {"uniform": [0.0, 0.7]}},
        "early_stopping": {"patience": {"integer": [2, 10]}, "monitor": "val_accuracy"},
    },
}


def test_a_space_parses_ranges_fixed_values_and_optional_plugins():
    space = SearchSpace.from_mapping(SPACE)
    assert space.parameters == {
        "learning_rate": Range("log_uniform", (1.0e-4, 1.0e-2)),
        "batch_size": Range("categorical", (16, 32, 64)),
    }
    assert [(p.name, p.optional) for p in space.plugins] == [("l2", True), ("dropout", False), ("early_stopping", True)]
    assert space.plugins[2].hyperparameters == {"patience": Range("integer", (2, 10)), "monitor": "val_accuracy"}


def _trials(space, seed, count=30):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
    drawn = []

    def objective(trial):
        parameters = space.suggest(trial)
        drawn.append(parameters)
        RunConfig(**parameters)  # every draw is a valid run
        return parameters["learning_rate"] + sum(options.get("rate", 0) for options in parameters["plugins"].values())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=count)
    return drawn, study


def test_a_plugins_hyperparameters_exist_only_in_the_trials_where_it_is_on():
    drawn, study = _trials(SearchSpace.from_mapping(SPACE), seed=0)
    for parameters, trial in zip(drawn, study.trials):
        assert "dropout" in parameters["plugins"]  # required
        for name in ("l2", "early_stopping"):
            on = trial.params[f"plugins.{name}"]
            assert (name in parameters["plugins"]) == on
            assert any(key.startswith(f"{name}.") for key in trial.params) == on
    assert {trial.params["plugins.l2"] for trial in study.trials} == {True, False}
    for parameters in drawn:
        assert 1.0e-4 <= parameters["learning_rate"] <= 1.0e-2 and parameters["batch_size"] in (16, 32, 64)
        assert 0.0 <= parameters["plugins"]["dropout"]["rate"] <= 0.7


def test_the_same_seed_draws_the_same_trials_in_the_same_order():
    space = SearchSpace.from_mapping(SPACE)
    first, again, other = (_trials(space, seed)[0] for seed in (3, 3, 4))
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "space, key, fragment",
    [
        ([], "space", "expected a mapping"),
        ({"learning_rat": {"uniform": [0.1, 0.2]}}, "space.learning_rat", "did you mean 'learning_rate'"),
        ({"seed": {"integer": [0, 3]}}, "space.seed", "unknown parameter"),
        ({"learning_rate": {"uniform": [0.1]}}, "space.learning_rate.uniform", "expected [low, high]"),
        ({"learning_rate": {"uniform": [0.2, 0.1]}}, "space.learning_rate.uniform", "expected low < high"),
        ({"learning_rate": {"uniform": [-0.1, 0.1]}}, "space.learning_rate", "expected a number > 0"),
        ({"epochs": {"integer": [1.5, 3]}}, "space.epochs", "expected an integer"),
        ({"batch_size": {"categorical": []}}, "space.batch_size.categorical", "non-empty list"),
        ({"batch_size": {"uniform": [1, 2], "integer": [1, 2]}}, "space.batch_size", "expected one range"),
        ({"plugins": {"l3": {}}}, "space.plugins", "did you mean 'l2'"),
        ({"plugins": {"none": {}}}, "space.plugins.none", "it trains alone"),
        ({"plugins": {"l2": {"l3": 0.1}}}, "space.plugins.l2.l3", "did you mean 'l2'"),
        ({"plugins": {"l2": {"optional": "yes"}}}, "space.plugins.l2.optional", "expected true or false"),
        ({"plugins": {"dropout": {"rate": {"uniform": [0.5, 1.5]}}}}, "space.plugins.dropout.rate", "< 1"),
        ({"plugins": {"swa": {}, "ema": {}}}, "space.plugins", "cannot be in one space: each sets the final model"),
        ({"plugins": {"sam": {}, "fgsm": {}}}, "space.plugins", "each sets the gradients of the training step"),
    ],
)
def test_every_mistake_in_a_space_is_one_line_naming_the_key(space, key, fragment):
    with pytest.raises(ConfigError) as caught:
        SearchSpace.from_mapping(space)
    assert caught.value.key == key
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
