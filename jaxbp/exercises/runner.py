"""Run a learner's functions on given inputs and record what they return: no verdicts.

This is the half of the grader that touches the learner's code.  The command
line runs it in a child process (:mod:`jaxbp.exercises.child`); a notebook's
``check(globals())`` runs it in place.  It returns *observations*, plain data
with NumPy arrays in it, for :mod:`jaxbp.exercises.diagnose` to judge:

* ``{"skip": {"why": "not_defined" | "not_callable", "fn": NAME}}``: nothing ran;
* ``{"signature": {"fn", "sig", "args_order"}}``: a function cannot be called as
  the exercise calls it;
* ``{"cases": [...], "calls": [...]}``: one record per input.  A pair's record
  has ``out`` (the forward's value), ``cots`` (the backward's cotangents) and
  ``rule`` (the cotangents of the pair run as a real ``jax.custom_vjp`` rule
  under ``jax.vjp``); a function's has ``out``; an update rule's has ``steps``
  (the params after each step, ``{key: array}``); a network's has ``grads``.
  A value is an array, ``None`` or ``{"desc": ...}`` (what else it was); a
  part that raised has ``{"error": ...}`` instead (:func:`describe_error`).

All cases of one exercise run in one compiled program (one compilation, not
one per case and operation); the learner's functions are traced inside it,
and what they raise while traced is caught and recorded part by part.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp.exercises.errors import describe_error
from jaxbp.exercises.items import RTOL, Exercise, Function, Network, Update
from jaxbp.exercises.rules import custom_rule, fast_jit, learner_loss
from jaxbp.numerical import enable_x64

__all__ = ["observe", "rule_check"]

_DOUT_NAMES = {"dout", "g", "grad", "grads", "dy", "ct", "cotangent", "d_out", "upstream"}
_RES_NAMES = {"residuals", "residual", "res", "cache", "saved", "ctx", "resids"}


# ---- values -----------------------------------------------------------------------------
def _is_numeric(v) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (jax.Array, np.ndarray, np.generic, float, int)):
        return np.issubdtype(np.dtype(jnp.result_type(v)), np.number)
    return False


def _describe(v) -> dict:
    """A value that is not an array, said in words the diagnosis can translate."""
    if isinstance(v, tuple):
        return {"desc": "tuple", "n": len(v)}
    if isinstance(v, list):
        return {"desc": "list", "n": len(v)}
    if isinstance(v, dict):
        return {"desc": "dict", "keys": [str(k) for k in v]}
    if isinstance(v, (jax.Array, np.ndarray)):
        return {"desc": "array_of", "dtype": str(v.dtype), "shape": list(np.shape(v))}
    return {"desc": "other", "type": type(v).__name__}


class _Parts:
    """The arrays a traced program returns, and what was recorded while tracing it."""

    def __init__(self):
        self.arrays: dict[str, jax.Array] = {}
        self.meta: dict[str, object] = {}

    def value(self, key: str, v) -> None:
        if v is None:
            self.meta[key] = None
        elif _is_numeric(v):
            self.arrays[key] = jnp.asarray(v)
        else:
            self.meta[key] = _describe(v)

    def error(self, key: str, exc: BaseException, fn: str) -> None:
        self.meta[key] = {"error": describe_error(exc, fn)}


def _call(parts: _Parts, key: str, fn_name: str, progress, fn, *args):
    """``fn(*args)``, or ``None`` with the error recorded under ``key``."""
    progress(fn_name)
    try:
        return True, fn(*args)
    except BaseException as e:  # noqa: BLE001 - the learner's code: anything at all
        if isinstance(e, KeyboardInterrupt):
            raise
        parts.error(key, e, fn_name)
        return False, None


def _pair_case(parts, k, ex, fwd, bwd, inputs, dout, static, progress) -> None:
    ok, got = _call(parts, f"{k}/out", ex.fwd, progress, fwd, *inputs, *static)
    if ok:
        if not isinstance(got, tuple | list) or len(got) != 2:
            parts.meta[f"{k}/out"] = {"structure": _describe(got)}
        else:
            parts.value(f"{k}/out", got[0])
            ok, cots = _call(parts, f"{k}/cots", ex.bwd, progress, bwd, *static, got[1], dout)
            if ok and (not isinstance(cots, tuple) or len(cots) != len(ex.grads)):
                parts.meta[f"{k}/cots"] = {"structure": _describe(cots)}
            elif ok:
                parts.meta[f"{k}/cots"] = len(cots)
                for j, c in enumerate(cots):
                    parts.value(f"{k}/cots/{j}", c)
    # The pair as a real custom_vjp rule under jax.vjp: traced only (its values are the
    # ones above), so that the compiled program is not twice as large.
    n = len(inputs)
    rule = custom_rule(fwd, bwd, tuple(range(n, n + len(static))))
    ok, _ = _call(parts, f"{k}/rule", ex.name, progress, jax.eval_shape,
                  lambda xs, d: jax.vjp(lambda *a: rule(*a, *static), *xs)[1](d),
                  inputs, dout)  # fmt: skip
    if ok:
        parts.meta[f"{k}/rule"] = "ok"


def _function_case(parts, k, it: Function, fn, inputs, static, progress) -> None:
    ok, got = _call(parts, f"{k}/out", it.name, progress, fn, *inputs, *static)
    if ok:
        parts.value(f"{k}/out", got)


def _update_case(parts, k, up: Update, fn, steps, progress) -> None:
    """The learner's rule run over the steps from ``state=None``, on its own params and
    state; the params after each step are recorded (a wrong step ends the run)."""
    params, state = steps.params, None
    for s, grads in enumerate(steps.grads):
        key = f"{k}/steps/{s}"
        ok, got = _call(parts, key, up.name, progress, fn, params, grads, state, *steps.hyper)
        if not ok:
            return
        if not isinstance(got, tuple | list) or len(got) != 2 or not isinstance(got[0], dict):
            parts.meta[key] = {"structure": _describe(got)}
            return
        params, state = got
        parts.meta[key] = [str(name) for name in params]
        for name, v in params.items():
            parts.value(f"{key}/{name}", v)


def _net_case(parts, k, net, fn, params, x, t, progress) -> None:
    ok, grads = _call(parts, f"{k}/grads", net.name, progress, fn, params, x, t)
    if not ok:
        return
    if not isinstance(grads, dict):
        parts.meta[f"{k}/grads"] = {"structure": _describe(grads)}
        return
    parts.meta[f"{k}/grads"] = [str(key) for key in grads]
    for key, g in grads.items():
        parts.value(f"{k}/grads/{key}", g)


# ---- looking the functions up -----------------------------------------------------------
def _lookup(ns: Mapping, name: str, n_args: int, backward: bool = False) -> dict | None:
    """``None`` if ``ns[name]`` can be called with ``n_args`` arguments, else why not
    (for a ``backward``: also whether it names ``residuals, dout`` elsewhere than last)."""
    if name not in ns:
        return {"skip": {"why": "not_defined", "fn": name}}
    fn = ns[name]
    if not callable(fn):
        return {"skip": {"why": "not_callable", "fn": name}}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters)
    dout = next((i for i, p in enumerate(params) if p in _DOUT_NAMES), None)
    res = next((i for i, p in enumerate(params) if p.lower() in _RES_NAMES), None)
    named = dout is not None and res is not None  # then they must come last, in that order
    swapped = backward and named and (res, dout) != (n_args - 2, n_args - 1)
    try:
        sig.bind(*range(n_args))
    except TypeError:
        pass  # a signature that does not fit: in the wrong order too, if it names them so
    else:
        if not swapped:
            return None
    return {"signature": {"fn": name, "sig": str(sig), "args_order": swapped}}


def _not_defined(name: str) -> Callable:
    """Stands in for a backward the learner has not defined: raises as the template's stub."""

    def missing(*args):
        raise NotImplementedError(f"{name} is not defined")

    missing.__name__ = name
    return missing


