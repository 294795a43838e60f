# expect: pass
#
# A student midway: mul, add, relu and sigmoid written and right, the rest not yet.
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
    """Forward pass (순전파) of affine, 5.6.2."""
    # self.x = x
    # self.W = W
    raise NotImplementedError


def affine_bwd(residuals, dout):
    """Backward pass (역전파) of affine, 5.6.2: returns (dx, dW, db)."""
    raise NotImplementedError


# ---- softmax with loss ----
def softmax_with_loss_fwd(x, t):
    """Forward pass (순전파) of softmax_with_loss, 5.6.3."""
    # self.t = t
    # self.y = softmax(x)
    # self.loss = cross_entropy_error(self.y, self.t)
    raise NotImplementedError


def softmax_with_loss_bwd(residuals, dout):
    """Backward pass (역전파) of softmax_with_loss, 5.6.3: returns (dx, None)."""
    raise NotImplementedError


# ---- two layer net ----
def custom_rule(fwd, bwd):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule."""

    @jax.custom_vjp
    def f(*args):
        return fwd(*args)[0]

    f.defvjp(fwd, bwd)
    return f


def two_layer_net_gradient(params, x, t):
    """TwoLayerNet's gradient by backpropagation (5.7.2), from your own rules."""
    raise NotImplementedError
