"""The gradient check (book section 5.7.3).

``gradient_check`` compares three gradients of the TwoLayerNet loss, per
parameter, as the book's ``gradient_check.py`` does (5.7.3):

  (a) ``backprop``  - our hand-written ``custom_vjp`` rules (``jax.grad`` of
      :func:`jaxbp.two_layer_net.loss`);
  (b) ``reference`` - ``jax.grad`` of the plain-jnp twin
      (:func:`jaxbp.reference.loss`), JAX's own rules;
  (c) ``numerical`` - central differences.

Run it in float64 (``with enable_x64():``); float32 differences are
dominated by rounding in (c).  The central differences are 4.4's
:func:`jaxbp.numerical.numerical_gradient`, re-exported here with
:func:`~jaxbp.numerical.enable_x64` and :func:`~jaxbp.numerical.check_step`.

When a check fails, :func:`check_rules` (:mod:`jaxbp.rule_check`) says *which* rule is
wrong: every ``custom_vjp`` node of any function, checked at its own inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxbp import reference, two_layer_net
from jaxbp.numerical import check_step, enable_x64, numerical_gradient

if TYPE_CHECKING:  # re-exported lazily (module __getattr__ below)
    from jaxbp.rule_check import check_rules, print_rule_check

__all__ = [
    "numerical_gradient",
    "gradient_check",
    "enable_x64",
    "check_step",
    "gradient_check_inputs",
    "print_gradient_check",
    "check_rules",
    "print_rule_check",
]


def gradient_check(
    params: dict[str, jax.Array], x: ArrayLike, t: ArrayLike, h: float = 1e-4
) -> dict[str, Any]:
    """Three-way gradient check of the TwoLayerNet loss (5.7.3).

    Returns ``{key: {"backprop-reference": d, "backprop-numerical": d,
    "reference-numerical": d}}`` with ``d`` the mean absolute difference over
    that parameter's entries, plus the three gradients under ``"grads"``.

    >>> from jaxbp.two_layer_net import init_params
    >>> with enable_x64():
    ...     params = init_params(0, 4, 3, 10, weight_init_std=1.0, dtype=jnp.float64)
    ...     table = gradient_check(params, jnp.linspace(0, 1, 8).reshape(2, 4), jnp.array([3, 7]))
    >>> sorted(table["W1"])
    ['backprop-numerical', 'backprop-reference', 'reference-numerical']
    >>> table["W1"]["backprop-reference"] < 1e-12 and table["W1"]["backprop-numerical"] < 1e-8
    True
    """
    two_layer_net.check_inputs("gradient_check", params, x, t)
    grads, diffs = jax.device_get(_three_gradients(params, x, t, float(h)))
    pairs = ("backprop-reference", "backprop-numerical", "reference-numerical")
    # the book's order (W1 b1 W2 b2), not the sorted order of a jitted dict
    table: dict[str, Any] = {
        k: {p: float(diffs[k][p]) for p in pairs} for k in two_layer_net.PARAM_KEYS
    }
    table["grads"] = grads
    return table


@functools.partial(jax.jit, static_argnames="h")
def _three_gradients(params, x, t, h):
    """(a), (b), (c) and their mean absolute differences, as one compiled program."""
    grads = {
        "backprop": two_layer_net.gradient(params, x, t),
        "reference": jax.grad(reference.loss)(params, x, t),
        "numerical": two_layer_net.numerical_gradient(params, x, t, h=h),
    }
    pairs = [("backprop", "reference"), ("backprop", "numerical"), ("reference", "numerical")]
    diffs = {
        k: {f"{p}-{q}": jnp.mean(jnp.abs(grads[p][k] - grads[q][k])) for p, q in pairs}
        for k in params
    }
    return grads, diffs


def gradient_check_inputs(images: ArrayLike, t: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Float64 images ``(N, n_in)`` and int32 labels ``(N,)`` for the check.

    ``images``: uint8 pixels 0..255 (divided by 255 here, once) or floating
    pixels already normalised to [0, 1] (used as they are), shaped ``(N, ...)``
    with ``N`` images; ``t``: ``N`` integer labels.  Raises ``ValueError`` when
    the counts differ or the batch is empty, ``TypeError`` for other dtypes.

    >>> import numpy as np
    >>> with enable_x64():
    ...     x, t = gradient_check_inputs(np.full((2, 28, 28), 255, np.uint8), [3, 7])
    ...     print(x.shape, x.dtype, float(x.max()), t.dtype)
    (2, 784) float64 1.0 int32
    """
    import numpy as np

    images, t = np.asarray(images), np.asarray(t)
    if images.shape[:1] == (0,) or t.size == 0:
        raise ValueError("gradient check: the batch is empty (N = 0)")
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"gradient check: labels must be 1-D integers, got {t.dtype} {t.shape}")
    if images.ndim < 2 or images.shape[0] != t.shape[0]:
        raise ValueError(
            f"gradient check: images of shape {images.shape} and labels of "
            f"shape {t.shape} must agree in count (images (N, ...), labels (N,))"
        )
    x = images.reshape(images.shape[0], -1)
    if x.dtype == np.uint8:
        x = x / 255.0
    elif not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"gradient check: images must be uint8 pixels or normalised floats, got {x.dtype}"
        )
    return jnp.asarray(x, jnp.float64), jnp.asarray(t, jnp.int32)


def print_gradient_check(
    images: ArrayLike,
    t: ArrayLike,
    hidden_size: int = 50,
    seed: int = 0,
    print: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """The book's 5.7.3 check, three ways, in float64, on a few images.

    ``images``: ``(N, 784)`` (or ``(N, 28, 28)``) uint8 pixels, normalised here,
    or floats already in [0, 1]; ``t``: ``N`` integer labels (see
    :func:`gradient_check_inputs`).  Prints the mean absolute difference per
    parameter for each pair of (a) backprop, (b) reference ``jax.grad``,
    (c) numerical, and returns the table.

    >>> import numpy as np
    >>> images = np.arange(32, dtype=np.uint8).reshape(2, 16) * 8   # two 16-pixel images
    >>> table = print_gradient_check(images, [3, 7], hidden_size=4)
    gradient check (5.7.3), float64, 2 images: mean |difference| per parameter
             backprop-reference    backprop-numerical   reference-numerical
      W1 ...
      b2 ...
    >>> all(d < 1e-8 for row in table.values() for d in row.values())
    True
    """
    with enable_x64():
        x, t = gradient_check_inputs(images, t)
        init = functools.partial(
            two_layer_net.init_params,
            input_size=x.shape[1],
            hidden_size=hidden_size,
            output_size=10,
            dtype=jnp.float64,
        )
        params = jax.jit(init)(jax.random.PRNGKey(seed))  # one dispatch, not eight
        table = gradient_check(params, x, t)
    table.pop("grads")
    pairs = list(next(iter(table.values())))
    print(f"gradient check (5.7.3), float64, {len(t)} images: mean |difference| per parameter")
    print(f"  {'':3s}" + "".join(f"{p:>22s}" for p in pairs))
    for k, row in table.items():
        print(f"  {k:3s}" + "".join(f"{row[p]:22.3e}" for p in pairs))
    return table


def __getattr__(name: str):
    """``check_rules`` and ``print_rule_check``, from :mod:`jaxbp.rule_check` on first use
    (it imports the tracer, which the trainer's start-up does not need)."""
    if name in ("check_rules", "print_rule_check"):
        from jaxbp import rule_check

        return getattr(rule_check, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
