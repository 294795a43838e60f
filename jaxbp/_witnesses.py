"""One rule application's two witnesses, computed (:func:`jaxbp.rule_check.check_rules`).

For an application of a hand-written rule at inputs ``x``: its backward (the rule
that runs) for a random cotangent ``u``, against autodiff of its forward
computation, and ``<J^T u, v>`` against central differences along a random
direction ``v``; entries at a kink and labels the rule does not differentiate
left out of both.  Every application's witnesses are one compiled program
(:func:`run_witnesses`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp._equations import apply_eqn
from jaxbp._find_rules import fast_jit, primal


class Tol(NamedTuple):
    steps: tuple  # central differences' steps h, relative to each input's RMS
    numerical: float  # relative tolerance against central differences
    autodiff: float  # relative tolerance against autodiff
    probe: float  # the step d of the kink probe, relative to each input's RMS
    kink: float  # a jump of J^T u larger than this (relative to its largest entry): a kink


# Per dtype of a node's inputs.  A kink makes J^T u jump by about |u| at once; a smooth
# function moves it by about 2 d |H v u|, which stays under the threshold unless its
# curvature is 1e4 (float64) or 50 (float32) times its slope at the input's scale.
TOLERANCES = {
    "float64": Tol((1e-5, 1e-6, 1e-7), 1e-6, 1e-9, 1e-10, 1e-6),
    "float32": Tol((1e-2, 1e-3), 1e-2, 1e-4, 1e-4, 1e-2),  # f casts to float32 itself
}


def is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.floating)


@dataclass
class Plan:
    """What checking one application needs: its row's fields, its inputs, its randoms."""

    app: Any
    node: int
    shapes: tuple
    floats: list  # positions of the floating arguments in app.values
    labels: list  # for each of them: looks like labels
    dtype: str = "-"
    tol: Tol = TOLERANCES["float64"]
    us: list | None = None
    zs: list | None = None
    error: str = ""


def functions(plan: Plan, vals: list) -> tuple[Callable, Callable, list]:
    """``(custom, primal, floats)``: the rule's node (under ``jax.vjp`` its hand-written
    backward runs) and its forward computation (inner rules stripped), both as functions
    of its floating arguments ``floats`` returning its floating outputs."""
    primal_all = primal(plan.app.eqn)

    def of_floats(fn):
        def run(*xs):
            full = list(vals)
            for k, x in zip(plan.floats, xs):
                full[k] = x
            return [o for o in fn(*full) if is_float(o)]

        return run

    custom = of_floats(lambda *a: apply_eqn(plan.app.eqn, a))
    return custom, of_floats(primal_all), [vals[k] for k in plan.floats]


