"""Grade a learner's ``custom_vjp`` pairs against JAX's own derivatives.

For each exercise (see :mod:`jaxbp.exercises.spec`) the learner's forward and
backward are called directly on a few fixed inputs in float64 (batch 1 and
larger); the forward is compared with the plain-jnp twin in
:mod:`jaxbp.reference`, the backward with ``jax.vjp`` of it.  The first
difference stops that exercise, named by its kind where the grader can tell
(:data:`jaxbp.exercises.messages.KINDS`), with the input, both answers and the
book's equation as the hint.  The pair must then also work as a real
``jax.custom_vjp`` rule.  Anything the learner's code raises becomes one line
naming the function (and the learner's line), never a traceback.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import reference
from jaxbp.exercises.messages import DERIVATION, KINDS, UI, choose_lang, say
from jaxbp.exercises.spec import EXERCISES, NAMES, NET_NAME, Exercise, net_cases

try:  # the numerical module is the newer home of enable_x64
    from jaxbp.numerical import enable_x64
except ImportError:
    from jaxbp.gradient import enable_x64

__all__ = ["Result", "Report", "LoadError", "check", "grade", "load", "custom_rule"]

PARAM_KEYS = ("W1", "b1", "W2", "b2")
_NET_RULES = ("relu", "affine", "softmax_with_loss")
_NOT_MINE = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (jax, np, importlib.import_module("jaxbp"))
)


@dataclass(frozen=True)
class Result:
    """One exercise's outcome: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""

    name: str
    status: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """Every graded exercise, in order; ``str(report)`` is the printed report."""

    results: tuple[Result, ...]
    lang: str = "en"
    source: str = "namespace"

    @property
    def passed(self) -> bool:
        """No exercise failed (skipped ones do not count)."""
        return all(r.status != "failed" for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def status(self, name: str) -> str:
        """The status of exercise ``name``."""
        return next(r.status for r in self.results if r.name == name)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def __str__(self) -> str:
        out = [say(UI, "header", self.lang, source=self.source)]
        for r in self.results:
            word = say(UI, r.status, self.lang)
            if r.status != "failed" and len(r.lines) == 1:
                out.append(f"  {r.name:<24}{word}: {r.lines[0]}")
            else:
                out += [f"  {r.name:<24}{word}", *(f"      {line}" for line in r.lines)]
        counts = {s: self.count(s) for s in ("passed", "failed", "skipped")}
        return "\n".join([*out, say(UI, "summary", self.lang, **counts)])

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={self.count(s)}" for s in ("passed", "failed", "skipped"))
        return f"<exercises report: {counts}>"


class LoadError(Exception):
    """The learner's file does not import; ``str(e)`` is the one line to print."""


class _Stop(Exception):
    """Stops one exercise with a status and the lines that say why."""

    def __init__(self, status: str, *lines: str):
        super().__init__(status)
        self.status, self.lines = status, lines


# ---- the learner's code, called safely -------------------------------------------------
def _where(exc: BaseException, lang: str) -> str:
    """`` (line N of FILE)`` for the innermost frame of the learner's own code."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not os.path.abspath(name).startswith(_NOT_MINE):
            found = (tb.tb_lineno, os.path.basename(name))
        tb = tb.tb_next
    return say(UI, "where", lang, line=found[0], file=found[1]) if found else ""


def _innermost(exc: BaseException, default: str) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name if tb is not None else default


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _call(lang: str, label: str, fn, args: tuple, rule: str, skip: str | None = None):
    """``fn(*args)``; NotImplementedError skips, any other exception fails, in one line.

    A shape error (a ``TypeError``/``ValueError`` about shapes) also gets
    ``rule``'s hint: it is most often a missing or extra transpose.
    """
    try:
        return fn(*args)
    except NotImplementedError as e:
        raise _Stop("skipped", skip or say(UI, "not_written", lang, fn=_innermost(e, label))) from e
    except Exception as e:  # the learner's code: anything at all
        msg = _first_line(e)
        if isinstance(e, (TypeError, ValueError)) and "shape" in msg:
            line = say(KINDS, "shape_error", lang, fn=label, msg=msg) + _where(e, lang)
            raise _Stop("failed", line, _hint(rule, lang)) from e
        exc = type(e).__name__
        raise _Stop(
            "failed", say(UI, "raised", lang, fn=label, exc=exc, msg=msg, where=_where(e, lang))
        ) from e


def _lookup(ns: Mapping, name: str, n_args: int, lang: str):
    """The learner's function ``name``, checked to be callable with ``n_args`` arguments."""
    if name not in ns:
        raise _Stop("skipped", say(UI, "not_defined", lang, fn=name))
    fn = ns[name]
    if not callable(fn):
        raise _Stop("failed", say(UI, "not_callable", lang, fn=name))
    try:
        sig = inspect.signature(fn)
        sig.bind(*range(n_args))
    except (TypeError, ValueError):
        want = _wanted_args(name)
        raise _Stop(
            "failed", say(UI, "signature", lang, fn=name, sig=_sig(fn), want=want)
        ) from None
    return fn


def _sig(fn) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def _wanted_args(name: str) -> str:
    if name == NET_NAME:
        return "params, x, t"
    ex = EXERCISES[name.rsplit("_", 1)[0]]
    return ", ".join(ex.args) if name == ex.fwd else "residuals, dout"


# ---- describing and comparing values ---------------------------------------------------
def _is_array(v) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (jax.Array, np.ndarray, np.generic, float, int)):
        return np.issubdtype(np.asarray(v).dtype, np.number)
    return False


