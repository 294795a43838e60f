"""MultiLayerNetExtend (book chapter 6, ``common/multi_layer_net_extend.py``), functional.

A fully connected network of ``len(hidden_size_list)`` hidden layers, each

    Affine -> [BatchNorm (6.3)] -> ReLU or Sigmoid -> [Dropout (6.4.3)]

then a last Affine and Softmax-with-Loss, plus the weight decay term
``0.5 * lambda * sum W^2`` (6.4.2) in the loss.  Weights start at the scale
of :func:`jaxbp.weight_init.init_std` (6.2): He for ``'relu'``, Xavier for
``'sigmoid'``, or a number.

Interface (what the trainer uses; all pure functions)::

    hyper  = Hyper(hidden_size_list=(100,) * 5, use_batchnorm=True, ...)  # frozen, hashable
    params = init_params(key, hyper)            # {"W1", "b1", ..., "gamma1", "beta1", ...}
    state  = init_state(params)     # {} without batch norm, else
                                    # {"BatchNorm1": {"running_mean", "running_var"}, ...}
    loss, state = train_loss(params, state, xb, tb, key, hyper)   # train mode, jittable
    logits = predict(params, x, state, hyper)   # test mode

and, as the book's methods::

    forward(params, x, state=None, hyper=None, *, train=False, key=None) -> (logits, new_state)
    loss(params, x, t, state=None, hyper=None, *, train=False, key=None) -> scalar
    accuracy(params, x, t, state=None, hyper=None) -> float
    gradient(params, x, t, state=None, hyper=None, *, train=True, key=None) -> grads
    numerical_gradient(params, x, t, state=None, hyper=None, *, train=True, key=None, h=1e-4)

``forward`` is the one forward pass; the rest call it.  ``hyper=None`` means
the book's defaults with the layer sizes and batch norm read off ``params``.
``key`` (a ``jax.random`` key) draws the dropout masks and is needed only
when ``train`` and ``use_dropout``.  ``x``: float ``(N, input_size)``;
``t``: integer labels ``(N,)`` or one-hot rows ``(N, output_size)``.
``gradient`` and ``numerical_gradient`` run train mode, as the book's do
(``loss(x, t, train_flg=True)``); with a fixed ``key`` the dropout mask is
the same for every evaluation, so the numerical gradient is meaningful.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from jaxbp import _checks
from jaxbp.labels import check_batch, check_labels, fraction_correct
from jaxbp.layers import affine, relu, sigmoid, softmax_with_loss
from jaxbp.numerical import numerical_gradient as _numerical_gradient
from jaxbp.techniques import batch_norm, batch_norm_state, dropout, weight_decay_loss
from jaxbp.weight_init import init_std

__all__ = [
    "Hyper",
    "TRAIN_DEFAULTS",
    "init_params",
    "init_state",
    "forward",
    "predict",
    "loss",
    "train_loss",
    "accuracy",
    "gradient",
    "numerical_gradient",
]

#: Training settings of the book's ``ch06/optimizer_compare_mnist.py`` (figure
#: 6-9, full MNIST, 4 hidden layers of 100 ReLU units, He init): Adam with its
#: default lr, 2000 iterations of batch 128.
TRAIN_DEFAULTS = {"optimizer": "adam", "lr": 0.001, "iters": 2000, "batch_size": 128}

_ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid}

# Type aliases of the signatures below.
Params = dict[str, jax.Array]  # {"W1": ..., "b1": ..., "gamma1": ..., ...}
State = dict[str, dict[str, jax.Array]]  # {"BatchNorm1": {"running_mean", "running_var"}}


@dataclasses.dataclass(frozen=True)
class Hyper:
    """The book's constructor arguments (``dropout_ration`` spelled ``dropout_ratio``).

    Defaults are the book's, with ``hidden_size_list`` (which the book always
    passes) that of ``optimizer_compare_mnist.py``.  A list given for
    ``hidden_size_list`` is stored as a tuple so ``Hyper`` is hashable (a
    static argument of ``jax.jit``).
    """

    input_size: int = 784
    hidden_size_list: tuple[int, ...] = (100, 100, 100, 100)
    output_size: int = 10
    activation: str = "relu"
    weight_init_std: str | float = "relu"
    weight_decay_lambda: float = 0.0
    use_dropout: bool = False
    dropout_ratio: float = 0.5
    use_batchnorm: bool = False

    def __post_init__(self):
        if not isinstance(self.hidden_size_list, (tuple, list)):
            raise TypeError(
                f"Hyper: hidden_size_list must be a tuple or list of layer sizes, got "
                f"{type(self.hidden_size_list).__name__} {self.hidden_size_list!r}"
            )
        object.__setattr__(self, "hidden_size_list", tuple(self.hidden_size_list))
        self._check_sizes()
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"Hyper: activation must be 'relu' or 'sigmoid', got {self.activation!r}"
            )
        init_std(self.weight_init_std, 1)  # raises for a bad name or number
        _checks.real("Hyper", "weight_decay_lambda", self.weight_decay_lambda, low=0)
        _checks.boolean("Hyper", "use_dropout", self.use_dropout)
        _checks.real("Hyper", "dropout_ratio", self.dropout_ratio, low=0, high=1, high_open=True)
        _checks.boolean("Hyper", "use_batchnorm", self.use_batchnorm)

    def _check_sizes(self) -> None:
        """Every layer size an integer >= 1 (``50.0`` and ``True`` are refused), named."""
        named = [("input_size", self.input_size), ("output_size", self.output_size)]
        named += [(f"hidden_size_list[{i}]", n) for i, n in enumerate(self.hidden_size_list)]
        for arg, n in named:
            try:
                _checks.positive_int("Hyper", arg, n)
            except (TypeError, ValueError) as err:
                detail = str(err).removeprefix("Hyper: ")
                raise type(err)(
                    f"Hyper: layer sizes must be positive integers: {detail} "
                    f"(input {self.input_size}, hidden {self.hidden_size_list}, "
                    f"output {self.output_size})"
                ) from None

    @property
    def sizes(self) -> tuple[int, ...]:
        """``all_size_list``: input, hidden layers, output."""
        return (self.input_size, *self.hidden_size_list, self.output_size)


def _hyper(hyper: Hyper | None, options: dict) -> Hyper:
    if hyper is None:
        return Hyper(**options)
    if not isinstance(hyper, Hyper):
        raise TypeError(f"hyper must be a multi_layer_net.Hyper, got {type(hyper).__name__}")
    return dataclasses.replace(hyper, **options) if options else hyper


def init_params(
    key: jax.Array | int,
    hyper: Hyper | None = None,
    *,
    dtype: DTypeLike = jnp.float32,
    **options: Any,
) -> Params:
    """The book's ``__init_weight`` (6.2) and batch-norm parameters (6.3).

    ``W{i} = init_std(weight_init_std, n_in) * randn(n_in, n_out)``, ``b{i} = 0``
    for ``i = 1 .. L+1``; with ``use_batchnorm`` also ``gamma{i} = 1``,
    ``beta{i} = 0`` of shape ``(hidden_size_list[i-1],)`` for the hidden
    layers.  ``key``: a ``jax.random`` key or an integer seed (``0 <= seed <
    2**32``); ``dtype`` floating.  ``options``
    override fields of ``hyper`` (``init_params(key, hidden_size_list=[50])``).
    """
    hyper = _hyper(hyper, options)
    key = _checks.prng_key("init_params", key)
    dtype = _checks.float_dtype("init_params", "dtype", dtype)
    scales = [init_std(hyper.weight_init_std, n_in) for n_in in hyper.sizes[:-1]]
    return _init_params(key, jnp.asarray(scales, dtype), hyper.sizes, hyper.use_batchnorm, dtype)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _init_params(key, scales, sizes: tuple[int, ...], use_batchnorm: bool, dtype) -> dict:
    keys = jax.random.split(key, len(sizes) - 1)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = scales[i - 1] * jax.random.normal(keys[i - 1], (n_in, n_out), dtype)
        params[f"b{i}"] = jnp.zeros(n_out, dtype)
        if use_batchnorm and i < len(sizes) - 1:
            params[f"gamma{i}"] = jnp.ones(n_out, dtype)
            params[f"beta{i}"] = jnp.zeros(n_out, dtype)
    return params


def init_state(params: Params) -> State:
    """Running statistics of each BatchNorm layer, zeros (the book's first call).

    ``{}`` when ``params`` has no ``gamma1`` (no batch norm).
    """
    return {
        f"BatchNorm{k[5:]}": batch_norm_state(v.shape[0], v.dtype)
        for k, v in params.items()
        if k.startswith("gamma")
    }


def _layer_count(params: dict) -> int:
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    return n


@functools.lru_cache(maxsize=64)
def _param_shapes(hyper: Hyper) -> dict:
    """The shapes :func:`init_params` gives for ``hyper``."""
    sizes, shapes = hyper.sizes, {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        shapes[f"W{i}"], shapes[f"b{i}"] = (n_in, n_out), (n_out,)
        if hyper.use_batchnorm and i < len(sizes) - 1:
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (n_out,)
    return shapes


def _resolve(params: dict, hyper: Hyper | None) -> Hyper:
    """``hyper``, or the defaults with sizes read off ``params``; shapes checked."""
    if not isinstance(params, dict) or "W1" not in params:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with W1, b1, ... (from init_params), got {got}")
    _checks.float_arrays("multi_layer_net", params)
    if hyper is None:
        n = _layer_count(params)
        sizes = [params["W1"].shape[0]] + [params[f"W{i}"].shape[1] for i in range(1, n + 1)]
        hyper = Hyper(sizes[0], tuple(sizes[1:-1]), sizes[-1], use_batchnorm="gamma1" in params)
    got = {k: jnp.shape(v) for k, v in params.items()}
    want = _param_shapes(hyper)
    if got != want:
        raise ValueError(f"params do not fit {hyper}: expected shapes {want}, got {got}")
    return hyper


def _check_state(state, params: dict, hyper: Hyper) -> dict:
    if not hyper.use_batchnorm:
        if state:
            raise ValueError(
                f"state must be empty for a network without batch norm, got keys {sorted(state)}"
            )
        return {}
    if state is None:
        return init_state(params)
    want = set(init_state(params))
    if not isinstance(state, dict) or set(state) != want:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"state must have keys {sorted(want)} (from init_state), got {got}")
    return state


def forward(
    params: Params,
    x: ArrayLike,
    state: State | None = None,
    hyper: Hyper | None = None,
    *,
    train: bool = False,
    key: jax.Array | None = None,
) -> tuple[jax.Array, State]:
    """The network's forward pass (the book's ``predict(x, train_flg)``).

    ``x``: float ``(N, input_size)``.  Returns ``(logits (N, output_size),
    new_state)``: in train mode batch norm uses the batch statistics and
    ``new_state`` holds the updated running ones; in test mode it uses
    ``state`` and returns it unchanged.
    """
    hyper = _resolve(params, hyper)
    state = _check_state(state, params, hyper)
    train = _checks.boolean("forward", "train", train)
    n_hidden = len(hyper.hidden_size_list)
    use_dropout = hyper.use_dropout and train
    if use_dropout and key is None:
        raise ValueError("forward: train=True with use_dropout needs a jax.random key")
    if use_dropout:
        key = _checks.prng_key("forward", key)
    keys = jax.random.split(key, n_hidden) if use_dropout else [None] * n_hidden
    activation = _ACTIVATIONS[hyper.activation]
    h, new_state = x, {}
    for i in range(1, n_hidden + 1):
        h = affine(h, params[f"W{i}"], params[f"b{i}"])
        if hyper.use_batchnorm:
            h, new_state[f"BatchNorm{i}"] = batch_norm(
                h, params[f"gamma{i}"], params[f"beta{i}"], state[f"BatchNorm{i}"], train
            )
        h = activation(h)
        if hyper.use_dropout:
            h = dropout(h, keys[i - 1], hyper.dropout_ratio, train)
    last = n_hidden + 1
    return affine(h, params[f"W{last}"], params[f"b{last}"]), new_state


def predict(
    params: Params, x: ArrayLike, state: State | None = None, hyper: Hyper | None = None
) -> jax.Array:
    """Test-mode logits ``(N, output_size)`` (``predict(x, train_flg=False)``)."""
    return forward(params, x, state, hyper, train=False)[0]


def _check_labels(x, t, hyper: Hyper) -> None:
    """Labels that fit ``x``: ``(N,)`` or ``(N, output_size)`` for a batch ``(N, input_size)``;
    ``()`` or ``(output_size,)`` for one image ``(input_size,)`` (a batch of 1, as
    :func:`jaxbp.layers.affine` takes it).  Shapes only under ``jit``; values too outside."""
    batch = tuple(np.shape(x)[:1]) if np.ndim(x) > 1 else ()
    if batch:
        check_batch("multi_layer_net", batch[0])
    check_labels("multi_layer_net", batch + (hyper.output_size,), t)


def _loss_and_state(params, x, t, state, hyper, train, key):
    hyper = _resolve(params, hyper)
    _check_labels(x, t, hyper)
    logits, new_state = forward(params, x, state, hyper, train=train, key=key)
    data_loss = softmax_with_loss(logits, t)
    if hyper.weight_decay_lambda == 0:
        return data_loss, new_state
    weights = [params[f"W{i}"] for i in range(1, len(hyper.sizes))]
    return data_loss + weight_decay_loss(weights, hyper.weight_decay_lambda), new_state


def loss(
    params: Params,
    x: ArrayLike,
    t: ArrayLike,
    state: State | None = None,
    hyper: Hyper | None = None,
    *,
    train: bool = False,
    key: jax.Array | None = None,
) -> jax.Array:
    """Softmax cross-entropy of the logits plus ``0.5 * lambda * sum W^2`` (6.4.2)."""
    return _loss_and_state(params, x, t, state, hyper, train, key)[0]


def train_loss(
    params: Params, state: State, x: ArrayLike, t: ArrayLike, key: jax.Array | None, hyper: Hyper
) -> tuple[jax.Array, State]:
    """Training-mode ``(loss, new_state)``; pure, for ``jax.value_and_grad(has_aux=True)``.

    ``x`` float ``(B, input_size)``, ``t`` int ``(B,)``; ``hyper`` static.
    """
    return _loss_and_state(params, x, t, state, hyper, True, key)


def _checked(
    params: Params, x: ArrayLike, t: ArrayLike, state: State | None, hyper: Hyper | None
) -> tuple[Hyper, State]:
    """``(hyper, state)`` after the one label check (:func:`_check_labels`)."""
    hyper = _resolve(params, hyper)
    _check_labels(x, t, hyper)
    return hyper, _check_state(state, params, hyper)


@functools.partial(jax.jit, static_argnames="hyper")
def _accuracy(params, x, t, state, hyper):
    return fraction_correct(predict(params, x, state, hyper), t)


def accuracy(
    params: Params,
    x: ArrayLike,
    t: ArrayLike,
    state: State | None = None,
    hyper: Hyper | None = None,
) -> float:
    """Fraction of ``argmax(predict) == label`` in test mode (book's ``accuracy``).

    ``count / N`` computed in the logits' floating dtype
    (:func:`jaxbp.labels.fraction_correct`): exact to float64 under x64.
    """
    hyper, state = _checked(params, x, t, state, hyper)
    return float(_accuracy(params, jnp.asarray(x), jnp.asarray(t), state, hyper))


@functools.partial(jax.jit, static_argnames=("hyper", "train"))
def _grad(params, x, t, state, key, hyper, train):
    return jax.grad(loss)(params, x, t, state, hyper, train=train, key=key)


def gradient(
    params: Params,
    x: ArrayLike,
    t: ArrayLike,
    state: State | None = None,
    hyper: Hyper | None = None,
    *,
    train: bool = True,
    key: jax.Array | None = None,
) -> Params:
    """Backprop gradient (the book's ``gradient``): ``jax.grad`` runs our rules.

    Includes the weight decay's ``lambda * W``; keys and shapes of ``params``.
    """
    hyper, state = _checked(params, x, t, state, hyper)
    return _grad(params, x, t, state, key, hyper, train)


@functools.partial(jax.jit, static_argnames=("hyper", "train", "h"))
def _numerical(params, x, t, state, key, h, hyper, train):
    return _numerical_gradient(
        lambda p: loss(p, x, t, state, hyper, train=train, key=key), params, h
    )


def numerical_gradient(
    params: Params,
    x: ArrayLike,
    t: ArrayLike,
    state: State | None = None,
    hyper: Hyper | None = None,
    *,
    train: bool = True,
    key: jax.Array | None = None,
    h: float = 1e-4,
) -> Params:
    """Central differences (4.4) of ``loss`` for every parameter, no derivatives used."""
    hyper, state = _checked(params, x, t, state, hyper)
    return _numerical(params, x, t, state, key, h, hyper, train)
