"""Plain-jnp twins of :mod:`jaxbp.layers` and the TwoLayerNet loss.

No custom rules here: these are the functions a JAX user would write, and
``jax.grad`` differentiates them with JAX's own rules.  The tests compare our
hand-written backward passes against ``jax.grad`` of these (the gradient
check's way (b), 5.7.3), and the benchmarks use them as the plain-JAX baseline.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["add", "mul", "relu", "sigmoid", "affine", "softmax_with_loss",
           "predict", "loss"]


def add(x, y):
    return x + y


def mul(x, y):
    return x * y


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
