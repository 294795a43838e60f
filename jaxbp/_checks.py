"""Argument checks shared by the book's layers and networks, written once.

Every check looks only at Python values, dtypes and shapes, never at the values of a
traced array, so it runs once at trace time and everything still works under
``jit`` and ``vmap``.  A bad argument raises one ``TypeError`` (wrong kind of
thing) or ``ValueError`` (right kind, wrong value) in the house style::

    <function>: <argument> must be <what it must be>, got <what it got>

Integers (sizes, strides, paddings) must be Python or NumPy integers: ``2.5``,
``2.0`` and ``"2"`` are refused rather than truncated or parsed.  Flags must be
``bool`` (a string ``"no"`` is not False).  Numbers must be real and, unless the
range is bounded, finite; strings are refused rather than parsed.

A number that may be traced (a dropout ratio, a weight-decay lambda) cannot raise
under ``jit``: :func:`in_range` gives its check as a traced bool and
:func:`nan_unless` turns what it multiplies into NaN where the check fails, in the
value and in its derivatives, never a finite wrong number.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "integer",
    "positive_int",
    "non_negative_int",
    "boolean",
    "real",
    "in_range",
    "nan_unless",
    "int_tuple",
    "float_dtype",
    "float_arrays",
    "prng_key",
    "stride_pad",
    "images",
]

SEED_LIMIT = 2**32


def _show(value: Any) -> str:
    """How ``value`` is named in a message: numbers as written, anything else with its type."""
    if isinstance(value, jax.core.Tracer):
        return f"a traced value of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, (np.ndarray, jax.Array)):
        if value.ndim == 0:
            return f"a 0-d {value.dtype} array {value}"
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:56] + ' ...'}"


def integer(name: str, arg: str, value: Any, low: int = 0) -> int:
    """``value`` as an ``int``, checked to be an integer ``>= low``.

    Python and NumPy integers (and 0-d integer arrays) pass; a ``bool``, a string,
    ``None`` or a traced value is a ``TypeError``; a float (even ``2.0``) or an
    integer below ``low`` is a ``ValueError``.

    >>> integer("im2col", "pad", np.int64(2))
    2
    >>> integer("max_pooling", "pool_h", 2.5, low=1)
    Traceback (most recent call last):
    ...
    ValueError: max_pooling: pool_h must be an integer >= 1, got 2.5
    """
    must = f"{name}: {arg} must be an integer >= {low}, got {_show(value)}"
    if isinstance(value, (bool, np.bool_, str, bytes, jax.core.Tracer)) or value is None:
        raise TypeError(must)
    try:
        n = operator.index(value)
    except TypeError:
        if isinstance(value, numbers.Number):
            raise ValueError(must) from None
        raise TypeError(must) from None
    if n < low:
        raise ValueError(must)
    return int(n)


def positive_int(name: str, arg: str, value: Any) -> int:
    """:func:`integer` with ``low=1``: a size, a stride, a count.

    >>> positive_int("Hyper", "stride", 2)
    2
    """
    return integer(name, arg, value, low=1)


def non_negative_int(name: str, arg: str, value: Any) -> int:
    """:func:`integer` with ``low=0``: a padding.

    >>> non_negative_int("Hyper", "pad", 0)
    0
    """
    return integer(name, arg, value, low=0)


def boolean(name: str, arg: str, value: Any) -> bool:
    """``value`` as a ``bool``; ``TypeError`` unless it is a ``bool`` (or ``numpy.bool_``).

    Flags select the computation, so a traced value cannot be one either.

    >>> boolean("dropout", "train", False)
    False
    >>> boolean("dropout", "train", "no")
    Traceback (most recent call last):
    ...
    TypeError: dropout: train must be a Python bool (True or False), got str 'no'
    """
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{name}: {arg} must be a Python bool (it selects the computation), not a traced value"
        )
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {arg} must be a Python bool (True or False), got {_show(value)}")
    return bool(value)


def _range_text(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return "a real number"


def real(
    name: str,
    arg: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    traced: bool = False,
    must: str | None = None,
) -> Any:
    """Check that ``value`` is a finite real number in the given range; return it unchanged.

    Python and NumPy reals and 0-d real arrays pass; a ``bool``, a string or an
    array with axes is a ``TypeError``; NaN, an infinity or a value out of range is
    a ``ValueError``.  A traced value passes unchecked when ``traced`` (:func:`in_range`
    and :func:`nan_unless` make it NaN where it is out of range), else it is a
    ``TypeError`` (it must be static).  ``must`` replaces the description of the range
    in the message.

    >>> real("dropout", "ratio", 0.5, low=0, high=1, high_open=True)
    0.5
    >>> real("weight_decay_loss", "lambda_", float("nan"), low=0)
    Traceback (most recent call last):
    ...
    ValueError: weight_decay_loss: lambda_ must be finite and >= 0, got nan
    """
    if isinstance(value, jax.core.Tracer):
        if traced:
            return value
        raise TypeError(f"{name}: {arg} must be a Python number, not a traced value")
    desc = must or _range_text(low, high, low_open, high_open)
    is_array = isinstance(value, (np.ndarray, jax.Array))
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, numbers.Real)
        or (is_array and value.ndim == 0 and jnp.issubdtype(value.dtype, jnp.number))
    ):
        raise TypeError(f"{name}: {arg} must be a real number ({desc}), got {_show(value)}")
    v = float(value)
    if not math.isfinite(v) and must is None and (low is None or high is None):
        desc = f"finite and {desc}"
    ok = math.isfinite(v)
    ok = ok and (low is None or (v > low if low_open else v >= low))
    ok = ok and (high is None or (v < high if high_open else v <= high))
    if not ok:
        raise ValueError(f"{name}: {arg} must be {desc}, got {_show(value)}")
    return value


def in_range(
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """For a traced ``value``: whether it is finite and in the range, as a traced bool
    (elementwise for an array).  Any other value is ``True``: :func:`real` has checked
    it, with an error where it fails.

    >>> in_range(0.5, low=0, high=1)
    True
    >>> jax.jit(lambda r: in_range(r, low=0, high=1, high_open=True))(jnp.array([0.5, 1.0]))
    Array([ True, False], dtype=bool)
    """
    if not isinstance(value, jax.core.Tracer):
        return True
    ok = jnp.isfinite(value)
    if low is not None:
        ok = ok & (value > low if low_open else value >= low)
    if high is not None:
        ok = ok & (value < high if high_open else value <= high)
    return ok


def nan_unless(ok: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` (as ``dtype``) where ``ok``, NaN where not: ``value * (1 or NaN)``, so
    that the derivatives through it are NaN there too.  ``ok`` ``True`` (from
    :func:`in_range` of a checked value) returns ``value`` itself.

    A boolean ``value`` (a mask, which has no derivative) is selected instead: XLA
    rewrites ``float(mask) * y`` as ``mask ? y : 0``, which would drop the NaN.

    >>> nan_unless(True, 0.5)
    0.5
    >>> nan_unless(jnp.array([True, False]), jnp.array([False, True]), jnp.float32)
    Array([ 0., nan], dtype=float32)
    """
    if ok is True:
        return value
    value = jnp.asarray(value)
    if value.dtype == jnp.bool_:
        return jnp.where(ok, value.astype(dtype), jnp.nan).astype(dtype)
    value = value.astype(dtype or value.dtype)
    return value * jnp.where(ok, 1, jnp.nan).astype(value.dtype)


