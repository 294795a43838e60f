# expect: relu relu_mask_strict dx
# expect: two_layer_net_gradient *
#
# relu: dout * (x >= 0): the derivative at 0 taken as 1.
"""Chapter 5 exercises (Deep Learning from Scratch, backpropagation) in JAX.

(template header shortened)
"""

import jax
import jax.numpy as jnp


# ---- mul ----
def mul_fwd(x, y):
    return x * y, (x, y)


def mul_bwd(residuals, dout):
    x, y = residuals
    return (y * dout, x * dout)


# ---- add ----
def add_fwd(x, y):
    return x + y, ()


def add_bwd(residuals, dout):
    # 덧셈 노드는 상류 값을 그대로 흘려보낸다
    return (dout, dout)


# ---- relu ----
def relu_fwd(x):
    return jnp.maximum(x, 0), x


def relu_bwd(residuals, dout):
    x = residuals
    return (dout * (x >= 0),)


# ---- sigmoid ----
def sigmoid_fwd(x):
    y = jax.nn.sigmoid(x)
    return y, y


def sigmoid_bwd(residuals, dout):
    y = residuals
    return (dout * y * (1.0 - y),)


# ---- affine ----
def affine_fwd(x, W, b):
    return x @ W + b, (x, W)


def affine_bwd(residuals, dout):
    x, W = residuals
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


# ---- softmax with loss ----
def softmax_with_loss_fwd(x, t):
    log_y = jax.nn.log_softmax(x, axis=-1)
    loss = -jnp.mean(jnp.sum(t * log_y, axis=-1))
    return loss, (jnp.exp(log_y), t)


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals
    return (dout * (y - t) / y.shape[0], None)


# ---- two layer net ----
def custom_rule(fwd, bwd):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule."""

    @jax.custom_vjp
    def f(*args):
        return fwd(*args)[0]

    f.defvjp(fwd, bwd)
    return f


def two_layer_net_gradient(params, x, t):
    affine = custom_rule(affine_fwd, affine_bwd)
    relu = custom_rule(relu_fwd, relu_bwd)
    softmax_with_loss = custom_rule(softmax_with_loss_fwd, softmax_with_loss_bwd)

    def loss(params):
        h = relu(affine(x, params["W1"], params["b1"]))
        y = affine(h, params["W2"], params["b2"])
        return softmax_with_loss(y, t)

    return jax.grad(loss)(params)
