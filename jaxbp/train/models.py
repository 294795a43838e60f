"""The networks the trainer can train: one registry, one protocol.

Each network is one module of the book (:mod:`jaxbp.two_layer_net`,
:mod:`jaxbp.multi_layer_net`, :mod:`jaxbp.simple_conv_net`) and one entry in
:data:`NETWORKS`.  An entry is a :class:`Network`::

    build(config) -> Model      the network at the config's sizes
    defaults                    training settings where they differ from the book's 5.7.4
    options                     the Config fields only this network reads (elsewhere: defaults)
    dtypes                      the compute dtypes it offers

and every :class:`Model` keeps one protocol, the only things the trainer asks of it::

    init(key) -> (params, state)                           # state: batch-norm statistics or {}
    train_loss(params, state, x, t, key) -> (loss, state)  # training mode, jittable
    logits(params, state, x) -> logits                     # test mode
    param_specs, state_specs: {name: (shape, dtype)}       # what a checkpoint must hold
    chunk_steps                                            # longest compiled chunk, 0: an epoch
    eval_in_background                                     # evaluate while the next chunk runs

``x`` is float32 ``(B, 784)`` in [0, 1]; ``t`` int32 ``(B,)``.  Adding a network is its
module plus a ``build`` function and an entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from jaxbp import multi_layer_net, simple_conv_net, two_layer_net
from jaxbp import optimizer as update_rules

if TYPE_CHECKING:  # jaxbp.train.config imports this module
    import optax

    from jaxbp.train.config import Config

__all__ = [
    "Model",
    "Network",
    "NETWORKS",
    "MODELS",
    "OPTIMIZERS",
    "DTYPES",
    "DEFAULTS",
    "get",
    "optimizer",
    "flat_state",
    "split_state",
]

#: The compute dtypes of the matmuls (parameters and loss stay float32).
DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}
OPTIMIZERS = update_rules.NAMES


@dataclasses.dataclass(frozen=True)
class Model:
    """What the trainer needs of a network (the protocol in the module docstring)."""

    name: str
    init: Callable
    train_loss: Callable
    logits: Callable
    param_specs: dict
    state_specs: dict
    chunk_steps: int = 0  # longest compiled chunk (about 1 s on a 2-core CPU); 0: an epoch
    #: evaluate in a thread of its own while the next chunk runs (measured to help where a
    #: step leaves a core idle: TwoLayerNet at batch 100, 1.42 -> 1.075x its steps alone)
    eval_in_background: bool = False


@dataclasses.dataclass(frozen=True)
class Network:
    """A registry entry: how to build the network, and which settings it has."""

    build: Callable[[Config], Model]
    defaults: dict = dataclasses.field(default_factory=dict)
    options: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float32",)


def _specs(tree) -> dict:
    return {k: (tuple(v.shape), v.dtype) for k, v in tree.items()}


def flat_state(state: dict) -> dict:
    """Network state (batch-norm statistics) as ``state.NAME.KEY`` checkpoint arrays."""
    return {f"state.{name}.{k}": v for name, d in state.items() for k, v in d.items()}


def _model(name: str, init: Callable, train_loss: Callable, logits: Callable, **kw) -> Model:
    params, state = jax.eval_shape(init, jax.random.PRNGKey(0))
    return Model(name, init, train_loss, logits, _specs(params), _specs(flat_state(state)), **kw)


def _module_model(name: str, module, hyper, **kw) -> Model:
    """A network module with ``init_params``, ``init_state``, ``train_loss``, ``predict``."""

    def init(key):
        params = module.init_params(key, hyper)
        return params, module.init_state(params)

    return _model(
        name,
        init,
        lambda params, state, x, t, key: module.train_loss(params, state, x, t, key, hyper),
        lambda params, state, x: module.predict(params, x, state, hyper),
        **kw,
    )


# ---- the entries ---------------------------------------------------------------------------
def _two_layer_net(config: Config) -> Model:
    net, compute_dtype = two_layer_net, DTYPES[config.dtype]
    return _model(
        "two_layer_net",
        lambda key: (net.init_params(key, 784, config.hidden_size, 10, config.weight_init_std), {}),
        lambda params, state, x, t, key: (
            net.loss(params, x, t, compute_dtype=compute_dtype),
            state,
        ),
        lambda params, state, x: net.predict(params, x),
        eval_in_background=True,
    )


def _multi_layer_net(config: Config) -> Model:
    hyper = multi_layer_net.Hyper(
        hidden_size_list=(config.hidden_size,) * 4,
        use_batchnorm=config.batchnorm,
        use_dropout=config.dropout > 0,
        dropout_ratio=config.dropout or 0.5,
        weight_decay_lambda=config.weight_decay,
    )
    return _module_model("multi_layer_net", multi_layer_net, hyper)


def _simple_conv_net(config: Config) -> Model:
    forward = "im2col" if config.conv_forward == "auto" else config.conv_forward
    hyper = simple_conv_net.Hyper(hidden_size=config.hidden_size, conv_forward=forward)
    return _module_model("simple_conv_net", simple_conv_net, hyper, chunk_steps=100)


NETWORKS: dict[str, Network] = {
    "two_layer_net": Network(_two_layer_net, options=("weight_init_std",), dtypes=tuple(DTYPES)),
    "multi_layer_net": Network(
        _multi_layer_net,
        defaults={
            **multi_layer_net.TRAIN_DEFAULTS,
            "hidden_size": multi_layer_net.Hyper().hidden_size_list[0],
        },
        options=("batchnorm", "dropout", "weight_decay"),
    ),
    "simple_conv_net": Network(
        _simple_conv_net,
        defaults={
            **simple_conv_net.TRAIN_DEFAULTS,
            "hidden_size": simple_conv_net.Hyper().hidden_size,
        },
        options=("conv_forward",),
    ),
}
MODELS = tuple(NETWORKS)
#: Training settings per network where they differ from the book's chapter 5.
DEFAULTS = {name: n.defaults for name, n in NETWORKS.items()}


def get(config: Config) -> Model:
    """The :class:`Model` for ``config.model`` with ``config``'s sizes."""
    network = NETWORKS.get(config.model)
    if network is None:
        raise ValueError(f"model must be one of {list(MODELS)}, got {config.model!r}")
    if config.dtype not in network.dtypes:
        offered = [name for name, n in NETWORKS.items() if config.dtype in n.dtypes]
        raise ValueError(f"dtype {config.dtype} is offered for {', '.join(offered)} only")
    return network.build(config)


def optimizer(config: Config) -> optax.GradientTransformation:
    """The update rule (6.1): ``config.optimizer`` with ``config.lr``.

    The book's SGD is exactly ``optax.sgd``; the others are :mod:`jaxbp.optimizer`.
    """
    return update_rules.get(config.optimizer, config.lr)


def split_state(arrays: dict, state_specs: dict) -> tuple[dict, dict]:
    """Checkpoint arrays -> ``(params, state)`` (``state.NAME.KEY`` back to nesting)."""
    params = {k: v for k, v in arrays.items() if not k.startswith("state.")}
    state: dict = {}
    for flat in state_specs:
        _, name, key = flat.split(".", 2)
        state.setdefault(name, {})[key] = jnp.asarray(arrays[flat])
    return params, state
