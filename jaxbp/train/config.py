"""The training run's hyperparameters, declared once: :class:`Config`.

Each field carries its help text (and choices), so :mod:`jaxbp.train.cli` builds its flags
from this class; the defaults are the book's (5.7.4).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from jaxbp.conv import FORWARDS
from jaxbp.train import models, xla_options

__all__ = ["Config", "as_flag"]


def as_flag(field: str) -> str:
    """The command-line flag of a :class:`Config` field.

    >>> as_flag("batch_size")
    '--batch-size'
    """
    return "--" + field.replace("_", "-")


def _field(default, help: str, **extra):
    return dataclasses.field(default=default, metadata={"help": help, **extra})


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters; the defaults are the book's (5.7.4).  The CLI is built from these."""

    model: str = _field("two_layer_net", "network", choices=tuple(models.MODELS))
    dataset: str = _field("mnist", "dataset", choices=("mnist", "fashion-mnist"))
    iters: int = _field(10000, "training steps")
    batch_size: int = _field(100, "minibatch size, sampled with replacement")
    lr: float = _field(0.1, "learning rate")
    optimizer: str = _field("sgd", "update rule (6.1)", choices=models.OPTIMIZERS)
    hidden_size: int = _field(50, "hidden units of each hidden layer")
    weight_init_std: float = _field(0.01, "std of the normal initial weights (two_layer_net)")
    batchnorm: bool = _field(
        False, "batch normalization after each hidden affine layer (6.3; multi_layer_net)"
    )
    dropout: float = _field(
        0.0, "dropout ratio after each hidden layer, 0 for none (6.4.3; multi_layer_net)"
    )
    weight_decay: float = _field(0.0, "weight decay lambda (6.4.2; multi_layer_net)")
    seed: int = _field(0, "random seed (0 <= seed < 2**32)")
    eval_every: int = _field(
        0, "steps between evaluations (0: one epoch, train_size // batch_size)"
    )
    evaluate: bool = _field(
        True, "evaluate accuracy (False: steps only, for benchmarks)", cli=False
    )
    dtype: str = _field(
        "float32",
        "compute dtype of the matmuls; parameters and loss stay float32",
        choices=tuple(models.DTYPES),
    )
    devices: str = _field(
        "1",
        "data parallel over this many devices, or 'all' (batch size "
        "must divide by the device count)",
    )
    cpu_matmul: str = _field(
        xla_options.DEFAULT,
        "XLA CPU matmul path: eigen (YNN fusions "
        "off), xla-default, or auto (timed once per machine, then cached)",
        choices=xla_options.CHOICES,
    )
    eval_matmul: str = _field(
        "auto",
        "XLA CPU matmul path of the evaluations (2000 images a product): auto (the faster "
        "on this machine, timed once, then cached), eigen, or xla-default",
        choices=xla_options.CHOICES,
    )
    conv_forward: str = _field(
        "auto",
        "how the convolution's forward output is computed: im2col (the book's), lax "
        "(XLA's convolution), or auto (the faster on this machine, timed once, then "
        "cached); the same hand-written rule differentiates both (simple_conv_net)",
        choices=("auto", *FORWARDS),
    )

    def validate(self, name: Callable[[str], str] = str) -> Config:
        """Raise ``ValueError`` naming the first bad field; return ``self``.

        ``name(field)`` is how a field is named in the message (the command line passes
        :func:`as_flag`, so that it names the flag typed).  The learning rate, the
        initial std and the weight decay must be finite as the float32 they become in
        the compiled step (``--lr 1e39`` is inf there).

        >>> Config(lr=1e39).validate()
        Traceback (most recent call last):
        ...
        ValueError: lr must be finite in float32 (at most 3.4028235e+38), got 1e+39
        >>> Config(batch_size=0).validate(as_flag)
        Traceback (most recent call last):
        ...
        ValueError: --batch-size must be a positive integer, got 0
        """
        _check_numbers(self, name)
        _check_choices(self, name)
        _check_options(self, name)
        return self


