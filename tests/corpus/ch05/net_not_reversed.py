# expect: two_layer_net_gradient layers_order
#
# network: the book's loop over the layers without layers.reverse(): Affine1's backward
# first.
"""Backprop homework, chapter 5. Check: python -m jaxbp.exercises check THIS_FILE"""

import jax
import jax.numpy as jnp
from collections import namedtuple
from collections import OrderedDict
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
    layers = OrderedDict()
    layers["Affine1"] = (affine_fwd, affine_bwd, ("W1", "b1"))
    layers["Relu1"] = (relu_fwd, relu_bwd, ())
    layers["Affine2"] = (affine_fwd, affine_bwd, ("W2", "b2"))

    caches = {}
    out = x
    for name, (fwd, _, keys) in layers.items():
        out, caches[name] = fwd(out, *[params[k] for k in keys])
    loss, last_cache = softmax_with_loss_fwd(out, t)

    dout = 1
    dout, _ = softmax_with_loss_bwd(last_cache, dout)
    grads = {}
    for name, (_, bwd, keys) in layers.items():
        dout, *dparams = bwd(caches[name], dout)
        for k, g in zip(keys, dparams):
            grads[k] = g
    return grads
