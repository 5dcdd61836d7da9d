"""Reading users' YAML files: nothing a small file holds can hang, flood or be silently misread."""

import time

import pytest

from regstudy import ConfigError
from regstudy.config import load_params_file
from regstudy.yaml_files import MAX_FILE_BYTES, read_mapping, read_yaml

# Nine levels of nine aliases: 434 bytes that expand to 9**9 (387 million) strings.
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]" for a, b in zip("abcdefgh", "bcdefghi")]
    + ["run_name: *i"]
)


def _write(tmp_path, content, name="params.yaml"):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def test_aliases_that_expand_beyond_the_bound_are_refused_at_once(tmp_path):
    path = _write(tmp_path, BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 600
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 100,000 values") as caught:
        load_params_file(path)
    assert time.perf_counter() - started < 5  # bounded work, not minutes (a generous bound for a slow machine)
    assert len(str(caught.value)) < 300


def test_a_large_value_is_quoted_briefly_with_its_type_and_size(tmp_path):
    twenty, aliases = ", ".join(["1"] * 20), ", ".join(["*x"] * 999)
    path = _write(tmp_path, f"run_name: [&x [{twenty}], {aliases}]\n")
    with pytest.raises(ConfigError) as caught:
        load_params_file(path)
    message = str(caught.value)
    assert "key 'run_name': expected a plain name" in message and "(list of 1,000 items)" in message
    assert len(message) - len(str(path)) < 250 and "\n" not in message


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    path = _write(tmp_path, "seeds:\n" + "  - 1\n" * (MAX_FILE_BYTES // 6 + 10))
    with pytest.raises(ConfigError, match=f"bytes: a parameters or study file is at most {MAX_FILE_BYTES:,}"):
        read_yaml(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not UTF-8 text (byte 0)"),
        ("", "is empty: expected a mapping of parameter names to values"),
        ("# only a comment\n", "is empty"),
        ("[]", "expected a mapping of parameter names to values (got [])"),
        ("0", "expected a mapping of parameter names to values (got 0)"),
        ("false", "expected a mapping of parameter names to values (got False)"),
        ("epochs: 3\nseed: 1\nepochs: 5\n", "key 'epochs': appears twice in one mapping (lines 1 and 3)"),
        ("plugins:\n  l2: {l2: 0.1, l2: 0.2}\n", "key 'l2': appears twice in one mapping (lines 2 and 2)"),
    ],
)
def test_files_that_cannot_be_meant_are_refused_in_one_line(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        read_mapping(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_what_yaml_users_mean_is_read_as_they_mean_it(tmp_path):
    path = _write(tmp_path, "base: &base {epochs: 3, seed: 1}\nrun: {<<: *base, seed: 2}\nrate: 1e-4\n")
    document = read_yaml(path)
    assert document["run"] == {"epochs": 3, "seed": 2}  # a merge key's values may be overridden
    assert document["rate"] == 1e-4 and isinstance(document["rate"], float)
