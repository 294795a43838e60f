"""Layers of the network (book sections 5.5-5.6) as pure functions.

Each layer is a pure forward function with a hand-written
:func:`jax.custom_vjp` rule.  Where the book's layer class stores something on
``self`` in ``forward`` (``self.mask``, ``self.out``, ``self.x`` ...), our
forward rule returns it as the *residual*; the backward rule receives the
residual and the upstream derivative ``dout`` and applies the book's formula.

What dout is (``DERIVATIONS["dout"]``): dout is the upstream derivative (JAX
calls it the cotangent): the derivative of the final loss with respect to this
layer's output, handed back by the layer after it (5.1.2-5.2, the chain rule).
Each backward rule multiplies it by its own local derivative and hands the result
to the layer before it.

    relu               (5.5.1)  residual: mask = (x <= 0)        dx = dout * !mask
    sigmoid            (5.5.2)  residual: y                      dx = dout * y * (1 - y)
    affine             (5.6.1-2) residuals: x, W                 dx = dout W^T, dW = x^T dout,
                                                                 db = sum(dout, axis=0)
    softmax_with_loss  (5.6.3)  residuals: y = softmax(x), t     dx = g * (y * sum(t) - t) / N
                                                                 (= the book's g * (y - t) / N
                                                                 when rows of t sum to 1)

Public functions validate shapes and dtypes (once, at trace time), promote the
inputs to a common floating dtype, and then call the private ``custom_vjp``
function; dtype promotions therefore happen outside the rule and ``jax.grad``
casts each gradient back to its input's dtype.  Inside ``jax.shard_map`` the inputs
of a rule also enter it with one varying-axes type (:func:`jaxbp._cotangents.alike`):
the derivative of a replicated ``W`` is then summed over the batch shards, as JAX
does for plain ``jnp`` code.  (A rule of one input needs nothing: its cotangent has
its output's type, which is its input's.)

The plain-jnp twins used by the tests live in :mod:`jaxbp.reference`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxbp._cotangents import alike
from jaxbp.labels import batch_of_logits, check_batch, target_rows

__all__ = [
    "DERIVATIONS",
    "relu",
    "sigmoid",
    "affine",
    "softmax",
    "cross_entropy_error",
    "softmax_with_loss",
    "as_floating",
]


#: Why each backward rule has its shape, in words (the docstrings state the same text;
#: ``col2im``'s is :func:`jaxbp.im2col.col2im`'s, also there as ``jaxbp.im2col.DERIVATION``).
DERIVATIONS = {
    "dout": (
        "dout is the upstream derivative (JAX calls it the cotangent): the derivative of the "
        "final loss with respect to this layer's output, handed back by the layer after it "
        "(5.1.2-5.2, the chain rule).  Each backward rule multiplies it by its own local "
        "derivative and hands the result to the layer before it."
    ),
    "affine": (
        "dW must have W's shape (D, M).  From x (N, D) and dout (N, M) the only product of "
        "those shapes is x^T dout, and it sums over the batch, as the derivative of a "
        "parameter used by every sample must.  Likewise dx = dout W^T, (N, M)(M, D) -> (N, D).  "
        "db = sum(dout, axis=0) because b was broadcast (repeated) over the N rows in the "
        "forward pass, and the backward of a repeat is a sum."
    ),
    "softmax_with_loss": (
        "The loss is the mean over the N samples of -sum(t log y).  The derivative of one "
        "sample's cross-entropy with respect to its softmax input is y - t (5.6.3, Appendix A), "
        "and the mean divides by N: dx = (y - t) / N."
    ),
    "col2im": (
        "col2im adds because im2col copies: a pixel read by several overlapping windows was "
        "copied into several rows of col in the forward pass (a fan-out).  The backward of a "
        "fan-out is the sum of the derivatives coming back along each copy: 5.3.1's rule for "
        "the addition node, run backward (where one value branches, its derivatives add)."
    ),
}


def as_floating(name: str, arg: str, x: ArrayLike) -> jax.Array:
    """``x`` as an array, or ``TypeError`` naming ``name``'s ``arg`` when it is not floating."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{name}: {arg} must be a floating-point array, got dtype "
            f"{x.dtype} (normalise images first, e.g. x / 255)"
        )
    return x


# ---- ReLU (5.5.1) -----------------------------------------------------------
@jax.custom_vjp
def _relu(x):
    return _relu_fwd(x)[0]


