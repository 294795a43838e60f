"""The chapter's local derivatives as forward-mode rules (book sections 5.1.3, 5.3-5.6).

Why two modes (5.1.3).  Backpropagation is *reverse mode*: one backward pass
from the scalar loss carries ``dL/d(node)`` to every node at once, so all 39,760
derivatives of TwoLayerNet's loss (784-50-10: 784*50 + 50 + 50*10 + 10) cost
about one extra forward pass.  *Forward mode* pushes a tangent ``v`` from the
inputs to the output, node by node, and returns one directional derivative
``dL . v``; a full gradient needs one pass per parameter, 39,760 passes.  Forward
mode wins when a function has few inputs and many outputs (a Jacobian column at
a time), reverse mode when it has many inputs and one output, as a loss does.
``experiments/forward_vs_reverse.py`` times both on TwoLayerNet.

The layers of :mod:`jaxbp.layers` and :mod:`jaxbp.graph` carry reverse-mode
rules only (:func:`jax.custom_vjp`): ``jax.grad``, ``jax.vjp`` and ``jax.jacrev``
run them, and ``jax.jvp`` or ``jax.jacfwd`` of them fails with JAX's
``TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function``.
This module has the same functions, same signatures and same input checks, with
the same local derivatives written as :func:`jax.custom_jvp` rules: each rule
receives tangents of the inputs and applies the book's derivative to them.

    mul                (5.4.1)   dz = dx * y + x * dy                     (eq. 5.6)
    add                (5.4.2)   dz = dx * 1 + dy * 1                     (eq. 5.5)
    relu               (5.5.1)   dy = dx where x > 0, 0 where x <= 0      (eq. 5.8)
    sigmoid            (5.5.2)   dy = dx * y * (1 - y)                    (eq. 5.12)
    affine             (5.6.1-2) dY = dX . W + X . dW + dB                (eq. 5.13)
    softmax_with_loss  (5.6.3)   dL = sum((y * sum(t) - t) * dx) / N - sum(log y * dt) / N

A ``custom_jvp`` rule serves reverse mode too: JAX transposes the (linear)
tangent formula, so ``jax.jvp``, ``jax.jacfwd``, ``jax.grad``, ``jax.jacrev`` and
``jax.hessian`` all run through these rules.  Each rule's primal output is the
rule's own function again, so a second derivative differentiates the first
through the rules as well (and the tangent formulas' arithmetic by JAX's rules).

:func:`predict` and :func:`loss` are TwoLayerNet (5.7.2) built from these
layers; :func:`explain_jvp_error` recognises JAX's error above and says where
forward mode lives, and :func:`jvp` is ``jax.jvp`` that adds that explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxbp import _checks, layers
from jaxbp.labels import batch_of_logits, target_rows
from jaxbp.layers import as_batch, as_floating, softmax_cross_entropy
from jaxbp.two_layer_net import check_inputs

__all__ = [
    "add",
    "mul",
    "relu",
    "sigmoid",
    "affine",
    "softmax_with_loss",
    "predict",
    "loss",
    "explain_jvp_error",
    "jvp",
]


# ---- AddLayer (5.4.2), forward mode ------------------------------------------
@jax.custom_jvp
def _add(x, y):
    return x + y


def _add_jvp(primals, tangents):
    (x, y), (dx, dy) = primals, tangents
    return _add(x, y), dx * 1 + dy * 1  # eq. 5.5: both derivatives are 1


_add.defjvp(_add_jvp)


def add(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Addition node ``z = x + y`` with a forward-mode rule (5.3.1, eq. 5.5; 5.4.2).

    Same inputs and checks as :func:`jaxbp.graph.add` (equal shapes, floating).
    Forward: ``dz = dx + dy``.

    >>> z, dz = jax.jvp(add, (200.0, 450.0), (1.0, 0.0))   # tangent of the apples only
    >>> float(z), float(dz)
    (650.0, 1.0)
    """
    return _add(*_checks.check_pair("add", x, y))


# ---- MulLayer (5.4.1), forward mode ------------------------------------------
@jax.custom_jvp
def _mul(x, y):
    return x * y


