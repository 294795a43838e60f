"""6.1: each update rule against the book's optimizer class, 100 steps in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from book_numpy import ch6 as book

from jaxbp import optimizer
from jaxbp.gradient import enable_x64

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
OPTAX_NATIVE = {"sgd", "momentum", "nesterov", "rmsprop"}  # optax computes the book's formula


def random_grads(rng, steps):
    """Gradients over five decades of magnitude, so eps placement matters."""
    shapes = {"W": (3, 4), "b": (4,)}
    return [
        {k: rng.normal(size=s) * 10.0 ** rng.uniform(-5, 1, size=s) for k, s in shapes.items()}
        for _ in range(steps)
    ]


def run_book(name, params, grads, **kw):
    opt = book.OPTIMIZERS[name](**kw)
    params = {k: v.copy() for k, v in params.items()}
    for g in grads:
        opt.update(params, g)
    return params


def run_optax(tx, params, grads):
    params = {k: jnp.asarray(v) for k, v in params.items()}
    state = tx.init(params)
    step = jax.jit(
        lambda p, s, g: (lambda u, s: (optax.apply_updates(p, u), s))(*tx.update(g, s, p))
    )
    for g in grads:
        params, state = step(params, state, {k: jnp.asarray(v) for k, v in g.items()})
    return params


def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(a[k]) - b[k]))) for k in b)


@pytest.mark.parametrize("name", NAMES)
def test_100_steps_equal_the_books_class(name):
    rng = np.random.default_rng(NAMES.index(name))
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = random_grads(rng, 100)
    with enable_x64():
        ours = run_optax(optimizer.get(name), params, grads)
    expected = run_book(name, params, grads)
    moved = max_diff({k: params[k] for k in params}, expected)
    assert moved > 1e-3  # the 100 steps did something
    assert max_diff(ours, expected) <= 1e-12, (name, max_diff(ours, expected))


@pytest.mark.parametrize("name", sorted(OPTAX_NATIVE))
def test_optax_native_rules_are_optax_transforms(name):
    """sgd, momentum, nesterov and rmsprop are optax's own code, not ours."""
    tx = optimizer.get(name)
    state = tx.init({"W": jnp.zeros(2)})
    leaves = jax.tree_util.tree_leaves(
        state, is_leaf=lambda s: type(s).__module__.startswith("optax")
    )
    assert any(type(s).__module__.startswith("optax") for s in leaves)


def test_optax_adagrad_and_adam_are_not_the_books():
    """Why AdaGrad and Adam are written here: optax's put eps elsewhere."""
    rng = np.random.default_rng(7)
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = random_grads(rng, 100)
    with enable_x64():
        optax_adagrad = run_optax(
            optax.adagrad(0.01, initial_accumulator_value=0.0, eps=1e-7), params, grads
        )
        optax_adam = run_optax(optax.adam(0.001, eps=1e-7), params, grads)
    assert max_diff(optax_adagrad, run_book("adagrad", params, grads)) > 1e-6
    assert max_diff(optax_adam, run_book("adam", params, grads)) > 1e-6


def test_hyperparameters_pass_through():
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = random_grads(rng, 20)
    cases = [
        (optimizer.momentum(0.05, momentum=0.5), "momentum", {"lr": 0.05, "momentum": 0.5}),
        (optimizer.nesterov(0.05, momentum=0.7), "nesterov", {"lr": 0.05, "momentum": 0.7}),
        (optimizer.rmsprop(0.02, decay_rate=0.9), "rmsprop", {"lr": 0.02, "decay_rate": 0.9}),
        (
            optimizer.adam(0.01, beta1=0.8, beta2=0.99),
            "adam",
            {"lr": 0.01, "beta1": 0.8, "beta2": 0.99},
        ),
    ]
    with enable_x64():
        for tx, name, kw in cases:
            assert (
                max_diff(run_optax(tx, params, grads), run_book(name, params, grads, **kw)) <= 1e-12
            )


def test_get_defaults_and_names():
    assert optimizer.NAMES == tuple(NAMES)
    assert optimizer.DEFAULT_LR["adam"] == 0.001 and optimizer.DEFAULT_LR["sgd"] == 0.01
    g = {"W": jnp.ones(3)}
    for name, lr in (("SGD", None), ("sgd", 0.5)):
        tx = optimizer.get(name, lr)
        u, _ = tx.update(g, tx.init(g), g)
        np.testing.assert_allclose(u["W"], -(lr or 0.01) * np.ones(3), rtol=1e-7)
    with pytest.raises(
        ValueError,
        match="unknown optimizer 'adamw'.*sgd, momentum, nesterov, adagrad, rmsprop, adam",
    ):
        optimizer.get("adamw", 0.1)
    with pytest.raises(ValueError, match=r"lr must be >= 0, got -1"):
        optimizer.get("adam", -1)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        optimizer.momentum(0.1, momentum=1.5)
    with pytest.raises(TypeError, match="lr must be a number"):
        optimizer.get("sgd", "0.1")


@pytest.mark.parametrize("name", ["adagrad", "adam"])
def test_written_rules_keep_float32_and_jit(name):
    params = {"W": jnp.ones((2, 3), jnp.float32), "b": jnp.zeros(3, jnp.float32)}
    tx = optimizer.get(name)
    state = tx.init(params)
    u, state = jax.jit(tx.update)(params, state, params)
    assert all(v.dtype == jnp.float32 for v in jax.tree_util.tree_leaves(u))
    assert float(jnp.max(jnp.abs(u["W"]))) > 0 and float(jnp.max(jnp.abs(u["b"]))) == 0
