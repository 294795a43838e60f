"""TwoLayerNet (book section 5.7.2), functional.

The book's ``TwoLayerNet`` class keeps ``params`` and an ``OrderedDict`` of
layer objects.  Here ``params`` is a plain dict pytree
``{"W1": (n_in, n_hidden), "b1": (n_hidden,), "W2": (n_hidden, n_out),
"b2": (n_out,)}`` and every method is a pure function of it:

    predict(params, x)   = Affine2(Relu1(Affine1(x)))          (logits)
    loss(params, x, t)   = SoftmaxWithLoss(predict(params, x), t)
    gradient(params, ...) = backprop through the custom_vjp rules of
                            jaxbp.layers (jax.grad of loss)
    numerical_gradient(params, ...) = central differences (4.4)

Labels ``t`` are one-hot float rows ``(N, C)`` or integer indices ``(N,)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from jaxbp import _checks
from jaxbp.labels import check_batch, check_labels, fraction_correct
from jaxbp.layers import affine, relu, softmax_with_loss
from jaxbp.numerical import check_step

__all__ = [
    "init_params",
    "predict",
    "loss",
    "accuracy",
    "gradient",
    "numerical_gradient",
    "check_inputs",
    "PARAM_KEYS",
]

PARAM_KEYS = ("W1", "b1", "W2", "b2")


def init_params(
    key: jax.Array | int,
    input_size: int,
    hidden_size: int,
    output_size: int,
    weight_init_std: float = 0.01,
    dtype: DTypeLike = jnp.float32,
) -> dict[str, jax.Array]:
    """Book's ``__init__``: ``W = std * randn``, ``b = 0`` (5.7.2, table 5-1).

    ``key`` is a ``jax.random`` key (or an integer seed, ``0 <= seed < 2**32``);
    the sizes are positive integers (``50.0`` is refused), ``weight_init_std`` a
    finite number > 0 and ``dtype`` floating (else ``TypeError``/``ValueError``
    naming the argument).

    >>> params = init_params(0, 784, 50, 10)
    >>> {k: v.shape for k, v in params.items()}
    {'W1': (784, 50), 'b1': (50,), 'W2': (50, 10), 'b2': (10,)}
    """
    input_size = _checks.positive_int("init_params", "input_size", input_size)
    hidden_size = _checks.positive_int("init_params", "hidden_size", hidden_size)
    output_size = _checks.positive_int("init_params", "output_size", output_size)
    _checks.real(
        "init_params", "weight_init_std", weight_init_std, low=0, low_open=True, traced=True
    )
    dtype = _checks.float_dtype("init_params", "dtype", dtype)
    key = _checks.prng_key("init_params", key)
    k1, k2 = jax.random.split(key)
    # The barrier keeps XLA from fusing the scale into the sampler under jit, where it
    # rounds differently: the weights are the same bits eagerly and compiled.
    randn = lambda k, shape: jax.lax.optimization_barrier(jax.random.normal(k, shape, dtype))
    return {
        "W1": weight_init_std * randn(k1, (input_size, hidden_size)),
        "b1": jnp.zeros(hidden_size, dtype),
        "W2": weight_init_std * randn(k2, (hidden_size, output_size)),
        "b2": jnp.zeros(output_size, dtype),
    }


def _check_params(params) -> None:
    if not isinstance(params, dict) or set(params) != set(PARAM_KEYS):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {list(PARAM_KEYS)}, got {got}")
    _checks.float_arrays("two_layer_net", params)


def check_inputs(
    name: str, params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike | None = None
) -> None:
    """Validate ``params``, images ``x`` and (optionally) labels ``t`` once.

    ``x`` must be floating ``(N, n_in)`` (or ``(n_in,)``) with ``N > 0``;
    ``t`` integer indices ``(N,)`` in ``[0, C)`` or float rows ``(N, C)``
    where ``C`` is the number of classes of ``params``.  Concrete values only:
    tracers pass the range check (see :func:`jaxbp.labels.target_rows`).

    >>> params = init_params(0, 4, 3, 2)
    >>> check_inputs("loss", params, jnp.zeros((5, 4)), jnp.zeros(5, jnp.int32))
    >>> check_inputs("loss", params, jnp.zeros((5, 4), jnp.uint8))
    Traceback (most recent call last):
    ...
    TypeError: loss: images x must be floating, got dtype uint8 (normalise ...)
    """
    _check_params(params)
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{name}: images x must be floating, got dtype {dtype} "
            f"(normalise uint8 pixels first, e.g. x / 255)"
        )
    shape = tuple(np.shape(x))
    batch = shape[:1] if len(shape) > 1 else ()
    if batch:
        check_batch(name, batch[0])
    if t is not None:
        check_labels(name, batch + tuple(np.shape(params["b2"])), t)


def _forward(params, x):
    """The one forward pass: ``(a1, z1, logits)`` of Affine1, Relu1, Affine2."""
    a1 = affine(x, params["W1"], params["b1"])
    z1 = relu(a1)
    return a1, z1, affine(z1, params["W2"], params["b2"])


def predict(
    params: dict[str, jax.Array], x: ArrayLike, compute_dtype: DTypeLike | None = None
) -> jax.Array:
    """Logits ``(N, n_out)`` for images ``x`` ``(N, n_in)`` (or ``(n_in,)``).

    ``compute_dtype`` (e.g. ``jnp.bfloat16``) runs both affine layers in that
    dtype (mixed precision: parameters stay float32, the casts sit outside the
    custom rules so gradients come back in the parameters' dtype); the logits
    are returned in the parameters' dtype.

    >>> params = init_params(0, 784, 50, 10)
    >>> predict(params, jnp.zeros((3, 784))).shape
    (3, 10)
    """
    _check_params(params)
    out_dtype = params["W2"].dtype
    if compute_dtype is not None:
        x = jnp.asarray(x).astype(compute_dtype)
        params = {k: v.astype(compute_dtype) for k, v in params.items()}
    return _forward(params, x)[2].astype(out_dtype)


@functools.partial(jax.jit, static_argnames="compute_dtype")
def _loss(params, x, t, compute_dtype=None):
    return softmax_with_loss(predict(params, x, compute_dtype), t)


def loss(
    params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike, compute_dtype: DTypeLike | None = None
) -> jax.Array:
    """Mean softmax cross-entropy of the network on ``(x, t)`` (jitted).

    ``compute_dtype`` as in :func:`predict`; this is the loss the trainer
    differentiates.  Concrete labels are checked before the jitted call; under
    an outer ``jit`` an out-of-range label makes the loss (and that sample's
    gradient) NaN.

    >>> params = init_params(0, 784, 50, 10)
    >>> round(float(loss(params, jnp.zeros((2, 784)), jnp.array([3, 7]))), 4)  # log 10
    2.3026
    """
    check_inputs("loss", params, x, t)
    return _loss(params, x, t, compute_dtype)


@jax.jit
def _accuracy(params, x, t):
    return fraction_correct(predict(params, x), t)


def accuracy(params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike) -> jax.Array:
    """Fraction of ``argmax(predict) == label`` (book's ``accuracy``).

    ``t``: integer labels ``(N,)`` or one-hot rows ``(N, C)`` with ``C`` the
    logits' classes (anything else is a ``ValueError`` naming both shapes).
    A sample whose logits are not all finite counts as wrong, as does (under
    ``jit``) an out-of-range label.  The fraction is ``count / N`` computed in
    the parameters' floating dtype (exact to that dtype's rounding: 0.8275 is
    0.8275 in float64, not a float32 number widened; :func:`jaxbp.labels.fraction_correct`).

    >>> params = init_params(0, 4, 3, 2)
    >>> params["b2"] = jnp.array([0.0, 1.0])          # every sample predicts class 1
    >>> float(accuracy(params, jnp.zeros((4, 4)), jnp.array([1, 1, 0, 1])))
    0.75
    """
    check_inputs("accuracy", params, x, t)
    return _accuracy(params, x, t)


_grad = jax.jit(jax.grad(_loss), static_argnames="compute_dtype")


def gradient(params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike) -> dict[str, jax.Array]:
    """Backprop gradient (5.7.2 ``gradient``): ``jax.grad`` runs our rules.

    Returns a dict with the keys and shapes of ``params``.

    >>> params = init_params(0, 4, 3, 2)
    >>> grads = gradient(params, jnp.ones((2, 4)), jnp.array([0, 1]))
    >>> {k: grads[k].shape for k in params}
    {'W1': (4, 3), 'b1': (3,), 'W2': (3, 2), 'b2': (2,)}
    """
    check_inputs("gradient", params, x, t)
    return _grad(params, x, t)


def _central(loss_at, w, h):
    """(L(w + h) - L(w - h)) / 2h with the book's rounded steps ``w +- h``."""
    return (loss_at(w + h) - loss_at(w - h)) / (2 * h)


@jax.jit
def _numerical_gradient(params, x, t, h):
    W1, b1, W2, b2 = (params[k] for k in PARAM_KEYS)
    h = jnp.asarray(h, W1.dtype)
    x2 = x[None] if x.ndim == 1 else x.reshape(x.shape[0], -1)
    t2 = t[None] if x.ndim == 1 else t
    a1, z1, a2 = _forward(params, x2)
    L = lambda logits: softmax_with_loss(logits, t2)
    # Each affine layer as one matrix: a1 = [x, 1] @ [W1; b1], a2 = [z1, 1] @ [W2; b2].
    ones = jnp.ones((x2.shape[0], 1), x2.dtype)
    x1, z1e = jnp.concatenate([x2, ones], 1), jnp.concatenate([z1, ones], 1)
    Wb1 = jnp.concatenate([W1, b1[None]], 0)  # (n_in + 1, H)
    Wb2 = jnp.concatenate([W2, b2[None]], 0)  # (H + 1, C)

    def d_layer1(ij):
        # Wb1[i, j] moves only a1[:, j], exactly, by (w' - w) * x1[:, i]; the
        # logits then change by (relu(a1') - z1)[:, j] * W2[j].
        i, j = ij // Wb1.shape[1], ij % Wb1.shape[1]
        w = Wb1[i, j]

        def loss_at(v):
            dz = relu(a1[:, j] + (v - w) * x1[:, i]) - z1[:, j]
            return L(a2 + dz[:, None] * W2[j][None, :])

        return _central(loss_at, w, h)

    def d_layer2(jk):
        # Wb2[j, k] moves only the logits' column k, by (w' - w) * z1e[:, j].
        j, k = jk // Wb2.shape[1], jk % Wb2.shape[1]
        w = Wb2[j, k]
        return _central(lambda v: L(a2.at[:, k].add((v - w) * z1e[:, j])), w, h)

    def each(f, p):
        return jax.lax.map(f, jnp.arange(p.size), batch_size=min(4096, p.size)).reshape(p.shape)

    g1, g2 = each(d_layer1, Wb1), each(d_layer2, Wb2)
    return {"W1": g1[:-1], "b1": g1[-1], "W2": g2[:-1], "b2": g2[-1]}


def numerical_gradient(
    params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike, h: float = 1e-4
) -> dict[str, jax.Array]:
    """Central-difference gradient of ``loss`` w.r.t. every parameter (5.7.2).

    Each entry is the book's ``(L(w + h) - L(w - h)) / 2h`` with ``w +- h``
    rounded as the book's in-place update, and every ``L`` is a forward
    pass only: no derivative is used.  The book recomputes the whole network
    for each of the 39,760 entries, two passes each, in a Python loop
    (minutes).  Here the two passes share what the perturbation leaves
    unchanged: moving ``W1[i, j]`` or ``b1[j]`` changes only column ``j`` of
    the first affine output (by ``(w' - w) * x[:, i]``), and moving ``W2`` or
    ``b2`` only the logits, so each perturbed loss costs ``O(N * C)`` and all
    of them run batched in one compiled program.  The results agree with the
    generic :func:`jaxbp.gradient.numerical_gradient` (full recomputation) to
    rounding (tested).

    ``x`` must be floating (as for :func:`gradient`), the parameters float32
    or float64 (finite differences are meaningless in 16-bit floats), and
    ``h`` finite and positive.

    >>> params = init_params(0, 4, 3, 2, weight_init_std=1.0)
    >>> x, t = jnp.linspace(0, 1, 8).reshape(2, 4), jnp.array([0, 1])
    >>> num, back = numerical_gradient(params, x, t, h=1e-2), gradient(params, x, t)
    >>> max(float(jnp.max(jnp.abs(num[k] - back[k]))) for k in params) < 1e-3
    True
    """
    check_inputs("numerical_gradient", params, x, t)
    check_step(h, params["W1"].dtype, "numerical_gradient")
    return _numerical_gradient(params, x, t, h)