def witnesses(plan: Plan, vals: list, us: list, zs: list, probe: bool):
    """Both comparisons at one application, for cotangents ``us`` and the direction
    ``v = z * RMS(x)`` per input ``x`` (1 for an all-zero input).

    Returns ``(custom cotangents, autodiff cotangents, kink masks, not-differentiated
    flags, <J^T u, v> by the rule, quotients, sizes, suspect)``; ``v`` is 0 at kinks
    and on labels the rule does not differentiate.  For each step ``h``: the quotient
    ``<u, (g(x + h v) - g(x - h v)) / 2h>`` and the size of the terms it cancels.
    ``probe``: look for kinks (else none are masked, and ``suspect`` says whether the
    one-sided quotients at the smallest step disagree: a kink may be there).
    """
    custom, primal, floats = functions(plan, vals)
    tol, dtype = plan.tol, jnp.result_type(*floats)
    rms = [jnp.sqrt(jnp.mean(jnp.square(x))) if jnp.size(x) else 1.0 for x in floats]
    vs = [z * jnp.where(r > 0, r, 1) for z, r in zip(zs, rms)]
    got = jax.vjp(custom, *floats)[1](us)  # runs the hand-written backward
    vjp_at = lambda t: jax.vjp(primal, *[x + t * v for x, v in zip(floats, vs)])[1](us)
    if probe:  # at x, x + d v, x - d v: one batched program
        at = jax.vmap(vjp_at)(jnp.asarray([0.0, tol.probe, -tol.probe], dtype))
        expected, plus, minus = ([a[i] for a in at] for i in range(3))
        scale = jnp.max(jnp.asarray([jnp.max(abs(a), initial=0.0) for a in plus + minus]))
        kinks = [abs(p - m) > tol.kink * scale for p, m in zip(plus, minus)]
    else:
        expected, kinks = vjp_at(0.0), [jnp.zeros(jnp.shape(g), bool) for g in got]
    nd = [jnp.all(g == 0) & lab for g, lab in zip(got, plan.labels)]
    vs = [jnp.where(k | n, 0, v) for k, n, v in zip(kinks, nd, vs)]
    d_rule = sum(jnp.vdot(g, v) for g, v in zip(got, vs))
    hs = jnp.asarray([0.0] + [s * h for h in tol.steps for s in (1, -1)], dtype)
    moved = jax.vmap(lambda h: primal(*[x + h * v for x, v in zip(floats, vs)]))(hs)
    dot = lambda a, u: jnp.tensordot(a, u, u.ndim)
    quotients = sum(dot(p[1::2] - p[2::2], u) for u, p in zip(us, moved)) / (2 * hs[1::2])
    sizes = sum(dot(abs(p[1::2]) + abs(p[2::2]), abs(u)) for u, p in zip(us, moved))
    sizes = sizes / (2 * hs[1::2])
    h = hs[-2]  # the smallest step: do the one-sided quotients agree?
    ahead = sum(dot(p[-2] - p[0], u) for u, p in zip(us, moved)) / h
    behind = sum(dot(p[0] - p[-1], u) for u, p in zip(us, moved)) / h
    noise = 10 * jnp.finfo(dtype).eps * sizes[-1]
    suspect = abs(ahead - behind) > tol.numerical * jnp.maximum(abs(ahead), abs(behind)) + noise
    return got, expected, kinks, nd, d_rule, quotients, sizes, suspect


def max_diff(a: list, b: list, keep: list) -> tuple[float, float]:
    """Largest absolute difference over the entries ``keep``, and largest relative to each
    input's scale (floored at 1e-6 of the largest scale, so an input whose cotangent is all
    rounding noise is not compared with itself)."""
    a = [np.where(k, x, 0) for x, k in zip(a, keep)]
    b = [np.where(k, y, 0) for y, k in zip(b, keep)]
    scales = [
        max(np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0)) for x, y in zip(a, b)
    ]
    floor = 1e-6 * max(scales, default=0.0)
    abs_d = rel_d = 0.0
    for x, y, scale in zip(a, b, scales):
        d = float(np.max(np.abs(x - y), initial=0.0))
        abs_d = max(abs_d, d)
        rel_d = max(rel_d, d / float(max(scale, floor)) if d > 0 else 0.0)
    return abs_d, rel_d


def numerical_diff(d_rule, quotients, sizes, eps: float, rtol: float):
    """``(abs, rel, passed)`` for the step that agrees best with the rule.

    A step passes when ``|rule - quotient| <= rtol * max(|rule|, |quotient|)``
    plus the quotient's rounding noise, ``10 * eps * size``.  Several steps
    guard against a step that crosses a kink near (not at) the input.
    """
    best = None
    for d_num, size in zip(quotients, sizes):
        d_abs = abs(float(d_rule) - float(d_num))
        scale = max(abs(float(d_rule)), abs(float(d_num)))
        ok = d_abs <= rtol * scale + 10 * eps * float(size)
        cand = (not ok, d_abs, d_abs / scale if scale > 0 else 0.0)
        best = cand if best is None or cand < best else best
    failed, d_abs, d_rel = best
    return d_abs, d_rel, not failed


def run_witnesses(plans: list, probe: bool) -> dict:
    """``{node: witnesses}`` of ``plans``, all computed by one compiled program."""
    if not plans:
        return {}

    def all_witnesses(values, randoms):
        return [witnesses(p, v, *r, probe) for p, v, r in zip(plans, values, randoms)]

    values, randoms = [p.app.values for p in plans], [(p.us, p.zs) for p in plans]
    computed = jax.device_get(fast_jit(all_witnesses)(values, randoms))
    return {p.node: w for p, w in zip(plans, computed)}
