"""The right answers, computed by the grader itself from JAX's own derivatives.

For a pair: the plain-jnp twin's value and ``jax.vjp`` cotangents
(:mod:`jaxbp.reference`, no hand-written rule); for a network: ``jax.grad`` of
the reference loss.  Float64, all cases of an exercise in one compiled
program.  The grader computes these in its own process: the learner's code,
which runs elsewhere, cannot reach them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp.exercises.runner import fast_jit
from jaxbp.exercises.spec import Case, Exercise, Network
from jaxbp.numerical import enable_x64

__all__ = ["expected"]


def _pair(ex: Exercise, cases: list[Case]) -> list:
    def program(inputs, douts):
        out = []
        for xs, dout in zip(inputs, douts):
            value, vjp = jax.vjp(ex.reference, *xs)
            out.append((value, vjp(dout)))
        return out

    inputs = [tuple(jnp.asarray(v) for v in c.inputs) for c in cases]
    return fast_jit(program)(inputs, [jnp.asarray(c.dout) for c in cases])


def _net(net: Network, cases: list) -> list:
    def program(params, xs, ts):
        return [jax.grad(net.loss)(p, x, t) for p, x, t in zip(params, xs, ts)]

    params = [{k: jnp.asarray(v) for k, v in p.items()} for p, _, _ in cases]
    return fast_jit(program)(params, [jnp.asarray(x) for _, x, _ in cases], [t for *_, t in cases])


def expected(item: Exercise | Network, cases: list) -> list:
    """The right answers for ``cases``, as NumPy float64.

    A pair's: per case ``(out, (cotangent per input, ...))``; a network's: per
    case ``{key: gradient}``.

    >>> from jaxbp.exercises.spec import EXERCISES
    >>> ex = EXERCISES["mul"]
    >>> out, (dx, dy) = expected(ex, ex.cases())[0]     # 100 * 2, dout 1.1
    >>> float(out), float(dx), float(dy)
    (200.0, 2.2, 110.00000000000001)
    """
    with enable_x64():
        answers = _net(item, cases) if isinstance(item, Network) else _pair(item, cases)
        return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), jax.device_get(answers))
