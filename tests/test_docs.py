"""The user documentation speaks of the project and its users, and its links resolve.

What is read: README.md, README.ko.md and BENCHMARKS.md; every notebook's markdown and
code cells under ``examples/``; every module, class and function docstring of
``jaxbp/**/*.py`` and ``examples/**/*.py``.  A failure names the file and the line.

What fails there: a path into a folder outside the repository (``../shared``,
``shared/data``, ``shared/notes``), an issue number (``issue 12``, ``issue #12``,
``issues 10 and 11``), ``PYTHONPATH=.`` (the package is installed: ``pip install -e .``),
and the word *session* (pytest's ``scope="session"`` in a notebook's code is allowed).

README.md and README.ko.md must also link only to files that exist: every relative
``[text](path)``, ``![alt](path)`` and ``[label]: path`` resolves inside the repository
(web links and ``#anchors`` are not checked).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "README.ko.md", "BENCHMARKS.md")
READMES = ("README.md", "README.ko.md")

FORBIDDEN = {
    "a path outside the repository": re.compile(r"\.\./shared|\bshared/(?:data|notes)\b"),
    "an issue number": re.compile(r"\bissues?\s+#?\d+", re.IGNORECASE),
    "PYTHONPATH=. (install the package instead)": re.compile(r"PYTHONPATH=\."),
    "the word 'session'": re.compile(r"\bsessions?\b", re.IGNORECASE),
}
# pytest's fixture scope is code, not prose: blanked before a code cell is read
PYTEST_SCOPE = re.compile(r"""scope\s*=\s*(["'])session\1""")


def problems(text: str, where: str, first_line: int = 1) -> list[str]:
    """Every forbidden phrase in ``text`` as ``"WHERE:LINE: WHAT: 'MATCH'"``.

    ``first_line`` is the line number of the text's first line in its file.
    """
    found = []
    for what, pattern in FORBIDDEN.items():
        for m in pattern.finditer(text):
            line = first_line + text.count("\n", 0, m.start())
            found.append(f"{where}:{line}: {what}: {m.group()!r}")
    return found


def docstrings(path: Path):
    """``(line, text)`` of every module, class and function docstring of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, kinds) and ast.get_docstring(node, clean=False) is not None:
            yield node.body[0].lineno, ast.get_docstring(node, clean=False)


def notebook_cells(path: Path):
    """``(cell number, kind, text)`` of every markdown and code cell of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] in ("markdown", "code"):
            source = cell["source"]
            yield i, cell["cell_type"], source if isinstance(source, str) else "".join(source)


def notebook_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Forbidden phrases in a notebook's cells, each named ``PATH cell N (KIND):LINE``."""
    rel, found = path.relative_to(root), []
    for i, kind, text in notebook_cells(path):
        if kind == "code":
            text = PYTEST_SCOPE.sub(lambda m: " " * len(m.group()), text)
        found += problems(text, f"{rel} cell {i} ({kind})")
    return found


def python_files() -> list[Path]:
    return sorted(p for folder in ("jaxbp", "examples") for p in (ROOT / folder).rglob("*.py"))


def notebooks() -> list[Path]:
    return sorted((ROOT / "examples").rglob("*.ipynb"))


FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)


def _blank(m: re.Match) -> str:
    """The match as spaces and its newlines, so later line numbers stay right."""
    return re.sub(r"[^\n]", " ", m.group())


def relative_links(text: str) -> list[tuple[int, str]]:
    """``(line, target)`` of every relative link target of a Markdown text.

    Code (fenced blocks, backtick spans), web and mail links and ``#anchors`` are left out;
    a target's own ``#anchor`` is dropped.
    """
    text = CODE_SPAN.sub(_blank, FENCE.sub(_blank, text))
    links = []
    for pattern in (INLINE_LINK, REFERENCE):
        for m in pattern.finditer(text):
            target = m.group(1)
            if re.match(r"[a-zA-Z][\w+.-]*:", target) or target.startswith("#"):
                continue
            links.append((1 + text.count("\n", 0, m.start()), target.split("#")[0]))
    return sorted(links)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """``"PATH:LINE: TARGET"`` for every relative link of ``path`` with nothing in ``root``."""
    broken = []
    for line, target in relative_links(path.read_text(encoding="utf-8")):
        resolved = (path.parent / unquote(target)).resolve()
        if not resolved.is_relative_to(root) or not resolved.exists():
            broken.append(f"{path.relative_to(root)}:{line}: {target}")
    return broken


