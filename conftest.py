"""Which of jaxbp's modules run their docstring examples as doctests.

pyproject's ``addopts`` has ``--doctest-modules`` and ``testpaths`` names
``jaxbp``, so ``python -m pytest -q`` runs the examples of the modules listed
here.  The package's other modules are not collected: their examples need
MNIST (``mnist``), a whole training run (``train``, ``cli``), or are still
being written (``conv``, ``simple_conv_net``); add a module here once its
examples are quick and self-contained.
"""

from __future__ import annotations

from pathlib import Path

DOCTESTED = {
    "graph.py",
    "layers.py",
    "labels.py",
    "two_layer_net.py",
    "gradient.py",
    "reference.py",
    "techniques.py",
    "optimizer.py",
    "weight_init.py",
    "testing.py",
    "conv.py",
    "simple_conv_net.py",
    "train.py",
}
_PACKAGE = Path(__file__).parent / "jaxbp"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if (
        collection_path.parent == _PACKAGE
        and collection_path.suffix == ".py"
        and collection_path.name != "__init__.py"
        and collection_path.name not in DOCTESTED
    ):
        return True
    return None
