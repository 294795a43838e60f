# expect: affine wrong_axis db
# expect: two_layer_net_gradient *
# note: softmax_with_loss book_epsilon
#
# affine: db = jnp.sum(dout) with no axis: summed over the batch and the outputs.
"""딥러닝 기초 과제 #5 - 계층 구현 (순전파/역전파)"""

import jax
import jax.numpy as jnp


# 5.4.1 곱셈 계층
def mul_fwd(x, y):
    # 역전파 때 x와 y를 바꿔 곱하니까, 처음부터 바꿔서 (y, x)로 저장해 둔다
    return x * y, (y, x)


def mul_bwd(residuals, dout):
    y, x = residuals
    return dout * y, dout * x


# 5.4.2 덧셈 계층
def add_fwd(x, y):
    return x + y, ()


def add_bwd(residuals, dout):
    # 덧셈 노드는 상류 값을 그대로 흘려보낸다
    return (dout, dout)


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
    db = jnp.sum(dout)
    return dx, dW, db


# 5.6.3 Softmax-with-Loss 계층
def softmax(x):
    x = x - jnp.max(x, axis=-1, keepdims=True)  # 오버플로 대책
    return jnp.exp(x) / jnp.sum(jnp.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    batch_size = y.shape[0]
    return -jnp.sum(t * jnp.log(y + 1e-7)) / batch_size


def softmax_with_loss_fwd(x, t):
    # self.t = t
    y = softmax(x)  # self.y = softmax(x)
    loss = cross_entropy_error(y, t)  # self.loss = cross_entropy_error(self.y, self.t)
    return loss, (y, t)


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals
    batch_size = t.shape[0]
    dx = (y - t) / batch_size
    return dx * dout, None


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