def _with_call_log(ns, names: tuple[str, ...], log: list) -> dict:
    """Wrap ``ns``'s functions ``names`` to log their calls; returns the originals.

    ``log`` gets ``"NAME_fwd#k"`` for the k-th forward call, and ``"NAME_bwd#k"``
    for a backward given the residuals that forward call returned (``#?`` for
    residuals it cannot trace back), so that two affine layers are told apart.
    """
    originals = {n: ns[n] for n in names if callable(ns.get(n))}
    made: dict[int, int] = {}  # id(residuals) -> the forward call that returned them
    count = [0]

    def logged(name, fn):
        def call(*args, **kwargs):
            if name.endswith("_bwd"):
                k = made.get(id(args[0])) if args else None
                log.append(f"{name}#{'?' if k is None else k}")
                return fn(*args, **kwargs)
            out = fn(*args, **kwargs)
            if isinstance(out, tuple) and len(out) == 2:
                made[id(out[1])] = count[0]
            log.append(f"{name}#{count[0]}")
            count[0] += 1
            return out

        call.__name__ = getattr(fn, "__name__", name)
        return call

    if isinstance(ns, dict):
        ns.update({n: logged(n, fn) for n, fn in originals.items()})
    return originals


# ---- the entry point --------------------------------------------------------------------
def observe(ns: Mapping, item: Exercise | Network, cases: list, progress=None) -> dict:
    """Run ``item``'s functions from ``ns`` on ``cases``; return the observations.

    Args:
      ns: the learner's namespace (a module's ``vars()``, ``globals()``).
      item: an :class:`~jaxbp.exercises.spec.Exercise` (cases: :class:`Case`)
        or a :class:`~jaxbp.exercises.spec.Network` (cases: ``(params, x, t)``).
      progress: called with the name of each learner function about to run.

    >>> import types
    >>> from jaxbp.exercises.spec import EXERCISES
    >>> mine = {"add_fwd": lambda x, y: (x + y, None), "add_bwd": lambda r, d: (d, d)}
    >>> obs = observe(mine, EXERCISES["add"], EXERCISES["add"].cases())
    >>> float(obs["cases"][0]["out"])
    650.0
    """
    progress = progress or (lambda name: None)
    if isinstance(item, Network):
        return _observe_net(ns, item, cases, progress)
    if isinstance(item, Function | Update):
        return _observe_one(ns, item, cases, progress)
    n, n_static = len(item.args), len(item.static)
    problem = _lookup(ns, item.fwd, n + n_static) or _lookup(ns, item.bwd, n_static + 2, True)
    if problem is not None and problem.get("skip", {}).get("fn") != item.bwd:
        return problem
    fwd = ns[item.fwd]
    bwd = ns[item.bwd] if problem is None else _not_defined(item.bwd)  # check the forward
    parts = _Parts()

    def program(inputs, douts):
        for k, (xs, dout, c) in enumerate(zip(inputs, douts, cases)):
            _pair_case(parts, k, item, fwd, bwd, xs, dout, c.static, progress)
        return parts.arrays

    inputs = [tuple(np.asarray(v) for v in c.inputs) for c in cases]  # not jnp: no compiles
    douts = [np.asarray(c.dout) for c in cases]
    arrays = _run(parts, program, inputs, douts)
    return {"cases": [_case_record(parts, arrays, k, item) for k in range(len(cases))]}


