"""The package surface: ``import jaxbp`` is cheap and gives the submodules."""

from __future__ import annotations

import importlib
import importlib.metadata
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


@pytest.mark.parametrize(
    "name",
    [
        "graph",
        "layers",
        "labels",
        "two_layer_net",
        "gradient",
        "mnist",
        "mnist_cache",
        "mnist_files",
        "download",
        "idx",
        "train",
        "reference",
        "drawing",
    ],
)
def test_every_all_name_exists(name):
    mod = importlib.import_module(f"jaxbp.{name}")
    missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
    assert not missing, f"jaxbp.{name}.__all__ names what it does not define: {missing}"
