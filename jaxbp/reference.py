"""Plain-jnp twins of :mod:`jaxbp.layers` and the TwoLayerNet loss.

No custom rules here: these are the functions a JAX user would write, and
``jax.grad`` differentiates them with JAX's own rules.  The tests compare our
hand-written backward passes against ``jax.grad`` of these (the gradient
check's way (b), 5.7.3), and the benchmarks use them as the plain-JAX baseline.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["relu", "sigmoid", "affine", "softmax_with_loss", "predict", "loss"]


def relu(x: jax.Array) -> jax.Array:
    """``max(x, 0)``, with JAX's derivative (1 where ``x > 0``).

    >>> relu(jnp.array([-1.0, 2.0]))
    Array([0., 2.], dtype=float32)
    """
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def sigmoid(x: ArrayLike) -> jax.Array:
    """``1 / (1 + exp(-x))``.

    >>> sigmoid(jnp.array([0.0]))
    Array([0.5], dtype=float32)
    """
    return 1 / (1 + jnp.exp(-x))


def affine(x: jax.Array, W: ArrayLike, b: ArrayLike) -> jax.Array:
    """``x @ W + b``, ``x`` flattened to ``(N, n)`` first unless it is one sample ``(n,)``.

    >>> affine(jnp.ones((2, 1, 3)), jnp.ones((3, 4)), jnp.zeros(4)).shape
    (2, 4)
    """
    if x.ndim == 1:
        return x @ W + b
    return x.reshape(x.shape[0], -1) @ W + b


def softmax_with_loss(x: jax.Array, t: jax.Array) -> jax.Array:
    """Mean cross-entropy of ``softmax(x)``; ``t`` integer indices or float rows.

    >>> float(softmax_with_loss(jnp.zeros((2, 4)), jnp.array([0, 3])))   # log 4
    1.386...
    """
    if x.ndim == 1:
        x, t = x[None], t[None]
    logp = jax.nn.log_softmax(x, axis=-1)
    if jnp.issubdtype(t.dtype, jnp.integer):
        return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=-1))
    return -jnp.sum(t * logp) / x.shape[0]


def predict(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """TwoLayerNet's logits: ``affine(relu(affine(x, W1, b1)), W2, b2)``.

    >>> from jaxbp.two_layer_net import init_params
    >>> predict(init_params(0, 4, 3, 2), jnp.ones((5, 4))).shape
    (5, 2)
    """
    h = relu(affine(x, params["W1"], params["b1"]))
    return affine(h, params["W2"], params["b2"])


def loss(params: dict[str, jax.Array], x: jax.Array, t: jax.Array) -> jax.Array:
    """TwoLayerNet's loss, differentiated by JAX's own rules (5.7.3's way (b)).

    >>> from jaxbp import two_layer_net
    >>> params = two_layer_net.init_params(0, 4, 3, 2)
    >>> x, t = jnp.ones((2, 4)), jnp.array([0, 1])
    >>> bool(jnp.allclose(loss(params, x, t), two_layer_net.loss(params, x, t)))
    True
    """
    return softmax_with_loss(predict(params, x), t)


# ---- chapter 7 twins ----
# Convolution and max pooling (7.4) as a JAX user would write them: XLA's own
# convolution, and a pooling whose jax.grad sends each window's gradient to
# the same element as the book's np.argmax (the first maximum, row-major).
__all__ += ["convolution", "max_pooling"]


def convolution(
    x: ArrayLike, W: ArrayLike, b: jax.Array, stride: int = 1, pad: int = 0
) -> jax.Array:
    """``jax.lax.conv_general_dilated`` (NCHW input, OIHW filters) plus bias.

    >>> out = convolution(jnp.ones((1, 1, 4, 4)), jnp.ones((2, 1, 3, 3)), jnp.zeros(2), pad=1)
    >>> out.shape, float(out[0, 0, 0, 0]), float(out[0, 0, 1, 1])  # a corner sees 4 ones
    ((1, 2, 4, 4), 4.0, 9.0)
    """
    out = jax.lax.conv_general_dilated(
        x,
        W,
        (stride, stride),
        [(pad, pad), (pad, pad)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return out + b[None, :, None, None]


def max_pooling(x: jax.Array, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> jax.Array:
    """Max over each zero-padded window, picked by a one-hot of ``argmax``.

    The windows come from ``jax.lax.conv_general_dilated_patches`` (channel
    major, then row-major in the window, as the book's ``im2col``); the value
    is the window entry selected by a constant (non-differentiated) mask of
    ``argmax``, so ``jax.grad`` sends ``dout`` to the first maximum, the
    book's tie rule.  (``jax.lax.reduce_window`` with ``max`` computes the
    same values; its gradient's choice among ties is XLA's, not specified.)

    >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pooling(x, 2, 2, stride=2)[0, 0]
    Array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    N, C = x.shape[:2]
    patches = jax.lax.conv_general_dilated_patches(
        x,
        (pool_h, pool_w),
        (stride, stride),
        [(pad, pad), (pad, pad)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    patches = patches.reshape(N, C, pool_h * pool_w, *patches.shape[2:])
    first_max = jax.lax.stop_gradient(
        jnp.argmax(patches, axis=2, keepdims=True) == jnp.arange(pool_h * pool_w)[:, None, None]
    )
    return jnp.sum(jnp.where(first_max, patches, jnp.zeros_like(patches)), axis=2)


# ---- chapter 6 twins ----
# Dropout (6.4.3), Batch Normalization (6.3) and weight decay (6.4.2) written
# plainly; jax.grad differentiates them with its own rules.
__all__ += ["dropout", "batch_norm", "weight_decay_loss"]


def dropout(
    x: jax.Array, key: jax.Array | None, ratio: float = 0.5, train: bool = True
) -> jax.Array:
    """``x * (uniform(key) > ratio)`` while training, ``x * (1 - ratio)`` in test.

    >>> dropout(jnp.ones(3), None, ratio=0.25, train=False)
    Array([0.75, 0.75, 0.75], dtype=float32)
    """
    if not train:
        return x * (1.0 - ratio)
    return x * (jax.random.uniform(key, x.shape, x.dtype) > ratio)


def batch_norm(
    x: jax.Array,
    gamma: ArrayLike,
    beta: ArrayLike,
    state: dict[str, jax.Array] | None,
    train: bool,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Batch Normalization over the batch axis; returns ``(out, new_state)``.

    >>> out, state = batch_norm(jnp.array([[1.0], [3.0]]), jnp.ones(1), jnp.zeros(1),
    ...                         None, train=True)
    >>> out[:, 0].round(4), state["running_mean"]
    (Array([-1.,  1.], dtype=float32), Array([0.2], dtype=float32))
    """
    x2 = x.reshape(x.shape[0], -1)
    if state is None:
        state = {
            "running_mean": jnp.zeros(x2.shape[1], x2.dtype),
            "running_var": jnp.zeros(x2.shape[1], x2.dtype),
        }
    if train:
        mu = jnp.mean(x2, axis=0)
        var = jnp.var(x2, axis=0)
        xn = (x2 - mu) / jnp.sqrt(var + eps)
        state = {
            "running_mean": momentum * state["running_mean"] + (1 - momentum) * mu,
            "running_var": momentum * state["running_var"] + (1 - momentum) * var,
        }
    else:
        xn = (x2 - state["running_mean"]) / jnp.sqrt(state["running_var"] + eps)
    return (gamma * xn + beta).reshape(x.shape), state


def weight_decay_loss(weights: Any, lambda_: float) -> jax.Array:
    """``0.5 * lambda_ * sum(W ** 2)`` summed over the leaves of ``weights``.

    >>> float(weight_decay_loss([jnp.ones((2, 2)), jnp.ones(3)], 0.1))   # 0.05 * 7
    0.35...
    """
    return sum(0.5 * lambda_ * jnp.sum(W**2) for W in jax.tree_util.tree_leaves(weights))
