"""What an exercise is: the kinds of item a learner writes, their inputs and known mistakes.

Four kinds of item, each graded by running the learner's functions on fixed
inputs and comparing with answers the grader computes itself:

* :class:`Exercise` - a ``custom_vjp`` pair, ``NAME_fwd(*arrays, *static) ->
  (out, residuals)`` and ``NAME_bwd(*static, residuals, dout) -> cotangents``
  (``static``: Python values such as a stride, JAX's ``nondiff_argnums``);
* :class:`Function` - a plain function, ``NAME(*arrays, *static) -> out``
  (im2col, col2im, dropout's test mode);
* :class:`Update` - an update rule of 6.1, ``NAME(params, grads, state,
  *hyper) -> (params, state)``, run over several steps (:class:`Steps`);
* :class:`Network` - a network's gradient from the learner's own rules,
  ``NAME(params, x, t) -> {key: gradient}``.

The inputs are small and fixed (a seeded generator, values rounded to one
decimal), so a failing case can be read and redone by hand.  Nothing here
imports JAX at import time: the grader starts the learner's process first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Case",
    "Steps",
    "Pattern",
    "Exercise",
    "Function",
    "Update",
    "Network",
    "Chapter",
    "RTOL",
    "ATOL",
    "ref",
    "vals",
    "one_hot",
]

# One tolerance for a rule: alone, inside the network, in the rule check.  RTOL of each
# entry, ATOL of the array's largest entry: float64 rounding passes, and so does float32's.
RTOL, ATOL = 1e-5, 1e-6


@dataclass(frozen=True)
class Case:
    """One input: the arrays, the upstream derivative ``dout`` (``None`` for a
    :class:`Function`) and ``static``, the Python values passed after the arrays
    (a stride, a window size, an ``input_shape``)."""

    inputs: tuple[np.ndarray, ...]
    dout: np.ndarray | None
    static: tuple = ()


@dataclass(frozen=True)
class Steps:
    """One run of an update rule: the first ``params``, one ``grads`` dict per step,
    and the hyperparameters in the rule's order (``lr``, ``momentum``, ...)."""

    params: dict[str, np.ndarray]
    grads: tuple[dict[str, np.ndarray], ...]
    hyper: tuple[float, ...]


@dataclass(frozen=True)
class Pattern:
    """A known mistake: what that mistake gives for ``output``.

    ``fn(inputs, dout, *static)`` for a pair or a function, ``fn(steps)`` (the
    params after each step) for an update rule.  ``kind`` is a key of
    :data:`jaxbp.exercises.messages.KINDS`; ``fields`` fill its message.  With
    ``accept`` the pattern is a right answer written another way (the book's
    ``log(y + 1e-7)``): it passes, with ``kind`` as a note.
    """

    kind: str
    output: str  # "out", a cotangent's name ("dx", "dW", ...) or "params"
    fn: Callable
    fields: dict = field(default_factory=dict)
    accept: bool = False

    def value(self, case: Case | Steps):
        """What the mistake gives on ``case``."""
        if isinstance(case, Steps):
            return self.fn(case)
        return self.fn(case.inputs, case.dout, *case.static)


@dataclass(frozen=True)
class Exercise:
    """A ``custom_vjp`` pair to write: ``NAME_fwd(*args, *static)`` and
    ``NAME_bwd(*static, residuals, dout)`` (JAX's ``nondiff_argnums`` order)."""

    name: str
    section: str
    args: tuple[str, ...]
    grads: tuple[str, ...]  # one cotangent name per array input
    book: tuple[str, ...]  # the book's lines that store on self (the residuals)
    shapes: str
    reference: Callable  # the plain forward (arrays, then static); jax.vjp of it is right
    cases: Callable[[], list[Case]]
    patterns: tuple[Pattern, ...] = ()
    labels: tuple[str, ...] = ()  # cotangents not differentiated: None, zeros or the true one
    factors: Callable | None = None  # (inputs, out) -> {name: array} a rule multiplies by
    static: tuple[str, ...] = ()  # Python-valued arguments after the arrays
    which: str = ""  # the UI key that says what the inputs hold

    @property
    def fwd(self) -> str:
        return f"{self.name}_fwd"

    @property
    def bwd(self) -> str:
        return f"{self.name}_bwd"

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.fwd, self.bwd)


