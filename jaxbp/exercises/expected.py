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
import jax.numpy as jnp
import numpy as np

from jaxbp.exercises.items import Case, Exercise, Function, Network, Steps, Update
from jaxbp.exercises.runner import fast_jit
from jaxbp.numerical import enable_x64

__all__ = ["expected"]


def _pair(ex: Exercise, cases: list[Case]) -> list:
    def program(inputs, douts):
        out = []
        for xs, dout, c in zip(inputs, douts, cases):
            value, vjp = jax.vjp(lambda *a, c=c: ex.reference(*a, *c.static), *xs)
            out.append((value, vjp(dout)))
        return out

    inputs = [tuple(jnp.asarray(v) for v in c.inputs) for c in cases]
    return fast_jit(program)(inputs, [jnp.asarray(c.dout) for c in cases])


def _function(fn: Function, cases: list[Case]) -> list:
    def program(inputs):
        return [fn.reference(*xs, *c.static) for xs, c in zip(inputs, cases)]

    return fast_jit(program)([tuple(jnp.asarray(v) for v in c.inputs) for c in cases])


def _update(up: Update, cases: list[Steps]) -> list:
    import optax

    def program(runs):
        out = []
        for run, c in zip(runs, cases):
            rule, params = up.reference(*c.hyper), run["params"]
            state, after = rule.init(params), []
            for grads in run["grads"]:
                updates, state = rule.update(grads, state, params)
                params = optax.apply_updates(params, updates)
                after.append(params)
            out.append(after)
        return out

    runs = [{"params": c.params, "grads": list(c.grads)} for c in cases]
    return fast_jit(program)(jax.tree_util.tree_map(jnp.asarray, runs))


def _net(net: Network, cases: list) -> list:
    def program(params, xs, ts):
        return [jax.grad(net.loss)(p, x, t) for p, x, t in zip(params, xs, ts)]

    params = [{k: jnp.asarray(v) for k, v in p.items()} for p, _, _ in cases]
    return fast_jit(program)(params, [jnp.asarray(x) for _, x, _ in cases], [t for *_, t in cases])


def expected(item: Exercise | Network, cases: list) -> list:
    """The right answers for ``cases``, as NumPy float64.

    A pair's: per case ``(out, (cotangent per input, ...))``; a function's: per
    case ``out``; an update rule's: per case the params after each step,
    ``[{key: array}, ...]``; a network's: per case ``{key: gradient}``.

    >>> from jaxbp.exercises.spec import EXERCISES
    >>> ex = EXERCISES["mul"]
    >>> out, (dx, dy) = expected(ex, ex.cases())[0]     # 100 * 2, dout 1.1
    >>> float(out), float(dx), float(dy)
    (200.0, 2.2, 110.00000000000001)
    """
    with enable_x64():
        kinds = ((Network, _net), (Function, _function), (Update, _update), (Exercise, _pair))
        answers = next(run for kind, run in kinds if isinstance(item, kind))(item, cases)
        return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), jax.device_get(answers))
