"""A traced function's equations, run one at a time: forward values and reverse-mode cotangents.

The machinery under :func:`jaxbp.trace.trace` and :func:`jaxbp.rule_check.check_rules`:
:func:`flatten` lists a jaxpr's equations with ``jit`` calls inlined, each an
:class:`Op` (a ``custom_vjp`` rule stays one, named by :func:`custom_name`);
:func:`run_forward` runs them eagerly, one after another; :func:`run_backward` runs them
backwards, each operation's own vector-Jacobian product (a custom rule's: its
hand-written backward) turning its outputs' ``dout`` into its inputs'.  No
program is compiled for the whole graph: JAX compiles each kind of operation
once (and :func:`run_backward` each kind's vjp once), so a long graph stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

try:
    from jax.extend.core import Literal
except ImportError:  # older jax
    from jax.core import Literal

# Book-style node labels (figure 5-19 draws x, +, exp, /).
LABELS = {
    "mul": "×",
    "add": "+",
    "add_any": "+",
    "sub": "−",
    "div": "/",
    "neg": "−",
    "dot_general": "dot",
    "reduce_sum": "sum",
    "reduce_max": "max",
}
#: Primitives that call a jaxpr and are inlined: their equations become the graph's.
INLINE = ("pjit", "jit", "closed_call", "core_call")
#: Primitives of a custom rule: one node each, named after the rule.
CUSTOM = ("custom_vjp_call", "custom_vjp_call_jaxpr", "custom_jvp_call")
HIDDEN = ("convert_element_type", "copy", "copy_p")  # drawn as plain wires


@dataclass(frozen=True)
class Const:
    """A constant of the traced function (a literal or a captured array)."""

    val: object


@dataclass
class Op:
    """One equation of the flat graph: ``ins`` are value ids or :class:`Const`."""

    eqn: object
    ins: list
    outs: list
    label: str
    hidden: bool = False
    prim: str = ""  # the primitive, or a custom rule's name (mul, affine)


# ---- the flat graph ------------------------------------------------------------
def _debug_name(info) -> str:
    name = getattr(info, "func_name", None)
    return name or (getattr(info, "func_src_info", None) or "").split(" ")[0]


def custom_name(params) -> str:
    """A custom rule's name, from its equation's ``params``: its backward's name less
    ``_bwd`` (``relu_bwd``: ``relu``, however the primal function is called), else the
    primal function's (``_mul``: ``mul``), less leading underscores."""
    bwd = _debug_name(getattr(params.get("bwd"), "debug_info", None))
    if bwd.endswith("_bwd") and bwd.strip("_") != "bwd":
        return bwd[: -len("_bwd")].lstrip("_")
    name = params.get("name")
    for key in ("call_jaxpr", "fun_jaxpr"):
        info = getattr(getattr(params.get(key), "jaxpr", None), "debug_info", None)
        name = name or _debug_name(info)
    return str(name or "custom").lstrip("_")


def flatten(jaxpr, consts, ins, ops, fresh):
    """Append ``jaxpr``'s equations to ``ops`` as :class:`Op` s, with jit calls inlined;
    ``ins``: the ids of its inputs; ``fresh``: an iterator of new ids.  Returns the
    outputs (ids or :class:`Const`)."""
    env = dict(zip(jaxpr.invars, ins))
    env.update((v, Const(c)) for v, c in zip(jaxpr.constvars, consts))
    read = lambda a: Const(a.val) if isinstance(a, Literal) else env[a]
    for eqn in jaxpr.eqns:
        args, name = [read(a) for a in eqn.invars], eqn.primitive.name
        if name in INLINE:
            sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
            outs = flatten(getattr(sub, "jaxpr", sub), getattr(sub, "consts", ()), args, ops, fresh)
        else:
            outs = [next(fresh) for _ in eqn.outvars]
            prim = custom_name(eqn.params) if name in CUSTOM else name
            label = f"^{eqn.params['y']}" if name == "integer_pow" else LABELS.get(prim, prim)
            ops.append(Op(eqn, args, outs, label, name in HIDDEN, prim))
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


def apply_eqn(eqn, args: Sequence) -> list:
    """Run one equation on ``args`` (arrays, or tracers inside a transformation), as
    :func:`jax.core.eval_jaxpr` does; its outputs as a list."""
    prim = eqn.primitive
    params = prim.get_bind_params(eqn.params)
    subfuns, params = params if isinstance(params, tuple) else ((), params)
    out = prim.bind(*subfuns, *args, **params)
    return list(out) if prim.multiple_results else [out]