def int_tuple(name: str, arg: str, value: Any, length: int | None = None, low: int = 1) -> tuple:
    """``value`` (a tuple or list of integers ``>= low``) as a tuple of ``int``.

    >>> int_tuple("Hyper", "input_dim", [1, 28, 28], length=3)
    (1, 28, 28)
    >>> int_tuple("Hyper", "input_dim", (1, 28), length=3)
    Traceback (most recent call last):
    ...
    ValueError: Hyper: input_dim must have 3 entries, got (1, 28)
    """
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name}: {arg} must be a tuple of integers, got {_show(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name}: {arg} must have {length} entries, got {tuple(value)}")
    return tuple(integer(name, f"{arg}[{i}]", v, low) for i, v in enumerate(value))


def float_dtype(name: str, arg: str, dtype: Any) -> jnp.dtype:
    """``dtype`` as a ``jnp.dtype``; ``TypeError`` unless it is a floating dtype.

    >>> float_dtype("init_params", "dtype", "float32")
    dtype('float32')
    """
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        got = dt.name if dt is not None else _show(dtype)
        raise TypeError(f"{name}: {arg} must be a floating dtype (float32, float64), got {got}")
    return dt


def float_arrays(name: str, params: dict) -> None:
    """``TypeError`` naming the first entry of ``params`` that is not a floating array.

    Arrays (JAX or NumPy, traced or not) pass; a list of numbers does not (it has no
    dtype to keep the gradients in).

    >>> float_arrays("two_layer_net", {"W1": jnp.ones(2), "b1": [0.0, 0.0]})
    Traceback (most recent call last):
    ...
    TypeError: two_layer_net: params['b1'] must be a floating-point array, got list [0.0, 0.0]
    """
    for k, v in params.items():
        if not isinstance(v, (np.ndarray, jax.Array)) or not jnp.issubdtype(v.dtype, jnp.floating):
            raise TypeError(f"{name}: params[{k!r}] must be a floating-point array, got {_show(v)}")


def prng_key(name: str, key: Any, arg: str = "key") -> jax.Array:
    """A ``jax.random`` key from ``key``: a key, or an integer seed ``0 <= seed < 2**32``.

    Keys pass as they are (typed keys of shape ``()`` or the raw ``uint32`` pair of
    ``jax.random.PRNGKey``, traced or not); a Python or NumPy integer seed becomes
    ``jax.random.PRNGKey(seed)``.  Anything else is a ``TypeError``, a seed out of
    range a ``ValueError``.

    >>> prng_key("init_params", np.int64(7)).tolist() == jax.random.PRNGKey(7).tolist()
    True
    >>> prng_key("init_params", 2**64)
    Traceback (most recent call last):
    ...
    ValueError: init_params: key must be a jax.random key or an integer seed in [0, 2**32), \
got 18446744073709551616
    """
    must = f"{name}: {arg} must be a jax.random key or an integer seed in [0, 2**32)"
    if isinstance(key, (np.ndarray, jax.Array)) and not isinstance(key, np.generic):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == jnp.uint32 and key.shape in ((2,), (4,)):  # threefry, rbg
            return key
        raise TypeError(f"{must}, got {_show(key)}")
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
        raise TypeError(f"{must}, got {_show(key)}")
    if not 0 <= int(key) < SEED_LIMIT:
        raise ValueError(f"{must}, got {key}")
    return jax.random.PRNGKey(int(key))


def check_pair(name: str, x, y):
    """``x``, ``y`` of one shape and a common floating dtype, for the book's nodes (5.4).

    >>> [a.dtype.name for a in check_pair("mul", jnp.ones(2), jnp.ones(2, jnp.float16))]
    ['float32', 'float32']
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    if jnp.shape(x) != jnp.shape(y):
        raise ValueError(
            f"{name}: x and y must have the same shape, got {jnp.shape(x)} and "
            f"{jnp.shape(y)} (broadcasting is not part of the book's node)"
        )
    for arg, v in (("x", x), ("y", y)):
        if not jnp.issubdtype(v.dtype, jnp.inexact):
            raise TypeError(
                f"{name}: {arg} must be floating point to be differentiated, got dtype {v.dtype}"
            )
    dtype = jnp.result_type(x, y)
    return x.astype(dtype), y.astype(dtype)


# ---- images and windows (chapter 7) ---------------------------------------------
def stride_pad(name: str, stride, pad, **window) -> tuple[int, ...]:
    """``(stride, pad, *window)`` as ints: ``stride >= 1``, ``pad >= 0``, each window size >= 1.

    ``window`` names the layer's own sizes (``pool_h=2, pool_w=2``, ``filter_h=...``);
    every value must be an integer (:func:`integer`), so ``2.5`` is
    refused, never truncated.
    """
    stride = positive_int(name, "stride", stride)
    pad = non_negative_int(name, "pad", pad)
    return (stride, pad, *(positive_int(name, arg, v) for arg, v in window.items()))


def images(name: str, shape, filter_h: int, filter_w: int, pad: int, what: str = "window") -> None:
    """Images must be (N, C, H, W), N >= 1, and the window fit the padded image."""
    if len(shape) != 4:
        raise ValueError(f"{name}: x must be 4-D (N, C, H, W), got shape {tuple(shape)}")
    N, C, H, W = shape
    if N < 1 or C < 1:
        raise ValueError(
            f"{name}: x of shape {tuple(shape)} is empty (needs N >= 1 images of C >= 1 channels)"
        )
    if filter_h < 1 or filter_w < 1:
        raise ValueError(f"{name}: {what} must be at least 1x1, got {filter_h}x{filter_w}")
    if filter_h > H + 2 * pad or filter_w > W + 2 * pad:
        raise ValueError(
            f"{name}: {what} {filter_h}x{filter_w} is larger than the padded input "
            f"{H + 2 * pad}x{W + 2 * pad} (x of shape {tuple(shape)}, pad={pad})"
        )
