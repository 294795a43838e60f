"""What each exercise is: signatures, the book's lines, test inputs, known mistakes.

The exercises of chapters 5, 6 and 7 (:data:`CHAPTERS`; chapter 6's in
:mod:`jaxbp.exercises.chapter6`, chapter 7's in :mod:`jaxbp.exercises.chapter7`,
the kinds of item in :mod:`jaxbp.exercises.items`); :func:`item` finds any
of them by name.  :data:`NAMES` are chapter 5's, the default chapter.

One :class:`Exercise` per rule of chapter 5 (5.4 ``mul`` and ``add``, 5.5.1
``relu``, 5.5.2 ``sigmoid``, 5.6.2 ``affine``, 5.6.3 ``softmax_with_loss``).
The learner writes ``NAME_fwd(*args) -> (out, residuals)`` and
``NAME_bwd(residuals, dout) -> cotangents``, JAX's own ``custom_vjp`` pair.
TwoLayerNet's gradient (5.7.2) is graded on its own (:data:`NET`).

Labels ``t`` of ``softmax_with_loss`` are **one-hot rows** ``(N, C)``, as the
book's ``load_mnist(one_hot_label=True)``.  They are not differentiated: their
cotangent may be ``None``, zeros or the true derivative (``Exercise.labels``).

The inputs are small and fixed (a seeded generator, values rounded to one
decimal), so a failing case can be read and redone by hand.  They are chosen
to catch the classic mistakes: ReLU inputs exactly 0 (eq. 5.8's ``x <= 0``),
logits near 1000 (softmax without subtracting the row's max overflows),
batch 1 and larger, non-square weights (a transpose cannot hide).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxbp.exercises import chapter6, chapter7
from jaxbp.exercises.items import (
    ATOL,
    RTOL,
    Case,
    Chapter,
    Exercise,
    Function,
    Network,
    Pattern,
    Steps,
    Update,
    ref,
)
from jaxbp.exercises.items import one_hot as _one_hot
from jaxbp.exercises.items import vals as _vals

__all__ = [
    "Case",
    "Steps",
    "Pattern",
    "Exercise",
    "Function",
    "Update",
    "Network",
    "Chapter",
    "EXERCISES",
    "NET",
    "NET_NAME",
    "NAMES",
    "ALL_NAMES",
    "CHAPTERS",
    "net_cases",
    "item",
    "names_of",
    "chapter_of",
    "RTOL",
    "ATOL",
]

NET_NAME = "two_layer_net_gradient"


def _ref(name: str) -> Callable:
    return ref("reference", name)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _loss(y, t):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(t * np.log(y)) / t.shape[0]


def _pair_cases(book: tuple[float, float]) -> Callable[[], list[Case]]:
    def cases():
        rng = np.random.default_rng(5)
        first = Case(tuple(np.float64(v) for v in book), np.float64(1.1))  # the tax node's dout
        rest = [Case((_vals(rng, *s), _vals(rng, *s)), _vals(rng, *s)) for s in ((2, 3), (1, 4))]
        return [first, *rest]

    return cases


def _relu_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    x = _vals(rng, 2, 4)
    x[0, 1] = x[1, 0] = x[1, 3] = 0.0  # eq. 5.8: x <= 0 passes no dout, 0 included
    first = Case((x,), _vals(rng, 2, 4))
    return [first, *(Case((_vals(rng, *s),), _vals(rng, *s)) for s in ((1, 5), (5, 3)))]


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
    cases = [Case((_vals(rng, N, C), _one_hot(rng, N, C)), np.float64(g)) for N, C, g in dims]
    big = _vals(rng, 3, 4) * 500  # logits near 1000: exp overflows unless the max is subtracted
    return [*cases, Case((big, _one_hot(rng, 3, 4)), np.float64(1.0))]


def net_cases() -> list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """``(params, x, t)`` for TwoLayerNet (4 inputs, 5 hidden, 3 classes): batch 4, then 1.

    The batch holds an all-zero image and ``b1`` two zeros: hidden inputs exactly 0,
    where ReLU passes no ``dout`` (eq. 5.8).
    """
    rng = np.random.default_rng(4)
    out = []
    for N in (4, 1):  # N != C: a missing / N is told from a / C
        params = {
            "W1": _vals(rng, 4, 5),
            "b1": _vals(rng, 5),
            "W2": _vals(rng, 5, 3),
            "b2": _vals(rng, 3),
        }
        x = _vals(rng, N, 4)
        if N > 1:
            x[1], params["b1"][[0, 3]] = 0.0, 0.0
        out.append((params, x, _one_hot(rng, N, 3)))
    return out


def _softmax_axis0_dx(i, d):
    """The backward of a softmax taken over the batch (axis 0) instead of each row."""
    x, t = i
    return d * (_softmax(x, 0) - t) / x.shape[0]


def _book_loss(i, d):
    """The book's ``cross_entropy_error``: ``-sum(t log(y + 1e-7)) / N``."""
    x, t = i
    return -np.sum(t * np.log(_softmax(x) + 1e-7)) / x.shape[0]