def _report(found: list[str]) -> str:
    return f"{len(found)} found:\n" + "\n".join(found)


@pytest.mark.parametrize("name", DOCS)
def test_docs_speak_of_the_project(name):
    path = ROOT / name
    found = problems(path.read_text(encoding="utf-8"), name)
    assert not found, _report(found)


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_speak_of_the_project(path):
    found = notebook_problems(path)
    assert not found, _report(found)


def test_docstrings_speak_of_the_project():
    files = python_files()
    assert any(p.parts[-2:] == ("jaxbp", "layers.py") for p in files)  # the walk found them
    found = []
    for path in files:
        for line, text in docstrings(path):
            found += problems(text, str(path.relative_to(ROOT)), line)
    assert not found, _report(found)


@pytest.mark.parametrize("name", READMES)
def test_readme_links_resolve(name):
    path = ROOT / name
    assert relative_links(path.read_text(encoding="utf-8")), f"{name} links to no file"
    broken = broken_links(path)
    assert not broken, _report(broken)


# The checks themselves: each flags what it should and only that.


@pytest.mark.parametrize(
    "text",
    [
        "see ../shared/reference",
        "read shared/data/mnist",
        "as shared/notes/cpu-levers.md says",
        "fixed in issue 12",
        "Issue #7 asked for it",
        "issues 10 and 11",
        "run PYTHONPATH=. python -m jaxbp.train",
        "earlier in this session",
        "Sessions of training",
    ],
)
def test_each_forbidden_phrase_is_flagged(text):
    found = problems("first line\n" + text, "DOC", first_line=5)
    assert len(found) == 1 and found[0].startswith("DOC:6: "), found


@pytest.mark.parametrize(
    "text",
    [
        "the tissue 12 and the issuer 3",
        "shared memory, data shared/replicated, reshared/data",
        "session_steps counts the steps of this call",
        "PYTHONPATH=/opt/lib",
        "issue tracker",
    ],
)
def test_ordinary_words_are_not_flagged(text):
    assert problems(text, "DOC") == []


def test_pytest_scope_is_allowed_in_notebook_code_only(tmp_path):
    cells = [
        {"cell_type": "code", "source": ['@pytest.fixture(scope="session")\n', "def f(): ..."]},
        {"cell_type": "markdown", "source": "One session of it."},
        {"cell_type": "code", "source": "# a long session"},
    ]
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": cells}))
    found = notebook_problems(nb, root=tmp_path)
    where = [f.split(":")[0] for f in found]
    assert where == ["n.ipynb cell 1 (markdown)", "n.ipynb cell 2 (code)"]


def test_docstring_lines_are_the_file_lines(tmp_path):
    source = '"""Module."""\n\n\nclass A:\n    """One.\n\n    issue 3 here."""\n'
    path = tmp_path / "m.py"
    path.write_text(source)
    (line, text), *_ = [d for d in docstrings(path) if "issue" in d[1]]
    assert problems(text, "m.py", line) == ["m.py:7: an issue number: 'issue 3'"]


def test_relative_links_are_found_and_the_rest_left_out():
    text = (
        "[a](docs/a.md) and ![b](docs/figures/b.png 'title')\n"
        "[web](https://example.org/x.md) [mail](mailto:x@y.z) [top](#usage)\n"
        "`[code](not/a/link.md)`\n"
        "```\n[fenced](not/a/link.md)\n```\n"
        "[c](BENCHMARKS.md#the-targets) [[nested]](d%20e.md)\n"
        "[ref]: docs/ref.md\n"
    )
    assert relative_links(text) == [
        (1, "docs/a.md"),
        (1, "docs/figures/b.png"),
        (7, "BENCHMARKS.md"),
        (7, "d%20e.md"),
        (8, "docs/ref.md"),
    ]


def test_a_missing_file_is_a_broken_link(tmp_path):
    (tmp_path / "here.md").write_text("x")
    readme = tmp_path / "README.md"
    readme.write_text("[ok](here.md) [gone](gone.png)\n[out](../outside.md)\n")
    broken = broken_links(readme, root=tmp_path)
    assert broken == ["README.md:1: gone.png", "README.md:2: ../outside.md"]