def run_forward(ops, in_ids, outs, in_vals) -> tuple[list, dict]:
    """Run the flat graph eagerly, one operation at a time: the outputs, and the value at
    every use (``{(op, input) or ("out", k): value}``)."""
    env = dict(zip(in_ids, in_vals))
    val = lambda a: a.val if isinstance(a, Const) else env[a]
    seen: dict = {}
    for i, op in enumerate(ops):
        args = [val(a) for a in op.ins]
        seen.update(((i, j), v) for j, v in enumerate(args))
        env.update(zip(op.outs, apply_eqn(op.eqn, args)))
    out_vals = [val(a) for a in outs]
    seen.update((("out", k), v) for k, v in enumerate(out_vals))
    return out_vals, seen


def _zero_cotangent(v):
    v = jnp.asarray(v)
    if jnp.issubdtype(v.dtype, jnp.inexact):
        return jnp.zeros_like(v)
    return np.zeros(v.shape, jax.dtypes.float0)


def _local(op: Op, args: list, diff: list) -> Callable:
    """``op`` as a function of its inputs ``diff`` (the others fixed at ``args``)."""

    def local(*xs):
        full = list(args)
        for j, x in zip(diff, xs):
            full[j] = x
        return apply_eqn(op.eqn, full)

    return local


_VJPS: dict = {}  # compiled vjps by kind of operation; a long graph repeats a few kinds


def _compiled_vjp(op: Op, diff: list) -> Callable | None:
    """``(args, cts) -> input cotangents`` of ``op``'s kind (primitive, parameters, inputs
    differentiated), compiled once per kind and shapes; None for custom rules (each its
    own kind: run eagerly) and parameters that cannot be a key."""
    eqn = op.eqn
    if eqn.primitive.name in CUSTOM:
        return None
    key = (eqn.primitive, tuple(sorted(eqn.params.items())), tuple(diff))
    try:
        fn = _VJPS.get(key)
    except TypeError:  # an unhashable parameter
        return None
    if fn is None:
        if len(_VJPS) > 256:
            _VJPS.clear()
        vjp = lambda args, cts: jax.vjp(_local(op, args, diff), *[args[j] for j in diff])[1](cts)
        fn = _VJPS[key] = jax.jit(vjp)
    return fn


def _op_vjp(op: Op, args: list, diff: list, cts: list) -> list:
    """The cotangents of ``op``'s inputs ``diff`` from its outputs' ``cts``: its own
    vector-Jacobian product (a custom node's: its hand-written rule)."""
    outs = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in op.eqn.outvars]
    floating = all(jnp.issubdtype(o.dtype, jnp.inexact) for o in outs)
    compiled = _compiled_vjp(op, diff) if floating else None
    if compiled is not None:
        return list(
            compiled(
                args, [jnp.zeros(o.shape, o.dtype) if c is None else c for c, o in zip(cts, outs)]
            )
        )
    outs, vjp = jax.vjp(_local(op, args, diff), *[args[j] for j in diff])
    return list(vjp([_zero_cotangent(o) if c is None else c for c, o in zip(cts, outs)]))


def run_backward(ops, outs, seen, live) -> dict:
    """``d out / d value`` at each use in ``live``: the graph run backwards one operation
    at a time, each turning its outputs' ``dout`` into its inputs' (5.3); a value's
    ``dout`` is the sum over its uses (5.2.1).  ``out`` must be one floating scalar."""
    live, ct, grads = set(live), {}, {}

    def pass_on(atom, key, g):
        grads[key] = g
        if not isinstance(atom, Const):
            ct[atom] = ct[atom] + g if atom in ct else g

    for k, a in enumerate(outs):
        if ("out", k) in live:
            pass_on(a, ("out", k), jnp.ones_like(seen[("out", k)]))  # dout = 1 at the loss
    for i in reversed(range(len(ops))):
        op = ops[i]
        diff = [j for j in range(len(op.ins)) if (i, j) in live]
        cts = [ct.get(o) for o in op.outs]
        if not diff:
            continue
        if all(c is None for c in cts):  # nothing downstream depends on it: 0
            for j in diff:
                grads[(i, j)] = jnp.zeros_like(seen[(i, j)])
            continue
        args = [seen[(i, j)] for j in range(len(op.ins))]
        for j, g in zip(diff, _op_vjp(op, args, diff, cts)):
            pass_on(op.ins[j], (i, j), g)
    return grads


def prune(ops, outs) -> list:
    """``ops`` less those whose results nothing uses (the backward pass's unused ``out``)."""
    need, keep = {a for a in outs if not isinstance(a, Const)}, []
    for op in reversed(ops):
        if any(o in need for o in op.outs):
            keep.append(op)
            need.update(a for a in op.ins if not isinstance(a, Const))
    return keep[::-1]


def reach(ops, start) -> set:
    """Ids of the values that depend on the values ``start`` (and ``start`` itself)."""
    reach = set(start)
    for op in ops:
        if any(a in reach for a in op.ins if not isinstance(a, Const)):
            reach.update(op.outs)
    return reach