_SIGMOID_MISTAKES = (
    Pattern("sigmoid_dout_y", "dx", lambda i, d: d * _sig(i[0])),
    Pattern("sigmoid_dout_1my", "dx", lambda i, d: d * (1 - _sig(i[0]))),
    Pattern("sigmoid_used_x", "dx", lambda i, d: d * i[0] * (1 - i[0])),
    Pattern("sigmoid_y_y", "dx", lambda i, d: d * _sig(i[0]) * _sig(i[0])),
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
                Pattern("not_swapped", "dx", lambda i, d: d * i[0], {"same": "x", "other": "y"}),
                Pattern("not_swapped", "dy", lambda i, d: d * i[1], {"same": "y", "other": "x"}),
                Pattern("ignores_dout", "dx", lambda i, d: i[1] * np.ones_like(d)),
                Pattern("ignores_dout", "dy", lambda i, d: i[0] * np.ones_like(d)),
            ),
            factors=lambda i, out: {"x": i[0], "y": i[1]},
        ),
        Exercise(
            "add", "5.4.2", ("x", "y"), ("dx", "dy"), ("(nothing: pass)",),
            "x, y: scalars or arrays of one shape; out = x + y, same shape",
            lambda x, y: x + y, _pair_cases((200.0, 450.0)),
            (
                Pattern("ignores_dout", "dx", lambda i, d: np.ones_like(d)),
                Pattern("ignores_dout", "dy", lambda i, d: np.ones_like(d)),
            ),
            factors=lambda i, out: {"x": i[0], "y": i[1]},
        ),
        Exercise(
            "relu", "5.5.1", ("x",), ("dx",), ("self.mask = (x <= 0)",),
            "x: any shape, e.g. (N, n); out: same shape",
            _ref("relu"), _relu_cases,
            (
                Pattern("relu_mask_strict", "dx", lambda i, d: np.where(i[0] < 0, 0.0, d)),
                Pattern("relu_mask_inverted", "dx", lambda i, d: np.where(i[0] <= 0, d, 0.0)),
                Pattern("relu_mask_inverted", "dx", lambda i, d: np.where(i[0] < 0, d, 0.0)),
                Pattern("ignores_dout", "dx", lambda i, d: (i[0] > 0) * 1.0),
                Pattern("relu_fwd_mask_inverted", "out", lambda i, d: np.where(i[0] <= 0, i[0], 0)),
            ),
            factors=lambda i, out: {"x": i[0]},
        ),
        Exercise(
            "sigmoid", "5.5.2", ("x",), ("dx",), ("self.out = out",),
            "x: any shape, e.g. (N, n); out: same shape",
            _ref("sigmoid"), _unary_cases((2, 3), (1, 4), (4, 3)), _SIGMOID_MISTAKES,
            factors=lambda i, out: {"y": out, "1 - y": 1 - out},
        ),
        Exercise(
            "affine", "5.6.2", ("x", "W", "b"), ("dx", "dW", "db"), ("self.x = x", "self.W = W"),
            "x: (N, n) a batch of N samples; W: (n, m); b: (m,); out = x . W + b: (N, m)",
            _ref("affine"), _affine_cases,
            (
                Pattern("w_not_transposed", "dx", lambda i, d: d @ i[1]),
                Pattern("bias_missing", "out", lambda i, d: i[0] @ i[1]),
            ),
        ),
        Exercise(
            "softmax_with_loss", "5.6.3", ("x", "t"), ("dx", "dt"),
            ("self.t = t", "self.y = softmax(x)",
             "self.loss = cross_entropy_error(self.y, self.t)"),
            "x: logits (N, C); t: one-hot labels (N, C); out: the mean loss, a scalar ()",
            _ref("softmax_with_loss"), _softmax_cases,
            (
                Pattern("book_epsilon", "out", _book_loss, accept=True),
                Pattern(
                    "ignores_dout", "dx", lambda i, d: (_softmax(i[0]) - i[1]) / i[0].shape[0]
                ),
                Pattern("wrong_axis", "out", lambda i, d: _loss(_softmax(i[0], 0), i[1])),
                Pattern("wrong_axis", "dx", _softmax_axis0_dx),
            ),
            labels=("dt",),
        ),
    )
}  # fmt: skip

NET = Network(
    NET_NAME,
    "5.7.2",
    ("W1", "b1", "W2", "b2"),
    ("affine", "relu", "affine", "softmax_with_loss"),
    _ref("loss"),
    net_cases,
    layers=("Affine1", "Relu1", "Affine2", "SoftmaxWithLoss"),
)

CHAPTERS: dict[int, Chapter] = {
    5: Chapter(
        5,
        {"en": "Chapter 5 exercises (backpropagation)", "ko": "5장 연습문제 (오차역전파법)"},
        (*EXERCISES, NET_NAME),
    ),
    6: Chapter(6, chapter6.TITLE, tuple(chapter6.ITEMS)),
    7: Chapter(7, chapter7.TITLE, tuple(chapter7.ITEMS)),
}

NAMES: tuple[str, ...] = CHAPTERS[5].exercises  # chapter 5's, the default
_ITEMS: dict[str, Exercise | Function | Update | Network] = {
    **EXERCISES,
    NET_NAME: NET,
    **chapter6.ITEMS,
    **chapter7.ITEMS,
}
ALL_NAMES: tuple[str, ...] = tuple(_ITEMS)


def item(name: str) -> Exercise | Function | Update | Network:
    """The exercise (or function, update rule, network) called ``name``, of any chapter.

    >>> item("relu").section, item(NET_NAME).section, item("batch_norm").section
    ('5.5.1', '5.7.2', '6.3.2')
    """
    return _ITEMS[name]


def names_of(chapter: int) -> tuple[str, ...]:
    """The exercises of ``chapter`` (5, 6 or 7), in the book's order.

    >>> names_of(7)[:2]
    ('im2col', 'col2im')
    """
    return CHAPTERS[chapter].exercises


def chapter_of(name: str) -> int:
    """The chapter exercise ``name`` belongs to.

    >>> chapter_of("relu"), chapter_of("adam_update"), chapter_of("max_pooling")
    (5, 6, 7)
    """
    return next(c.number for c in CHAPTERS.values() if name in c.exercises)
