"""5.7: TwoLayerNet, the gradient check three ways."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxbp import gradient, layers, reference
from jaxbp import two_layer_net as net
from jaxbp.gradient import enable_x64


def f64(params):
    return jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)


def max_abs(a, b):
    return max(
        float(jnp.max(jnp.abs(u - v)))
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def test_init_params_is_the_books():
    p = net.init_params(jax.random.PRNGKey(0), 784, 50, 10)
    assert {k: v.shape for k, v in p.items()} == {
        "W1": (784, 50),
        "b1": (50,),
        "W2": (50, 10),
        "b2": (10,),
    }
    assert all(v.dtype == jnp.float32 for v in p.values())
    assert not p["b1"].any() and not p["b2"].any()
    assert 0.009 < float(jnp.std(p["W1"])) < 0.011


@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 6),
    n_in=st.integers(1, 9),
    hidden=st.integers(1, 8),
    classes=st.integers(2, 6),
    one_hot=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_backprop_matches_jax_grad_of_reference(batch, n_in, hidden, classes, one_hot, seed):
    """Way (a) vs way (b), float64: <= 1e-12 on random shapes, batch 1 included."""
    rng = np.random.default_rng(seed)
    with enable_x64():
        p = f64(net.init_params(seed, n_in, hidden, classes, weight_init_std=1.0))
        p = {
            k: v + (jnp.asarray(rng.normal(size=v.shape)) if k[0] == "b" else 0)
            for k, v in p.items()
        }
        x = jnp.asarray(rng.normal(size=(batch, n_in)))
        t = jnp.asarray(rng.integers(0, classes, size=batch))
        if one_hot:
            t = jax.nn.one_hot(t, classes, dtype=jnp.float64)
        ours = net.gradient(p, x, t)
        ref = jax.grad(reference.loss)(p, x, t)
        assert max_abs(ours, ref) <= 1e-12
        assert all(ours[k].dtype == jnp.float64 and ours[k].shape == p[k].shape for k in p)


def test_gradient_check_on_three_mnist_images(mnist_raw):
    """The book's 5.7.3 check, three ways, float64, first 3 training images."""
    x, t = mnist_raw["x_train"][:3], mnist_raw["t_train"][:3]
    lines = []
    table = gradient.print_gradient_check(x, t, print=lines.append)
    assert set(table) == {"W1", "b1", "W2", "b2"}
    for key, row in table.items():
        assert row["backprop-reference"] <= 1e-12, (key, row)
        assert row["backprop-numerical"] <= 1e-9, (key, row)  # book: 1.8e-6 for W1
        assert row["reference-numerical"] <= 1e-9, (key, row)
    assert "W1" in "\n".join(lines)
    # the fast numerical gradient equals the book's generic one (full recomputation)
    with enable_x64():
        xf = jnp.asarray(x.reshape(3, -1), jnp.float64) / 255
        p = f64(net.init_params(1, 784, 8, 10))
        fast = net.numerical_gradient(p, xf, t)
        slow = jax.jit(lambda p: gradient.numerical_gradient(lambda q: net.loss(q, xf, t), p))(p)
        assert max_abs(fast, slow) <= 1e-11
        assert max_abs(fast, net.gradient(p, xf, t)) <= 1e-8


def test_gradient_check_prints_the_books_order():
    """Rows W1 b1 W2 b2 as the book's params and README's table (they printed W1 W2 b1 b2)."""
    lines = []
    images = np.arange(32, dtype=np.uint8).reshape(2, 16) * 8
    table = gradient.print_gradient_check(images, [3, 7], hidden_size=4, print=lines.append)
    assert list(table) == list(net.PARAM_KEYS) == ["W1", "b1", "W2", "b2"]
    assert [line.split()[0] for line in lines[2:]] == list(net.PARAM_KEYS)
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    block = readme.split("backprop-reference    backprop-numerical   reference-numerical\n")[1]
    assert [line.split()[0] for line in block.splitlines()[:4]] == list(net.PARAM_KEYS)


def test_numerical_gradient_generic_matches_analytic():
    with enable_x64():
        f = lambda v: jnp.sum(v["a"] ** 2) + jnp.prod(v["b"])
        v = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([2.0, 5.0])}
        g = gradient.numerical_gradient(f, v)
        np.testing.assert_allclose(g["a"], [6.0, -8.0], atol=1e-8)
        np.testing.assert_allclose(g["b"], [5.0, 2.0], atol=1e-8)


def test_network_gradient_runs_the_hand_written_rules():
    p = net.init_params(0, 6, 4, 3)
    x, t = jnp.ones((2, 6)), jnp.array([0, 2])
    jaxpr = str(jax.make_jaxpr(net._loss.__wrapped__)(p, x, t))
    assert jaxpr.count("custom_vjp_call") == 4  # affine, relu, affine, softmax
    good = net.gradient(p, x, t)
    rule, fwd, bwd = layers._affine, layers._affine_fwd, layers._affine.bwd
    rule.defvjp(fwd, lambda res, g: (lambda dx, dW, db: (dx, dW, 2 * db))(*bwd(res, g)))
    jax.clear_caches()
    try:
        bad = net.gradient(p, x, t)
    finally:
        rule.defvjp(fwd, bwd)
        jax.clear_caches()
    np.testing.assert_allclose(bad["b2"], 2 * good["b2"], rtol=1e-6)
    np.testing.assert_allclose(bad["W2"], good["W2"], rtol=1e-6)
    np.testing.assert_allclose(net.gradient(p, x, t)["b2"], good["b2"])


def test_predict_accuracy_and_label_forms():
    p = net.init_params(0, 4, 5, 3)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(7, 4)), jnp.float32)
    y = jnp.argmax(net.predict(p, x), -1)
    assert float(net.accuracy(p, x, y)) == 1.0
    assert float(net.accuracy(p, x, jax.nn.one_hot(y, 3))) == 1.0
    assert float(net.accuracy(p, x, (y + 1) % 3)) == 0.0
    np.testing.assert_allclose(net.loss(p, x, y), net.loss(p, x, jax.nn.one_hot(y, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        net.loss(p, x, y + 3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        net.gradient(p, x, y - 1)
    with pytest.raises(ValueError, match="keys"):
        net.predict({"W1": p["W1"]}, x)
    with pytest.raises(ValueError, match="features"):
        net.loss(p, jnp.ones((7, 5)), y)


def test_bfloat16_compute_keeps_float32_params_and_grads():
    p = net.init_params(0, 6, 4, 3)
    x, t = jnp.ones((2, 6)), jnp.array([0, 2])
    g = jax.grad(net.loss)(p, x, t, compute_dtype=jnp.bfloat16)
    assert all(v.dtype == jnp.float32 for v in g.values())
    assert net.loss(p, x, t, compute_dtype=jnp.bfloat16).dtype == jnp.float32
    np.testing.assert_allclose(g["b2"], net.gradient(p, x, t)["b2"], atol=1e-2)