def _relu_fwd(x):
    mask = x <= 0  # self.mask = (x <= 0)
    return jnp.where(mask, jnp.zeros_like(x), x), mask


def _relu_bwd(mask, dout):
    return (jnp.where(mask, jnp.zeros_like(dout), dout),)  # dout[self.mask] = 0


_relu.defvjp(_relu_fwd, _relu_bwd)


def relu(x: ArrayLike) -> jax.Array:
    """ReLU, eq. 5.7: ``y = x if x > 0 else 0``; any shape.

    Backward (eq. 5.8): ``dx = dout`` where ``x > 0`` and 0 where ``x <= 0``
    (so the derivative at exactly 0 is 0, as the book's ``Relu`` layer).

    >>> x = jnp.array([-1.0, 0.0, 2.0])
    >>> relu(x)
    Array([0., 0., 2.], dtype=float32)
    >>> jax.grad(lambda x: relu(x).sum())(x)           # dout where x > 0
    Array([0., 0., 1.], dtype=float32)
    """
    return _relu(as_floating("relu", "x", x))


# ---- Sigmoid (5.5.2) --------------------------------------------------------
def _sigmoid_forward(x):
    return 1 / (1 + jnp.exp(-x))


@jax.custom_vjp
def _sigmoid(x):
    return _sigmoid_forward(x)


def _sigmoid_fwd(x):
    y = _sigmoid_forward(x)  # self.out = out
    return y, y


def _sigmoid_bwd(y, dout):
    return (dout * y * (1 - y),)  # eq. 5.12 / figure 5-21


_sigmoid.defvjp(_sigmoid_fwd, _sigmoid_bwd)


def sigmoid(x: ArrayLike) -> jax.Array:
    """Sigmoid, eq. 5.9: ``y = 1 / (1 + exp(-x))``; any shape.

    Backward (figure 5-20, simplified in figure 5-21):
    ``dx = dout * y * (1 - y)``, using only the stored output ``y``.
    For very negative ``x``, ``exp(-x)`` overflows to ``inf`` and ``y`` is
    exactly 0 (no NaN).

    >>> x = jnp.array([0.0, -1000.0])
    >>> sigmoid(x)
    Array([0.5, 0. ], dtype=float32)
    >>> jax.grad(lambda x: sigmoid(x).sum())(x)        # y * (1 - y)
    Array([0.25, 0.  ], dtype=float32)
    """
    return _sigmoid(as_floating("sigmoid", "x", x))


# ---- Affine (5.6.1, 5.6.2) --------------------------------------------------
def as_batch(x):
    """(n,) -> (1, n) (5.6.1); (N, ...) -> (N, prod(...)) (the later Affine).

    For the affine rules here and in :mod:`jaxbp.forward` (outside ``__all__``).

    >>> as_batch(jnp.ones(3)).shape, as_batch(jnp.ones((2, 3, 4))).shape
    ((1, 3), (2, 12))
    """
    if x.ndim == 1:
        return x[None, :]
    return x.reshape(x.shape[0], -1)


def _affine_forward(x, W, b):
    out = as_batch(x) @ W + b
    return out[0] if x.ndim == 1 else out


@jax.custom_vjp
def _affine(x, W, b):
    return _affine_forward(x, W, b)


def _affine_fwd(x, W, b):
    return _affine_forward(x, W, b), (x, W)  # self.x = x (and self.W)


def _affine_bwd(res, dout):
    x, W = res
    x2 = as_batch(x)
    dout2 = dout[None, :] if dout.ndim == 1 else dout
    dx = (dout2 @ W.T).reshape(x.shape)  # eq. 5.13: dL/dX = dL/dY . W^T
    dW = x2.T @ dout2  #           dL/dW = X^T . dL/dY
    db = jnp.sum(dout2, axis=0)  # 5.6.2: sum over the batch
    return dx, dW, db


_affine.defvjp(_affine_fwd, _affine_bwd)


