"""The project's own answers to chapter 5's exercises (``python -m jaxbp.exercises``).

The template (``python -m jaxbp.exercises new``) with every body written: the
tests grade this file (every exercise must pass) and fill the exercises
notebook's cells from it.  Kept out of the package, so that learners write
their own.
"""

import jax
import jax.numpy as jnp


# ---- mul (5.4.1) ----
def mul_fwd(x, y):
    return x * y, (x, y)  # self.x = x; self.y = y


def mul_bwd(residuals, dout):
    x, y = residuals
    return dout * y, dout * x  # swap x and y


# ---- add (5.4.2) ----
def add_fwd(x, y):
    return x + y, None  # the addition node stores nothing


def add_bwd(residuals, dout):
    return dout * 1, dout * 1


# ---- relu (5.5.1) ----
def relu_fwd(x):
    mask = x <= 0  # self.mask = (x <= 0)
    return jnp.where(mask, 0.0, x), mask


def relu_bwd(residuals, dout):
    mask = residuals
    return (jnp.where(mask, 0.0, dout),)  # dout[self.mask] = 0


# ---- sigmoid (5.5.2) ----
def sigmoid_fwd(x):
    out = 1 / (1 + jnp.exp(-x))
    return out, out  # self.out = out


def sigmoid_bwd(residuals, dout):
    y = residuals
    return (dout * y * (1 - y),)


# ---- affine (5.6.2) ----
def affine_fwd(x, W, b):
    return x @ W + b, (x, W)  # self.x = x; self.W = W


def affine_bwd(residuals, dout):
    x, W = residuals
    return dout @ W.T, x.T @ dout, jnp.sum(dout, axis=0)


# ---- softmax_with_loss (5.6.3) ----
def softmax_with_loss_fwd(x, t):
    z = x - jnp.max(x, axis=-1, keepdims=True)
    log_y = z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))
    loss = -jnp.sum(t * log_y) / x.shape[0]  # self.loss = cross_entropy_error(self.y, self.t)
    return loss, (jnp.exp(log_y), t)  # self.y = softmax(x); self.t = t


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals
    return dout * (y - t) / t.shape[0], None  # labels are not differentiated


# ---- TwoLayerNet's gradient (5.7.2) ----
def custom_rule(fwd, bwd):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule."""

    def f(*args):
        return fwd(*args)[0]

    f.__name__ = fwd.__name__.removesuffix("_fwd")  # the rule check names it: relu, affine
    f = jax.custom_vjp(f)
    f.defvjp(fwd, bwd)
    return f


def two_layer_net_gradient(params, x, t):
    affine = custom_rule(affine_fwd, affine_bwd)
    relu = custom_rule(relu_fwd, relu_bwd)
    softmax_with_loss = custom_rule(softmax_with_loss_fwd, softmax_with_loss_bwd)

    def loss(params):
        h = relu(affine(x, params["W1"], params["b1"]))
        return softmax_with_loss(affine(h, params["W2"], params["b2"]), t)

    return jax.grad(loss)(params)
