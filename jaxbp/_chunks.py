"""One compiled map over a big batch, a chunk of rows at a time (evaluation and prediction)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["map_in_chunks"]


def map_in_chunks(fn: Callable[[jax.Array], jax.Array], x: jax.Array, chunk: int) -> jax.Array:
    """``fn`` over the rows of ``x``, ``chunk`` rows at a time, in one ``lax.map`` (traceable).

    The rows of each ``fn`` call stay in cache (and a big ``im2col`` never exists
    whole).  The last chunk is padded with zero rows, whose outputs are dropped.
    """
    n = x.shape[0]
    if n <= chunk:
        return fn(x)
    pad = -n % chunk
    chunks = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(-1, chunk, *x.shape[1:])
    out = jax.lax.map(fn, chunks)
    return out.reshape(-1, *out.shape[2:])[:n]
