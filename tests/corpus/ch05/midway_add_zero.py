# expect: add zeros dy
#
# A student midway: mul and add written (add returns (dout, 0)), the rest not yet.
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
    return x + y, None


def add_bwd(residuals, dout):
    return dout, 0


# 5.5.1 ReLU 계층
def relu_fwd(x):
    """Forward pass (순전파) of relu, 5.5.1."""
    # self.mask = (x <= 0)
    raise NotImplementedError


def relu_bwd(residuals, dout):
    """Backward pass (역전파) of relu, 5.5.1: returns (dx,)."""
    raise NotImplementedError


# 5.5.2 Sigmoid 계층
def sigmoid_fwd(x):
    """Forward pass (순전파) of sigmoid, 5.5.2."""
    # self.out = out
    raise NotImplementedError


def sigmoid_bwd(residuals, dout):
    """Backward pass (역전파) of sigmoid, 5.5.2: returns (dx,)."""
    raise NotImplementedError


# 5.6.2 Affine 계층 (배치용)
def affine_fwd(x, W, b):
    """Forward pass (순전파) of affine, 5.6.2."""
    # self.x = x
    # self.W = W
    raise NotImplementedError


def affine_bwd(residuals, dout):
    """Backward pass (역전파) of affine, 5.6.2: returns (dx, dW, db)."""
    raise NotImplementedError


# 5.6.3 Softmax-with-Loss 계층
def softmax_with_loss_fwd(x, t):
    """Forward pass (순전파) of softmax_with_loss, 5.6.3."""
    # self.t = t
    # self.y = softmax(x)
    # self.loss = cross_entropy_error(self.y, self.t)
    raise NotImplementedError


def softmax_with_loss_bwd(residuals, dout):
    """Backward pass (역전파) of softmax_with_loss, 5.6.3: returns (dx, None)."""
    raise NotImplementedError


# 5.7.2 오차역전파법을 적용한 신경망 (TwoLayerNet)
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
