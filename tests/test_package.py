"""The package surface: ``import jaxbp`` is cheap and gives the submodules."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

import jaxbp

ROOT = pathlib.Path(__file__).parents[1]


def test_import_is_cheap_and_submodules_load_on_first_use():
    code = (
        "import sys, jaxbp\n"
        "heavy = [m for m in ('jax', 'matplotlib', 'graphviz', 'jaxbp.layers') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert jaxbp.layers.relu and jaxbp.two_layer_net.loss and jaxbp.graph.buy_apple\n"
        "assert 'matplotlib' not in sys.modules and 'graphviz' not in sys.modules\n"
        "assert {'layers', 'graph', 'train', 'mnist'} <= set(dir(jaxbp))\n"
        "try:\n    jaxbp.no_such_module\nexcept AttributeError as e:\n"
        "    assert 'no_such_module' in str(e)\nelse:\n    raise AssertionError\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_version_is_the_installed_metadata():
    assert jaxbp.__version__ == importlib.metadata.version("jaxbp")
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert jaxbp.__version__ == declared[1], "reinstall: pip install -e .[dev]"


def test_py_typed_is_shipped():
    assert (ROOT / "jaxbp" / "py.typed").is_file()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text()


PACKAGE = ROOT / "jaxbp"


def _module_names() -> list[str]:
    """Every module of the package, from the source tree (``jaxbp.train.cli``, ...)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _module_names()


@pytest.mark.parametrize(
    "name", [m.removeprefix("jaxbp.") for m in MODULES if m != "jaxbp" and "__main__" not in m]
)
def test_every_all_name_exists(name):
    mod = importlib.import_module(f"jaxbp.{name}")
    missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
    assert not missing, f"jaxbp.{name}.__all__ names what it does not define: {missing}"


# ---- the layout: no import cycle, a border, the chapters stacked as the book's -------------
def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str) -> set[str]:
    """The jaxbp modules ``module`` imports when it runs (anywhere in its source, function
    bodies included; ``if TYPE_CHECKING:`` blocks are not run and do not count)."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jaxbp"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxbp"):
            for a in node.names:  # "from jaxbp.train import devices": the submodule itself
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in MODULES and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's first appearance in a depth-first walk (enough to list them)."""
    cycles, state = [], {}

    def walk(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return cycles


GRAPH = {m: _imports(m) for m in MODULES}


def test_the_package_has_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_planted_cycle():
    planted = {**GRAPH, "jaxbp.numerical": GRAPH["jaxbp.numerical"] | {"jaxbp.gradient"}}
    cycles = _cycles(planted)  # a cycle is listed from wherever the walk first met it
    assert any(set(c) == {"jaxbp.gradient", "jaxbp.numerical"} for c in cycles), cycles


#: the modules around the book's: the trainer, the data, the notebooks' bundler
AROUND = ("jaxbp.train", "jaxbp.mnist", "jaxbp.notebooks")
BOOK = [m for m in MODULES if m.count(".") == 1 and m not in AROUND]
MACHINERY = ("jaxbp.train", "jaxbp.mnist")


@pytest.mark.parametrize("module", BOOK)
def test_the_books_modules_never_import_the_trainer_or_the_data(module):
    over = sorted(m for m in GRAPH[module] if m.startswith(MACHINERY))
    assert not over, f"{module} (a module of the book) imports {over}"


#: Each public module of the book and the chapter it belongs to (4: 4.4's numerical gradient).
CHAPTERS = {
    "numerical": 4,
    "graph": 5,
    "drawing": 5,
    "trace": 5,
    "layers": 5,
    "labels": 5,
    "two_layer_net": 5,
    "gradient": 5,
    "reference": 5,
    "rule_check": 5,
    "explore": 5,
    "forward": 5,
    "exercises": 5,
    "optimizer": 6,
    "weight_init": 6,
    "techniques": 6,
    "multi_layer_net": 6,
    "im2col": 7,
    "conv": 7,
    "simple_conv_net": 7,
}


def test_every_public_module_of_the_book_has_a_chapter():
    public = {m.split(".")[1] for m in BOOK if not m.split(".")[1].startswith("_")}
    assert public == set(CHAPTERS), "give the new module its chapter in CHAPTERS"


@pytest.mark.parametrize("module", sorted(CHAPTERS))
def test_a_chapter_imports_only_its_own_and_earlier_chapters(module):
    later = sorted(
        m for m in GRAPH[f"jaxbp.{module}"] if CHAPTERS.get(m.split(".")[1], 0) > CHAPTERS[module]
    )
    assert not later, f"jaxbp.{module} (chapter {CHAPTERS[module]}) imports {later}"


@pytest.mark.parametrize(
    "chain",
    [
        ("simple_conv_net", "conv", "im2col"),  # 7.5 over 7.4 over 7.4.3
        ("gradient", "two_layer_net", "numerical"),  # 5.7.3 over 5.7.2 over 4.4
        ("two_layer_net", "layers", "labels"),  # 5.7.2 over 5.5-5.6
    ],
)
def test_the_chapters_stack_as_the_books_sections(chain):
    for upper, lower in zip(chain, chain[1:]):
        assert f"jaxbp.{lower}" in GRAPH[f"jaxbp.{upper}"], f"{upper} should build on {lower}"


def test_the_table_of_contents_lists_every_public_module():
    listed = {
        line.split()[0]
        for line in jaxbp.__doc__.splitlines()
        if line.startswith("  ") and line.split()
    }
    public = {m.split(".")[1] for m in MODULES if m.count(".") == 1}
    public = {m for m in public if not m.startswith("_")}
    assert listed == public


def test_every_example_runs_but_those_denied_with_a_reason():
    """The root conftest.py collects every module's doctests; each exception says why."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    for module, why in root.NOT_DOCTESTED.items():
        path = PACKAGE / module
        assert path.is_file(), module
        assert ">>>" in path.read_text(encoding="utf-8"), f"{module} has no example to deny"
        assert len(why.split()) >= 5, f"{module}: say why its examples cannot run"


def _private_imports(sources: dict[str, str]) -> list[str]:
    """``from jaxbp.X import _name`` between library modules (a private module itself,
    ``from jaxbp import _checks``, is the shared helpers' home and allowed)."""
    found = []
    for module, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxbp"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / (target.replace(".", "/") + ".py")).is_file()
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and not is_module:
                        found.append(f"{module}: from {node.module} import {alias.name}")
    return found


def test_no_private_name_is_imported_across_modules():
    sources = {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*.py"))
    }
    assert _private_imports(sources) == []
    planted = {"jaxbp/forward.py": "from jaxbp.layers import as_batch, _as_batch\n"}
    assert _private_imports(planted) == ["jaxbp/forward.py: from jaxbp.layers import _as_batch"]


@pytest.mark.parametrize("package", ["train", "mnist"])
def test_the_machinerys_table_lists_every_module_of_it(package):
    table = (PACKAGE / package / "__init__.py").read_text(encoding="utf-8").split('"""')[1]
    listed = {line.split()[0] for line in table.splitlines() if line.startswith("    ")}
    modules = {p.stem for p in (PACKAGE / package).glob("*.py")} - {"__init__", "__main__"}
    assert listed == modules
