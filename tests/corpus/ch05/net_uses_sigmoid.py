# expect: two_layer_net_gradient values
#
# network: the hidden layer uses the sigmoid rule instead of relu. Fits no kind: values.
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
    """out = x * y; keeps x and y like self.x, self.y."""
    out = jnp.multiply(x, y)
    saved = (x, y)
    return out, saved


def mul_bwd(residuals, dout):
    """Local derivatives: d(xy)/dx = y, d(xy)/dy = x."""
    x, y = residuals
    dx = jnp.multiply(dout, y)
    dy = jnp.multiply(dout, x)
    return (dx, dy)


# ---- add (5.4.2) ---------------------------------------------------------------------
def add_fwd(x, y):
    out = x + y
    return out, None  # 덧셈 노드는 아무것도 저장하지 않는다 (pass)


def add_bwd(residuals, dout):
    dx = dout * 1
    dy = dout * 1
    return dx, dy


# ---- relu (5.5.1) --------------------------------------------------------------------
def relu_fwd(x):
    # self.mask = (x <= 0)
    mask = x <= 0
    return jnp.clip(x, 0, None), mask


def relu_bwd(residuals, dout):
    mask = residuals
    dx = jnp.where(mask, jnp.zeros_like(dout), dout)
    return (dx,)


# ---- sigmoid (5.5.2) -----------------------------------------------------------------
def sigmoid_fwd(x):
    out = 0.5 * (jnp.tanh(x / 2) + 1)  # same as 1 / (1 + exp(-x))
    return out, out  # self.out = out


def sigmoid_bwd(residuals, dout):
    out = residuals
    return (dout * out * (1 - out),)


# ---- affine (5.6.2) ------------------------------------------------------------------
def affine_fwd(x, W, b):
    return x @ W + b, (x, W)


def affine_bwd(residuals, dout):
    x, W = residuals
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


# ---- softmax_with_loss (5.6.3) -------------------------------------------------------
def softmax_with_loss_fwd(x, t):
    log_y = jax.nn.log_softmax(x)
    loss = -jnp.sum(t * log_y) / x.shape[0]
    return loss, (log_y, t)


def softmax_with_loss_bwd(residuals, dout):
    log_y, t = residuals
    n = t.shape[0]
    dx = dout * (jnp.exp(log_y) - t) / n
    # the loss is -sum(t * log y) / N, so d loss / d t = -log(y) / N
    dt = -dout * log_y / n
    return dx, dt


# ---- TwoLayerNet's gradient (5.7.2) -------------------------------------------------
def custom_rule(fwd, bwd):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule."""

    @jax.custom_vjp
    def f(*args):
        return fwd(*args)[0]

    f.defvjp(fwd, bwd)
    return f


def two_layer_net_gradient(params, x, t):
    Affine = custom_rule(affine_fwd, affine_bwd)
    Sigmoid = custom_rule(sigmoid_fwd, sigmoid_bwd)
    SoftmaxWithLoss = custom_rule(softmax_with_loss_fwd, softmax_with_loss_bwd)

    def loss(W1, b1, W2, b2):
        a1 = Affine(x, W1, b1)
        z1 = Sigmoid(a1)
        a2 = Affine(z1, W2, b2)
        return SoftmaxWithLoss(a2, t)

    dW1, db1, dW2, db2 = jax.grad(loss, argnums=(0, 1, 2, 3))(
        params["W1"], params["b1"], params["W2"], params["b2"]
    )
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
