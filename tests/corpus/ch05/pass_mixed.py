# expect: pass
#
# A correct alternative: mul with jnp.multiply, add with ones_like, relu via jnp.maximum
# and a mask, affine with @, t's cotangent None, the hand-written book network.
"""Backprop homework, chapter 5. Check: python -m jaxbp.exercises check THIS_FILE"""

import jax
import jax.numpy as jnp


# ---- mul ----
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


# ---- add ----
def add_fwd(x, y):
    return jnp.add(x, y), None  # nothing to keep


def add_bwd(residuals, dout):
    local = jnp.ones_like(dout)  # d(x+y)/dx = d(x+y)/dy = 1
    return (dout * local, dout * local)


# ---- relu ----
def relu_fwd(x):
    mask = x <= 0  # True where the input is 0 or less (self.mask)
    out = jnp.maximum(x, 0.0)
    return out, mask


def relu_bwd(residuals, dout):
    mask = residuals
    dx = dout * jnp.logical_not(mask)  # zero where mask is True
    return (dx,)


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
def affine_fwd(x, W, b):
    return x @ W + b, (x, W)


def affine_bwd(residuals, dout):
    x, W = residuals
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


# ---- softmax with loss ----
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


# ---- two layer net ----
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