def _observe_one(ns: Mapping, it: Function | Update, cases: list, progress) -> dict:
    """A function's or an update rule's observations: all cases in one program."""
    n = len(it.args) + len(it.static) if isinstance(it, Function) else 3 + len(it.hyper)
    found = _lookup(ns, it.name, n)
    if found is not None:
        return found
    fn, parts = ns[it.name], _Parts()

    def program(arrays):
        for k, (a, c) in enumerate(zip(arrays, cases)):
            if isinstance(it, Function):
                _function_case(parts, k, it, fn, a, c.static, progress)
            else:
                steps = type(c)(a["params"], a["grads"], c.hyper)
                _update_case(parts, k, it, fn, steps, progress)
        return parts.arrays

    if isinstance(it, Function):
        arrays = [tuple(jnp.asarray(v) for v in c.inputs) for c in cases]
    else:
        arrays = [{"params": c.params, "grads": list(c.grads)} for c in cases]
        arrays = jax.tree_util.tree_map(jnp.asarray, arrays)
    found = _run(parts, program, arrays)
    if isinstance(it, Function):
        return {"cases": [{"out": _get(parts, found, f"{k}/out")} for k in range(len(cases))]}
    return {"cases": [_steps_record(parts, found, k, c) for k, c in enumerate(cases)]}


def _steps_record(parts: _Parts, arrays: dict, k: int, steps) -> dict:
    """``{"steps": [...]}``: per step run, ``{key: array}`` or what was recorded instead."""
    out = []
    for s in range(len(steps.grads)):
        meta = parts.meta.get(f"{k}/steps/{s}")
        if isinstance(meta, list):
            out.append({key: _get(parts, arrays, f"{k}/steps/{s}/{key}") for key in meta})
            continue
        out.append(meta if meta is not None else _get(parts, arrays, f"{k}/steps/{s}"))
        break  # the run ended here
    return {"steps": out}


