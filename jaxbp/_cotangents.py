"""The rules' cotangents typed like their inputs inside ``shard_map``.

``jax.shard_map`` (with its default ``check_vma=True``) types every value by the mesh
axes along which it *varies*: a replicated parameter ``W`` is invariant, a batch
shard ``x`` varies, and so does ``x @ W``.  A ``custom_vjp`` backward must give each
cotangent its input's type, but ``dW = x^T dout``, computed from one shard, varies
while ``W`` does not.  Plain ``jnp`` code never meets this: JAX marks the invariant
``W`` as varying (an implicit broadcast) before ``x @ W``, and the transpose of that
mark is a ``psum``, the sum of the shards' cotangents.

:func:`alike` makes that mark explicit for the rules: each public layer passes its
inputs through it before its ``custom_vjp`` rule, so that every input varies along
the axes any of them varies along.  The rule's output and its cotangent have that same
type, each derivative the backward computes comes back typed like its input, and JAX
sums the derivative of an invariant input over the shards, exactly as for its own
broadcast.  Outside ``shard_map`` nothing varies and nothing changes; on a JAX without
varying-axes types (before 0.6, whose ``shard_map`` has ``check_rep``) the inputs pass
as they are.
"""

from __future__ import annotations

from typing import Any

import jax

__all__ = ["varying_axes", "alike"]


def varying_axes(x: Any) -> frozenset | None:
    """The mesh axes ``x`` varies along (empty outside ``shard_map``), or ``None`` on a
    JAX without varying-axes types.

    >>> import jax.numpy as jnp
    >>> varying_axes(jnp.ones(2)) in (frozenset(), None)
    True
    """
    typeof = getattr(jax, "typeof", None)
    if typeof is None:
        return None
    aval = typeof(x)
    mat = getattr(aval, "mat", None)  # the manual axis type (recent JAX)
    axes = mat.varying if mat is not None else getattr(aval, "vma", None)
    return None if axes is None else frozenset(axes)


def alike(*args: Any) -> tuple:
    """``args``, each marked varying along every mesh axis any of them varies along (as
    JAX marks an invariant operand of a binary operation); the others are returned as
    they are.  The transpose of the mark sums an invariant input's cotangent over the
    shards.

    >>> import jax.numpy as jnp
    >>> x, W = alike(jnp.ones((2, 3)), jnp.ones((3, 4)))   # outside shard_map: unchanged
    >>> x.shape, W.shape
    ((2, 3), (3, 4))
    """
    axes = [varying_axes(a) for a in args]
    if any(a is None for a in axes):
        return args
    union = frozenset().union(*axes)
    return tuple(
        _vary(a, tuple(ax for ax in union if ax not in have)) for a, have in zip(args, axes)
    )


def _vary(x: Any, axes: tuple) -> Any:
    if not axes:
        return x
    pcast = getattr(jax.lax, "pcast", None)
    return pcast(x, axes, to="varying") if pcast else jax.lax.pvary(x, axes)
