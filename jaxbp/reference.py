"""Plain-jnp twins of :mod:`jaxbp.layers` and the TwoLayerNet loss.

No custom rules here: these are the functions a JAX user would write, and
``jax.grad`` differentiates them with JAX's own rules.  The tests compare our
hand-written backward passes against ``jax.grad`` of these (the gradient
check's way (b), 5.7.3), and the benchmarks use them as the plain-JAX baseline.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["relu", "sigmoid", "affine", "softmax_with_loss", "predict", "loss"]


def relu(x):
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


def affine(x, W, b):
    if x.ndim == 1:
        return x @ W + b
    return x.reshape(x.shape[0], -1) @ W + b


def softmax_with_loss(x, t):
    if x.ndim == 1:
        x, t = x[None], t[None]
    logp = jax.nn.log_softmax(x, axis=-1)
    if jnp.issubdtype(t.dtype, jnp.integer):
        return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=-1))
    return -jnp.sum(t * logp) / x.shape[0]


def predict(params, x):
    h = relu(affine(x, params["W1"], params["b1"]))
    return affine(h, params["W2"], params["b2"])


def loss(params, x, t):
    return softmax_with_loss(predict(params, x), t)


# ---- chapter 7 twins ----
# Convolution and max pooling (7.4) as a JAX user would write them: XLA's own
# convolution, and a pooling whose jax.grad sends each window's gradient to
# the same element as the book's np.argmax (the first maximum, row-major).
__all__ += ["convolution", "max_pooling"]


def convolution(x, W, b, stride=1, pad=0):
    """``jax.lax.conv_general_dilated`` (NCHW input, OIHW filters) plus bias."""
    out = jax.lax.conv_general_dilated(
        x, W, (stride, stride), [(pad, pad), (pad, pad)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST)
    return out + b[None, :, None, None]


def max_pooling(x, pool_h, pool_w, stride=1, pad=0):
    """Max over each zero-padded window, picked by a one-hot of ``argmax``.

    The windows come from ``jax.lax.conv_general_dilated_patches`` (channel
    major, then row-major in the window, as the book's ``im2col``); the value
    is the window entry selected by a constant (non-differentiated) mask of
    ``argmax``, so ``jax.grad`` sends ``dout`` to the first maximum, the
    book's tie rule.  (``jax.lax.reduce_window`` with ``max`` computes the
    same values; its gradient's choice among ties is XLA's, not specified.)
    """
    N, C = x.shape[:2]
    patches = jax.lax.conv_general_dilated_patches(
        x, (pool_h, pool_w), (stride, stride), [(pad, pad), (pad, pad)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST)
    patches = patches.reshape(N, C, pool_h * pool_w, *patches.shape[2:])
    first_max = jax.lax.stop_gradient(
        jnp.argmax(patches, axis=2, keepdims=True) == jnp.arange(pool_h * pool_w)[:, None, None])
    return jnp.sum(jnp.where(first_max, patches, jnp.zeros_like(patches)), axis=2)


# ---- chapter 6 twins ----
# Dropout (6.4.3), Batch Normalization (6.3) and weight decay (6.4.2) written
# plainly; jax.grad differentiates them with its own rules.
__all__ += ["dropout", "batch_norm", "weight_decay_loss"]


def dropout(x, key, ratio=0.5, train=True):
    if not train:
        return x * (1.0 - ratio)
    return x * (jax.random.uniform(key, x.shape, x.dtype) > ratio)


def batch_norm(x, gamma, beta, state, train, momentum=0.9, eps=1e-6):
    x2 = x.reshape(x.shape[0], -1)
    if state is None:
        state = {"running_mean": jnp.zeros(x2.shape[1], x2.dtype),
                 "running_var": jnp.zeros(x2.shape[1], x2.dtype)}
    if train:
        mu = jnp.mean(x2, axis=0)
        var = jnp.var(x2, axis=0)
        xn = (x2 - mu) / jnp.sqrt(var + eps)
        state = {"running_mean": momentum * state["running_mean"] + (1 - momentum) * mu,
                 "running_var": momentum * state["running_var"] + (1 - momentum) * var}
    else:
        xn = (x2 - state["running_mean"]) / jnp.sqrt(state["running_var"] + eps)
    return (gamma * xn + beta).reshape(x.shape), state


def weight_decay_loss(weights, lambda_):
    return sum(0.5 * lambda_ * jnp.sum(W ** 2) for W in jax.tree_util.tree_leaves(weights))
