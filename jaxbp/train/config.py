"""The training run's hyperparameters, declared once: :class:`Config`.

Each field carries its help text (and choices), so :mod:`jaxbp.train.cli` builds its flags
from this class; the defaults are the book's (5.7.4).
"""

from __future__ import annotations

import dataclasses
import math

from jaxbp.train import models, xla_options

__all__ = ["Config"]


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

    def validate(self) -> Config:
        """Raise ``ValueError`` naming the first bad field; return ``self``."""
        for name in ("iters", "batch_size", "hidden_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("lr", "weight_init_std"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        if not (0 <= self.dropout < 1 and 0 <= self.weight_decay < math.inf):
            raise ValueError(
                f"dropout must be in [0, 1) and weight_decay >= 0, got "
                f"{self.dropout!r} and {self.weight_decay!r}"
            )
        self._check_options()
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"eval_every must be an integer >= 0, got {self.eval_every!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(
                    f"{f.name} must be one of {list(choices)}, got {getattr(self, f.name)!r}"
                )
        if self.devices != "all" and not (str(self.devices).isdigit() and int(self.devices) > 0):
            raise ValueError(f"devices must be a positive integer or 'all', got {self.devices!r}")
        return self

    def _check_options(self) -> None:
        """A network's own options (the registry's ``options``) keep their defaults elsewhere."""
        for name, network in models.NETWORKS.items():
            if name == self.model:
                continue
            used = [o for o in network.options if getattr(self, o) != _DEFAULTS[o]]
            if used:
                names = ", ".join(network.options[:-1]) + " and " + network.options[-1]
                raise ValueError(f"{names} are options of {name}")


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
