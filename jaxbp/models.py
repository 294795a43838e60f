"""The networks the trainer can train, behind one small interface.

Each network module keeps the book's own methods (``predict``, ``loss``,
``gradient`` ...); the trainer needs only four things of it, gathered here in a
:class:`Model` built from a :class:`jaxbp.train.Config`:

    init(key) -> (params, state)                       # state: batch-norm statistics or {}
    train_loss(params, state, x, t, key) -> (loss, state)   # training mode, jittable
    logits(params, state, x) -> logits                 # test mode
    param_specs, state_specs: {name: (shape, dtype)}   # what a checkpoint must hold

``x`` is float32 ``(B, 784)`` in [0, 1]; ``t`` int32 ``(B,)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from jaxbp import multi_layer_net, simple_conv_net
from jaxbp import optimizer as update_rules

if TYPE_CHECKING:  # jaxbp.config imports this module
    import optax

    from jaxbp.config import Config

__all__ = [
    "Model",
    "MODELS",
    "OPTIMIZERS",
    "DEFAULTS",
    "get",
    "optimizer",
    "flat_state",
    "split_state",
]

MODELS = ("two_layer_net", "multi_layer_net", "simple_conv_net")
OPTIMIZERS = update_rules.NAMES

#: Training settings per network where they differ from the book's chapter 5: each
#: network module's own ``TRAIN_DEFAULTS`` and its hidden layer width.
DEFAULTS = {
    "two_layer_net": {},
    "multi_layer_net": {
        **multi_layer_net.TRAIN_DEFAULTS,
        "hidden_size": multi_layer_net.Hyper().hidden_size_list[0],
    },
    "simple_conv_net": {
        **simple_conv_net.TRAIN_DEFAULTS,
        "hidden_size": simple_conv_net.Hyper().hidden_size,
    },
}


@dataclasses.dataclass(frozen=True)
class Model:
    """What the trainer needs of a network (see the module docstring)."""

    name: str
    init: Callable
    train_loss: Callable
    logits: Callable
    param_specs: dict
    state_specs: dict
    chunk_steps: int = 0  # longest compiled chunk (about 1 s on a 2-core CPU); 0: an epoch


def _specs(tree) -> dict:
    return {k: (tuple(v.shape), v.dtype) for k, v in tree.items()}


def flat_state(state: dict) -> dict:
    """Network state (batch-norm statistics) as ``state.NAME.KEY`` checkpoint arrays."""
    return {f"state.{name}.{k}": v for name, d in state.items() for k, v in d.items()}


def _two_layer_net(config) -> Model:
    from jaxbp import two_layer_net as net
    from jaxbp.config import DTYPES

    compute_dtype = DTYPES[config.dtype]

    def init(key):
        return net.init_params(key, 784, config.hidden_size, 10, config.weight_init_std), {}

    def train_loss(params, state, x, t, key):
        return net.loss(params, x, t, compute_dtype=compute_dtype), state

    return Model(
        "two_layer_net",
        init,
        train_loss,
        lambda params, state, x: net.predict(params, x),
        *_shapes_of(init),
    )


def _module_model(name: str, module, hyper) -> Model:
    def init(key):
        params = module.init_params(key, hyper)
        return params, module.init_state(params)

    return Model(
        name,
        init,
        lambda params, state, x, t, key: module.train_loss(params, state, x, t, key, hyper),
        lambda params, state, x: module.predict(params, x, state, hyper),
        *_shapes_of(init),
    )


def _shapes_of(init: Callable) -> tuple[dict, dict]:
    params, state = jax.eval_shape(init, jax.random.PRNGKey(0))
    return _specs(params), _specs(flat_state(state))


def get(config: Config) -> Model:
    """The :class:`Model` for ``config.model`` with ``config``'s sizes."""
    if config.model == "two_layer_net":
        return _two_layer_net(config)
    if config.dtype != "float32":
        raise ValueError(f"dtype {config.dtype} is offered for two_layer_net only")
    if config.model == "multi_layer_net":
        from jaxbp import multi_layer_net as m

        hyper = m.Hyper(
            hidden_size_list=(config.hidden_size,) * 4,
            use_batchnorm=config.batchnorm,
            use_dropout=config.dropout > 0,
            dropout_ratio=config.dropout or 0.5,
            weight_decay_lambda=config.weight_decay,
        )
        return _module_model(config.model, m, hyper)
    if config.model == "simple_conv_net":
        from jaxbp import simple_conv_net as m

        model = _module_model(config.model, m, m.Hyper(hidden_size=config.hidden_size))
        return dataclasses.replace(model, chunk_steps=100)
    raise ValueError(f"model must be one of {list(MODELS)}, got {config.model!r}")


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