def _describe(v, lang: str) -> str:
    if _is_array(v):
        return say(UI, "an_array", lang, shape=tuple(np.shape(v)))
    if isinstance(v, tuple):
        return say(UI, "a_tuple", lang, n=len(v))
    if isinstance(v, list):
        return say(UI, "a_list", lang, n=len(v))
    if isinstance(v, dict):
        return say(UI, "a_dict", lang, keys=" ".join(map(str, v)))
    return "None" if v is None else type(v).__name__


def _show(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    text = np.array2string(
        a, precision=4, separator=", ", threshold=24, suppress_small=True, max_line_width=10**6
    )
    return f"{tuple(a.shape)} {' '.join(text.split())}"


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-8))


def _ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """The constant ``r`` with ``got == r * want``, if there is one."""
    big = np.abs(want) > 1e-9
    if not big.any() or np.any(np.abs(got[~big]) > 1e-8):
        return None
    r = got[big] / want[big]
    return float(r[0]) if np.allclose(r, r[0], rtol=1e-5) else None


def _kind(got, want, known, batch: int, lang: str) -> str | None:
    """What is wrong with ``got`` (``None``: nothing), the known mistakes tried first."""
    if _close(got, want):
        return None
    for kind, value in known:
        if value is not None and _close(got, np.asarray(value)):
            return say(KINDS, kind, lang)
    transposed = got.ndim == 2 and not _close(want.T, want) and _close(got.T, want)
    if transposed:
        return say(KINDS, "transposed", lang)
    if got.shape != want.shape:
        return say(KINDS, "wrong_shape", lang, got=got.shape, want=want.shape)
    r = _ratio(got, want)
    if r is None:
        return say(KINDS, "values", lang)
    if np.isclose(r, -1):
        return say(KINDS, "sign", lang)
    for key, target in (("factor_n", batch), ("factor_inv_n", 1 / batch)):
        if batch > 1 and np.isclose(r, target):
            return say(KINDS, key, lang, r=f"{r:.4g}")
    return say(KINDS, "factor", lang, r=f"{r:.4g}")


