"""Which of jaxbp's modules run their docstring examples as doctests.

pyproject's ``addopts`` has ``--doctest-modules`` and ``testpaths`` names
``jaxbp``, so ``python -m pytest -q`` runs the examples of the modules listed
here (paths inside the package).  The others are not collected: their examples
need MNIST (``mnist/load.py``), Graphviz, or a whole training run (the trainer's
command line).
"""

from __future__ import annotations

from pathlib import Path

DOCTESTED = {
    "numerical.py",
    "graph.py",
    "layers.py",
    "labels.py",
    "two_layer_net.py",
    "gradient.py",
    "rule_check.py",
    "forward.py",
    "drawing.py",
    "trace.py",
    "explore.py",
    "notebooks.py",
    "_explore_svg.py",
    "exercises/__init__.py",
    "exercises/submissions.py",
    "exercises/classroom.py",
    "exercises/class_words.py",
    "exercises/class_page.py",
    "exercises/class_command.py",
    "exercises/grader.py",
    "exercises/messages.py",
    "exercises/spec.py",
    "exercises/template.py",
    "exercises/wire.py",
    "exercises/runner.py",
    "exercises/diagnose.py",
    "exercises/report.py",
    "exercises/source.py",
    "exercises/expected.py",
    "exercises/items.py",
    "exercises/chapter7.py",
    "reference.py",
    "optimizer.py",
    "weight_init.py",
    "techniques.py",
    "im2col.py",
    "conv.py",
    "simple_conv_net.py",
    "mnist/synthetic.py",
    "train/loop.py",
    "train/runs.py",
    "train/schedule.py",
    "train/run.py",
    "train/config.py",
}
_PACKAGE = Path(__file__).parent / "jaxbp"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    try:
        inside = collection_path.relative_to(_PACKAGE).as_posix()
    except ValueError:
        return None
    if collection_path.suffix == ".py" and inside not in DOCTESTED:
        return True
    return None
