"""Labels as the book's layers and networks take them (5.6.3, 4.2): one check, the
one-hot rows, and the accuracy test.

Labels are integer class indices ``(N,)`` or floating rows ``(N, C)`` (one-hot or
soft targets).  :func:`check_labels` is the one check every public function runs
(outside ``jit``, on concrete values); under ``jit`` an out-of-range index cannot be
seen, so :func:`target_rows` makes its row NaN instead, and the loss and that
sample's gradient are NaN, never a finite wrong number.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

__all__ = [
    "check_batch",
    "check_labels",
    "check_label_range",
    "target_rows",
    "correct",
    "fraction_correct",
]


def check_batch(name: str, n: int) -> None:
    """Raise ``ValueError`` for an empty batch (``N == 0``): a mean over no samples.

    >>> check_batch("loss", 0)
    Traceback (most recent call last):
    ...
    ValueError: loss: the batch is empty (N = 0)
    """
    if n == 0:
        raise ValueError(f"{name}: the batch is empty (N = 0)")


def check_label_range(t: ArrayLike, n_classes: int, name: str) -> None:
    """Raise ``ValueError`` if concrete integer labels fall outside ``[0, n_classes)``.

    Tracers (labels inside ``jit``) cannot be checked here; there
    :func:`target_rows` turns each out-of-range label into a NaN row instead,
    so the loss and that sample's gradient are NaN, never a finite wrong number.

    >>> check_label_range(jnp.array([0, 9]), 10, "loss")        # fine: returns None
    >>> check_label_range(jnp.array([0, 10]), 10, "loss")
    Traceback (most recent call last):
    ...
    ValueError: loss: labels must be in [0, 9] for 10 classes, got values in [0, 10] (bad: [10])
    """
    if isinstance(t, jax.core.Tracer):
        return
    tn = np.asarray(t)
    if np.issubdtype(tn.dtype, np.integer) and tn.size and (tn.min() < 0 or tn.max() >= n_classes):
        bad = np.unique(tn[(tn < 0) | (tn >= n_classes)])[:5]
        raise ValueError(
            f"{name}: labels must be in [0, {n_classes - 1}] for {n_classes} "
            f"classes, got values in [{tn.min()}, {tn.max()}] (bad: {bad.tolist()})"
        )


def check_labels(name: str, x_shape: tuple[int, ...], t: ArrayLike) -> bool:
    """The one label check: dtype, shape and (when concrete) range of ``t``.

    ``x_shape`` is the logits' shape ``(..., C)``.  Integer labels must have
    shape ``x_shape[:-1]`` and lie in ``[0, C)``; floating labels (one-hot or
    soft targets) must have shape ``x_shape``.  Returns whether ``t`` holds
    integer class indices.  Raises ``TypeError``/``ValueError`` naming both
    shapes.

    >>> check_labels("loss", (2, 10), jnp.array([3, 7]))          # class indices
    True
    >>> check_labels("loss", (2, 10), jnp.zeros((2, 10)))         # one-hot rows
    False
    >>> check_labels("loss", (2, 10), jnp.array([3, 7, 1]))
    Traceback (most recent call last):
    ...
    ValueError: loss: integer labels t must have shape (2,) for logits of shape (2, 10), got (3,)
    """
    dtype = t.dtype if hasattr(t, "dtype") else np.asarray(t).dtype
    shape = tuple(np.shape(t))
    if jnp.issubdtype(dtype, jnp.integer):
        if shape != tuple(x_shape[:-1]):
            raise ValueError(
                f"{name}: integer labels t must have shape {tuple(x_shape[:-1])} for "
                f"logits of shape {tuple(x_shape)}, got {shape}"
            )
        check_label_range(t, x_shape[-1], name)
        return True
    if jnp.issubdtype(dtype, jnp.floating):
        if shape != tuple(x_shape):
            raise ValueError(
                f"{name}: one-hot labels t must have the shape of the logits "
                f"{tuple(x_shape)}, got {shape} (pass integer class indices for shape "
                f"{tuple(x_shape[:-1])})"
            )
        return False
    raise TypeError(
        f"{name}: labels t must be integer class indices or "
        f"floating one-hot rows, got dtype {dtype}"
    )


def target_rows(t: jax.Array, n_classes: int, dtype: DTypeLike) -> jax.Array:
    """Target rows ``(N, C)`` from labels: integer indices become one-hot rows.

    An integer label outside ``[0, n_classes)`` (possible only under ``jit``,
    where :func:`check_labels` cannot see values) becomes a row of NaN, so
    every quantity computed from that sample is NaN.  Floating ``t`` is
    returned as it is, cast to ``dtype``.

    >>> target_rows(jnp.array([2, 0, 5]), 3, jnp.float32)        # 5 is out of range
    Array([[ 0.,  0.,  1.],
           [ 1.,  0.,  0.],
           [nan, nan, nan]], dtype=float32)
    """
    if not jnp.issubdtype(t.dtype, jnp.integer):
        return t.astype(dtype)
    valid = (t >= 0) & (t < n_classes)
    return jnp.where(
        valid[..., None], jax.nn.one_hot(t, n_classes, dtype=dtype), jnp.asarray(jnp.nan, dtype)
    )


def correct(logits: ArrayLike, t: ArrayLike) -> jax.Array:
    """Per sample, whether ``argmax(logits) == label``: the book's ``accuracy`` test.

    ``logits`` ``(N, C)``; ``t`` integer labels ``(N,)`` or one-hot rows ``(N, C)``.
    A row whose logits are not all finite counts as wrong (NaN weights score 0, not
    the share of class 0); an out-of-range label matches no row.

    >>> correct(jnp.array([[0.1, 0.9], [0.8, 0.2], [jnp.nan, 1.0]]), jnp.array([1, 1, 1]))
    Array([ True, False, False], dtype=bool)
    """
    logits, t = jnp.asarray(logits), jnp.asarray(t)
    if t.ndim == logits.ndim:
        t = jnp.argmax(t, axis=-1)
    return (jnp.argmax(logits, axis=-1) == t) & jnp.all(jnp.isfinite(logits), axis=-1)


def fraction_correct(logits: ArrayLike, t: ArrayLike) -> jax.Array:
    """The book's ``accuracy``: ``count / N`` of :func:`correct`, in the logits' dtype.

    The count is an integer and the one division is done in the logits' floating
    dtype, so the result is the fraction rounded once to that dtype: 0.8275 in
    float64 (under ``jax.enable_x64``) is 0.8275, not a float32 number widened,
    and 7 of 10 is 0.7, not ``7 * 0.1`` (a true division, also under ``jit``).
    ``logits`` ``(N, C)`` with ``N >= 1`` (or ``(C,)``, one sample); ``t`` as for
    :func:`correct`.

    >>> fraction_correct(jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.0, 1.0]]),
    ...                  jnp.array([1, 1, 1, 1]))
    Array(0.75, dtype=float32)
    """
    logits = jnp.asarray(logits)
    dtype = logits.dtype if jnp.issubdtype(logits.dtype, jnp.floating) else jnp.float32
    hits = correct(logits, t)
    count = jnp.sum(hits, dtype=jnp.int32)
    # The barrier keeps N a value, not a constant, under jit: XLA turns a division
    # by a constant into a product with its rounded reciprocal (7 * 0.1 != 0.7).
    n = jax.lax.optimization_barrier(jnp.asarray(hits.size, dtype))
    return count.astype(dtype) / n


def batch_of_logits(name: str, x, t):
    """``(x, t)`` as a batch: ``(C,)`` logits become ``(1, C)``; checked once (for the
    layers, not for users: outside ``__all__``).

    >>> x, t = batch_of_logits("softmax_with_loss", jnp.zeros(3), jnp.array(2))
    >>> x.shape, t.shape
    ((1, 3), (1,))
    """
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: x must be (N, C) or (C,), got shape {x.shape}")
    if x.shape[-1] < 1:
        raise ValueError(f"{name}: x of shape {x.shape} has no classes (C must be >= 1)")
    t = t if isinstance(t, jax.core.Tracer) else jnp.asarray(t)
    if x.ndim == 1:
        x, t = x[None], t[None]
    check_batch(name, x.shape[0])
    check_labels(name, x.shape, t)
    return x, t