def _hint(name: str, lang: str, with_dout: bool = False) -> str:
    names = [name, "dout"] if with_dout else [name]
    words = "; ".join(f"{DERIVATION[n][lang]['eq']}: {DERIVATION[n][lang]['why']}" for n in names)
    return f"{say(UI, 'hint', lang)}: {words}"


def _verdict(label: str, what: str, got, want, known, batch: int, shown: str, hint: str, lang):
    """Stop with the failing input, both answers and the hint, unless ``got`` is right."""
    if not _is_array(got):
        raise _Stop(
            "failed", say(UI, "not_array", lang, fn=label, what=what, got=_describe(got, lang))
        )
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    kind = _kind(got, want, known, batch, lang)
    if kind is None:
        return
    if kind == say(KINDS, "ignores_dout", lang):
        hint = _hint(hint, lang, with_dout=True)
    else:
        hint = _hint(hint, lang)
    raise _Stop(
        "failed",
        f"{label}: {what}: {kind}",
        f"{say(UI, 'input', lang)}: {shown}",
        f"{say(UI, 'expected', lang)} {what} = {_show(want)}",
        f"{say(UI, 'got', lang)} {what} = {_show(got)}",
        hint,
    )


# ---- one custom_vjp pair ----------------------------------------------------------------
def custom_rule(fwd, bwd):
    """``fwd``/``bwd`` as one function that ``jax.grad`` differentiates with that rule.

    Args:
      fwd: ``fwd(*inputs) -> (out, residuals)``.
      bwd: ``bwd(residuals, dout) -> tuple of one cotangent per input``.

    Returns:
      ``f(*inputs) -> out``, a :func:`jax.custom_vjp` function.

    >>> double = custom_rule(lambda x: (2 * x, None), lambda res, dout: (2 * dout,))
    >>> float(jax.grad(double)(3.0))
    2.0
    """

    def f(*args):
        return fwd(*args)[0]

    name = getattr(fwd, "__name__", "rule")  # the rule check's rows are named after it
    f.__name__ = f.__qualname__ = name[:-4] if name.endswith("_fwd") else name
    f = jax.custom_vjp(f)
    f.defvjp(fwd, bwd)
    return f


def _known(ex: Exercise, what: str, inputs: tuple, dout) -> list:
    """``(kind, value)`` of each known mistake for ``what`` (``None`` where it cannot run)."""
    out = []
    for p in ex.patterns:
        if p.output == what:
            try:
                out.append((p.kind, p.fn(inputs, dout)))
            except ValueError:  # e.g. dout . W without a transpose: the shapes do not fit
                out.append((p.kind, None))
    return out


def _shown(ex: Exercise, inputs: tuple, dout) -> str:
    named = [f"{n} {_show(v)}" for n, v in zip(ex.args, inputs)]
    return "; ".join([*named, f"dout {_show(dout)}"])


@functools.partial(jax.jit, static_argnums=0)
def _expected(ref, inputs: tuple, dout):
    """The reference's forward value and ``jax.vjp`` cotangents, compiled once per shape."""
    out, vjp = jax.vjp(ref, *inputs)
    return out, vjp(dout)


