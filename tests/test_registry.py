"""The registry: one-line registration, duplicates refused, wildcards, third-party entry points."""

import subprocess
import sys
import textwrap

import pytest

from regstudy import PLUGINS, Plugin, RegstudyError, UnknownNameError
from regstudy.registry import Registry


def test_register_returns_the_class_and_refuses_a_second_class_under_one_name():
    registry = Registry("thing", group="regstudy.test-none", base=Plugin)

    @registry.register("a")
    class A(Plugin):
        """A."""

    assert registry.get("a") is A and A.name == "a"
    registry.add("a", A)  # the same class again is harmless
    with pytest.raises(RegstudyError, match="already taken"):

        @registry.register("a")
        class B(Plugin):
            """B."""

    with pytest.raises(RegstudyError, match="subclass of Plugin"):
        registry.add("c", dict)


def test_names_filter_with_wildcards():
    assert PLUGINS.names("l*") == ["l1", "l1l2", "l2", "label_smoothing", "lookahead"]
    assert "dropconnect" in PLUGINS.names("drop*")


def test_a_third_party_plugin_is_found_through_its_entry_point(tmp_path):
    """Build and install a real distribution that declares a plugin; regstudy finds it unchanged."""
    source = tmp_path / "source"
    (source / "shrinkage_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "shrinkage-plugin"
        version = "0.1"
        [project.entry-points."regstudy.plugins"]
        shrink = "shrinkage_plugin:Shrink"
    """)
    )
    (source / "shrinkage_plugin" / "__init__.py").write_text(
        textwrap.dedent('''
        import keras
        from regstudy import Plugin
        from regstudy.validation import check_number

        class Shrink(Plugin):
            """A third party's L2 penalty."""

            def __init__(self, strength=0.5):
                self.strength = check_number("strength", strength, minimum=0)

            def kernel_regularizer(self):
                return keras.regularizers.L2(self.strength)
    ''')
    )
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "regstudy.cli", "plugins"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "shrink" in listing and "A third party's L2 penalty." in listing and "strength = 0.5" in listing
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from regstudy import RunConfig; print(RunConfig(plugins={'shrink': {'strength': 2}}).plugins)",
        ],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert check.strip() == "{'shrink': {'strength': 2.0}}"


def test_an_alias_keeps_the_class_name_and_a_name_that_is_no_string_is_one_line():
    registry = Registry("thing", group="regstudy.test-none", base=Plugin)

    @registry.register("first", "second")
    class A(Plugin):
        """A."""

    registry.add("third", A)
    assert A.name == "first" and registry.get("second") is A and registry.get("third") is A
    assert registry.names() == ["first"] and registry.aliases("first") == ["second", "third"]
    for bad in (["a"], None, 3):
        with pytest.raises(UnknownNameError) as caught:
            registry.get(bad)
        assert "\n" not in str(caught.value) and "valid things are: first" in str(caught.value)
    with pytest.raises(RegstudyError, match="non-empty string"):
        registry.add(["b"], A)