def _observe_net(ns: Mapping, net: Network, cases: list, progress) -> dict:
    found = _lookup(ns, net.name, 3)
    if found is not None:
        return found
    fn, log = ns[net.name], []
    parts = _Parts()

    starts: list[int] = []

    def program(params, xs, ts):
        for k, (p, x, t) in enumerate(zip(params, xs, ts)):
            starts.append(len(log))
            _net_case(parts, k, net, fn, p, x, t, progress)
        return parts.arrays

    rules = sorted({f"{r}_{side}" for r in net.rules for side in ("fwd", "bwd")})
    originals = _with_call_log(ns, tuple(rules), log)
    try:
        params = [{k: np.asarray(v) for k, v in p.items()} for p, _, _ in cases]
        xs = [np.asarray(x) for _, x, _ in cases]
        ts = [np.asarray(t) for _, _, t in cases]
        arrays = _run(parts, program, params, xs, ts)
    finally:
        if isinstance(ns, dict):
            ns.update(originals)
    ends = [*starts[1:], len(log)]
    records = [_net_record(parts, arrays, k) for k in range(len(cases))]
    for k, rec in enumerate(records):  # the order the learner's rules ran in, per case
        rec["calls"] = log[starts[k] : ends[k]][: 4 * len(net.rules)] if k < len(starts) else []
    return {"cases": records}


def _run(parts: _Parts, program, *args) -> dict:
    """Trace and run ``program`` once, in float64; a failure of the whole program is
    recorded."""
    try:
        with enable_x64():
            return jax.device_get(fast_jit(program)(*args))
    except BaseException as e:  # noqa: BLE001 - the learner's code: anything at all
        if isinstance(e, KeyboardInterrupt):
            raise
        parts.meta["program"] = {"error": describe_error(e, "the compiled program")}
        return {}


def _get(parts: _Parts, arrays: dict, key: str):
    """The array at ``key``, else what was recorded there (``None``, a description,
    an error), else the whole program's error, else ``{"missing": True}``."""
    if key in arrays:
        return np.asarray(arrays[key])
    if key in parts.meta:
        return parts.meta[key]
    return parts.meta.get("program", {"missing": True})


def _case_record(parts: _Parts, arrays: dict, k: int, ex: Exercise) -> dict:
    rec = {"out": _get(parts, arrays, f"{k}/out")}
    meta = parts.meta.get(f"{k}/cots")
    if isinstance(meta, int):
        rec["cots"] = [_get(parts, arrays, f"{k}/cots/{j}") for j in range(meta)]
    elif meta is not None:
        rec["cots"] = meta
    rec["rule"] = parts.meta.get(f"{k}/rule", parts.meta.get("program", {"missing": True}))
    return rec


def _net_record(parts: _Parts, arrays: dict, k: int) -> dict:
    meta = parts.meta.get(f"{k}/grads")
    if isinstance(meta, list):
        return {"grads": {key: _get(parts, arrays, f"{k}/grads/{key}") for key in meta}}
    return {"grads": meta if meta is not None else _get(parts, arrays, f"{k}/grads")}


def rule_check(ns: Mapping, net: Network, case: tuple) -> dict:
    """:func:`jaxbp.rule_check.check_rules` over the learner's own loss, as plain data.

    Returns ``{"rows": [{node, name, passed, error}, ...]}``, or ``{"not_run":
    FUNCTION}`` when a rule the network needs is missing, or ``{"error": ...}``.
    """
    from jaxbp.rule_check import check_rules

    needed = [f"{r}_{side}" for r in dict.fromkeys(net.rules) for side in ("fwd", "bwd")]
    missing = [n for n in needed if not callable(ns.get(n))]
    if missing:
        return {"not_run": missing[0]}
    params, x, t = case
    try:
        with enable_x64():
            result = check_rules(learner_loss(ns, net), params, x, t, rtol=RTOL)
    except BaseException as e:  # noqa: BLE001 - the learner's rules run inside it
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"error": describe_error(e, "check_rules")}
    keys = ("node", "name", "passed", "error")
    return {"rows": [{k: getattr(row, k) for k in keys} for row in result]}