def _check_case(ex: Exercise, fwd, bwd, case, lang: str) -> None:
    """One input through the learner's forward and backward, against ``jax.vjp``.

    Both run under ``jax.jit`` (as inside ``jax.grad``'s traced programs), one
    compilation each instead of one per operation.
    """
    inputs = tuple(jnp.asarray(v) for v in case.inputs)
    dout = jnp.asarray(case.dout)
    want_out, wants = _expected(ex.reference, inputs, dout)
    batch = case.inputs[0].shape[0] if case.inputs[0].ndim else 1
    shown = _shown(ex, case.inputs, case.dout)
    got = _call(lang, ex.fwd, jax.jit(fwd), inputs, ex.name)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise _Stop("failed", say(UI, "fwd_structure", lang, fn=ex.fwd, got=_describe(got, lang)))
    label = say(UI, "forward", lang, fn=ex.fwd)
    known = _known(ex, "out", case.inputs, case.dout)
    _verdict(label, "out", got[0], want_out, known, batch, shown, ex.name, lang)
    skip = say(UI, "fwd_only", lang, fn=ex.bwd)
    cots = _call(lang, ex.bwd, jax.jit(bwd), (got[1], dout), ex.name, skip)
    want = (
        "(" + ", ".join(g or "None" for g in ex.grads) + ("," if len(ex.grads) == 1 else "") + ")"
    )
    if not isinstance(cots, tuple) or len(cots) != len(ex.grads):
        got_text = _describe(cots, lang)
        raise _Stop("failed", say(UI, "bwd_structure", lang, fn=ex.bwd, want=want, got=got_text))
    label = say(UI, "backward", lang, fn=ex.bwd)
    for what, c, w in zip(ex.grads, cots, wants):
        if what is None:
            if c is not None:
                line = say(KINDS, "not_none", lang, got=_describe(c, lang))
                raise _Stop("failed", f"{label}: {line}")
            continue
        known = _known(ex, what, case.inputs, case.dout)
        _verdict(label, what, c, w, known, batch, shown, ex.name, lang)


def _check_in_jax(ex: Exercise, fwd, bwd, case) -> str | None:
    """``None`` if the pair runs as a real ``custom_vjp`` rule under ``jax.vjp``, else why not."""
    rule = custom_rule(fwd, bwd)
    try:
        jax.jit(lambda args, d: jax.vjp(rule, *args)[1](d))(
            tuple(jnp.asarray(v) for v in case.inputs), jnp.asarray(case.dout)
        )
    except Exception as e:  # the learner's code under JAX's tracing
        return _first_line(e)
    return None


def _grade_pair(ns: Mapping, ex: Exercise, lang: str) -> Result:
    fwd = _lookup(ns, ex.fwd, len(ex.args), lang)
    bwd = _lookup(ns, ex.bwd, 2, lang)
    cases = ex.cases()
    with enable_x64():
        for case in cases:
            _check_case(ex, fwd, bwd, case, lang)
        why = _check_in_jax(ex, fwd, bwd, cases[0])
    if why is not None:
        raise _Stop("failed", f"{ex.name}: {say(UI, 'in_jax', lang, msg=why)}")
    return Result(ex.name, "passed", (say(UI, "passed_detail", lang, n=len(cases)),))


# ---- TwoLayerNet (5.7.2) ----------------------------------------------------------------
def _learner_loss(ns: Mapping):
    """``loss(params, x, labels)`` = SoftmaxWithLoss(Affine2(Relu1(Affine1(x))), t), the
    learner's rules, with integer ``labels`` made one-hot ``t`` inside the last rule.

    ``t``'s cotangent is ``None`` by design; as integers the labels are not compared by
    the rule check (a floating ``t`` would be, against ``-log(y) / N``).
    """
    affine = custom_rule(ns["affine_fwd"], ns["affine_bwd"])
    relu = custom_rule(ns["relu_fwd"], ns["relu_bwd"])
    fwd, bwd = ns["softmax_with_loss_fwd"], ns["softmax_with_loss_bwd"]

    def softmax_with_loss_fwd(x, labels):
        return fwd(x, jax.nn.one_hot(labels, x.shape[-1], dtype=x.dtype))

    last = custom_rule(softmax_with_loss_fwd, bwd)

    def loss(params, x, labels):
        h = relu(affine(x, params["W1"], params["b1"]))
        return last(affine(h, params["W2"], params["b2"]), labels)

    return loss


