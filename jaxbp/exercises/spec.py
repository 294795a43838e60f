"""What each exercise is: signatures, the book's lines, test inputs, known mistakes.

One :class:`Exercise` per rule of chapter 5 (5.4 ``mul`` and ``add``, 5.5.1
``relu``, 5.5.2 ``sigmoid``, 5.6.2 ``affine``, 5.6.3 ``softmax_with_loss``).
The learner writes ``NAME_fwd(*args) -> (out, residuals)`` and
``NAME_bwd(residuals, dout) -> cotangents``, JAX's own ``custom_vjp`` pair.
TwoLayerNet's gradient (5.7.2) is graded on its own (:data:`NET_NAME`).

Labels ``t`` of ``softmax_with_loss`` are **one-hot rows** ``(N, C)``, as the
book's ``load_mnist(one_hot_label=True)``; their cotangent is ``None``.

The inputs are small and fixed (a seeded generator, values rounded to one
decimal, never exactly 0), so a failing case can be read and redone by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from jaxbp import reference

__all__ = ["Case", "Pattern", "Exercise", "EXERCISES", "NET_NAME", "NAMES", "net_cases"]

NET_NAME = "two_layer_net_gradient"


@dataclass(frozen=True)
class Case:
    """One input: the forward's arguments and the upstream derivative ``dout``."""

    inputs: tuple[np.ndarray, ...]
    dout: np.ndarray


