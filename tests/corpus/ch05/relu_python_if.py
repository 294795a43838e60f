# expect: relu not_traceable
# expect: two_layer_net_gradient *
#
# relu: a Python if on the array, as for one number.
"""Chapter 5 exercises (Deep Learning from Scratch, backpropagation) in JAX.

Each rule of the chapter is a pair of functions, JAX's own custom_vjp pair:

    NAME_fwd(inputs...) -> (out, residuals)
        the forward pass (순전파); residuals are what the book's layer keeps on
        self (the comments show the book's lines) for the backward pass;
    NAME_bwd(residuals, dout) -> (dx, ...)
        the backward pass (역전파): one cotangent per input, in order, always a
        tuple (note the comma in (dx,)); dout is the upstream derivative
        (상류에서 넘어온 미분), the chain rule (연쇄법칙) multiplies it by the
        local derivative (국소적 미분).

Use jax.numpy (jnp), not in-place NumPy updates.  Check your work with

    python -m jaxbp.exercises check THIS_FILE [NAME ...]

A function that still raises NotImplementedError is skipped.
"""

import jax
import jax.numpy as jnp


# ---- mul (5.4.1) ---------------------------------------------------------------------
def mul_fwd(x, y):
    residuals = {"x": x, "y": y}  # self.x = x, self.y = y
    return x * y, residuals


def mul_bwd(residuals, dout):
    # swap: dx gets y, dy gets x
    return (dout * residuals["y"], dout * residuals["x"])


# ---- add (5.4.2) ---------------------------------------------------------------------
def add_fwd(x, y):
    return jnp.add(x, y), None  # nothing to keep


def add_bwd(residuals, dout):
    local = jnp.ones_like(dout)  # d(x+y)/dx = d(x+y)/dy = 1
    return (dout * local, dout * local)


# ---- relu (5.5.1) --------------------------------------------------------------------
def relu_fwd(x):
    if x > 0:
        return x, x
    else:
        return 0 * x, x


def relu_bwd(residuals, dout):
    x = residuals
    if x > 0:
        return (dout,)
    return (0 * dout,)


# ---- sigmoid (5.5.2) -----------------------------------------------------------------
def sigmoid_fwd(x):
    # self.out 대신 x를 저장하고, 역전파에서 y를 다시 계산한다
    return 1 / (1 + jnp.exp(-x)), x


def sigmoid_bwd(residuals, dout):
    x = residuals
    y = 1 / (1 + jnp.exp(-x))
    return (dout * y * (1 - y),)


# ---- affine (5.6.2) ------------------------------------------------------------------
def affine_fwd(x, W, b):
    cache = {"x": x, "W": W}  # self.x = x, self.W = W
    return jnp.matmul(x, W) + b, cache


def affine_bwd(residuals, dout):
    x, W = residuals["x"], residuals["W"]
    dx = jnp.matmul(dout, jnp.transpose(W))
    dW = jnp.matmul(jnp.transpose(x), dout)
    db = jnp.sum(dout, axis=0)  # 배치 방향으로 합한다
    return (dx, dW, db)


# ---- softmax_with_loss (5.6.3) -------------------------------------------------------
def softmax_with_loss_fwd(x, t):
    # log-softmax so that log never sees 0
    shifted = x - jnp.max(x, axis=-1, keepdims=True)
    log_y = shifted - jnp.log(jnp.exp(shifted).sum(axis=-1, keepdims=True))
    loss = -(t * log_y).sum() / x.shape[0]
    cache = {"y": jnp.exp(log_y), "t": t}
    return loss, cache


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals["y"], residuals["t"]
    dx = dout * (y - t) / t.shape[0]
    dt = jnp.zeros_like(t)  # 정답 레이블은 미분하지 않는다
    return (dx, dt)


# ---- TwoLayerNet's gradient (5.7.2) -------------------------------------------------
def make_rule(fwd, bwd):
    f = jax.custom_vjp(lambda *args: fwd(*args)[0])
    f.defvjp(fwd, bwd)
    return f


affine = make_rule(affine_fwd, affine_bwd)
relu = make_rule(relu_fwd, relu_bwd)
softmax_with_loss = make_rule(softmax_with_loss_fwd, softmax_with_loss_bwd)


def predict(params, x):
    h = relu(affine(x, params["W1"], params["b1"]))
    return affine(h, params["W2"], params["b2"])


def loss(params, x, t):
    return softmax_with_loss(predict(params, x), t)


def two_layer_net_gradient(params, x, t):
    loss_value, grads = jax.value_and_grad(loss)(params, x, t)
    return grads