def _rule_check(ns: Mapping, passed: set[str], case, lang: str) -> tuple[bool, list[str]]:
    """Run :func:`jaxbp.rule_check.check_rules` over the learner's loss: ``(ok, lines)``."""
    try:
        from jaxbp import rule_check
    except ImportError:
        return True, [say(UI, "rule_check_missing", lang)]
    if not set(_NET_RULES) <= passed:
        return True, [say(UI, "rule_check", lang, status=say(UI, "rule_check_waits", lang))]
    try:
        with enable_x64():
            params, x, t = case
            labels = jnp.argmax(jnp.asarray(t), axis=-1)
            result = rule_check.check_rules(_learner_loss(ns), params, x, labels)
    except Exception as e:  # a rule check that cannot run says so; it is not the learner's
        return True, [say(UI, "rule_check_error", lang, msg=_first_line(e))]
    names = " ".join(row.name for row in result)
    status = say(UI, "passed" if result.passed else "failed", lang)
    lines = [say(UI, "rule_check", lang, status=f"{status} ({names})")]
    bad = result.first_failure
    if bad is not None:
        why = bad.error or f"autodiff {bad.autodiff_rel:.3g}, numerical {bad.numerical_rel:.3g}"
        lines.append(f"  node {bad.node} {bad.name} {bad.shapes}: {why}")
    return bool(result.passed), lines


_net_expected = jax.jit(jax.grad(reference.loss))


def _check_net_case(fn, params, x, t, lang: str) -> None:
    p = {k: jnp.asarray(v) for k, v in params.items()}
    wants = _net_expected(p, jnp.asarray(x), jnp.asarray(t))
    got = _call(lang, NET_NAME, jax.jit(fn), (p, jnp.asarray(x), jnp.asarray(t)), NET_NAME)
    if not isinstance(got, dict) or set(got) != set(PARAM_KEYS):
        raise _Stop(
            "failed", say(UI, "grads_structure", lang, fn=NET_NAME, got=_describe(got, lang))
        )
    shown = "; ".join([*(f"{k} {np.shape(v)}" for k, v in params.items()), f"x {x.shape}"])
    shown += f"; t {t.shape} one-hot"
    for k in PARAM_KEYS:
        _verdict(NET_NAME, k, got[k], wants[k], [], x.shape[0], shown, NET_NAME, lang)


def _grade_net(ns: Mapping, passed: set[str], lang: str) -> Result:
    fn = _lookup(ns, NET_NAME, 3, lang)
    cases = net_cases()
    with enable_x64():
        for params, x, t in cases:
            _check_net_case(fn, params, x, t, lang)
    p, x, t = cases[0]
    ok, lines = _rule_check(ns, passed, ({k: jnp.asarray(v) for k, v in p.items()}, x, t), lang)
    first = say(UI, "passed_net", lang, n=len(cases))
    return Result(NET_NAME, "passed" if ok else "failed", (first, *lines))


# ---- the public entry points ------------------------------------------------------------
def _as_namespace(namespace) -> Mapping:
    if isinstance(namespace, Mapping):
        return namespace
    if isinstance(namespace, (types.ModuleType, types.SimpleNamespace)):
        return vars(namespace)
    raise TypeError(
        "namespace must be a module, a dict such as globals(), or a SimpleNamespace, "
        f"got {type(namespace).__name__}"
    )


def _names(names) -> tuple[str, ...]:
    if names is None:
        return NAMES
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Iterable):
        raise TypeError(f"names must be a list of exercise names, got {type(names).__name__}")
    names = list(names)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"names: unknown exercise {unknown[0]!r}; choose from {', '.join(NAMES)}")
    return tuple(n for n in NAMES if n in names)