def _check_numbers(c: Config, n: Callable[[str], str]) -> None:
    """Sizes, rates, the seed and the ratios: of their type and range, finite in float32."""
    for name in ("iters", "batch_size", "hidden_size"):
        v = getattr(c, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{n(name)} must be a positive integer, got {v!r}")
    for name in ("lr", "weight_init_std"):
        v = getattr(c, name)
        if not (_is_number(v) and v > 0 and math.isfinite(v)):
            raise ValueError(f"{n(name)} must be a positive finite number, got {v!r}")
        _check_float32(n(name), v, positive=True)
    if not isinstance(c.seed, int) or not 0 <= c.seed < 2**32:
        raise ValueError(f"{n('seed')} must be an integer in [0, 2**32), got {c.seed!r}")
    if not (_is_number(c.dropout) and 0 <= c.dropout < 1):
        raise ValueError(f"{n('dropout')} must be in [0, 1), got {c.dropout!r}")
    if not (_is_number(c.weight_decay) and 0 <= c.weight_decay < math.inf):
        raise ValueError(f"{n('weight_decay')} must be >= 0 and finite, got {c.weight_decay!r}")
    _check_float32(n("weight_decay"), c.weight_decay, positive=False)
    if not isinstance(c.eval_every, int) or c.eval_every < 0:
        raise ValueError(f"{n('eval_every')} must be an integer >= 0, got {c.eval_every!r}")
    if c.devices != "all" and not (str(c.devices).isdigit() and int(c.devices) > 0):
        raise ValueError(f"{n('devices')} must be a positive integer or 'all', got {c.devices!r}")


def _check_choices(c: Config, n: Callable[[str], str]) -> None:
    """Fields with choices hold one of them; the network offers the dtype."""
    for f in dataclasses.fields(c):
        choices = f.metadata.get("choices")
        if choices and getattr(c, f.name) not in choices:
            raise ValueError(
                f"{n(f.name)} must be one of {list(choices)}, got {getattr(c, f.name)!r}"
            )
    offered = models.NETWORKS[c.model].dtypes
    if c.dtype not in offered:
        raise ValueError(
            f"{n('dtype')} {c.dtype} is not offered for {c.model} (it has {', '.join(offered)})"
        )


def _check_options(c: Config, n: Callable[[str], str]) -> None:
    """A network's own options (the registry's ``options``) keep their defaults elsewhere."""
    for name, network in models.NETWORKS.items():
        if name == c.model:
            continue
        used = [o for o in network.options if getattr(c, o) != _DEFAULTS[o]]
        if used:
            *rest, last = map(n, network.options)
            listed = f"{', '.join(rest)} and {last}" if rest else last
            verb = "are options" if rest else "is an option"
            given = ", ".join(f"{n(o)}={getattr(c, o)!r}" for o in used)
            raise ValueError(f"{listed} {verb} of {name}, not of {c.model} (given {given})")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32(name: str, v: float, positive: bool) -> None:
    """``v`` as float32 (the compiled step's dtype) must stay finite, and non-zero if positive."""
    with np.errstate(over="ignore", under="ignore"):
        as32 = float(np.float32(v))
    if not math.isfinite(as32):
        raise ValueError(
            f"{name} must be finite in float32 (at most {_FLOAT32_MAX:.8g}), got {v!r}"
        )
    if positive and as32 == 0:
        raise ValueError(f"{name} must be positive in float32 (it rounds to 0), got {v!r}")


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}


def divergence_hint(config: Config) -> str:
    """What to change after a divergence: the flag most likely responsible.

    A large initial std (``--weight-init-std`` >= 1, set by hand) or weight decay
    (``--weight-decay`` >= 1) blows up before a large learning rate does.

    >>> divergence_hint(Config(weight_init_std=1e19))
    'try a smaller --weight-init-std (1e+19 is huge; the default is 0.01)'
    >>> divergence_hint(Config(lr=1e30))
    'try a smaller --lr'
    """
    default_std = Config.__dataclass_fields__["weight_init_std"].default
    if config.weight_init_std != default_std and config.weight_init_std >= 1:
        return (
            f"try a smaller --weight-init-std ({config.weight_init_std:g} is huge; "
            f"the default is {default_std:g})"
        )
    if config.weight_decay >= 1:
        return f"try a smaller --weight-decay ({config.weight_decay:g} is huge; 0.1 is strong)"
    return "try a smaller --lr"
