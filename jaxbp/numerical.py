"""Numerical differentiation (book section 4.4), the witness every backward rule is checked against.

``numerical_gradient`` is the book's central-difference function (4.4,
``numerical_gradient(f, x)``), vectorised: every coordinate's two loss
evaluations run as one compiled program instead of a Python loop.
:func:`check_step` refuses the steps and dtypes for which central differences mean
nothing, and :func:`enable_x64` scopes float64, in which the checks are run.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike, DTypeLike

from jaxbp import _checks

__all__ = ["numerical_gradient", "enable_x64", "check_step"]


def enable_x64(on: bool = True) -> AbstractContextManager[Any]:
    """Context manager scoping float64 on (or off), on the newest JAX and older.

    ``jax.enable_x64(on)`` where it exists (JAX 0.10 removed
    ``jax.experimental.enable_x64``, which older releases, e.g. Colab's, have
    instead).

    >>> with enable_x64():
    ...     print(jnp.ones(2).dtype)
    float64
    >>> print(jnp.ones(2).dtype)                        # off again outside
    float32
    """
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(on)
    from jax.experimental import enable_x64 as _old

    return _old(on)


def check_step(h: float, dtype: DTypeLike, name: str = "numerical_gradient") -> None:
    """Refuse a step ``h`` or a dtype for which central differences mean nothing.

    ``h`` must be a finite positive number (a string is a ``TypeError``);
    ``dtype`` float32 or float64 (in
    float16/bfloat16 ``w + h`` rounds to ``w`` or near it, so the differences
    are zeros or noise).

    >>> check_step(1e-4, jnp.float32)                   # fine: returns None
    >>> check_step(1e-4, jnp.bfloat16)
    Traceback (most recent call last):
    ...
    TypeError: numerical_gradient: central differences in bfloat16 are meaningless ...
    """
    _checks.real(name, "h", h, low=0, low_open=True, must="finite and > 0")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name}: x must be floating, got {dtype}")
    if jnp.finfo(dtype).bits < 32:
        raise TypeError(
            f"{name}: central differences in {jnp.dtype(dtype).name} are "
            f"meaningless (w + h rounds away); use float32 or float64"
        )


def _describe(x: Any) -> str:
    leaves = jax.tree_util.tree_leaves(x)
    if len(leaves) == 1 and not isinstance(x, (dict, list, tuple)):
        return f"shape {jnp.shape(leaves[0])}"
    return f"a pytree of {len(leaves)} arrays"


def numerical_gradient(
    f: Callable[[Any], ArrayLike], x: Any, h: float = 1e-4, batch_size: int = 256
) -> Any:
    """Central-difference gradient of scalar ``f`` at ``x`` (4.4, eq. 4.4).

    ``grad_i = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every coordinate
    ``i`` of ``x`` (an array or any pytree of arrays; the result has the same
    structure), float32 or float64 (else ``TypeError``) with at least one
    entry; ``f`` must return a scalar (shape ``()``); ``h`` finite and positive
    and ``batch_size`` a positive integer (else ``ValueError``).  Coordinates are
    evaluated ``batch_size`` at a time with ``vmap`` inside one ``lax.map``; wrap
    the call in ``jax.jit`` to compile it once.

    The book's example (4.4), ``f(x0, x1) = x0**2 + x1**2`` at ``(3, 4)``:

    >>> with enable_x64():
    ...     g = numerical_gradient(lambda x: jnp.sum(x ** 2), jnp.array([3.0, 4.0]))
    >>> [round(float(v), 6) for v in g]
    [6.0, 8.0]
    """
    batch_size = _checks.positive_int("numerical_gradient", "batch_size", batch_size)
    flat, unravel = ravel_pytree(x)
    check_step(h, flat.dtype)
    if flat.size == 0:
        raise ValueError(
            f"numerical_gradient: x has no entries to differentiate (size 0, {_describe(x)})"
        )
    h = jnp.asarray(h, flat.dtype)

    def partial(i):
        def at(v):
            out = f(unravel(flat.at[i].set(v)))
            if jnp.shape(out) != ():
                raise ValueError(
                    f"numerical_gradient: f must return a scalar (the loss), got shape "
                    f"{jnp.shape(out)}"
                )
            return out

        return (at(flat[i] + h) - at(flat[i] - h)) / (2 * h)

    grad = jax.lax.map(partial, jnp.arange(flat.size), batch_size=min(batch_size, flat.size))
    return unravel(grad.astype(flat.dtype))