def affine(x: ArrayLike, W: ArrayLike, b: ArrayLike) -> jax.Array:
    """Affine layer ``Y = X . W + B`` (5.6.1 eq. 5.13, batch version 5.6.2).

    Shapes:
      * ``x``: ``(n,)`` for one sample (5.6.1), ``(N, n)`` for a batch (5.6.2),
        or ``(N, d1, d2, ...)`` with ``d1 * d2 * ... == n``, flattened to
        ``(N, n)`` and reshaped back in ``dx`` (the book's later ``Affine``);
      * ``W``: ``(n, m)``; ``b``: ``(m,)``;
      * result ``(m,)`` for one sample, else ``(N, m)``.

    Backward (figures 5-25 and 5-27): ``dx = dout . W^T``,
    ``dW = x^T . dout``, ``db = sum(dout, axis=0)``.

    Why (``DERIVATIONS["affine"]``): dW must have W's shape (D, M).  From x (N, D)
    and dout (N, M) the only product of those shapes is x^T dout, and it sums over
    the batch, as the derivative of a parameter used by every sample must.  Likewise
    dx = dout W^T, (N, M)(M, D) -> (N, D).  db = sum(dout, axis=0) because b was
    broadcast (repeated) over the N rows in the forward pass, and the backward of a
    repeat is a sum.

    Raises ``ValueError`` for mismatched features, a bias of the wrong shape
    or an empty batch, and ``TypeError`` for non-floating inputs.

    >>> affine(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.arange(4.0))
    Array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]], dtype=float32)
    """
    x = as_floating("affine", "x", x)
    W = as_floating("affine", "W", W)
    b = as_floating("affine", "b", b)
    if W.ndim != 2:
        raise ValueError(f"affine: W must be 2-D (n_in, n_out), got shape {W.shape}")
    if x.ndim == 0:
        raise ValueError("affine: x must have at least one axis, got a scalar")
    if x.ndim > 1:
        check_batch("affine", x.shape[0])
    n_in = x.shape[0] if x.ndim == 1 else math.prod(x.shape[1:])
    if n_in != W.shape[0]:
        raise ValueError(
            f"affine: x of shape {x.shape} has {n_in} features but W of shape "
            f"{W.shape} expects {W.shape[0]}"
        )
    if b.shape != (W.shape[1],):
        raise ValueError(
            f"affine: b must have shape ({W.shape[1]},) to match W of shape "
            f"{W.shape}, got {b.shape}"
        )
    dtype = jnp.result_type(x, W, b)
    return _affine(*alike(x.astype(dtype), W.astype(dtype), b.astype(dtype)))


# ---- Softmax-with-Loss (5.6.3) ----------------------------------------------
def softmax(x: ArrayLike) -> jax.Array:
    """Softmax over the last axis, max-shifted for stability (3.5.2, eq. 3.11).

    >>> softmax(jnp.array([0.0, jnp.log(3.0)])).round(4)
    Array([0.25, 0.75], dtype=float32)
    >>> softmax(jnp.array([1000.0, 1000.0]))            # no overflow
    Array([0.5, 0.5], dtype=float32)
    """
    x = as_floating("softmax", "x", x)
    e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _log_softmax(x):
    shifted = x - jnp.max(x, axis=-1, keepdims=True)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> jax.Array:
    """Cross-entropy error of probabilities ``y`` (4.2.2, eq. 4.2; batch 4.2.4).

    ``y``: ``(C,)`` or ``(N, C)`` probabilities; ``t`` one-hot (or soft) rows
    of the same shape, or integer indices of shape ``y.shape[:-1]``.  Returns
    ``-1/N sum t log y``, the mean over the batch.  Unlike the book there is
    no ``+ 1e-7`` inside the log: ``0 * log 0`` is taken as 0 (``xlogy``), and
    a zero probability on the true class gives ``inf``, not a made-up finite
    number.  Out-of-range integer labels: ``ValueError`` outside ``jit``, NaN
    inside it.

    >>> float(cross_entropy_error(jnp.array([0.1, 0.6, 0.3]), 1))  # -log 0.6
    0.5108...
    """
    y = as_floating("cross_entropy_error", "y", y)
    y, t = batch_of_logits("cross_entropy_error", y, t)
    target = target_rows(t, y.shape[-1], jnp.result_type(y, t))
    return -jnp.sum(jax.scipy.special.xlogy(target, y.astype(target.dtype))) / y.shape[0]


def softmax_cross_entropy(x, target):
    """The layer's forward pass: ``(loss, log y)`` with ``log y`` by log-sum-exp.

    ``x`` (N, C) logits, ``target`` (N, C) rows; for the rules here and in
    :mod:`jaxbp.forward` (outside ``__all__``).

    >>> loss, log_y = softmax_cross_entropy(jnp.zeros((2, 4)), jnp.eye(4)[:2])
    >>> round(float(loss), 4)                          # log 4
    1.3863
    """
    log_y = _log_softmax(x)
    return -jnp.sum(target * log_y) / x.shape[0], log_y


