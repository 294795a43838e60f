"""A learner's ``fwd``/``bwd`` pairs as JAX rules, and the programs that run them.

:func:`custom_rule` is the template's helper (also ``jaxbp.exercises.custom_rule``);
:func:`learner_loss` builds a network's loss from the learner's own rules for
the rule check; :func:`fast_jit` compiles a program that runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax

from jaxbp.exercises.items import Network

__all__ = ["custom_rule", "fast_jit", "learner_loss"]

# The programs run once: compiling them fast matters more than running them fast.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn: Callable) -> Callable:
    """``jax.jit(fn)`` compiled for a single run (XLA's cheapest optimisation level)."""
    return jax.jit(fn, compiler_options=_FAST_COMPILE)


def custom_rule(fwd, bwd, nondiff_argnums: tuple[int, ...] = ()):
    """``fwd``/``bwd`` as one function that ``jax.grad`` differentiates with that rule.

    Args:
      fwd: ``fwd(*inputs) -> (out, residuals)``.
      bwd: ``bwd(*static, residuals, dout) -> tuple of one cotangent per array input``.
      nondiff_argnums: the positions of the Python-valued inputs (a stride, a
        window size), passed first to ``bwd``: :func:`jax.custom_vjp`'s own.

    Returns:
      ``f(*inputs) -> out``, a :func:`jax.custom_vjp` function named after
      ``fwd`` less ``_fwd`` (``relu_fwd`` -> ``relu``: the rule check's rows).

    >>> double = custom_rule(lambda x: (2 * x, None), lambda res, dout: (2 * dout,))
    >>> float(jax.grad(double)(3.0))
    2.0
    >>> scale = custom_rule(lambda x, k: (k * x, None), lambda k, res, dout: (k * dout,), (1,))
    >>> float(jax.grad(scale)(3.0, 5))
    5.0
    """

    def f(*args):
        return fwd(*args)[0]

    name = getattr(fwd, "__name__", "rule")
    f.__name__ = f.__qualname__ = name[:-4] if name.endswith("_fwd") else name
    f = jax.custom_vjp(f, nondiff_argnums=tuple(nondiff_argnums))
    f.defvjp(fwd, bwd)
    return f


def learner_loss(ns: Mapping, net: Network) -> Callable:
    """The network's loss built from the learner's own rules (``custom_rule`` of each pair).

    For TwoLayerNet: ``SoftmaxWithLoss(Affine2(Relu1(Affine1(x))), t)``; the
    rule check (:func:`jaxbp.rule_check.check_rules`) runs over it.
    """
    affine = custom_rule(ns["affine_fwd"], ns["affine_bwd"])
    relu = custom_rule(ns["relu_fwd"], ns["relu_bwd"])
    last = custom_rule(ns["softmax_with_loss_fwd"], ns["softmax_with_loss_bwd"])

    def loss(params, x, t):
        h = relu(affine(x, params["W1"], params["b1"]))
        return last(affine(h, params["W2"], params["b2"]), t)

    return loss
