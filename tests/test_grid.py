"""Grid expansion: alternatives, plugin-scoped dotted keys, and the errors a study file can contain."""

import pytest

from regstudy import ConfigError
from regstudy.grid import expand_block
from regstudy.study import load_study


def test_dotted_keys_multiply_only_the_combinations_that_contain_their_plugin():
    runs = expand_block(
        {"plugins": ["none", "l2", "l2 + dropout"], "l2.l2": [1, 2], "dropout.rate": [0.1, 0.2, 0.3], "epochs": 4}
    )
    assert [r["plugins"] for r in runs] == [
        {"none": {}},
        {"l2": {"l2": 1}},
        {"l2": {"l2": 2}},
        *[{"l2": {"l2": l2}, "dropout": {"rate": rate}} for l2 in (1, 2) for rate in (0.1, 0.2, 0.3)],
    ]
    assert all(r["epochs"] == 4 for r in runs)


def test_plain_lists_are_alternatives_and_list_valued_parameters_are_lists_of_lists():
    runs = expand_block(
        {"hidden_units": [[8], [16, 16]], "learning_rate": [0.1, 0.01], "dataset_options.noise": [0.0, 1.0]}
    )
    assert len(runs) == 8
    assert {tuple(r["hidden_units"]) for r in runs} == {(8,), (16, 16)}
    assert {r["dataset_options"]["noise"] for r in runs} == {0.0, 1.0}


def test_a_dotted_key_for_a_plugin_no_combination_contains_is_refused():
    with pytest.raises(ConfigError, match="names plugin 'dropout', which no combination of this block contains"):
        expand_block({"plugins": ["l2"], "dropout.rate": [0.5]})


def _study(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_a_study_expands_over_seeds_and_merges_duplicate_variants(tmp_path):
    study = load_study(
        _study(
            tmp_path,
            (
                "name: s\nparameters: {epochs: 2}\n"
                "grid: {plugins: [none, l2], l2.l2: [0.001, 0.01]}\n"
                "variants:\n  - {plugins: {l2: {l2: 0.001}}}\n  - {plugins: l2}\n"  # both equal to the grid's l2=0.001
                "seeds: [0, 1]\n"
            ),
        )
    )
    assert study.variant_count == 3 and len(study.runs) == 6
    assert sorted(run.label for run in study.runs if run.seed == 0) == ["l2", "l2(l2=0.01)", "none"]
    assert len({run.id for run in study.runs}) == 3  # the seed is not part of the variant id


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: s\ngird: {}\n", "key 'gird': unknown study key; did you mean 'grid'?"),
        ("name: s\n", "key 'grid': the study names no runs"),
        (
            "name: s\ngrid: {plugins: [l2], l2.l2: [1, -1]}\n",
            "grid[0]: key 'plugins.l2.l2': expected a number >= 0 (got -1)",
        ),
        (
            "name: s\nvariants: [{plugins: l2}, {epochs: 0}]\n",
            "variants[1]: key 'epochs': expected an integer >= 1 (got 0)",
        ),
        ("name: s\ngrid: {plugins: [l2], dropout.rate: [0.1]}\n", "key 'grid[0].dropout.rate': names plugin 'dropout'"),
        ("name: s\ngrid: {plugins: [l2]}\nseeds: [0, x]\n", "key 'seeds[1]': expected an integer"),
        ('name: "s\'); import os"\ngrid: {}\n', "key 'name': expected a plain name"),
    ],
)
def test_study_errors_name_the_file_the_variant_and_the_key(tmp_path, text, message):
    path = _study(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)
