# expect: two_layer_net_gradient grads_structure
#
# network: the dict's keys in lower case (w1, b1, w2, b2).
"""Backprop homework, chapter 5. Check: python -m jaxbp.exercises check THIS_FILE"""

import jax
import jax.numpy as jnp
from collections import namedtuple
from jax.scipy.special import logsumexp


# ---- mul ----
MulCache = namedtuple("MulCache", ["x", "y"])


def mul_fwd(x, y):
    return x * y, MulCache(x=x, y=y)


def mul_bwd(residuals, dout):
    dx = dout * residuals.y
    dy = dout * residuals.x
    return (dx, dy)


# ---- add ----
def add_fwd(x, y):
    out = x + y
    residuals = None
    return out, residuals


def add_bwd(residuals, dout):
    dx = dout
    dy = dout
    return (dx, dy)


# ---- relu ----
def relu_fwd(x):
    keep = (x > 0).astype(x.dtype)  # 1 where x > 0, else 0
    return x * keep, keep


def relu_bwd(residuals, dout):
    keep = residuals
    return (dout * keep,)


# ---- sigmoid ----
def sigmoid_fwd(x):
    y = 1.0 / (1.0 + jnp.exp(-x))
    return y, (x, y)


def sigmoid_bwd(residuals, dout):
    x, y = residuals
    # 그림 5-20의 계산 그래프 그대로: dL/dy * y^2 * exp(-x)
    dx = dout * y ** 2 * jnp.exp(-x)
    return (dx,)


# ---- affine ----
AffineCache = namedtuple("AffineCache", "x W b")


def affine_fwd(x, W, b):
    return jnp.dot(x, W) + b, AffineCache(x, W, b)


def affine_bwd(residuals, dout):
    c = residuals
    dx = jnp.dot(dout, c.W.T)
    dW = jnp.dot(c.x.T, dout)
    db = jnp.sum(dout, axis=0)
    return dx, dW, db


# ---- softmax with loss ----
def softmax_with_loss_fwd(x, t):
    log_y = x - logsumexp(x, axis=1, keepdims=True)
    loss = -jnp.sum(t * log_y) / len(x)
    return loss, (jnp.exp(log_y), t)


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals
    n = len(t)
    return (y - t) * dout / n, None


# ---- two layer net ----
def two_layer_net_gradient(params, x, t):
    # forward
    a1, cache1 = affine_fwd(x, params["W1"], params["b1"])
    z1, cache2 = relu_fwd(a1)
    a2, cache3 = affine_fwd(z1, params["W2"], params["b2"])
    loss, cache4 = softmax_with_loss_fwd(a2, t)

    # backward
    dout = 1
    dout, _ = softmax_with_loss_bwd(cache4, dout)
    dout, dW2, db2 = affine_bwd(cache3, dout)
    (dout,) = relu_bwd(cache2, dout)
    dout, dW1, db1 = affine_bwd(cache1, dout)
    return {"w1": dW1, "b1": db1, "w2": dW2, "b2": db2}
