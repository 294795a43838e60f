"""One check shared by the layer tests: ``jax.grad`` runs a layer's hand-written rule.

A rule that is defined but not the one that runs would pass every value test; this
swaps the rule's backward for three times itself and sees the gradient triple.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np


@contextlib.contextmanager
def scaled_rule(rule, factor: float = 3.0):
    """Inside the block, ``rule``'s backward returns ``factor`` times its cotangents."""
    fwd, bwd = rule.fwd, rule.bwd
    rule.defvjp(fwd, lambda *a: jax.tree_util.tree_map(lambda c: factor * c, bwd(*a)))
    try:
        yield
    finally:
        rule.defvjp(fwd, bwd)


def assert_grad_uses_rule(rule, scalar, *args) -> None:
    """``jax.grad(scalar)(*args)`` goes through ``rule`` (a ``jax.custom_vjp``)."""
    assert "custom_vjp_call" in str(jax.make_jaxpr(scalar)(*args))
    good = jax.grad(scalar)(*args)
    with scaled_rule(rule):
        bad = jax.grad(scalar)(*args)
    assert float(jnp.max(jnp.abs(good))) > 0
    np.testing.assert_allclose(bad, 3 * good, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(scalar)(*args), good)  # restored
