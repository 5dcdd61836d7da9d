"""The package's structure, read from its code: the layers written in `regstudy/__init__.py`'s docstring, every
import pointing to its own layer or below, no circle of imports, and no function longer than a screen."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import regstudy

PACKAGE = Path(regstudy.__file__).parent
LONGEST_FUNCTION = 60


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _layers() -> dict[str, int]:
    """Each name the docstring places (a module, or a package and so all its modules) with its layer's number."""
    placed = {}
    for number, names in re.findall(r"^(\d)\. [^:]+: ((?:.|\n   )+)", regstudy.__doc__, re.MULTILINE):
        for name in re.split(r",\s*", names.strip()):
            placed["regstudy" if name == "regstudy" else f"regstudy.{name}"] = int(number)
    return placed


LAYERS = _layers()


def layer_of(module: str) -> int:
    while module not in LAYERS and "." in module:
        module = module.rsplit(".", 1)[0]
    return LAYERS[module]


def imports(module: str, top_level_only: bool = False) -> set[str]:
    """The package's modules `module` imports: at import time (its top level, and the `if` and `try` blocks
    there), or anywhere (lazily in a function too); never under `if TYPE_CHECKING:`, which does not run. An
    import of a name that is a module (`from regstudy.data import splitting`) counts as that module's."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up `level - 1` packages
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names = {f"{base}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(names or {base})
        for child in ast.iter_child_nodes(node):
            lazy = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))  # run when called
            if not (top_level_only and lazy):
                visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in MODULES and name != module}


def test_every_module_has_a_layer_and_every_placed_name_exists():
    assert {name for name in LAYERS if name not in MODULES} == set()
    unplaced = [module for module in MODULES if not any(module == n or module.startswith(n + ".") for n in LAYERS)]
    assert unplaced == [], f"place these in regstudy/__init__.py's layers: {unplaced}"


def test_every_import_points_to_its_own_layer_or_below():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {imported} (layer {layer_of(imported)})"
        for module in MODULES
        for imported in imports(module)
        if layer_of(imported) > layer_of(module)
    ]
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. the circles of imports."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return circles


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    # A package importing its own modules (to register them) and a module importing its package are one unit.
    def related(a, b):
        return a.startswith(b + ".") or b.startswith(a + ".")

    return {m: {i for i in imports(m, top_level_only) if not related(m, i)} for m in MODULES}


@pytest.mark.parametrize("top_level_only", [True, False], ids=["at import time", "lazy imports too"])
def test_no_circle_of_imports(top_level_only):
    assert _circles(_graph(top_level_only)) == []


def test_the_circle_check_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_is_longer_than_a_screen():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert long == []


def test_tensorflow_imported_after_regstudy_leaves_keras_whole():
    """`import regstudy; import tensorflow as tf` in a notebook: no stand-in for Keras in `sys.modules` that
    TensorFlow's import would load half-way (a Keras without `keras.Model`, as `lazy_loader` left it)."""
    code = "import regstudy, sys; assert 'keras' not in sys.modules; import tensorflow, keras; print(keras.Model)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "keras" in done.stdout, done.stderr[-2000:]
