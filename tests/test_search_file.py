"""Search files are checked whole before a trial runs; each mistake is one line naming the file and the key."""

import pytest

from regstudy import ConfigError
from regstudy.search_file import load_search

VALID = """
name: cocktail-digits
parameters: {dataset: digits, train_size: 300, hidden_units: [64], epochs: 5}
space:
  learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
  plugins:
    l2: {l2: {log_uniform: [1.0e-6, 1.0e-2]}}
    mixup: {alpha: {uniform: [0.1, 0.4]}}
objective: val_accuracy
trials: 12
sampler: {name: random, seed: 7}
pruner: hyperband
"""


def _write(tmp_path, text):
    path = tmp_path / "search.yaml"
    path.write_text(text)
    return path


def test_a_search_file_gives_its_fixed_parameters_space_objective_and_budget(tmp_path):
    search = load_search(_write(tmp_path, VALID))
    assert (search.name, search.objective, search.direction) == ("cocktail-digits", "val_accuracy", "maximize")
    assert (search.trials, search.sampler, search.seed, search.pruner) == (12, "random", 7, "hyperband")
    assert search.parameters["hidden_units"] == [64] and search.parameters["epochs"] == 5
    assert [plugin.name for plugin in search.space.plugins] == ["l2", "mixup"]


def test_defaults_are_tpe_seed_0_median_pruning_and_losses_are_minimized(tmp_path):
    text = "name: s\nparameters: {dataset: diabetes}\nspace: {learning_rate: {uniform: [0.001, 0.01]}}\n"
    search = load_search(_write(tmp_path, text + "objective: val_mse\n"))
    assert (search.sampler, search.seed, search.pruner, search.trials) == ("tpe", 0, "median", 20)
    assert search.direction == "minimize"


@pytest.mark.parametrize(
    "change, key, fragment",
    [
        (("trials: 12", "trial: 12"), "trial", "did you mean 'trials'"),
        (
            ("objective: val_accuracy", "objective: accuracy"),
            "objective",
            "valid objectives are: val_accuracy, val_loss",
        ),
        (("trials: 12", "trials: 0"), "trials", "expected an integer >= 1"),
        (("{name: random, seed: 7}", "{name: bayes}"), "sampler.name", "valid samplers are: grid, random, tpe"),
        (("{name: random, seed: 7}", "{name: tpe, sed: 1}"), "sampler.sed", "did you mean 'seed'"),
        (("pruner: hyperband", "pruner: asha"), "pruner", "valid pruners are: hyperband, median, none, wilcoxon"),
        (("epochs: 5", "epochs: -5"), "epochs", "expected an integer >= 1"),
        (("alpha: {uniform: [0.1, 0.4]}", "alpha: {uniform: [-0.1, 0.4]}"), "space.plugins.mixup.alpha", "(got -0.1)"),
        (("dataset: digits", "dataset: wine"), "train_size", "at most the 106 examples"),
    ],
)
def test_every_mistake_in_a_search_file_names_the_file_and_the_key(tmp_path, change, key, fragment):
    path = _write(tmp_path, VALID.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_search(path)
    message = str(caught.value)
    assert caught.value.key == key and message.startswith(f"{path}: key '{key}'") and fragment in message


def test_a_plugin_that_cannot_act_on_the_fixed_run_is_refused_before_any_trial(tmp_path):
    on_wine = VALID.replace("dataset: digits, train_size: 300", "dataset: wine")
    assert load_search(_write(tmp_path, on_wine)).space  # mixup acts on tables too
    with pytest.raises(ConfigError) as caught:
        load_search(_write(tmp_path, on_wine.replace("mixup: {alpha: {uniform: [0.1, 0.4]}}", "cutmix: {}")))
    assert caught.value.key == "space.plugins.cutmix"
    assert "acts on images, but 'wine' is not image data" in str(caught.value)


def test_every_search_file_in_params_is_valid():
    from helpers import ROOT

    files = sorted((ROOT / "params").glob("search-*.yaml"))
    assert files, "params/ ships an example search"
    for path in files:
        assert load_search(path).trials >= 1
