"""Every module of jaxbp runs its docstring examples as doctests, but those named here.

pyproject's ``addopts`` has ``--doctest-modules`` and ``testpaths`` names
``jaxbp``, so ``python -m pytest -q`` collects the examples of every module in
the package.  :data:`NOT_DOCTESTED` lists the exceptions, each with the reason
its examples cannot run in the suite; a new module is collected unless it is
added there, with its reason.
"""

from __future__ import annotations

from pathlib import Path

#: module (a path inside the package) -> why its examples are not run here
NOT_DOCTESTED = {
    "mnist/load.py": "its example loads the real MNIST, which a fresh machine may lack "
    "(tests/test_mnist.py loads it where it is, and says why it skips where it is not)",
}
_PACKAGE = Path(__file__).parent / "jaxbp"


_CORPUS = Path(__file__).parent / "tests" / "corpus"  # students' files: data, never tests


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if collection_path == _CORPUS or _CORPUS in collection_path.parents:
        return True  # some exit, hang or fail to parse at import, on purpose
    try:
        inside = collection_path.relative_to(_PACKAGE).as_posix()
    except ValueError:
        return None
    if collection_path.suffix == ".py" and inside in NOT_DOCTESTED:
        return True
    return None
