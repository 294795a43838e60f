"""Computational-graph nodes (book sections 5.1-5.4).

The book's ``MulLayer`` and ``AddLayer`` (5.4.1, 5.4.2) are classes that keep
their inputs on ``self`` between ``forward`` and ``backward``.  Here each node
is a pure function with a hand-written :func:`jax.custom_vjp` rule: the
forward pass returns the residuals the book stores on ``self`` and the
backward pass receives them back.  ``jax.grad`` / ``jax.vjp`` of any function
composed from these nodes then runs exactly the book's backward pass
(figures 5-16 and 5-17).

    add: z = x + y,  dz/dx = 1, dz/dy = 1   (eq. 5.5; the derivative passes through)
    mul: z = x * y,  dz/dx = y, dz/dy = x   (eq. 5.6; the inputs are swapped)

Both accept scalars or arrays of the same shape; broadcasting is refused so
that the backward rule never has to un-broadcast (and never silently does).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["add", "mul", "draw"]


def _check_pair(name: str, x, y):
    x, y = jnp.asarray(x), jnp.asarray(y)
    if jnp.shape(x) != jnp.shape(y):
        raise ValueError(
            f"{name}: x and y must have the same shape, got {jnp.shape(x)} and "
            f"{jnp.shape(y)} (broadcasting is not part of the book's node)")
    for arg, v in (("x", x), ("y", y)):
        if not jnp.issubdtype(v.dtype, jnp.inexact):
            raise TypeError(f"{name}: {arg} must be floating point to be "
                            f"differentiated, got dtype {v.dtype}")
    dtype = jnp.result_type(x, y)
    return x.astype(dtype), y.astype(dtype)


# ---- AddLayer (5.4.2) -------------------------------------------------------
@jax.custom_vjp
def _add(x, y):
    return x + y


def _add_fwd(x, y):
    return x + y, None            # the add node stores nothing


def _add_bwd(_, dout):
    return dout * 1, dout * 1     # book: dx = dout * 1; dy = dout * 1


_add.defvjp(_add_fwd, _add_bwd)


def add(x, y):
    """Addition node ``z = x + y`` (5.3.1, eq. 5.5; ``AddLayer`` in 5.4.2).

    Backward: the upstream derivative ``dout`` flows unchanged to both inputs.
    """
    return _add(*_check_pair("add", x, y))


# ---- MulLayer (5.4.1) -------------------------------------------------------
@jax.custom_vjp
def _mul(x, y):
    return x * y


def _mul_fwd(x, y):
    return x * y, (x, y)          # book: self.x = x; self.y = y


def _mul_bwd(res, dout):
    x, y = res
    return dout * y, dout * x     # book: "x와 y를 바꾼다" (swap x and y)


_mul.defvjp(_mul_fwd, _mul_bwd)


def mul(x, y):
    """Multiplication node ``z = x * y`` (5.3.2, eq. 5.6; ``MulLayer`` in 5.4.1).

    Forward keeps both inputs; backward multiplies ``dout`` by the *other*
    input: ``dx = dout * y``, ``dy = dout * x``.
    """
    return _mul(*_check_pair("mul", x, y))


def draw(f, *args, **kwargs):
    """Draw ``f``'s computational graph; see :func:`jaxbp.drawing.draw`."""
    from jaxbp.drawing import draw as _draw
    return _draw(f, *args, **kwargs)
