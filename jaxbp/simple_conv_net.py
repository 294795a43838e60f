"""SimpleConvNet (book section 7.5), functional.

The book's network ``conv - relu - pool - affine - relu - affine - softmax``
as pure functions of a params dict::

    W1 (FN, C, FS, FS), b1 (FN,)     Conv1    convolution, stride/pad from Hyper
                                     Relu1
                                     Pool1    2x2 max pooling, stride 2
    W2 (FN * P * P, hidden), b2      Affine1  P = conv_out // 2 (28 -> 24 -> 12)
                                     Relu2
    W3 (hidden, output), b3          Affine2  (logits)
                                     SoftmaxWithLoss

Every layer is a hand-written ``custom_vjp`` rule (:mod:`jaxbp.conv`,
:mod:`jaxbp.layers`), so ``jax.grad`` of :func:`loss` is the book's
``gradient`` (backprop through the layers in reverse).

The interface shared by the networks of chapters 6-7 (the trainer drives it):
``Hyper`` (static, hashable), ``init_params``, ``init_state`` (``{}``: this
network has no state), ``forward`` (the one forward pass), ``predict``,
``loss``, ``accuracy``, ``gradient``, ``numerical_gradient``, ``train_loss``
and ``TRAIN_DEFAULTS``.  Images ``x`` are ``(N, C*H*W)`` (the trainer's flat
rows, reshaped here) or ``(N, C, H, W)``; labels ``t`` integer ``(N,)`` or
one-hot ``(N, classes)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxbp import _checks, numerical
from jaxbp._chunks import map_in_chunks
from jaxbp.conv import FORWARDS, convolution, max_pooling, output_size
from jaxbp.labels import check_batch, check_labels, fraction_correct
from jaxbp.layers import affine, relu, softmax_with_loss

__all__ = [
    "Hyper",
    "PARAM_KEYS",
    "TRAIN_DEFAULTS",
    "init_params",
    "init_state",
    "forward",
    "predict",
    "loss",
    "accuracy",
    "gradient",
    "numerical_gradient",
    "train_loss",
]

PARAM_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")

# Book 7.5 (ch07/train_convnet.py): Adam lr 0.001, batch 100, 20 epochs of 600 steps.
TRAIN_DEFAULTS = {"optimizer": "adam", "lr": 0.001, "iters": 12000, "batch_size": 100}


@dataclasses.dataclass(frozen=True)
class Hyper:
    """The book's constructor arguments (``conv_param`` spelled out), checked.

    ``input_dim`` ``(C, H, W)`` positive integers (a list is stored as a tuple, so
    ``Hyper`` stays hashable, a static argument of ``jax.jit``); ``filter_num``,
    ``filter_size``, ``stride``, ``hidden_size``, ``output_size`` integers >= 1;
    ``pad`` an integer >= 0; ``weight_init_std`` a finite number > 0; and the
    filter and the 2x2 pooling must leave something of the input.  Anything else
    is a ``TypeError``/``ValueError`` naming the field.  ``conv_forward`` (not the
    book's): how Conv1's output is computed, one of :data:`jaxbp.conv.FORWARDS`
    (``"im2col"``, the book's, or ``"lax"``); the same hand-written rule
    differentiates either (the trainer picks the faster for the machine).

    >>> Hyper(stride=0)
    Traceback (most recent call last):
    ...
    ValueError: Hyper: stride must be an integer >= 1, got 0
    """

    input_dim: tuple = (1, 28, 28)
    filter_num: int = 30
    filter_size: int = 5
    pad: int = 0
    stride: int = 1
    hidden_size: int = 100
    output_size: int = 10
    weight_init_std: float = 0.01
    conv_forward: str = "im2col"

    def __post_init__(self):
        dim = _checks.int_tuple("Hyper", "input_dim", self.input_dim, length=3)
        object.__setattr__(self, "input_dim", dim)
        for arg in ("filter_num", "filter_size", "stride", "hidden_size", "output_size"):
            _checks.positive_int("Hyper", arg, getattr(self, arg))
        _checks.non_negative_int("Hyper", "pad", self.pad)
        _checks.real("Hyper", "weight_init_std", self.weight_init_std, low=0, low_open=True)
        if self.conv_forward not in FORWARDS:
            raise ValueError(
                f"Hyper: conv_forward must be one of {list(FORWARDS)}, got {self.conv_forward!r}"
            )
        if self.pool_output_size < 1:
            _, H, W = self.input_dim
            raise ValueError(
                f"Hyper: a {self.filter_size}x{self.filter_size} filter "
                f"(stride {self.stride}, pad {self.pad}) and 2x2 pooling leave "
                f"nothing of a {H}x{W} input"
            )

    @property
    def pool_output_size(self) -> int:
        """Inputs of Affine1: ``filter_num * P * P`` after the 2x2/2 pooling.

        The book computes ``int(filter_num * (conv_out / 2) ** 2)``, which is
        the same for an even ``conv_out`` (24 -> 4320 for MNIST); for an odd
        one the pooling drops the last row and column, so ``P = conv_out // 2``.
        """
        _, H, W = self.input_dim
        out_h = output_size(H, self.filter_size, self.stride, self.pad)
        out_w = output_size(W, self.filter_size, self.stride, self.pad)
        return self.filter_num * max(out_h // 2, 0) * max(out_w // 2, 0)


def init_params(
    key: jax.Array | int, hyper: Hyper = Hyper(), dtype: jnp.dtype = jnp.float32
) -> dict:
    """Book's ``__init__``: ``W = weight_init_std * randn``, ``b = 0``.

    ``key``: a ``jax.random`` key or an integer seed (``0 <= seed < 2**32``);
    ``hyper`` a :class:`Hyper`; ``dtype`` floating.  Shapes as in the module
    docstring (MNIST defaults: W1 (30, 1, 5, 5), W2 (4320, 100), W3 (100, 10)).

    >>> params = init_params(0)
    >>> {k: v.shape for k, v in params.items()}["W2"], predict(params, jnp.zeros((2, 784))).shape
    ((4320, 100), (2, 10))
    """
    _check_hyper("init_params", hyper)
    key = _checks.prng_key("init_params", key)
    return _init_params(key, hyper, _checks.float_dtype("init_params", "dtype", dtype))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init_params(key, hyper, dtype):
    C = hyper.input_dim[0]
    k1, k2, k3 = jax.random.split(key, 3)
    std, FN, FS = hyper.weight_init_std, hyper.filter_num, hyper.filter_size
    normal = lambda k, shape: std * jax.random.normal(k, shape, dtype)
    return {
        "W1": normal(k1, (FN, C, FS, FS)),
        "b1": jnp.zeros(FN, dtype),
        "W2": normal(k2, (hyper.pool_output_size, hyper.hidden_size)),
        "b2": jnp.zeros(hyper.hidden_size, dtype),
        "W3": normal(k3, (hyper.hidden_size, hyper.output_size)),
        "b3": jnp.zeros(hyper.output_size, dtype),
    }


def init_state(params: dict) -> dict:
    """No running statistics in this network: the state is ``{}``."""
    return {}


def _check_hyper(name: str, hyper) -> None:
    if not isinstance(hyper, Hyper):
        raise TypeError(
            f"{name}: hyper must be a simple_conv_net.Hyper, got {type(hyper).__name__}"
        )


def _check_params(params) -> None:
    if not isinstance(params, dict) or set(params) != set(PARAM_KEYS):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {list(PARAM_KEYS)}, got {got}")
    _checks.float_arrays("simple_conv_net", params)


def _as_images(x, hyper: Hyper):
    """``(N, C*H*W)`` -> ``(N, C, H, W)``; ``(N, C, H, W)`` passes."""
    x = jnp.asarray(x) if not isinstance(x, jax.core.Tracer) else x
    _check_x_shape(x.shape, hyper)
    return x.reshape(x.shape[0], *hyper.input_dim) if x.ndim == 2 else x


def _check_x_shape(shape: tuple, hyper: Hyper) -> None:
    """``ValueError`` unless ``shape`` is ``(N, C*H*W)`` or ``(N, C, H, W)``.

    One image (``(C*H*W,)`` or ``(C, H, W)``) is refused with the hint ``x[None]``:
    its first axis would otherwise be taken for a batch."""
    shape, flat = tuple(shape), math.prod(hyper.input_dim)
    if (len(shape) == 2 and shape[1] == flat) or shape[1:] == tuple(hyper.input_dim):
        return
    one = shape in ((flat,), tuple(hyper.input_dim))
    raise ValueError(
        f"simple_conv_net: x must be (N, {flat}) or "
        f"(N, {', '.join(map(str, hyper.input_dim))}), got {shape}"
        + (" (one image: pass x[None], a batch of 1)" if one else "")
    )


def forward(
    params: dict,
    x: ArrayLike,
    state: dict | None = None,
    *,
    train: bool = False,
    key: jax.Array | None = None,
    hyper: Hyper = Hyper(),
) -> tuple[jax.Array, dict]:
    """The forward pass (book's ``predict``): returns ``(logits, new_state)``.

    ``logits``: ``(N, output_size)``.  ``train`` and ``key`` are part of the
    common interface and unused here (no dropout or batch norm); the state
    is returned unchanged (``{}``).
    """
    _check_params(params)
    _checks.boolean("forward", "train", train)
    x = _as_images(x, hyper)
    W1, b1 = params["W1"], params["b1"]
    h = relu(convolution(x, W1, b1, hyper.stride, hyper.pad, forward=hyper.conv_forward))
    h = max_pooling(h, 2, 2, stride=2)  # Pool1: pool_h=2, pool_w=2, stride=2
    h = relu(affine(h, params["W2"], params["b2"]))  # Affine1 flattens (N, FN, P, P)
    logits = affine(h, params["W3"], params["b3"])
    return logits, ({} if state is None else state)


# Images per forward pass in `predict`: each pass's im2col `col` (50 MNIST images:
# 2.9 MB float32) and conv output stay in cache.  A full-set evaluation (70000
# images, the trainer's chunks of 2000) took 0.70x the time of one pass per 2000
# (0.74x with 100, 0.84x with 200) on a 2-core AMD EPYC.
PREDICT_CHUNK = 50


@functools.partial(jax.jit, static_argnames="hyper")
def _predict(params, x, state, hyper):
    return map_in_chunks(lambda xc: _logits(params, xc, state, hyper), x, PREDICT_CHUNK)


def predict(
    params: dict, x: ArrayLike, state: dict | None = None, hyper: Hyper = Hyper()
) -> jax.Array:
    """Logits ``(N, output_size)`` (inference mode; jitted, :func:`forward` inside,
    ``PREDICT_CHUNK`` images at a time, as the book's ``accuracy`` loops over batches)."""
    _check_params(params)
    return _predict(params, _as_images(x, hyper), state, hyper)


def _check_inputs(params: dict, x: ArrayLike, t: ArrayLike, hyper: Hyper) -> None:
    """Parameters, images, a non-empty batch and labels that fit it (the one label check)."""
    _check_hyper("simple_conv_net", hyper)
    _check_params(params)
    _check_x_shape(np.shape(x), hyper)
    n = np.shape(x)[0]
    check_batch("simple_conv_net", n)
    check_labels("simple_conv_net", (n, hyper.output_size), t)


@functools.partial(jax.jit, static_argnames="hyper")
def _loss(params, x, t, state, hyper):
    return softmax_with_loss(_logits(params, x, state, hyper), t)


def _logits(params, x, state, hyper):
    """One forward pass over the whole batch (for the loss and its derivatives)."""
    return forward(params, x, state, train=False, hyper=hyper)[0]


def loss(
    params: dict, x: ArrayLike, t: ArrayLike, state: dict | None = None, hyper: Hyper = Hyper()
) -> jax.Array:
    """Mean softmax cross-entropy on ``(x, t)`` (jitted; labels checked first)."""
    _check_inputs(params, x, t, hyper)
    return _loss(params, x, t, state, hyper)


def train_loss(
    params: dict, state: dict, x: jax.Array, t: jax.Array, key: jax.Array | None, hyper: Hyper
) -> tuple[jax.Array, dict]:
    """``(loss, new_state)`` of one minibatch in training mode, for the trainer.

    Pure and jittable (no checks on values): ``x`` float ``(B, C*H*W)``,
    ``t`` int ``(B,)``.
    """
    logits, new_state = forward(params, x, state, train=True, key=key, hyper=hyper)
    return softmax_with_loss(logits, t), new_state


@functools.partial(jax.jit, static_argnames=("hyper", "batch_size"))
def _accuracy(params, x, t, state, hyper, batch_size):
    logits = map_in_chunks(lambda xc: _predict(params, xc, state, hyper), x, batch_size)
    return fraction_correct(logits, t)


def accuracy(
    params: dict,
    x: ArrayLike,
    t: ArrayLike,
    state: dict | None = None,
    hyper: Hyper = Hyper(),
    batch_size: int = 1000,
) -> jax.Array:
    """Fraction of ``argmax(logits) == label``, ``batch_size`` images at a time.

    The book's ``accuracy`` loops over batches of 100 so that ``im2col`` fits
    in memory; here the chunks run in one compiled ``lax.map`` (1000 MNIST
    images make a 58 MB float32 ``col``).  ``batch_size``: an integer >= 1.
    Returns ``count / N`` computed in the logits' floating dtype
    (:func:`jaxbp.labels.fraction_correct`): exact to float64 under x64.
    """
    _check_inputs(params, x, t, hyper)
    batch_size = _checks.positive_int("accuracy", "batch_size", batch_size)
    x = _as_images(x, hyper)
    return _accuracy(params, x, jnp.asarray(t), state, hyper, min(batch_size, x.shape[0]))


_grad = jax.jit(jax.grad(_loss), static_argnames="hyper")


def gradient(
    params: dict, x: ArrayLike, t: ArrayLike, state: dict | None = None, hyper: Hyper = Hyper()
) -> dict:
    """Backprop (book's ``gradient``): ``jax.grad`` of :func:`loss` runs our rules."""
    _check_inputs(params, x, t, hyper)
    return _grad(params, x, t, state, hyper)


@functools.partial(jax.jit, static_argnames=("hyper", "h"))
def _numerical_gradient(params, x, t, state, hyper, h):
    return numerical.numerical_gradient(
        lambda p: softmax_with_loss(_logits(p, x, state, hyper), t), params, h=h
    )


def numerical_gradient(
    params: dict,
    x: ArrayLike,
    t: ArrayLike,
    state: dict | None = None,
    hyper: Hyper = Hyper(),
    h: float = 1e-4,
) -> dict:
    """Central differences (4.4) for every parameter, forward passes only.

    :func:`jaxbp.gradient.numerical_gradient`: two full forward passes per
    entry, batched in one compiled program.  For the MNIST-sized network
    that is 2 x 432,000 passes (as the book's; use a small ``Hyper`` to check).
    """
    _check_inputs(params, x, t, hyper)
    numerical.check_step(h, params["W1"].dtype, "numerical_gradient")
    return _numerical_gradient(params, x, t, state, hyper, float(h))
