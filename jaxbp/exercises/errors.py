"""What a learner's code raised, as plain data the grader can judge and translate.

:func:`describe_error` records the exception's class, its first line, the
innermost line of the learner's own code it came from, and its kind
(``cls``): ``not_implemented``, ``exit``, ``memory``, ``recursion``,
``in_place`` (the book's ``dout[mask] = 0`` on an immutable JAX array),
``not_traceable`` (a Python ``if``, ``np``, ``math`` or ``float()`` on a traced
value), ``shape``, or ``other``.
"""

from __future__ import annotations

import os
import sysconfig

import jax
import numpy as np

__all__ = ["describe_error"]

# Frames that are not the learner's: Python's own library, installed packages, jaxbp.
_NOT_MINE = tuple(
    {os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "purelib", "platlib")}
    | {os.path.dirname(m.__file__) + os.sep for m in (jax, np)}
    | {os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep}
)


def _learner_frame(exc: BaseException) -> tuple[int, str, str] | None:
    """``(line, file, function)`` of the innermost frame of the learner's own code."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        frozen = code.co_filename.startswith("<frozen ")  # Python's own (exit(), importlib)
        if not frozen and not os.path.abspath(code.co_filename).startswith(_NOT_MINE):
            found = (tb.tb_lineno, os.path.basename(code.co_filename), code.co_name)
        tb = tb.tb_next
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _error_class(exc: BaseException) -> str:
    """What kind of failure ``exc`` is, as the diagnosis names it."""
    msg = str(exc)
    if isinstance(exc, NotImplementedError):
        return "not_implemented"
    if isinstance(exc, SystemExit):
        return "exit"
    if isinstance(exc, (MemoryError, RecursionError)):
        return "memory" if isinstance(exc, MemoryError) else "recursion"
    if "RESOURCE_EXHAUSTED" in msg or "Out of memory" in msg:
        return "memory"
    if "immutable" in msg or "does not support item assignment" in msg:
        return "in_place"
    if (
        isinstance(
            exc, (jax.errors.ConcretizationTypeError, jax.errors.NonConcreteBooleanIndexError)
        )
        or "Tracer" in type(exc).__name__
        or "truth value of an array" in msg
        or "converted to Python scalars" in msg  # math.exp(x), float(x) on an array
    ):
        return "not_traceable"
    if isinstance(exc, (TypeError, ValueError)) and any(
        w in msg for w in ("shape", "contracting dimension", "broadcast", "dimension")
    ):
        return "shape"
    return "other"


def describe_error(exc: BaseException, default_fn: str) -> dict:
    """What the learner's code raised, as plain data: class, message, where, kind.

    >>> try:
    ...     raise NotImplementedError
    ... except NotImplementedError as e:
    ...     describe_error(e, "relu_bwd")["cls"]
    'not_implemented'
    """
    where = _learner_frame(exc)
    out = {
        "exc": type(exc).__name__,
        "msg": _first_line(exc),
        "cls": _error_class(exc),
        "fn": where[2] if where else default_fn,
        "line": where[0] if where else None,
        "file": where[1] if where else None,
    }
    if isinstance(exc, SystemExit):
        out["msg"] = f"exit status {0 if exc.code is None else exc.code}"
    return out
