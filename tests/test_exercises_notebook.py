"""The exercises notebooks run top to bottom once their exercise cells hold the answers.

``examples/ch05/exercises.ipynb``, ``examples/ch06/exercises.ipynb`` and
``examples/ch07/exercises.ipynb`` ship with empty bodies.  Each exercise cell
starts with ``# EXERCISE: NAME``; the test replaces that cell by the answer's
functions from ``tests/exercise_answers*.py``, executes the notebook with
``nbclient`` in a fresh ``python3`` kernel on CPU, and requires every check
cell to report a pass.
"""

from __future__ import annotations

import html
import inspect
import os

import exercise_answers
import exercise_answers_ch6
import exercise_answers_ch7
import ipykernel  # noqa: F401  (the kernel nbclient starts; a dev dependency)
import nbclient
import nbformat
import pytest

from jaxbp.exercises.spec import CHAPTERS, Exercise, item, names_of
from jaxbp.notebooks import install_cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "# EXERCISE: "
ANSWERS = {5: exercise_answers, 6: exercise_answers_ch6, 7: exercise_answers_ch7}
#: Words each notebook's text must hold: the slides' and the book's terms, both languages.
WORDS = {
    5: ("순전파", "역전파", "연쇄법칙", "국소적 미분", "chain rule", "local derivative"),
    6: ("매개변수 갱신", "배치 정규화", "가중치 감소", "드롭아웃", "figure 6-17", "residuals"),
    7: ("합성곱 계층", "풀링 계층", "스트라이드", "패딩", "col2im", "nondiff_argnums"),
}


def notebook_path(chapter: int) -> str:
    return os.path.join(ROOT, "examples", f"ch{chapter:02d}", "exercises.ipynb")


def exercise_of(cell) -> str | None:
    first = cell.source.split("\n", 1)[0]
    return (
        first[len(MARK) :].strip() if cell.cell_type == "code" and first.startswith(MARK) else None
    )


def answer(chapter: int, name: str) -> str:
    it = item(name)
    names = [it.fwd, it.bwd] if isinstance(it, Exercise) else [name]
    sources = (inspect.getsource(getattr(ANSWERS[chapter], n)) for n in names)
    return MARK + name + "\n" + "\n\n".join(sources)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_notebook_structure(chapter):
    nb = nbformat.read(notebook_path(chapter), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == install_cell() and "://" not in code[0].source
    assert [exercise_of(c) for c in code if exercise_of(c)] == list(names_of(chapter))
    for c in code:
        assert not c.get("outputs"), "commit the notebook without outputs"
        if exercise_of(c):
            assert "raise NotImplementedError" in c.source
            bodies = [line.strip() for line in c.source.splitlines()]
            assert not any(b.startswith("return") for b in bodies)  # no answer in the notebook
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for word in WORDS[chapter]:
        assert word in text, word
    if chapter == 5:
        assert 'lang="ko"' in "\n".join(c.source for c in nb.cells)  # the reports in Korean
        assert "explore(" in code[-1].source  # the learner's own rules, stepped through


def _outputs(cell) -> str:
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


def _run(nb, tmp_path) -> None:
    env = {k: os.environ.get(k) for k in ("JAX_PLATFORMS", "PYTHONPATH", "LANG", "LC_ALL")}
    os.environ.update(JAX_PLATFORMS="cpu", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    os.environ["PYTHONPATH"] = ROOT + os.pathsep + (env["PYTHONPATH"] or "")
    try:
        nbclient.NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"notebook cell failed:\n{e}")
    finally:
        for k, v in env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_notebook_runs_with_the_answers(tmp_path, chapter):
    nb = nbformat.read(notebook_path(chapter), as_version=4)
    for cell in nb.cells:
        if exercise_of(cell):
            cell.source = answer(chapter, exercise_of(cell))
    _run(nb, tmp_path)
    names = names_of(chapter)
    checks = [c for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source]
    assert len(checks) == len(names) + 1
    title = CHAPTERS[chapter].title["en"]
    for cell in checks:
        out = _outputs(cell)
        assert out.count(title) == 1, out  # the report once, not again as a repr
        assert "<exercises report" not in out, out
    for cell in checks[:-1]:
        assert "1 passed, 0 failed, 0 incomplete, 0 skipped" in _outputs(cell)
    assert f"{len(names)} passed, 0 failed, 0 incomplete, 0 skipped" in _outputs(checks[-1])
    if chapter != 5:
        return
    (apple,) = [c for c in nb.cells if "price = buy_apple(100.0" in c.source]
    assert "price 220; dapple dapple_num dtax: 2.2 110 200" in _outputs(apple)
    # the last cell: figure 5-17 from the learner's mul and add, as explore's page
    (page,) = [
        o.data["text/html"] for o in nb.cells[-1].outputs if "text/html" in o.get("data", {})
    ]
    page = html.unescape(page)
    assert page.startswith("<iframe srcdoc=") and "dout * y" in page
    for value in ("110", "2.2", "3.3", "165", "650", "715"):  # the book's numbers
        assert value in page