def grade(namespace, names=None, lang: str | None = None, source: str = "namespace") -> Report:
    """Grade the exercises ``names`` (all by default) found in ``namespace``; no printing.

    Args:
      namespace: a module, a dict such as ``globals()``, or a ``SimpleNamespace``
        holding the learner's ``NAME_fwd`` / ``NAME_bwd`` functions.
      names: exercise names (see :data:`jaxbp.exercises.spec.NAMES`) or ``None`` for all.
      lang: ``"en"``, ``"ko"`` or ``None`` (from ``LANG``).
      source: what the report's header calls the learner's code.

    Returns:
      A :class:`Report`: one :class:`Result` per exercise, in the chapter's order.

    >>> import types
    >>> mine = types.SimpleNamespace(
    ...     add_fwd=lambda x, y: (x + y, None), add_bwd=lambda res, dout: (dout, dout))
    >>> grade(mine, ["add", "mul"], lang="en").status("add")
    'passed'
    """
    ns, todo, lang = _as_namespace(namespace), _names(names), choose_lang(lang)
    results: list[Result] = []
    for name in todo:
        try:
            if name == NET_NAME:
                passed = {r.name for r in results if r.status == "passed"}
                results.append(_grade_net(ns, passed | _passed_elsewhere(ns, todo, lang), lang))
            else:
                results.append(_grade_pair(ns, EXERCISES[name], lang))
        except _Stop as stop:
            results.append(
                Result(name, stop.status, stop.lines + _failed_rules(results, name, lang))
            )
    return Report(tuple(results), lang, source)


def _failed_rules(results: list[Result], name: str, lang: str) -> tuple[str, ...]:
    """For a failing TwoLayerNet: the line naming its own rules that failed above."""
    rules = [r.name for r in results if r.status == "failed" and r.name in _NET_RULES]
    if name != NET_NAME or not rules:
        return ()
    return (say(UI, "net_uses", lang, rules=", ".join(rules)),)


def _passed_elsewhere(ns: Mapping, todo: tuple[str, ...], lang: str) -> set[str]:
    """The TwoLayerNet's rules that pass, when they were not graded in this call."""
    out = set()
    for name in _NET_RULES:
        if name not in todo:
            try:
                _grade_pair(ns, EXERCISES[name], lang)
                out.add(name)
            except _Stop:
                pass
    return out


def check(namespace, names=None, lang: str | None = None) -> Report:
    """Grade and print the report: for notebooks (``check(globals(), ["relu"])``).

    Args and returns as :func:`grade`; the report goes to standard output.

    >>> import types
    >>> mine = types.SimpleNamespace(relu_fwd=lambda x: (x, None))
    >>> report = check(mine, ["relu"], lang="en")
    Chapter 5 exercises (backpropagation): namespace
      relu                    skipped: relu_bwd is not defined
    0 passed, 0 failed, 1 skipped
    """
    report = grade(namespace, names, lang)
    print(report)
    return report


def load(path: str | os.PathLike[str], lang: str | None = None) -> types.ModuleType:
    """Import the learner's file ``path`` as a fresh module.

    Raises:
      LoadError: it does not import; ``str(e)`` is one line (a syntax error
        with its line, or what importing it raised).
      FileNotFoundError: there is no such file.

    >>> import tempfile
    >>> bad = os.path.join(tempfile.mkdtemp(), "bad.py")
    >>> _ = open(bad, "w").write("def relu_fwd(x)\\n")
    >>> load(bad, lang="en")
    Traceback (most recent call last):
    ...
    jaxbp.exercises.grader.LoadError: bad.py:1: syntax error: expected ':'
    """
    path, lang = os.fspath(path), choose_lang(lang)
    if not os.path.isfile(path):
        raise FileNotFoundError(say(UI, "no_file", lang, file=path))
    name = f"_jaxbp_exercise_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    file = os.path.basename(path)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        msg = e.msg
        raise LoadError(say(UI, "syntax_error", lang, file=file, line=e.lineno, msg=msg)) from None
    except Exception as e:  # the learner's module-level code
        where = _where(e, lang)
        exc, msg = type(e).__name__, _first_line(e)
        raise LoadError(
            say(UI, "import_error", lang, file=file, exc=exc, msg=msg, where=where)
        ) from None
    sys.modules.pop(name, None)
    return module
