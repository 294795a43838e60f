"""Batch Normalization (book 6.3), weight decay (6.4.2) and Dropout (6.4.3).

As in :mod:`jaxbp.layers`, each layer is a pure function whose training-mode
forward pass is a :func:`jax.custom_vjp` rule: what the book's class keeps on
``self`` in ``forward`` is the rule's residual, and the backward rule applies
the book's formula to the incoming ``dout``.

    dropout       (6.4.3)  residual: mask = rand > ratio      dx = dout * mask
    batch_norm    (6.3.2)  residuals: xc, xn, std (and gamma) the book's
                           computational-graph backward (figure 6-17):
                           dbeta = sum(dout), dgamma = sum(xn * dout),
                           dx via dxn, dxc, dstd, dvar, dmu
    weight_decay_loss (6.4.2) residuals: W, lambda            dW = lambda * W

Test mode needs no rule: dropout scales by ``1 - ratio`` and batch_norm uses
the running statistics, both plain products whose JAX derivative is exact.

Nothing is hidden: dropout's randomness comes from an explicit ``key`` and
batch_norm's running mean and variance are an explicit ``state`` in and out.
Inside ``jax.shard_map`` a rule's inputs enter it with one varying-axes type
(:func:`jaxbp._cotangents.alike`), so each derivative comes back typed like its input.
The plain-jnp twins used by the tests are in :mod:`jaxbp.reference`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from jaxbp import _checks
from jaxbp._cotangents import alike
from jaxbp.layers import as_floating

__all__ = ["dropout", "dropout_mask", "batch_norm", "batch_norm_state", "weight_decay_loss"]


def _check_fraction(name: str, arg: str, value, closed: bool = False) -> Any:
    """``value`` a real number in [0, 1) (or [0, 1] if ``closed``), else an error; a
    traced one passes: returns whether it is in range (:func:`jaxbp._checks.in_range`)."""
    _checks.real(name, arg, value, low=0, high=1, high_open=not closed, traced=True)
    return _checks.in_range(value, low=0, high=1, high_open=not closed)


def _batched(name: str, x, min_ndim: int = 1, shapes: str = "(N, ...)"):
    x = as_floating(name, "x", x)
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: x must have shape {shapes}, got {x.shape}")
    if x.shape[0] == 0 or x.size == 0:
        raise ValueError(f"{name}: empty batch, x has shape {x.shape}")
    return x


# ---- Dropout (6.4.3) ------------------------------------------------------------
@jax.custom_vjp
def _dropout(x, mask):
    return x * mask.astype(x.dtype)


def _dropout_fwd(x, mask):
    return x * mask.astype(x.dtype), mask  # self.mask = rand(*x.shape) > ratio


def _dropout_bwd(mask, dout):
    return dout * mask.astype(dout.dtype), None  # return dout * self.mask


_dropout.defvjp(_dropout_fwd, _dropout_bwd)


def dropout_mask(
    key: jax.Array, shape: tuple[int, ...], ratio: float | jax.Array, dtype: DTypeLike = jnp.float32
) -> jax.Array:
    """The book's ``np.random.rand(*x.shape) > dropout_ratio``, from ``key``.

    Uniform numbers are drawn in ``dtype`` (the input's), so a float32 and a
    float64 network given the same key drop different units.

    ``key``: a ``jax.random`` key or an integer seed; ``ratio`` in [0, 1).

    >>> mask = dropout_mask(jax.random.PRNGKey(0), (1000,), 0.3)
    >>> mask.dtype.name, 0.6 < float(mask.mean()) < 0.8         # about 70% kept
    ('bool', True)
    """
    key = _checks.prng_key("dropout_mask", key)
    _check_fraction("dropout_mask", "ratio", ratio)
    dtype = _checks.float_dtype("dropout_mask", "dtype", dtype)
    shape = _checks.int_tuple("dropout_mask", "shape", tuple(shape), low=0)
    return jax.random.uniform(key, shape, dtype) > ratio


def dropout(
    x: ArrayLike, key: jax.Array | None, ratio: float = 0.5, train: bool = True
) -> jax.Array:
    """Dropout (6.4.3): drop each unit with probability ``ratio`` while training.

    ``x``: any ``(N, ...)`` floating array; ``key``: a ``jax.random`` key (used
    only when ``train``); ``ratio``: the book's ``dropout_ratio`` in [0, 1);
    ``train``: Python bool (the book's ``train_flg``).

    Training: ``out = x * mask`` with ``mask = uniform(key, x.shape) > ratio``;
    backward ``dx = dout * mask``.  Test: ``out = x * (1 - ratio)``, the
    book's scaling (no inverted dropout), differentiated by JAX.

    Raises ``ValueError`` for an empty batch, a ratio outside [0, 1) or a
    missing key in training, ``TypeError`` for a non-floating ``x``, a ratio
    that is not a number (``"0.5"``), or a ``train`` that is not a ``bool``
    (``"no"`` is not False) or is traced.  A traced ratio outside [0, 1) (or NaN)
    cannot raise: the output and its gradient are NaN.

    >>> x, key = jnp.ones((2, 4)), jax.random.PRNGKey(0)
    >>> out = dropout(x, key, 0.5)
    >>> bool(jnp.all((out == 0) | (out == 1)))                   # each unit kept or dropped
    True
    >>> g = jax.grad(lambda x: dropout(x, key, 0.5).sum())(x)    # dout * mask
    >>> bool(jnp.all(g == out))
    True
    >>> dropout(x, None, 0.5, train=False)[0]                    # test: x * (1 - ratio)
    Array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """
    x = _batched("dropout", x)
    ok = _check_fraction("dropout", "ratio", ratio)
    if not _checks.boolean("dropout", "train", train):
        return x * _checks.nan_unless(ok, 1.0 - ratio)  # x * (1.0 - self.dropout_ratio)
    if key is None:
        raise ValueError("dropout: train=True needs a jax.random key for the mask")
    key = _checks.prng_key("dropout", key)
    mask = _checks.nan_unless(ok, dropout_mask(key, x.shape, ratio, x.dtype), x.dtype)
    return _dropout(*alike(x, mask))


# ---- Batch Normalization (6.3) --------------------------------------------------
def _batch_norm_forward(x, gamma, beta, eps):
    mu = jnp.mean(x, axis=0)  # eq. 6.7: mini-batch mean
    xc = x - mu
    var = jnp.mean(xc**2, axis=0)  #          and variance
    std = jnp.sqrt(var + eps)
    xn = xc / std  # eq. 6.7: normalise
    return gamma * xn + beta, (xc, xn, std)  # eq. 6.8: scale and shift


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _batch_norm_train(x, gamma, beta, eps):
    return _batch_norm_forward(x, gamma, beta, eps)[0]


def _batch_norm_train_fwd(x, gamma, beta, eps):
    out, (xc, xn, std) = _batch_norm_forward(x, gamma, beta, eps)
    # self.xc = xc; self.xn = xn; self.std = std (and self.gamma)
    return out, (gamma, xc, xn, std)


def _batch_norm_train_bwd(eps, res, dout):
    gamma, xc, xn, std = res
    n = xc.shape[0]  # self.batch_size
    dbeta = jnp.sum(dout, axis=0)
    dgamma = jnp.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -jnp.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc = dxc + (2.0 / n) * xc * dvar
    dmu = jnp.sum(dxc, axis=0)
    dx = dxc - dmu / n
    return dx, dgamma, dbeta


_batch_norm_train.defvjp(_batch_norm_train_fwd, _batch_norm_train_bwd)


def batch_norm_state(n_features: int, dtype: DTypeLike = jnp.float32) -> dict[str, jax.Array]:
    """Initial running statistics: zeros, as the book's first ``forward``.

    >>> batch_norm_state(3)
    {'running_mean': Array([0., 0., 0.], dtype=float32),
     'running_var': Array([0., 0., 0.], dtype=float32)}
    """
    n_features = _checks.positive_int("batch_norm_state", "n_features", n_features)
    dtype = _checks.float_dtype("batch_norm_state", "dtype", dtype)
    return {
        "running_mean": jnp.zeros(n_features, dtype),
        "running_var": jnp.zeros(n_features, dtype),
    }


def _check_batch_norm_args(x, gamma, beta, state, momentum, eps):
    """Validate; return (x, gamma, beta, state) promoted to one floating dtype."""
    x = _batched("batch_norm", x, 2, "(N, D) or (N, C, H, W)")
    d = math.prod(x.shape[1:])
    where = f"x of shape {x.shape} (flattened to ({x.shape[0]}, {d}))"
    gamma = as_floating("batch_norm", "gamma", gamma)
    beta = as_floating("batch_norm", "beta", beta)
    for arg, v in (("gamma", gamma), ("beta", beta)):
        if v.shape != (d,):
            raise ValueError(f"batch_norm: {arg} must have shape ({d},) for {where}, got {v.shape}")
    if state is None:
        state = batch_norm_state(d, x.dtype)
    if not isinstance(state, dict) or set(state) != {"running_mean", "running_var"}:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"batch_norm: state must be a dict with keys running_mean and running_var, got {got}"
        )
    for arg, v in state.items():
        if jnp.shape(v) != (d,):
            raise ValueError(
                f"batch_norm: state[{arg!r}] must have shape ({d},) for {where}, got {jnp.shape(v)}"
            )
    _check_fraction("batch_norm", "momentum", momentum, closed=True)
    _checks.real("batch_norm", "eps", eps, low=0, low_open=True)  # static: never traced
    dtype = jnp.result_type(x, gamma, beta)
    state = {k: as_floating("batch_norm", k, v).astype(dtype) for k, v in state.items()}
    state["running_var"] = _variances(state["running_var"])
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), state


def _variances(var):
    """Running variances ``>= 0``: else ``ValueError``, or NaN in that feature when traced."""
    if isinstance(var, jax.core.Tracer):
        return _checks.nan_unless(var >= 0, var)  # NaN fails the test too
    values = np.asarray(var)  # concrete: read here, even while jit traces around it
    bad = values[~(values >= 0)]
    if bad.size:
        raise ValueError(f"batch_norm: state['running_var'] must be >= 0 (variances), got {bad[0]}")
    return var


def batch_norm(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    state: dict[str, ArrayLike] | None,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Batch Normalization (6.3.1-6.3.2, eq. 6.7-6.8), the book's layer.

    Shapes: ``x`` ``(N, D)`` or ``(N, C, H, W)``; any ``(N, ...)`` is
    flattened to ``(N, D)``, ``D = prod(x.shape[1:])``, as the book's
    ``x.reshape(N, -1)`` (one mean per feature, not per channel);
    ``gamma``, ``beta`` ``(D,)``; ``state`` ``{"running_mean": (D,),
    "running_var": (D,)}`` or ``None`` for zeros (the book's first call).
    ``eps = 1e-6`` is the book's ``10e-7``.

    Training: ``mu``, ``var`` over the batch, ``xn = (x - mu) / sqrt(var + eps)``,
    ``out = gamma * xn + beta``; new running stats
    ``momentum * running + (1 - momentum) * batch``.  The backward rule is the
    book's (residuals ``xc``, ``xn``, ``std``).  Test: ``xn`` from the running
    stats and ``state`` comes back unchanged.

    Returns ``(out, new_state)``, ``out`` of ``x``'s shape.  Raises
    ``ValueError`` for an empty batch, mismatched shapes (named), a negative or NaN
    running variance, a momentum outside [0, 1] or an ``eps`` that is not finite and
    > 0, and ``TypeError`` for non-floating inputs, a traced ``eps``, or a ``train``
    that is not a ``bool`` or is traced.  A traced running variance that is negative
    or NaN cannot raise: that feature's output, gradient and new variance are NaN.

    >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
    >>> out, state = batch_norm(x, jnp.ones(2), jnp.zeros(2), None, train=True)
    >>> out.round(4)                                   # each feature: mean 0, variance 1
    Array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> state["running_mean"]                          # 0.9 * 0 + 0.1 * mean
    Array([0.2, 2. ], dtype=float32)
    """
    x, gamma, beta, state = _check_batch_norm_args(x, gamma, beta, state, momentum, eps)
    eps = float(eps)
    x2 = x.reshape(x.shape[0], -1)
    rm, rv = state["running_mean"], state["running_var"]
    if _checks.boolean("batch_norm", "train", train):
        out = _batch_norm_train(*alike(x2, gamma, beta), eps)
        mu = jnp.mean(x2, axis=0)
        var = jnp.mean((x2 - mu) ** 2, axis=0)
        state = {
            "running_mean": momentum * rm + (1 - momentum) * mu,
            "running_var": momentum * rv + (1 - momentum) * var,
        }
    else:
        out = gamma * ((x2 - rm) / jnp.sqrt(rv + eps)) + beta
    return out.reshape(x.shape), state


# ---- Weight decay (6.4.2) -------------------------------------------------------
@jax.custom_vjp
def _weight_decay(W, lambda_):
    return 0.5 * lambda_ * jnp.sum(W**2)


def _weight_decay_fwd(W, lambda_):
    return _weight_decay(W, lambda_), (W, lambda_)  # the book reads self.params['W'] again


def _weight_decay_bwd(res, g):
    W, lambda_ = res
    dW = g * lambda_ * W  # + self.weight_decay_lambda * W
    return dW, g * 0.5 * jnp.sum(W**2)


_weight_decay.defvjp(_weight_decay_fwd, _weight_decay_bwd)


def weight_decay_loss(weights: Any, lambda_: float) -> jax.Array:
    """Weight decay term (6.4.2): ``0.5 * lambda * sum_W sum(W ** 2)``.

    ``weights``: an array or any pytree (list, dict) of weight arrays; the
    book sums over ``W1 .. W(L+1)``, never the biases.  Its derivative is the
    book's ``lambda * W`` per matrix.  Returns a scalar (0.0 for no weights).
    Raises ``ValueError`` for a negative or non-finite ``lambda_`` (NaN would make
    the loss NaN), ``TypeError`` for one that is not a number; a traced one that is
    negative or not finite cannot raise: the loss and its gradients are NaN.

    >>> W = jnp.array([[1.0, -2.0]])
    >>> float(weight_decay_loss({"W1": W}, 0.1))           # 0.5 * 0.1 * 5
    0.25
    >>> jax.grad(weight_decay_loss)({"W1": W}, 0.1)["W1"]  # lambda * W
    Array([[ 0.1, -0.2]], dtype=float32)
    """
    _checks.real("weight_decay_loss", "lambda_", lambda_, low=0, traced=True)
    ok = _checks.in_range(lambda_, low=0)
    total = jnp.zeros([], jnp.float32)
    for W in jax.tree_util.tree_leaves(weights):
        W = as_floating("weight_decay_loss", "W", W)
        lam = _checks.nan_unless(ok, jnp.asarray(lambda_, W.dtype))
        total = total + _weight_decay(*alike(W, lam))
    return total
