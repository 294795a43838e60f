"""The right answers, computed by the grader itself from JAX's own derivatives.

For a pair: the plain-jnp twin's value and ``jax.vjp`` cotangents
(:mod:`jaxbp.reference`, no hand-written rule); for a network: ``jax.grad`` of
the reference loss.  Float64, all cases of an exercise in one compiled
program.  The grader computes these in its own process: the learner's code,
which runs elsewhere, cannot reach them.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxbp.exercises.runner import fast_jit
from jaxbp.exercises.spec import Exercise, Network
from jaxbp.numerical import enable_x64

__all__ = ["expected"]


def _pair(ex: Exercise, inputs, douts) -> list:
    out = []
    for xs, dout in zip(inputs, douts):
        value, vjp = jax.vjp(ex.reference, *xs)
        out.append((value, vjp(dout)))
    return out


def _net(net: Network, cases) -> list:
    return [jax.grad(net.loss)(p, x, t) for p, x, t in cases]


def _args(it, cases: list):
    """The cases as NumPy arrays (not jnp: converting them eagerly would compile)."""
    if isinstance(it, Network):
        return ([{k: np.asarray(v) for k, v in p.items()}, np.asarray(x), np.asarray(t)]
                for p, x, t in cases)  # fmt: skip
    return [tuple(np.asarray(v) for v in c.inputs) for c in cases], [
        np.asarray(c.dout) for c in cases
    ]


def expected(items: list, cases: list[list]) -> list[list]:
    """The right answers of each of ``items`` on its ``cases``, as NumPy float64, all
    computed by one compiled program.

    A pair's: per case ``(out, (cotangent per input, ...))``; a network's: per
    case ``{key: gradient}``.

    >>> from jaxbp.exercises.spec import EXERCISES
    >>> ex = EXERCISES["mul"]
    >>> [[(out, (dx, dy)), *_]] = expected([ex], [ex.cases()])     # 100 * 2, dout 1.1
    >>> float(out), float(dx), float(dy)
    (200.0, 2.2, 110.00000000000001)
    """

    def program(args):
        return [
            _net(it, list(a)) if isinstance(it, Network) else _pair(it, *a)
            for it, a in zip(items, args)
        ]

    args = [list(_args(it, c)) if isinstance(it, Network) else _args(it, c)
            for it, c in zip(items, cases)]  # fmt: skip
    with enable_x64():
        answers = jax.device_get(fast_jit(program)(args))
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), answers)
