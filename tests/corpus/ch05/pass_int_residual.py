# expect: pass
#
# A correct alternative: softmax_with_loss keeps the batch size (a Python int) among its
# residuals, and the network is the template's jax.grad.
"""5장 오차역전파법 실습 과제 (JAX custom_vjp 버전).

NAME_fwd(입력...) -> (out, residuals), NAME_bwd(residuals, dout) -> (dx, ...)
"""

import jax
import jax.numpy as jnp


# 5.4.1 곱셈 계층
def mul_fwd(x, y):
    out = x * y
    # self.x = x
    # self.y = y
    return out, (x, y)


def mul_bwd(residuals, dout):
    x, y = residuals
    dx = dout * y  # x와 y를 바꾼다.
    dy = dout * x
    return dx, dy


# 5.4.2 덧셈 계층
def add_fwd(x, y):
    out = x + y
    return out, None  # 덧셈 노드는 아무것도 저장하지 않는다 (pass)


def add_bwd(residuals, dout):
    dx = dout * 1
    dy = dout * 1
    return dx, dy


# 5.5.1 ReLU 계층
def relu_fwd(x):
    mask = (x <= 0)  # self.mask = (x <= 0)
    out = jnp.where(mask, 0.0, x)  # out[self.mask] = 0 대신
    return out, mask


def relu_bwd(residuals, dout):
    mask = residuals
    dx = jnp.where(mask, 0.0, dout)  # dout[self.mask] = 0 대신
    return (dx,)


# 5.5.2 Sigmoid 계층
def sigmoid_fwd(x):
    out = 1 / (1 + jnp.exp(-x))
    # self.out = out
    return out, out


def sigmoid_bwd(residuals, dout):
    out = residuals
    dx = dout * (1.0 - out) * out
    return (dx,)


# 5.6.2 Affine 계층 (배치용)
def affine_fwd(x, W, b):
    out = jnp.dot(x, W) + b
    # self.x = x
    # self.W = W
    return out, (x, W)


def affine_bwd(residuals, dout):
    x, W = residuals
    dx = jnp.dot(dout, W.T)
    dW = jnp.dot(x.T, dout)
    db = jnp.sum(dout, axis=0)
    return dx, dW, db


# 5.6.3 Softmax-with-Loss 계층
def softmax_with_loss_fwd(x, t):
    batch_size = x.shape[0]
    y = jax.nn.softmax(x, axis=1)
    loss = -jnp.sum(t * jax.nn.log_softmax(x, axis=1)) / batch_size
    return loss, (y, t, batch_size)


def softmax_with_loss_bwd(residuals, dout):
    y, t, batch_size = residuals
    return (dout * (y - t) / batch_size, None)


# 5.7.2 오차역전파법을 적용한 신경망 (TwoLayerNet)
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