def _mul_jvp(primals, tangents):
    (x, y), (dx, dy) = primals, tangents  # book: self.x = x; self.y = y
    return _mul(x, y), dx * y + x * dy  # eq. 5.6: dz/dx = y, dz/dy = x (the swap)


_mul.defjvp(_mul_jvp)


def mul(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Multiplication node ``z = x * y`` with a forward-mode rule (5.3.2, eq. 5.6; 5.4.1).

    Same inputs and checks as :func:`jaxbp.graph.mul`.  Forward:
    ``dz = dx * y + x * dy``: each tangent times the *other* input.

    >>> z, dz = jax.jvp(mul, (100.0, 2.0), (0.0, 1.0))     # one more apple
    >>> float(z), float(dz)
    (200.0, 100.0)
    """
    return _mul(*_checks.check_pair("mul", x, y))


# ---- ReLU (5.5.1), forward mode ----------------------------------------------
@jax.custom_jvp
def _relu(x):
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def _relu_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    mask = x <= 0  # self.mask = (x <= 0)
    return _relu(x), jnp.where(mask, jnp.zeros_like(dx), dx)  # eq. 5.8: dx[self.mask] = 0


_relu.defjvp(_relu_jvp)


def relu(x: ArrayLike) -> jax.Array:
    """ReLU, eq. 5.7, with a forward-mode rule (5.5.1); any shape.

    Forward (eq. 5.8): ``dy = dx`` where ``x > 0`` and 0 where ``x <= 0`` (the
    derivative at 0 is 0, as :func:`jaxbp.layers.relu`).

    >>> x = jnp.array([-1.0, 0.0, 2.0])
    >>> jax.jvp(relu, (x,), (jnp.ones(3),))[1]            # the tangent passes where x > 0
    Array([0., 0., 1.], dtype=float32)
    """
    return _relu(as_floating("relu", "x", x))


# ---- Sigmoid (5.5.2), forward mode -------------------------------------------
@jax.custom_jvp
def _sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


def _sigmoid_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = _sigmoid(x)  # self.out = out
    return y, dx * y * (1 - y)  # eq. 5.12 (figure 5-21) applied forward


_sigmoid.defjvp(_sigmoid_jvp)


def sigmoid(x: ArrayLike) -> jax.Array:
    """Sigmoid, eq. 5.9, with a forward-mode rule (5.5.2); any shape.

    Forward: ``dy = dx * y * (1 - y)``, from the output ``y`` only.

    >>> y, dy = jax.jvp(sigmoid, (jnp.array([0.0, -1000.0]),), (jnp.ones(2),))
    >>> y, dy                                             # y * (1 - y): 0.25, and 0 (no NaN)
    (Array([0.5, 0. ], dtype=float32), Array([0.25, 0.  ], dtype=float32))
    """
    return _sigmoid(as_floating("sigmoid", "x", x))


# ---- Affine (5.6.1, 5.6.2), forward mode -------------------------------------
@jax.custom_jvp
def _affine(x, W, b):
    out = as_batch(x) @ W + b
    return out[0] if x.ndim == 1 else out


def _affine_jvp(primals, tangents):
    (x, W, b), (dx, dW, db) = primals, tangents  # self.x = x (and self.W)
    dout = as_batch(dx) @ W + as_batch(x) @ dW + db  # eq. 5.13 forward: dX.W + X.dW + dB
    return _affine(x, W, b), dout[0] if x.ndim == 1 else dout


_affine.defjvp(_affine_jvp)


def affine(x: ArrayLike, W: ArrayLike, b: ArrayLike) -> jax.Array:
    """Affine layer ``Y = X . W + B`` with a forward-mode rule (5.6.1 eq. 5.13, 5.6.2).

    Shapes and checks are :func:`jaxbp.layers.affine`'s (``x`` ``(n,)``,
    ``(N, n)`` or ``(N, d1, ...)``; ``W`` ``(n, m)``; ``b`` ``(m,)``), run by
    tracing that layer's checks once.  Forward: ``dY = dX . W + X . dW + dB``,
    the product rule on both factors, ``dB`` added to every row.

    >>> x, W, b = jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.zeros(4)
    >>> dW = jnp.zeros((3, 4)).at[0, 1].set(1.0)          # move W[0, 1] only
    >>> jax.jvp(affine, (x, W, b), (jnp.zeros((2, 3)), dW, jnp.zeros(4)))[1]
    Array([[0., 1., 0., 0.],
           [0., 1., 0., 0.]], dtype=float32)
    """
    x, W, b = (as_floating("affine", arg, v) for arg, v in (("x", x), ("W", W), ("b", b)))
    jax.eval_shape(layers.affine, x, W, b)  # the layer's shape checks, nothing computed
    dtype = jnp.result_type(x, W, b)
    return _affine(x.astype(dtype), W.astype(dtype), b.astype(dtype))


# ---- Softmax-with-Loss (5.6.3), forward mode ---------------------------------
@jax.custom_jvp
def _softmax_with_loss(x, t):
    return softmax_cross_entropy(x, target_rows(t, x.shape[-1], x.dtype))[0]


def _softmax_with_loss_jvp(primals, tangents):
    (x, t), (dx, dt) = primals, tangents
    n = x.shape[0]
    target = target_rows(t, x.shape[-1], x.dtype)  # self.t = t (one-hot rows)
    log_y = softmax_cross_entropy(x, target)[1]
    y = jnp.exp(log_y)  # self.y = softmax(x)
    row_sum = jnp.sum(target, axis=-1, keepdims=True)
    dloss = jnp.sum((y * row_sum - target) * dx) / n  # figure 5-30: (y - t) / N, times dx
    if not jnp.issubdtype(t.dtype, jnp.integer):  # soft labels: dL/dt = -log y / N
        dloss = dloss - jnp.sum(log_y * dt) / n
    return _softmax_with_loss(x, t), dloss


_softmax_with_loss.defjvp(_softmax_with_loss_jvp)


def softmax_with_loss(x: ArrayLike, t: ArrayLike) -> jax.Array:
    """Softmax then cross-entropy, fused, with a forward-mode rule (5.6.3, figure 5-30).

    Inputs, checks and value are :func:`jaxbp.layers.softmax_with_loss`'s:
    logits ``x`` ``(N, C)`` (or ``(C,)``), labels ``t`` integer ``(N,)`` or
    float rows ``(N, C)``; the mean loss ``-1/N sum t log softmax(x)``.  Forward::

        dL = sum((y * sum(t, axis=-1) - t) * dx) / N  -  sum(log(y) * dt) / N

    the book's ``(y - t) / N`` applied to the tangent ``dx`` (exact for rows of
    ``t`` with any sum), plus, for float labels, the exact derivative in ``t``
    (integer labels have no tangent).  Out-of-range labels under ``jit`` give
    NaN, as the reverse-mode layer.

    >>> x, t = jnp.array([[2.0, 0.0], [0.0, 2.0]]), jnp.array([0, 1])
    >>> dx = jnp.array([[1.0, 0.0], [0.0, 0.0]])          # raise one logit
    >>> round(float(jax.jvp(lambda x: softmax_with_loss(x, t), (x,), (dx,))[1]), 4)
    -0.0596
    """
    x = as_floating("softmax_with_loss", "x", x)
    x, t = batch_of_logits("softmax_with_loss", x, t)
    if jnp.issubdtype(t.dtype, jnp.integer):
        return _softmax_with_loss(x, t.astype(jnp.int32))
    dtype = jnp.result_type(x, t)
    return _softmax_with_loss(x.astype(dtype), t.astype(dtype))


# ---- TwoLayerNet (5.7.2) from the forward-mode layers ------------------------
def _predict(params, x):
    h = relu(affine(x, params["W1"], params["b1"]))  # Affine1, Relu1
    return affine(h, params["W2"], params["b2"])  # Affine2


def predict(params: dict[str, jax.Array], x: ArrayLike) -> jax.Array:
    """TwoLayerNet's logits ``(N, n_out)`` (5.7.2) through the forward-mode layers.

    ``params`` as :func:`jaxbp.two_layer_net.init_params` makes them; ``x``
    ``(N, n_in)`` or ``(n_in,)``, checked by :func:`jaxbp.two_layer_net.check_inputs`.

    >>> from jaxbp.two_layer_net import init_params
    >>> predict(init_params(0, 4, 3, 2), jnp.ones((5, 4))).shape
    (5, 2)
    """
    check_inputs("predict", params, x)
    return _predict(params, x)


def loss(params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike) -> jax.Array:
    """TwoLayerNet's loss (5.7.2) through the forward-mode layers.

    The value of :func:`jaxbp.two_layer_net.loss`; ``jax.jvp`` gives one
    directional derivative, ``jax.jacfwd`` the gradient one tangent per
    parameter, ``jax.grad`` the gradient by transposing the same rules.

    >>> from jaxbp import two_layer_net
    >>> params = two_layer_net.init_params(0, 4, 3, 2, weight_init_std=1.0)
    >>> x, t = jnp.linspace(0, 1, 8).reshape(2, 4), jnp.array([0, 1])
    >>> v = jax.tree_util.tree_map(jnp.ones_like, params)         # move every parameter
    >>> dL = jax.jvp(lambda p: loss(p, x, t), (params,), (v,))[1]
    >>> g = two_layer_net.gradient(params, x, t)                  # backprop: dL . v
    >>> bool(jnp.allclose(dL, sum(jnp.sum(g[k]) for k in g)))
    True
    """
    check_inputs("loss", params, x, t)
    return softmax_with_loss(_predict(params, x), t)


# ---- the error that sends users here -----------------------------------------
_JVP_OF_VJP = "forward-mode autodiff (jvp) to a custom_vjp function"


def explain_jvp_error(exc: BaseException) -> str | None:
    """What to do about JAX's "can't apply forward-mode autodiff (jvp) to a custom_vjp function".

    Returns a one-paragraph explanation pointing to :mod:`jaxbp.forward` when
    ``exc`` is that ``TypeError`` (raised by ``jax.jvp`` or ``jax.jacfwd`` of
    the reverse-mode layers), else ``None``.

    >>> try:
    ...     jax.jvp(layers.relu, (jnp.ones(2),), (jnp.ones(2),))
    ... except TypeError as e:
    ...     print(explain_jvp_error(e).split(";")[0])
    jaxbp.layers and jaxbp.graph have reverse-mode rules only (jax.custom_vjp)
    >>> explain_jvp_error(ValueError("something else")) is None
    True
    """
    if not (isinstance(exc, TypeError) and _JVP_OF_VJP in str(exc)):
        return None
    return (
        "jaxbp.layers and jaxbp.graph have reverse-mode rules only (jax.custom_vjp); "
        "jax.grad, jax.vjp and jax.jacrev run them, jax.jvp and jax.jacfwd cannot.  "
        "For forward mode use jaxbp.forward: the same functions (mul, add, relu, "
        "sigmoid, affine, softmax_with_loss; predict and loss of TwoLayerNet) with the "
        "book's local derivatives as jax.custom_jvp rules, e.g. jaxbp.forward.loss in "
        "place of jaxbp.two_layer_net.loss (book 5.1.3: forward mode gives one directional "
        "derivative per tangent, reverse mode the whole gradient in one pass)."
    )


def jvp(
    fun: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[Any, Any]:
    """``jax.jvp(fun, primals, tangents)``; on the custom_vjp error, says to use this module.

    Returns ``(fun(*primals), J . tangents)``.  If ``fun`` uses the
    reverse-mode layers, the ``TypeError`` JAX raises is raised again with
    :func:`explain_jvp_error`'s explanation appended (other errors pass as they are).

    >>> y, dy = jvp(sigmoid, (0.0,), (1.0,))              # this module's layers: fine
    >>> float(y), float(dy)
    (0.5, 0.25)
    >>> jvp(layers.sigmoid, (0.0,), (1.0,))
    Traceback (most recent call last):
    ...
    TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function. jaxbp.layers ...
    """
    try:
        return jax.jvp(fun, tuple(primals), tuple(tangents))
    except TypeError as exc:
        hint = explain_jvp_error(exc)
        if hint is None:
            raise
        raise TypeError(f"{exc} {hint}") from exc
