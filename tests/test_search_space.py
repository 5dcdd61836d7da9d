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


def _trials(space, seed, count=30, learning_rate=True):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
    drawn = []

    def objective(trial):
        parameters = space.suggest(trial)
        drawn.append(parameters)
        RunConfig(**parameters)  # every draw is a valid run
        rates = sum(options.get("rate", 0) for options in parameters["plugins"].values())
        return (parameters["learning_rate"] if learning_rate else 0) + rates + len(parameters["plugins"])

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
        ({"plugins": {"swa": {}, "ema": {}}}, "space.plugins", "put them in a `one_of` group to try each"),
        ({"plugins": {"swa": {}}, "one_of": "swa"}, "space.one_of", "expected a list of groups"),
        ({"plugins": {"swa": {}}, "one_of": [["swa"]]}, "space.one_of[0]", "expected two or more plugins"),
        ({"plugins": {"swa": {}}, "one_of": [["swa", "ema"]]}, "space.one_of[0]", "is not a plugin of the space"),
        ({"plugins": {"swa": {}}, "one_of": [["swa", "emma"]]}, "space.one_of[0]", "did you mean 'ema'"),
        (
            {"plugins": {"swa": {}, "ema": {}, "mixup": {}}, "one_of": [["swa", "ema"], ["ema", "mixup"]]},
            "space.one_of[1]",
            "is in two groups",
        ),
        (
            {"plugins": {"swa": {"optional": False}, "ema": {}}, "one_of": [["swa", "ema"]]},
            "space.plugins.swa.optional",
            "a plugin of a group is optional",
        ),
    ],
)
def test_every_mistake_in_a_space_is_one_line_naming_the_key(space, key, fragment):
    with pytest.raises(ConfigError) as caught:
        SearchSpace.from_mapping(space)
    assert caught.value.key == key
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_one_of_group_puts_at_most_one_of_its_plugins_in_each_trial_and_each_in_some():
    space = SearchSpace.from_mapping(
        {
            "plugins": {"swa": {"start_epoch": {"integer": [1, 3]}}, "ema": {}, "snapshot_ensemble": {}, "l2": {}},
            "one_of": [["swa", "ema", "snapshot_ensemble"]],
        }
    )
    drawn, study = _trials(space, seed=0, count=40, learning_rate=False)
    chosen = [set(parameters["plugins"]) & {"swa", "ema", "snapshot_ensemble"} for parameters in drawn]
    assert all(len(names) <= 1 for names in chosen)  # swa, ema and snapshot ensembles each set the final model
    assert {name for names in chosen for name in names} == {"swa", "ema", "snapshot_ensemble"}
    assert any(not names for names in chosen)  # "none" is a choice
    for parameters, trial in zip(drawn, study.trials):
        assert trial.params["one_of.swa,ema,snapshot_ensemble"] in ("none", *parameters["plugins"])
        assert ("swa.start_epoch" in trial.params) == ("swa" in parameters["plugins"])


def test_a_grid_covers_each_choice_of_a_group():
    space = SearchSpace.from_mapping({"plugins": {"mixup": {}, "cutout": {}}, "one_of": [["mixup", "cutout"]]})
    assert space.grid() == {"one_of.mixup,cutout": ["none", "mixup", "cutout"]}


@pytest.mark.parametrize(
    "space, varies",
    [
        ({"learning_rate": 0.01, "plugins": {"l2": {"optional": False, "l2": 1e-4}}}, False),  # all fixed
        ({"learning_rate": {"log_uniform": [1e-4, 1e-2]}}, True),
        ({"plugins": {"l2": {"l2": 1e-4}}}, True),  # optional: on in some trials, off in others
        ({"plugins": {"l2": {"optional": False, "l2": {"log_uniform": [1e-6, 1e-2]}}}}, True),
    ],
)
def test_a_space_varies_when_two_trials_can_draw_differently(space, varies):
    parsed = SearchSpace.from_mapping(space)
    assert parsed.varies is varies
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [parsed.suggest(study.ask()) for _ in range(8)]
    assert (len({repr(d) for d in drawn}) > 1) is varies  # what Optuna draws agrees
