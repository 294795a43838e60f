# expect: pass
#
# A correct alternative: turns on float64 itself at import and writes the network's loss
# as a loop over the two Affine layers, differentiated by jax.grad of a closure.
"""Chapter 5 exercises (Deep Learning from Scratch, backpropagation) in JAX.

(template header shortened)
"""

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)  # 수치 미분이랑 비교하려고


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
    return (dout * (x > 0),)


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
        out = x
        for W, b in (("W1", "b1"), ("W2", "b2")):
            out = affine(out, params[W], params[b])
            if W == "W1":
                out = relu(out)
        return softmax_with_loss(out, t)

    return jax.grad(loss)(params)
