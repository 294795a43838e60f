"""Compare one learner's output with the right answer and name what is wrong with it.

:func:`compare` tries, in order: the exercise's known mistakes (``known``:
mul's inputs not swapped, ReLU's mask as ``x < 0``, and right answers written
another way, such as the book's ``log(y + 1e-7)``), then the general kinds: NaN
where the answer is finite, all zeros, transposed, not summed over the batch,
summed over the wrong axis, the wrong shape, close but more than rounding, the
sign, ``dout`` ignored, a missing or an extra factor of the rule's own values
(``y``, ``1 - y``), a constant factor (``N``, ``1/N``), and last "wrong
values".  Pure NumPy: it runs in the grader's process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from jaxbp.exercises.items import ATOL, RTOL

__all__ = ["Finding", "compare", "close"]


@dataclass(frozen=True)
class Finding:
    """What is wrong with one output: ``kind`` (a key of ``KINDS``) and its fields;
    ``accepted`` marks a right answer written another way (a key of ``NOTES``)."""

    kind: str
    fields: dict = field(default_factory=dict)
    accepted: bool = False


# ---- values ---------------------------------------------------------------------------------
def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to rounding: within ``RTOL`` of each entry plus ``ATOL`` of the largest one
    (an entry near 0 that is a difference of O(1) numbers carries their rounding)."""
    if a.shape != b.shape:
        return False
    scale = float(np.max(np.abs(b), initial=0.0))
    return bool(np.all(np.abs(a - b) <= RTOL * np.abs(b) + ATOL * max(scale, 1e-6)))


def _ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """The constant ``r`` with ``got == r * want``, if there is one."""
    big = np.abs(want) > 1e-9
    if not big.any() or np.any(np.abs(got[~big]) > 1e-8):
        return None
    r = got[big] / want[big]
    return float(r[0]) if np.allclose(r, r[0], rtol=1e-5) else None


def _by_factor(got, want, factors: dict) -> Finding | None:
    """``got`` is ``want`` divided (missing) or multiplied (extra) by a named factor."""
    for name, q in factors.items():
        q = np.broadcast_to(np.asarray(q, np.float64), want.shape)
        if np.allclose(q, 1):
            continue
        if np.all(np.abs(q) > 1e-6) and close(got, want / q):
            return Finding("missing_factor", {"q": name})
        if close(got, want * q):
            return Finding("extra_factor", {"q": name})
    return None


def _by_shape(got, want, dout) -> Finding:
    """Why ``got`` has another shape than ``want``."""
    fields = {"got": tuple(got.shape), "want": tuple(want.shape)}
    if got.ndim == 2 and close(got.T, want):
        return Finding("transposed")
    if got.ndim == want.ndim + 1 and close(got.sum(axis=0), want):
        return Finding("not_summed", fields)
    d = np.asarray(dout, np.float64)
    sums = [d.sum(axis=a) for a in range(1, d.ndim)] + [d.sum()] * (d.ndim >= 1)
    if any(close(got, s) for s in sums):  # over the features, or over everything
        return Finding("wrong_axis", {**fields, "message": "wrong_axis_sum"})
    return Finding("wrong_shape", fields)


def _by_values(got, want, dout, batch: int, factors: dict) -> Finding:
    """Why ``got`` differs from ``want`` of the same shape."""
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        return Finding("unstable")
    if not np.any(got) and np.any(want):
        return Finding("zeros")
    if got.ndim == 2 and not close(want.T, want) and close(got.T, want):
        return Finding("transposed")
    d = np.asarray(dout, np.float64)
    scale = float(np.max(np.abs(want), initial=0.0))
    worst = float(np.max(np.abs(got - want), initial=0.0))
    if worst <= 1e-3 * scale:  # close, but more than rounding: an epsilon, float16?
        return Finding("inexact", {"d": f"{worst:.2g}"})
    r = _ratio(got, want)
    if r is not None and np.isclose(r, -1):
        return Finding("sign")
    if r is not None and d.ndim == 0 and not np.isclose(d, 1) and np.isclose(r * d, 1):
        return Finding("ignores_dout")
    if d.shape == want.shape and np.all(np.abs(d) > 1e-6) and close(got * d, want):
        return Finding("ignores_dout")
    named = _by_factor(got, want, factors)
    if named is not None:
        return named
    if r is not None and batch > 1 and np.isclose(r, batch):
        return Finding("factor_n", {"r": f"{r:.4g}"})
    if r is not None and batch > 1 and np.isclose(r, 1 / batch):
        return Finding("factor_inv_n", {"r": f"{r:.4g}"})
    if r is not None and (got.size > 1 or _simple(r)):  # any two numbers have some ratio
        return Finding("factor", {"r": f"{r:.4g}"})
    return Finding("values")


def _simple(r: float) -> bool:
    """``r`` is a small fraction (1/2, 3, 2/3): a factor, even between two single numbers."""
    f = Fraction(r).limit_denominator(12)
    return abs(f.numerator) <= 12 and abs(float(f) - r) <= 1e-9 * max(1.0, abs(r))


def compare(got, want, *, known=(), dout=1.0, batch=1, factors=None) -> Finding | None:
    """What is wrong with ``got`` against the right answer ``want`` (``None``: nothing).

    Args:
      got, want: arrays; ``got`` may have another shape.
      known: ``(kind, value, fields, accepted)`` of the exercise's known mistakes
        (and right answers written another way, ``accepted``), tried first.
      dout: the upstream derivative of the case; batch: its N; factors: named
        arrays a rule multiplies by (``{"y": y, "1 - y": 1 - y}``).

    >>> compare(np.array([2.0, 4.0]), np.array([1.0, 2.0]), batch=2).kind
    'factor_n'
    >>> compare(np.zeros(3), np.ones(3)).kind
    'zeros'
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if close(got, want):
        return None
    for kind, value, fields, accepted in known:
        if value is not None and close(got, np.asarray(value, np.float64)):
            return Finding(kind, dict(fields), accepted)
    if got.shape != want.shape:
        return _by_shape(got, want, dout)
    return _by_values(got, want, dout, batch, factors or {})