@dataclass(frozen=True)
class Function:
    """A plain function to write: ``NAME(*args, *static) -> out``, compared with
    ``reference(*args, *static)``."""

    name: str
    section: str
    args: tuple[str, ...]
    static: tuple[str, ...]
    book: tuple[str, ...]  # the book's lines, shown in the template
    shapes: str
    reference: Callable
    cases: Callable[[], list[Case]]
    patterns: tuple[Pattern, ...] = ()
    which: str = ""
    labels: tuple[str, ...] = ()  # (unused: a function has no cotangents)
    factors: Callable | None = None

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Update:
    """An update rule of 6.1: ``NAME(params, grads, state, *hyper) -> (params, state)``.

    ``state`` is ``None`` at the first step (the book's ``self.v = None``) and
    whatever the rule returned after that; ``reference(*hyper)`` builds the
    right rule (an optax transformation from :mod:`jaxbp.optimizer`).
    """

    name: str
    section: str
    hyper: tuple[str, ...]
    defaults: tuple[float, ...]  # the book's class defaults
    book: tuple[str, ...]  # the book's update lines
    state: str  # what the book keeps on self, in words
    reference: Callable  # (*hyper) -> optax.GradientTransformation
    cases: Callable[[], list[Steps]]
    patterns: tuple[Pattern, ...] = ()

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Network:
    """A whole network's gradient, written with the learner's own rules.

    ``NAME(params, x, t) -> {key: gradient}``; ``rules`` are the exercises it
    is built from, in forward order (``Affine1, Relu1, Affine2, SoftmaxWithLoss``).
    """

    name: str
    section: str
    keys: tuple[str, ...]
    rules: tuple[str, ...]
    loss: Callable  # reference loss(params, x, t); jax.grad of it is the right answer
    cases: Callable[[], list[tuple[dict, np.ndarray, np.ndarray]]]
    title: str = "TwoLayerNet"  # the book's class, as the report names it
    # whether a failing gradient is explained by jaxbp.rule_check over the learner's rules
    # (not for max pooling: autodiff of the learner's jnp.max splits a tie's gradient, the
    # book's rule sends it to the first maximum, so a right rule would be called wrong)
    rule_check: bool = True
    layers: tuple[str, ...] = ()  # the book's names of the layers in forward order, if told

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Chapter:
    """A chapter's exercises, in the book's order, and the words of its report."""

    number: int
    title: dict[str, str]
    exercises: tuple[str, ...]


def ref(module: str, name: str) -> Callable:
    """``jaxbp.MODULE.NAME``, imported on first call (the grader starts the learner's
    process before it loads JAX).

    >>> ref("reference", "relu")(np.array([-1.0, 2.0]))
    Array([0., 2.], dtype=float32)
    """

    def call(*args):
        import importlib

        return getattr(importlib.import_module(f"jaxbp.{module}"), name)(*args)

    call.__name__ = call.__qualname__ = name
    return call


def vals(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Values in [-2, 2] with one decimal, zeros moved to 0.5 (0 is placed on purpose).

    >>> vals(np.random.default_rng(0), 2, 3).shape
    (2, 3)
    """
    v = rng.uniform(-2, 2, shape).round(1)
    return np.where(v == 0, 0.5, v)


def one_hot(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """``n`` one-hot rows ``(n, c)`` of random classes.

    >>> one_hot(np.random.default_rng(0), 2, 3).sum(axis=1)
    array([1., 1.])
    """
    return np.eye(c)[rng.integers(0, c, n)]
