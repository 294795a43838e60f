# expect: pass
#
# A correct alternative: the book translated: where-masks, jnp.dot, log-softmax with the
# max subtracted, and a book-style hand-written backward of the network (dout = 1, then
# each layer's backward in reverse order).
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
    z = x - jnp.max(x, axis=1, keepdims=True)  # 오버플로 대책
    log_y = z - jnp.log(jnp.sum(jnp.exp(z), axis=1, keepdims=True))
    y = jnp.exp(log_y)  # self.y = softmax(x)
    loss = -jnp.sum(t * log_y) / x.shape[0]  # self.loss = cross_entropy_error(self.y, self.t)
    return loss, (y, t)  # self.t = t


def softmax_with_loss_bwd(residuals, dout):
    y, t = residuals
    batch_size = t.shape[0]
    dx = dout * (y - t) / batch_size
    return dx, None


# 5.7.2 오차역전파법을 적용한 신경망 (TwoLayerNet)
def two_layer_net_gradient(params, x, t):
    # 순전파
    a1, cache1 = affine_fwd(x, params["W1"], params["b1"])
    z1, cache2 = relu_fwd(a1)
    a2, cache3 = affine_fwd(z1, params["W2"], params["b2"])
    loss, cache4 = softmax_with_loss_fwd(a2, t)

    # 역전파
    dout = 1
    dout, _ = softmax_with_loss_bwd(cache4, dout)
    dout, dW2, db2 = affine_bwd(cache3, dout)
    (dout,) = relu_bwd(cache2, dout)
    dout, dW1, db1 = affine_bwd(cache1, dout)

    # 결과 저장
    grads = {}
    grads["W1"] = dW1
    grads["b1"] = db1
    grads["W2"] = dW2
    grads["b2"] = db2
    return grads
