"""The right answers, computed by the grader itself from JAX's own derivatives.

For a pair: the plain-jnp twin's value and ``jax.vjp`` cotangents
(:mod:`jaxbp.reference`, no hand-written rule); for a function: the plain
function's value (col2im's: ``jax.vjp`` of im2col); for an update rule: the
params after each step of :mod:`jaxbp.optimizer`'s rule (the book's
formulas, tested against its NumPy classes); for a network: ``jax.grad`` of
the reference loss.  Float64, all cases of an exercise in one compiled
program.  The grader computes these in its own process: the learner's code,
which runs elsewhere, cannot reach them.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxbp.exercises.items import Case, Exercise, Function, Network, Steps, Update
from jaxbp.exercises.rules import fast_jit
from jaxbp.numerical import enable_x64

__all__ = ["expected"]


def _pair(ex: Exercise, cases: list[Case], args) -> list:
    out = []
    for xs, dout, c in zip(*args, cases):
        value, vjp = jax.vjp(lambda *a, c=c: ex.reference(*a, *c.static), *xs)
        out.append((value, vjp(dout)))
    return out


def _function(fn: Function, cases: list[Case], args) -> list:
    return [fn.reference(*xs, *c.static) for xs, c in zip(args, cases)]


def _update(up: Update, cases: list[Steps], args) -> list:
    import optax

    out = []
    for run, c in zip(args, cases):
        rule, params = up.reference(*c.hyper), run["params"]
        state, after = rule.init(params), []
        for grads in run["grads"]:
            updates, state = rule.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            after.append(params)
        out.append(after)
    return out


def _net(net: Network, cases: list, args) -> list:
    return [jax.grad(net.loss)(p, x, t) for p, x, t in zip(*args)]


_KINDS = ((Network, _net), (Function, _function), (Update, _update), (Exercise, _pair))


def _args(it, cases: list):
    """The arrays of ``cases`` as NumPy (not jnp: converting them eagerly compiles)."""
    arrays = lambda tree: jax.tree_util.tree_map(np.asarray, tree)
    if isinstance(it, Network):
        return arrays(([p for p, _, _ in cases], [x for _, x, _ in cases], [t for *_, t in cases]))
    if isinstance(it, Update):
        return arrays([{"params": c.params, "grads": list(c.grads)} for c in cases])
    if isinstance(it, Function):
        return arrays([tuple(c.inputs) for c in cases])
    return arrays(([tuple(c.inputs) for c in cases], [c.dout for c in cases]))


def expected(items: list, cases: list[list]) -> list[list]:
    """The right answers of each of ``items`` on its ``cases``, as NumPy float64, all
    computed by one compiled program.

    A pair's: per case ``(out, (cotangent per input, ...))``; a function's: per
    case its value; an update rule's: per case the params after each step; a
    network's: per case ``{key: gradient}``.

    >>> from jaxbp.exercises.spec import EXERCISES
    >>> ex = EXERCISES["mul"]
    >>> [[(out, (dx, dy)), *_]] = expected([ex], [ex.cases()])     # 100 * 2, dout 1.1
    >>> float(out), float(dx), float(dy)
    (200.0, 2.2, 110.00000000000001)
    """
    runs = [next(run for kind, run in _KINDS if isinstance(it, kind)) for it in items]

    def program(args):
        return [run(it, c, a) for run, it, c, a in zip(runs, items, cases, args)]

    with enable_x64():
        answers = jax.device_get(fast_jit(program)([_args(it, c) for it, c in zip(items, cases)]))
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), answers)
