"""Numerical gradients and the gradient check (book sections 4.4 and 5.7.3).

``numerical_gradient`` is the book's central-difference function (4.4,
``numerical_gradient(f, x)``), vectorised: every coordinate's two loss
evaluations run as one compiled program instead of a Python loop.

``gradient_check`` compares three gradients of the TwoLayerNet loss, per
parameter, as the book's ``gradient_check.py`` does (5.7.3):

  (a) ``backprop``  - our hand-written ``custom_vjp`` rules (``jax.grad`` of
      :func:`jaxbp.two_layer_net.loss`);
  (b) ``reference`` - ``jax.grad`` of the plain-jnp twin
      (:func:`jaxbp.reference.loss`), JAX's own rules;
  (c) ``numerical`` - central differences.

Run it in float64 (``with jax.enable_x64(True):``); float32 differences are
dominated by rounding in (c).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["numerical_gradient", "gradient_check", "enable_x64"]


def enable_x64(on=True):
    """Context manager scoping float64 on (or off), on the newest JAX and older.

    ``jax.enable_x64(on)`` where it exists (JAX 0.10 removed
    ``jax.experimental.enable_x64``, which older releases, e.g. Colab's, have
    instead).
    """
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(on)
    from jax.experimental import enable_x64 as _old
    return _old(on)


def numerical_gradient(f, x, h=1e-4, batch_size=256):
    """Central-difference gradient of scalar ``f`` at ``x`` (4.4, eq. 4.4).

    ``grad_i = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every coordinate
    ``i`` of ``x`` (an array or any pytree of arrays; the result has the same
    structure).  Coordinates are evaluated ``batch_size`` at a time with
    ``vmap`` inside one ``lax.map``; wrap the call in ``jax.jit`` to compile
    it once.
    """
    flat, unravel = ravel_pytree(x)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"numerical_gradient: x must be floating, got {flat.dtype}")
    h = jnp.asarray(h, flat.dtype)

    def partial(i):
        def at(v):
            return f(unravel(flat.at[i].set(v)))
        return (at(flat[i] + h) - at(flat[i] - h)) / (2 * h)

    grad = jax.lax.map(partial, jnp.arange(flat.size),
                       batch_size=min(batch_size, flat.size))
    return unravel(grad.astype(flat.dtype))


def gradient_check(params, x, t, h=1e-4):
    """Three-way gradient check of the TwoLayerNet loss (5.7.3).

    Returns ``{key: {"backprop-reference": d, "backprop-numerical": d,
    "reference-numerical": d}}`` with ``d`` the mean absolute difference over
    that parameter's entries, plus the three gradients under ``"grads"``.
    """
    from jaxbp import reference, two_layer_net

    grads = {
        "backprop": two_layer_net.gradient(params, x, t),
        "reference": jax.jit(jax.grad(reference.loss))(params, x, t),
        "numerical": two_layer_net.numerical_gradient(params, x, t, h=h),
    }
    pairs = [("backprop", "reference"), ("backprop", "numerical"),
             ("reference", "numerical")]
    table = {k: {f"{p}-{q}": float(jnp.mean(jnp.abs(grads[p][k] - grads[q][k])))
                 for p, q in pairs}
             for k in params}
    table["grads"] = grads
    return table


def print_gradient_check(x_uint8, t, hidden_size=50, seed=0, print=print):
    """The book's 5.7.3 check, three ways, in float64, on a few images.

    ``x_uint8``: ``(N, 784)`` uint8 pixels (normalised here); ``t``: integer
    labels.  Prints the mean absolute difference per parameter for each pair of
    (a) backprop, (b) reference ``jax.grad``, (c) numerical, and returns the
    table.
    """
    import numpy as np
    from jaxbp import two_layer_net

    with enable_x64():
        x = jnp.asarray(np.asarray(x_uint8).reshape(len(t), -1), jnp.float64) / 255.0
        t = jnp.asarray(np.asarray(t), jnp.int32)
        params = two_layer_net.init_params(jax.random.PRNGKey(seed), x.shape[1],
                                           hidden_size, 10, dtype=jnp.float64)
        table = gradient_check(params, x, t)
    table.pop("grads")
    pairs = list(next(iter(table.values())))
    print(f"gradient check (5.7.3), float64, {len(t)} images: mean |difference| per parameter")
    print(f"  {'':3s}" + "".join(f"{p:>22s}" for p in pairs))
    for k, row in table.items():
        print(f"  {k:3s}" + "".join(f"{row[p]:22.3e}" for p in pairs))
    return table
