"""A class's submissions: one ``.py`` file or ``.ipynb`` notebook per student.

:func:`find` lists a folder's submissions, each named by its file as the
teacher collected it (the student is the file's stem; two files with one stem,
``kim.py`` and ``kim.ipynb``, are told apart by their whole names) and hashed
(SHA-256 of the bytes: the class grader's cache key).  :func:`script` is the
code to grade: a file's text, or a notebook's code cells in order, without
the lines that call the grader itself (``jaxbp.exercises.check(globals())``:
it would grade again inside the learner's process) and without IPython's
magics and shell lines (``%timeit``, ``!pip``), which are not Python.
Neither runs the learner's code.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass

__all__ = ["Submission", "SubmissionError", "find", "script", "notebook_code",
           "without_grader_calls", "EXTENSIONS"]  # fmt: skip

EXTENSIONS = (".py", ".ipynb")
_GRADER = "jaxbp.exercises"


class SubmissionError(ValueError):
    """A submission that cannot be read as code: ``why`` is ``"encoding"`` (not
    UTF-8), ``"notebook"`` (not a notebook) or ``"os"`` (``detail`` says why)."""

    def __init__(self, why: str, detail: str = ""):
        super().__init__(f"{why}: {detail}" if detail else why)
        self.why, self.detail = why, detail


@dataclass(frozen=True)
class Submission:
    """One student's file: ``name`` as collected, ``student`` as shown, ``sha256``."""

    name: str
    student: str
    path: str
    sha256: str

    @property
    def notebook(self) -> bool:
        return self.name.lower().endswith(".ipynb")

    @property
    def script_name(self) -> str:
        """The name of the file the grader runs: ``kim.ipynb.py`` for a notebook
        (Python imports only files ending in ``.py``)."""
        return self.name if self.name.endswith(".py") else f"{self.name}.py"


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_submission(entry: os.DirEntry) -> bool:
    name = entry.name
    return (
        name.lower().endswith(EXTENSIONS) and not name.startswith((".", "~$")) and entry.is_file()
    )


def find(folder: str | os.PathLike[str]) -> tuple[list[Submission], list[str]]:
    """The submissions directly in ``folder``, sorted by name, and the names left out.

    Left out: files that are neither ``.py`` nor ``.ipynb``, hidden files and
    folders.  Raises ``NotADirectoryError``/``FileNotFoundError`` as ``os.scandir``.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> for n in ("kim.py", "kim.ipynb", "lee.py", "notes.txt"):
    ...     _ = open(os.path.join(d, n), "w").write("")
    >>> subs, other = find(d)
    >>> [s.student for s in subs], other
    (['kim.ipynb', 'kim.py', 'lee'], ['notes.txt'])
    """
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    chosen = [e for e in entries if _is_submission(e)]
    other = [e.name for e in entries if not _is_submission(e) and not e.name.startswith(".")]
    stems = Counter(os.path.splitext(e.name)[0] for e in chosen)
    subs = []
    for e in chosen:
        stem = os.path.splitext(e.name)[0]
        student = stem if stems[stem] == 1 else e.name
        subs.append(Submission(e.name, student, e.path, _digest(e.path)))
    return subs, other


# ---- the code to grade -----------------------------------------------------------------
def _grader_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the grader's module, and to its functions, by the code's imports."""
    modules, functions = {_GRADER}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == _GRADER and a.asname:
                    modules.add(a.asname)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if node.module == "jaxbp" and a.name == "exercises":
                    modules.add(a.asname or a.name)
                elif node.module.startswith(_GRADER):
                    functions.add(a.asname or a.name)
    return modules, functions


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _calls_grader(stmt: ast.stmt, modules: set[str], functions: set[str]) -> bool:
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            head = name.rpartition(".")[0]
            if name in functions or (head and head in modules):
                return True
    return False


def without_grader_calls(code: str) -> str:
    """``code`` with its top-level statements that call the grader blanked (its
    line numbers kept); code that does not parse is returned as it is.

    >>> print(without_grader_calls("x = 1\\njaxbp.exercises.check(globals(), ['relu'])\\ny = 2"))
    x = 1
    <BLANKLINE>
    y = 2
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    modules, functions = _grader_names(tree)
    lines = code.split("\n")
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if _calls_grader(stmt, modules, functions):
            for i in range(stmt.lineno - 1, stmt.end_lineno):
                lines[i] = ""
    return "\n".join(lines)


def _cell_code(source: str) -> str:
    """A code cell without IPython's magics (``%``, ``%%``) and shell lines (``!``)."""
    if source.lstrip().startswith("%%"):
        return ""  # a cell magic: the whole cell is not Python
    keep = []
    for line in source.split("\n"):
        bare = line.lstrip()
        keep.append("" if bare.startswith(("%", "!")) or "get_ipython()" in bare else line)
    return "\n".join(keep)


def notebook_code(text: str) -> str:
    """A notebook's code cells, in order, each after a ``# %% cell k`` line
    (``k`` counts every cell, text cells too, from 1).

    Raises :class:`SubmissionError` when ``text`` is not a notebook.

    >>> nb = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\\n", "x = 1"]},
    ...                 {"cell_type": "markdown", "source": "text"}]}
    >>> print(notebook_code(json.dumps(nb)))
    # %% cell 1
    <BLANKLINE>
    x = 1
    <BLANKLINE>
    """
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError) as e:
        raise SubmissionError("notebook", type(e).__name__) from None
    if not isinstance(cells, list):
        raise SubmissionError("notebook", "no list of cells")
    parts = []
    for k, cell in enumerate(c for c in cells if isinstance(c, dict)):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        parts.append(f"# %% cell {k + 1}\n{_cell_code(source)}\n")
    return "\n".join(parts)


def script(sub: Submission) -> str:
    """The code to grade for ``sub``: its text (a notebook's code cells), without the
    grader's own calls.  Raises :class:`SubmissionError` if it cannot be read.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "kim.py"), "w").write("x = 1\\njaxbp.exercises.check()\\n")
    >>> script(find(d)[0][0])
    'x = 1\\n\\n'
    """
    try:
        with open(sub.path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise SubmissionError("encoding") from None
    except OSError as e:
        raise SubmissionError("os", e.strerror or str(e)) from None
    code = notebook_code(text) if sub.notebook else text
    return without_grader_calls(code)
