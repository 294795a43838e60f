"""Numerical differentiation (book section 4.4), the witness every backward rule is checked against.

``numerical_gradient`` is the book's central-difference function (4.4,
``numerical_gradient(f, x)``), vectorised: every coordinate's two loss
evaluations run as one compiled program instead of a Python loop.
:func:`check_step` refuses the steps and dtypes for which central differences mean
nothing, and :func:`enable_x64` scopes float64, in which the checks are run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike, DTypeLike

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

    ``h`` must be finite and positive; ``dtype`` float32 or float64 (in
    float16/bfloat16 ``w + h`` rounds to ``w`` or near it, so the differences
    are zeros or noise).

    >>> check_step(1e-4, jnp.float32)                   # fine: returns None
    >>> check_step(1e-4, jnp.bfloat16)
    Traceback (most recent call last):
    ...
    TypeError: numerical_gradient: central differences in bfloat16 are meaningless ...
    """
    hf = float(h)
    if not (math.isfinite(hf) and hf > 0):
        raise ValueError(f"{name}: h must be finite and > 0, got {h!r}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name}: x must be floating, got {dtype}")
    if jnp.finfo(dtype).bits < 32:
        raise TypeError(
            f"{name}: central differences in {jnp.dtype(dtype).name} are "
            f"meaningless (w + h rounds away); use float32 or float64"
        )


def numerical_gradient(
    f: Callable[[Any], ArrayLike], x: Any, h: float = 1e-4, batch_size: int = 256
) -> Any:
    """Central-difference gradient of scalar ``f`` at ``x`` (4.4, eq. 4.4).

    ``grad_i = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every coordinate
    ``i`` of ``x`` (an array or any pytree of arrays; the result has the same
    structure), float32 or float64 (else ``TypeError``); ``h`` finite and
    positive (else ``ValueError``).  Coordinates are evaluated ``batch_size`` at a time with
    ``vmap`` inside one ``lax.map``; wrap the call in ``jax.jit`` to compile
    it once.

    The book's example (4.4), ``f(x0, x1) = x0**2 + x1**2`` at ``(3, 4)``:

    >>> with enable_x64():
    ...     g = numerical_gradient(lambda x: jnp.sum(x ** 2), jnp.array([3.0, 4.0]))
    >>> [round(float(v), 6) for v in g]
    [6.0, 8.0]
    """
    flat, unravel = ravel_pytree(x)
    check_step(h, flat.dtype)
    h = jnp.asarray(h, flat.dtype)

    def partial(i):
        def at(v):
            return f(unravel(flat.at[i].set(v)))

        return (at(flat[i] + h) - at(flat[i] - h)) / (2 * h)

    grad = jax.lax.map(partial, jnp.arange(flat.size), batch_size=min(batch_size, flat.size))
    return unravel(grad.astype(flat.dtype))