@jax.custom_vjp
def _softmax_with_loss(x, t):
    return softmax_cross_entropy(x, target_rows(t, x.shape[-1], x.dtype))[0]


def _softmax_with_loss_fwd(x, t):
    target = target_rows(t, x.shape[-1], x.dtype)
    loss, log_y = softmax_cross_entropy(x, target)  # self.loss = cross_entropy_error(...)
    y = jnp.exp(log_y)  # self.y = softmax(x)
    return loss, (y, t, log_y)  # self.t = t


def _softmax_with_loss_bwd(res, g):
    y, t, log_y = res
    n = y.shape[0]
    target = target_rows(t, y.shape[-1], y.dtype)
    if jnp.issubdtype(t.dtype, jnp.integer):  # one-hot rows sum to 1 (NaN rows stay NaN)
        return g * (y - target) / n, None  # book: (self.y - self.t) / batch_size
    row_sum = jnp.sum(target, axis=-1, keepdims=True)
    dx = g * (y * row_sum - target) / n  # soft targets: any row sum
    return dx, -g * log_y / n  # (the book never needs dL/dt)


_softmax_with_loss.defvjp(_softmax_with_loss_fwd, _softmax_with_loss_bwd)


def softmax_with_loss(x: ArrayLike, t: ArrayLike) -> jax.Array:
    """Softmax followed by the cross-entropy error, fused (5.6.3, figure 5-30).

    ``x``: logits ``(N, C)`` (or ``(C,)`` for one sample, a batch of 1);
    ``t``: integer class indices ``(N,)``, or float target rows ``(N, C)``
    (one-hot, label-smoothed or any soft targets).  Returns the scalar mean
    loss ``L = -1/N sum_n sum_k t_nk log y_nk`` with ``y = softmax(x)``.

    The forward pass is exact and stable: ``log y = x - max(x) - log sum
    exp(x - max(x))`` (log-sum-exp), finite for logits of +-1e4.  The book adds
    ``1e-7`` inside the log of ``cross_entropy_error``; that constant makes its
    own backward ``(y - t) / N`` disagree with its forward, so it is left out.

    Why (``DERIVATIONS["softmax_with_loss"]``). The loss is the mean over the N
    samples of -sum(t log y).  The derivative of one sample's cross-entropy with
    respect to its softmax input is y - t (5.6.3, Appendix A), and the mean divides
    by N: dx = (y - t) / N.

    In general: since ``dL/dx_nk = -1/N (t_nk - y_nk sum_j t_nj)`` (differentiate
    ``-sum_j t_nj (x_nj - log sum_i exp x_ni)``), the rule is::

        dx = g * (y * sum(t, axis=-1) - t) / N

    which is exactly the book's ``(y - t) / N`` (figure 5-30) when each row of
    ``t`` sums to 1 (one-hot or label-smoothed targets), and stays exact for
    any other targets (all-zero rows give loss 0 and gradient 0).  ``g`` is
    the incoming cotangent (the book's ``backward(dout=1)`` ignores it; we
    cannot, or ``2 * loss`` would have the wrong gradient).  Float labels also
    get ``dt = -g * log(y) / N``; integer labels get no cotangent.

    Integer labels are converted to one-hot rows inside the rule.  Out of
    range, they raise ``ValueError`` when ``t`` is concrete; under ``jit`` or
    ``vmap`` (no exception possible) that sample's row becomes NaN, so the
    loss is NaN and that sample's gradient row is NaN, forward and backward
    agreeing.  An empty batch or no classes (``C = 0``) raises ``ValueError``.

    >>> x = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    >>> float(softmax_with_loss(x, jnp.array([0, 1])))   # log(1 + e^-2)
    0.1269...
    >>> jax.grad(softmax_with_loss)(x, jnp.array([0, 1]))  # (y - t) / N
    Array([[-0.0596...,  0.0596...],
           [ 0.0596..., -0.0596...]], dtype=float32)
    """
    x = as_floating("softmax_with_loss", "x", x)
    x, t = batch_of_logits("softmax_with_loss", x, t)
    if jnp.issubdtype(t.dtype, jnp.integer):
        return _softmax_with_loss(*alike(x, t.astype(jnp.int32)))
    dtype = jnp.result_type(x, t)
    return _softmax_with_loss(*alike(x.astype(dtype), t.astype(dtype)))
