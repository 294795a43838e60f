"""What a learner's file has written, read from its source without running it.

The grader decides from the text which exercises were attempted (a function
bound to anything but the template's ``raise NotImplementedError`` stub), so
that what the file's code does when it runs cannot turn a written exercise
into a skipped one.  A file that binds names in ways the text cannot show
(``from m import *``, ``exec``, ``globals()[...] = ...``) gets ``None``: then
what runs decides.

The chapter a file is for is said in a line ``# jaxbp exercises: chapter N``
among the comments it opens with (the template writes it first): :func:`header_chapter`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

__all__ = ["functions_in", "header_chapter", "WRITTEN", "STUB", "ABSENT"]

WRITTEN, STUB, ABSENT = "written", "stub", "absent"
_DYNAMIC_CALLS = {"exec", "eval", "globals", "setattr", "__import__", "vars", "locals"}

_HEADER = re.compile(r"#\s*jaxbp exercises:\s*chapter\s+(\d+)", re.IGNORECASE)


def header_chapter(text: str) -> int | None:
    """The chapter named by a line ``# jaxbp exercises: chapter N`` among the comments
    that open ``text`` (no parsing: a file with a syntax error has one too), else ``None``.

    >>> header_chapter("# my homework\\n# jaxbp exercises: chapter 6\\nimport jax\\n")
    6
    >>> header_chapter("import jax\\n# jaxbp exercises: chapter 6\\n") is None
    True
    """
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return None  # the opening comments end here
        match = _HEADER.fullmatch(line)
        if match:
            return int(match.group(1))
    return None


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The template's body: an optional docstring, then ``raise NotImplementedError``."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    exc = body[0].exc
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _dynamic(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _DYNAMIC_CALLS:
                return True
    return False


def _bindings(statements: list[ast.stmt], out: dict[str, str]) -> None:
    """Each top-level name bound by ``statements`` (into if/try/with blocks too)."""
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = STUB if _is_stub(node) else WRITTEN
        elif isinstance(node, ast.ClassDef):
            out[node.name] = WRITTEN
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        out[name.id] = WRITTEN
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                out[(alias.asname or alias.name).split(".")[0]] = WRITTEN
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue  # their bodies are scopes of their own
        for field in ("body", "orelse", "finalbody"):
            _bindings(getattr(node, field, None) or [], out)
        for handler in getattr(node, "handlers", None) or []:
            _bindings(handler.body, out)


def functions_in(text: str, names: Iterable[str]) -> dict[str, str] | None:
    """Per name: ``"written"``, ``"stub"`` (the template's) or ``"absent"``;
    ``None`` when the file binds names dynamically.  Raises ``SyntaxError``.

    >>> src = "def relu_fwd(x):\\n    return x, x\\n"
    >>> src += "def relu_bwd(r, d):\\n    raise NotImplementedError\\n"
    >>> functions_in(src, ["relu_fwd", "relu_bwd", "mul_fwd"])
    {'relu_fwd': 'written', 'relu_bwd': 'stub', 'mul_fwd': 'absent'}
    """
    tree = ast.parse(text)
    if _dynamic(tree):
        return None
    bound: dict[str, str] = {}
    _bindings(tree.body, bound)
    return {n: bound.get(n, ABSENT) for n in names}