@dataclass(frozen=True)
class Pattern:
    """A known mistake: ``fn(inputs, dout)`` is what that mistake gives for ``output``."""

    kind: str  # a key of messages.KINDS
    output: str  # "out" or a cotangent's name ("dx", "dW", ...)
    fn: Callable[[tuple[np.ndarray, ...], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Exercise:
    """A ``custom_vjp`` pair to write: ``NAME_fwd(*args)`` and ``NAME_bwd(res, dout)``."""

    name: str
    section: str
    args: tuple[str, ...]
    grads: tuple[str | None, ...]  # cotangent names; None: must be None (labels)
    book: tuple[str, ...]  # the book's lines that store on self (the residuals)
    shapes: str
    reference: Callable  # the plain forward; jax.vjp of it is the right answer
    cases: Callable[[], list[Case]]
    patterns: tuple[Pattern, ...] = field(default=())

    @property
    def fwd(self) -> str:
        return f"{self.name}_fwd"

    @property
    def bwd(self) -> str:
        return f"{self.name}_bwd"


def _vals(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Values in [-2, 2] with one decimal, zeros moved to 0.5 (ReLU's kink is at 0)."""
    v = rng.uniform(-2, 2, shape).round(1)
    return np.where(v == 0, 0.5, v)


def _one_hot(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    return np.eye(c)[rng.integers(0, c, n)]


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _pair_cases(book: tuple[float, float]) -> Callable[[], list[Case]]:
    def cases():
        rng = np.random.default_rng(5)
        first = Case(tuple(np.float64(v) for v in book), np.float64(1.1))  # the tax node's dout
        rest = [Case((_vals(rng, *s), _vals(rng, *s)), _vals(rng, *s)) for s in ((2, 3), (1, 4))]
        return [first, *rest]

    return cases


def _unary_cases(*shapes: tuple[int, int]) -> Callable[[], list[Case]]:
    def cases():
        rng = np.random.default_rng(1)
        return [Case((_vals(rng, *s),), _vals(rng, *s)) for s in shapes]

    return cases


def _affine_cases() -> list[Case]:
    rng = np.random.default_rng(2)  # the first W is square: dout . W (no transpose) runs
    dims = ((2, 3, 3), (1, 3, 2), (5, 4, 3))
    return [
        Case((_vals(rng, N, n), _vals(rng, n, m), _vals(rng, m)), _vals(rng, N, m))
        for N, n, m in dims
    ]


def _softmax_cases() -> list[Case]:
    rng = np.random.default_rng(3)  # dout 0.5 once: the rule must multiply by it
    dims = ((2, 3, 1.0), (1, 4, 0.5), (5, 3, 1.0))
    return [Case((_vals(rng, N, C), _one_hot(rng, N, C)), np.float64(g)) for N, C, g in dims]


def net_cases() -> list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """``(params, x, t)`` for TwoLayerNet (4 inputs, 5 hidden, 3 classes): batch 3, then 1."""
    rng = np.random.default_rng(4)
    out = []
    for N in (3, 1):
        params = {
            "W1": _vals(rng, 4, 5),
            "b1": _vals(rng, 5),
            "W2": _vals(rng, 5, 3),
            "b2": _vals(rng, 3),
        }
        out.append((params, _vals(rng, N, 4), _one_hot(rng, N, 3)))
    return out


_SIGMOID_MISTAKES = (
    Pattern("sigmoid_dout_y", "dx", lambda i, d: d * _sig(i[0])),
    Pattern("sigmoid_dout_1my", "dx", lambda i, d: d * (1 - _sig(i[0]))),
    Pattern("sigmoid_used_x", "dx", lambda i, d: d * i[0] * (1 - i[0])),
    Pattern("ignores_dout", "dx", lambda i, d: _sig(i[0]) * (1 - _sig(i[0]))),
    Pattern("sigmoid_fwd_sign", "out", lambda i, d: 1 / (1 + np.exp(i[0]))),
)

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "mul", "5.4.1", ("x", "y"), ("dx", "dy"), ("self.x = x", "self.y = y"),
            "x, y: scalars or arrays of one shape; out = x * y, same shape",
            lambda x, y: x * y, _pair_cases((100.0, 2.0)),
            (
                Pattern("mul_not_swapped", "dx", lambda i, d: d * i[0]),
                Pattern("mul_not_swapped", "dy", lambda i, d: d * i[1]),
            ),
        ),
        Exercise(
            "add", "5.4.2", ("x", "y"), ("dx", "dy"), ("(nothing: pass)",),
            "x, y: scalars or arrays of one shape; out = x + y, same shape",
            lambda x, y: x + y, _pair_cases((200.0, 450.0)),
            (Pattern("ignores_dout", "dx", lambda i, d: np.ones_like(i[0])),),
        ),
        Exercise(
            "relu", "5.5.1", ("x",), ("dx",), ("self.mask = (x <= 0)",),
            "x: any shape, e.g. (N, n); out: same shape",
            reference.relu, _unary_cases((2, 4), (1, 5), (5, 3)),
            (
                Pattern("relu_mask_inverted", "dx", lambda i, d: np.where(i[0] <= 0, d, 0.0)),
                Pattern("ignores_dout", "dx", lambda i, d: (i[0] > 0) * 1.0),
                Pattern("relu_fwd_mask_inverted", "out", lambda i, d: np.where(i[0] <= 0, i[0], 0)),
            ),
        ),
        Exercise(
            "sigmoid", "5.5.2", ("x",), ("dx",), ("self.out = out",),
            "x: any shape, e.g. (N, n); out: same shape",
            reference.sigmoid, _unary_cases((2, 3), (1, 4), (4, 3)), _SIGMOID_MISTAKES,
        ),
        Exercise(
            "affine", "5.6.2", ("x", "W", "b"), ("dx", "dW", "db"), ("self.x = x", "self.W = W"),
            "x: (N, n) a batch of N samples; W: (n, m); b: (m,); out = x . W + b: (N, m)",
            reference.affine, _affine_cases,
            (
                Pattern("w_not_transposed", "dx", lambda i, d: d @ i[1]),
                Pattern("db_wrong_axis", "db", lambda i, d: d.sum(axis=1)),
                Pattern("db_not_summed", "db", lambda i, d: d),
            ),
        ),
        Exercise(
            "softmax_with_loss", "5.6.3", ("x", "t"), ("dx", None),
            ("self.t = t", "self.y = softmax(x)",
             "self.loss = cross_entropy_error(self.y, self.t)"),
            "x: logits (N, C); t: one-hot labels (N, C); out: the mean loss, a scalar ()",
            reference.softmax_with_loss, _softmax_cases,
            (
                Pattern(
                    "ignores_dout", "dx", lambda i, d: (_softmax(i[0]) - i[1]) / i[0].shape[0]
                ),
            ),
        ),
    )
}  # fmt: skip

NAMES: tuple[str, ...] = (*EXERCISES, NET_NAME)
