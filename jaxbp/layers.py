"""Layers of the network (book sections 5.5-5.6) as pure functions.

Each layer is a pure forward function with a hand-written
:func:`jax.custom_vjp` rule.  Where the book's layer class stores something on
``self`` in ``forward`` (``self.mask``, ``self.out``, ``self.x`` ...), our
forward rule returns it as the *residual*; the backward rule receives the
residual and the upstream derivative ``dout`` and applies the book's formula.

    relu               (5.5.1)  residual: mask = (x <= 0)        dx = dout * !mask
    sigmoid            (5.5.2)  residual: y                      dx = dout * y * (1 - y)
    affine             (5.6.1-2) residuals: x, W                 dx = dout W^T, dW = x^T dout,
                                                                 db = sum(dout, axis=0)
    softmax_with_loss  (5.6.3)  residuals: y = softmax(x), t     dx = g * (y - t) / N

Public functions validate shapes and dtypes (once, at trace time), promote the
inputs to a common floating dtype, and then call the private ``custom_vjp``
function; dtype promotions therefore happen outside the rule and ``jax.grad``
casts each gradient back to its input's dtype.

The plain-jnp twins used by the tests live in :mod:`jaxbp.reference`.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["relu", "sigmoid", "affine", "softmax", "cross_entropy_error",
           "softmax_with_loss"]


def _floating(name: str, arg: str, x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: {arg} must be a floating-point array, got dtype "
                        f"{x.dtype} (normalise images first, e.g. x / 255)")
    return x


# ---- ReLU (5.5.1) -----------------------------------------------------------
@jax.custom_vjp
def _relu(x):
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def _relu_fwd(x):
    mask = x <= 0                                    # self.mask = (x <= 0)
    return jnp.where(mask, jnp.zeros_like(x), x), mask


def _relu_bwd(mask, dout):
    return (jnp.where(mask, jnp.zeros_like(dout), dout),)   # dout[self.mask] = 0


_relu.defvjp(_relu_fwd, _relu_bwd)


def relu(x):
    """ReLU, eq. 5.7: ``y = x if x > 0 else 0``; any shape.

    Backward (eq. 5.8): ``dx = dout`` where ``x > 0`` and 0 where ``x <= 0``
    (so the derivative at exactly 0 is 0, as the book's ``Relu`` layer).
    """
    return _relu(_floating("relu", "x", x))


# ---- Sigmoid (5.5.2) --------------------------------------------------------
@jax.custom_vjp
def _sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


def _sigmoid_fwd(x):
    y = 1 / (1 + jnp.exp(-x))                        # self.out = out
    return y, y


def _sigmoid_bwd(y, dout):
    return (dout * y * (1 - y),)                     # eq. 5.12 / figure 5-21


_sigmoid.defvjp(_sigmoid_fwd, _sigmoid_bwd)


def sigmoid(x):
    """Sigmoid, eq. 5.9: ``y = 1 / (1 + exp(-x))``; any shape.

    Backward (figure 5-20, simplified in figure 5-21):
    ``dx = dout * y * (1 - y)``, using only the stored output ``y``.
    For very negative ``x``, ``exp(-x)`` overflows to ``inf`` and ``y`` is
    exactly 0 (no NaN).
    """
    return _sigmoid(_floating("sigmoid", "x", x))


# ---- Affine (5.6.1, 5.6.2) --------------------------------------------------
def _as_batch(x):
    """(n,) -> (1, n) (5.6.1); (N, ...) -> (N, prod(...)) (the later Affine)."""
    if x.ndim == 1:
        return x[None, :]
    return x.reshape(x.shape[0], -1)


@jax.custom_vjp
def _affine(x, W, b):
    out = _as_batch(x) @ W + b
    return out[0] if x.ndim == 1 else out


def _affine_fwd(x, W, b):
    return _affine(x, W, b), (x, W)                  # self.x = x (and self.W)


def _affine_bwd(res, dout):
    x, W = res
    x2 = _as_batch(x)
    dout2 = dout[None, :] if dout.ndim == 1 else dout
    dx = (dout2 @ W.T).reshape(x.shape)              # eq. 5.13: dL/dX = dL/dY . W^T
    dW = x2.T @ dout2                                #           dL/dW = X^T . dL/dY
    db = jnp.sum(dout2, axis=0)                      # 5.6.2: sum over the batch
    return dx, dW, db


_affine.defvjp(_affine_fwd, _affine_bwd)


def affine(x, W, b):
    """Affine layer ``Y = X . W + B`` (5.6.1 eq. 5.13, batch version 5.6.2).

    Shapes:
      * ``x``: ``(n,)`` for one sample (5.6.1), ``(N, n)`` for a batch (5.6.2),
        or ``(N, d1, d2, ...)`` with ``d1 * d2 * ... == n``, flattened to
        ``(N, n)`` and reshaped back in ``dx`` (the book's later ``Affine``);
      * ``W``: ``(n, m)``; ``b``: ``(m,)``;
      * result ``(m,)`` for one sample, else ``(N, m)``.

    Backward (figures 5-25 and 5-27): ``dx = dout . W^T``,
    ``dW = x^T . dout``, ``db = sum(dout, axis=0)``.

    Raises ``ValueError`` for mismatched features or a bias of the wrong shape
    and ``TypeError`` for non-floating inputs.
    """
    x = _floating("affine", "x", x)
    W = _floating("affine", "W", W)
    b = _floating("affine", "b", b)
    if W.ndim != 2:
        raise ValueError(f"affine: W must be 2-D (n_in, n_out), got shape {W.shape}")
    if x.ndim == 0:
        raise ValueError("affine: x must have at least one axis, got a scalar")
    n_in = x.shape[0] if x.ndim == 1 else math.prod(x.shape[1:])
    if n_in != W.shape[0]:
        raise ValueError(
            f"affine: x of shape {x.shape} has {n_in} features but W of shape "
            f"{W.shape} expects {W.shape[0]}")
    if b.shape != (W.shape[1],):
        raise ValueError(
            f"affine: b must have shape ({W.shape[1]},) to match W of shape "
            f"{W.shape}, got {b.shape}")
    dtype = jnp.result_type(x, W, b)
    return _affine(x.astype(dtype), W.astype(dtype), b.astype(dtype))


# ---- Softmax-with-Loss (5.6.3) ----------------------------------------------
def softmax(x):
    """Softmax over the last axis, max-shifted for stability (3.5.2, eq. 3.11)."""
    x = _floating("softmax", "x", x)
    e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _log_softmax(x):
    shifted = x - jnp.max(x, axis=-1, keepdims=True)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def check_label_range(t, n_classes, name):
    """Raise ``ValueError`` if concrete integer labels fall outside ``[0, n_classes)``.

    Tracers (labels inside ``jit``) cannot be checked and pass; callers that
    jit validate once on concrete data instead (:mod:`jaxbp.train` on load,
    :func:`jaxbp.two_layer_net.loss` before its jitted call).
    """
    if isinstance(t, jax.core.Tracer):
        return
    tn = np.asarray(t)
    if np.issubdtype(tn.dtype, np.integer) and tn.size and (
            tn.min() < 0 or tn.max() >= n_classes):
        raise ValueError(
            f"{name}: labels must be in [0, {n_classes - 1}] for {n_classes} "
            f"classes, got values in [{tn.min()}, {tn.max()}]")


def _labels(name: str, x, t):
    """Validate labels ``t`` for logits ``x``; return (t, is_index_labels)."""
    t = jnp.asarray(t) if not isinstance(t, jax.core.Tracer) else t
    n_class = x.shape[-1]
    if jnp.issubdtype(t.dtype, jnp.integer):
        if t.shape != x.shape[:-1]:
            raise ValueError(
                f"{name}: integer labels t must have shape {x.shape[:-1]} for "
                f"x of shape {x.shape}, got {t.shape}")
        check_label_range(t, n_class, name)
        return t, True
    if jnp.issubdtype(t.dtype, jnp.floating):
        if t.shape != x.shape:
            raise ValueError(
                f"{name}: one-hot labels t must have the shape of x {x.shape}, "
                f"got {t.shape} (pass integer class indices for shape "
                f"{x.shape[:-1]})")
        return t, False
    raise TypeError(f"{name}: labels t must be integer class indices or "
                    f"floating one-hot rows, got dtype {t.dtype}")


def cross_entropy_error(y, t):
    """Cross-entropy error of probabilities ``y`` (4.2.2, eq. 4.2; batch 4.2.4).

    ``y``: ``(C,)`` or ``(N, C)`` probabilities; ``t`` one-hot of the same
    shape or integer indices of shape ``y.shape[:-1]``.  Returns the mean over
    the batch.  Unlike the book there is no ``+ 1e-7`` inside the log:
    ``0 * log 0`` is taken as 0 (``xlogy``), and a zero probability on the
    true class gives ``inf``, not a made-up finite number.
    """
    y = _floating("cross_entropy_error", "y", y)
    if y.ndim == 1:
        y, t = y[None], jnp.asarray(t)[None]
    t, is_index = _labels("cross_entropy_error", y, t)
    if is_index:
        t = jax.nn.one_hot(t, y.shape[-1], dtype=y.dtype)
    return -jnp.sum(jax.scipy.special.xlogy(t.astype(y.dtype), y)) / y.shape[0]


@jax.custom_vjp
def _softmax_with_loss(x, t):
    return -jnp.sum(t * _log_softmax(x)) / x.shape[0]


def _swl_fwd(x, t):
    logp = _log_softmax(x)
    y = jnp.exp(logp)                                # self.y = softmax(x)
    loss = -jnp.sum(t * logp) / x.shape[0]           # self.loss = cross_entropy_error(y, t)
    return loss, (y, t, logp)                        # self.t = t


def _swl_bwd(res, g):
    y, t, logp = res
    n = y.shape[0]
    dx = g * (y - t) / n                             # book: (self.y - self.t) / batch_size
    dt = -g * logp / n                               # (the book never needs dL/dt)
    return dx, dt


_softmax_with_loss.defvjp(_swl_fwd, _swl_bwd)


@jax.custom_vjp
def _softmax_with_loss_idx(x, t):
    logp = _log_softmax(x)
    return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=-1))


def _swl_idx_fwd(x, t):
    logp = _log_softmax(x)
    y = jnp.exp(logp)
    loss = -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=-1))
    return loss, (y, t)


def _swl_idx_bwd(res, g):
    y, t = res
    n = y.shape[0]
    dx = g * (y - jax.nn.one_hot(t, y.shape[-1], dtype=y.dtype)) / n
    return dx, None                                  # integer labels: no cotangent


_softmax_with_loss_idx.defvjp(_swl_idx_fwd, _swl_idx_bwd)


def softmax_with_loss(x, t):
    """Softmax followed by the cross-entropy error, fused (5.6.3, figure 5-30).

    ``x``: logits ``(N, C)`` (or ``(C,)`` for one sample, a batch of 1);
    ``t``: one-hot float labels of the same shape, or integer class indices of
    shape ``(N,)``.  Returns the scalar mean loss
    ``L = -1/N sum_n sum_k t_nk log y_nk`` with ``y = softmax(x)``.

    The forward pass is exact and stable: ``log y = x - max(x) - log sum
    exp(x - max(x))`` (log-sum-exp), finite for logits of +-1e4.  The book adds
    ``1e-7`` inside the log of ``cross_entropy_error``; that constant makes its
    own backward ``(y - t) / N`` disagree with its forward (the book's code
    gives b2 differences of about 1.4e-7 in the 5.7.3 gradient check; exact
    log-sum-exp gives about 1e-10 there), so it is left out.

    Backward (figure 5-30): ``dx = g * (y - t) / N`` with ``g`` the incoming
    cotangent (the book's ``backward(dout=1)`` ignores ``dout``; we cannot, or
    ``2 * loss`` would have the wrong gradient).  For one-hot ``t`` the rule
    also returns ``dt = -g * log(y) / N``; integer labels get no cotangent.

    Integer labels are range-checked when ``t`` is a concrete array; under
    ``jit`` the caller validates them once (the trainer does so on loading).
    """
    x = _floating("softmax_with_loss", "x", x)
    if x.ndim not in (1, 2):
        raise ValueError(f"softmax_with_loss: x must be (N, C) or (C,), got {x.shape}")
    single = x.ndim == 1
    if single:
        x = x[None]
        t = t[None] if isinstance(t, jax.core.Tracer) else jnp.asarray(t)[None]
    t, is_index = _labels("softmax_with_loss", x, t)
    if is_index:
        return _softmax_with_loss_idx(x, t.astype(jnp.int32))
    dtype = jnp.result_type(x, t)
    return _softmax_with_loss(x.astype(dtype), t.astype(dtype))
