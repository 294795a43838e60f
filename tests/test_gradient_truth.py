"""Off the happy path: every rule equals jax.grad of its twin for every input it
accepts, and what it does not accept is a clear error outside jit, NaN inside it.

Each regression test below is one failure that was found and fixed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxbp import gradient, layers, reference
from jaxbp import two_layer_net as net
from jaxbp.gradient import enable_x64


def close(a, b, dtype):
    """1e-12 absolute in float64; 1e-5 relative to the largest entry in float32."""
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert u.shape == v.shape and u.dtype == v.dtype
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        tol = 1e-12 if dtype == jnp.float64 else 1e-5 * max(1.0, float(np.max(np.abs(v))))
        assert float(np.max(np.abs(u - v), initial=0.0)) <= tol


def labels(rng, kind, batch, classes, dtype):
    idx = rng.integers(0, classes, size=batch)
    if kind == "integer":
        return jnp.asarray(idx, jnp.int32)
    one_hot = np.eye(classes)[idx]
    if kind == "one-hot":
        return jnp.asarray(one_hot, dtype)
    if kind == "smoothed":
        return jnp.asarray(0.9 * one_hot + 0.1 / classes, dtype)
    return jnp.asarray(rng.random((batch, classes)) * 2, dtype)  # soft, any row sum


def network(lib):
    """sigmoid -> affine (N-D input) -> relu -> affine -> softmax_with_loss, in lib."""

    def f(x, W1, b1, W2, b2, t):
        h = lib.relu(lib.affine(lib.sigmoid(x), W1, b1))
        return lib.softmax_with_loss(lib.affine(h, W2, b2), t)

    return f


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 64),
    feat=st.lists(st.integers(1, 5), min_size=1, max_size=2),
    hidden=st.integers(1, 6),
    classes=st.integers(2, 10),
    kind=st.sampled_from(["integer", "one-hot", "smoothed", "soft"]),
    dtype=st.sampled_from([jnp.float32, jnp.float64]),
    mode=st.sampled_from(["plain", "jit", "vmap"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_rule_equals_jax_grad_of_its_twin(
    batch, feat, hidden, classes, kind, dtype, mode, seed
):
    """Property test: random shapes, dtypes, labels, cotangents; plain, jit and vmap."""
    rng = np.random.default_rng(seed)
    with enable_x64(dtype == jnp.float64):
        n_in = int(np.prod(feat))
        x = jnp.asarray(rng.normal(size=(batch, *feat)) * 2, dtype)
        params = [
            jnp.asarray(rng.normal(size=s), dtype)
            for s in ((n_in, hidden), (hidden,), (hidden, classes), (classes,))
        ]
        t = labels(rng, kind, batch, classes, dtype)
        g = jnp.asarray(0.5 + rng.random(), dtype)  # the incoming cotangent
        argnums = (0, 1, 2, 3, 4) + ((5,) if kind != "integer" else ())

        def grads(lib):
            f = network(lib)
            if mode == "vmap":  # per-sample: 1-D affine, (C,) logits
                per = jax.vmap(
                    jax.grad(lambda xi, *p: g * f(xi.reshape(-1), *p), argnums=argnums),
                    in_axes=(0, None, None, None, None, 0),
                )
                return per(x, *params, t)
            d = jax.grad(lambda *a: g * f(*a), argnums=argnums)
            return (jax.jit(d) if mode == "jit" else d)(x, *params, t)

        ours, ref = grads(layers), grads(reference)
        close(ours, ref, dtype)
        assert ours[0].shape == x.shape


def test_soft_targets_whose_rows_do_not_sum_to_one():
    """Was: 0.385 off jax.grad of the twin; all-zero rows gave a non-zero gradient."""
    rng = np.random.default_rng(0)
    with enable_x64():
        x = jnp.asarray(rng.normal(size=(4, 10)))
        t = jnp.asarray(rng.random((4, 10)))
        for arg in (0, 1):
            close(
                jax.grad(layers.softmax_with_loss, arg)(x, t),
                jax.grad(reference.softmax_with_loss, arg)(x, t),
                jnp.float64,
            )
        zeros = jnp.zeros((4, 10))
        assert float(layers.softmax_with_loss(x, zeros)) == 0.0
        assert not np.any(jax.grad(layers.softmax_with_loss)(x, zeros))


def test_one_hot_rows_keep_the_books_formula_bit_for_bit():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)
    t = jax.nn.one_hot(jnp.array([0, 3, 6, 2, 2]), 7)
    y = jnp.exp(layers._log_softmax(x))  # the rule's self.y
    np.testing.assert_array_equal(jax.grad(layers.softmax_with_loss)(x, t), (y - t) / 5)


@pytest.mark.parametrize("fn", [layers.softmax_with_loss, layers.cross_entropy_error])
def test_out_of_range_labels_are_nan_under_jit(fn):
    """Was: label -1 gave label 9's loss with a no-class gradient; 10 gave NaN loss, finite grad."""
    x = jnp.asarray(np.random.default_rng(2).normal(size=(4, 10)), jnp.float32)
    if fn is layers.cross_entropy_error:
        x = layers.softmax(x)
    for bad in (-1, 10):
        t = jnp.array([0, 1, bad, 3])
        with pytest.raises(ValueError, match=rf"labels must be in \[0, 9\].*bad: \[{bad}\]"):
            fn(x, t)
        assert np.isnan(jax.jit(fn)(x, t))
        grad = jax.jit(jax.grad(fn))(x, t)
        assert np.all(np.isnan(grad[2])), "the bad sample's gradient row is NaN"
        keep = jnp.array([0, 1, 3])
        good = jax.grad(fn)(x[keep], t[keep]) * 3 / 4
        np.testing.assert_allclose(grad[keep], good, rtol=1e-6, atol=1e-8)
    per_sample = jax.vmap(fn)(x, jnp.array([0, 1, -1, 3]))
    assert np.isnan(per_sample[2]) and np.all(np.isfinite(per_sample[jnp.array([0, 1, 3])]))
    assert np.isnan(jax.jit(layers.cross_entropy_error)([[0.5, 0.5]], [5]))  # was -0


def test_out_of_range_labels_in_the_network():
    p = net.init_params(0, 6, 4, 3)
    x = jnp.ones((3, 6))
    with pytest.raises(ValueError, match="labels must be in"):
        net.loss(p, x, jnp.array([0, 3, 1]))
    assert np.isnan(jax.jit(net.loss)(p, x, jnp.array([0, 3, 1])))
    grads = jax.jit(jax.grad(net.loss))(p, x, jnp.array([0, -1, 1]))
    assert np.all(np.isnan(grads["b2"])) and np.any(np.isnan(grads["W2"]))  # never finite-wrong
    acc = jax.jit(net.accuracy)(p, x, jnp.array([0, 7, 1]))
    assert float(acc) <= 2 / 3  # the bad sample counts as wrong


@pytest.mark.parametrize(
    "call",
    [
        lambda: layers.affine(jnp.ones((0, 3)), jnp.ones((3, 2)), jnp.zeros(2)),
        lambda: layers.affine(jnp.ones((0, 1, 3)), jnp.ones((3, 2)), jnp.zeros(2)),
        lambda: layers.softmax_with_loss(jnp.ones((0, 3)), jnp.zeros(0, jnp.int32)),
        lambda: layers.cross_entropy_error(jnp.ones((0, 3)), jnp.ones((0, 3))),
        lambda: net.loss(net.init_params(0, 4, 3, 2), jnp.ones((0, 4)), jnp.zeros(0, jnp.int32)),
        lambda: net.accuracy(
            net.init_params(0, 4, 3, 2), jnp.ones((0, 4)), jnp.zeros(0, jnp.int32)
        ),
        lambda: net.gradient(
            net.init_params(0, 4, 3, 2), jnp.ones((0, 4)), jnp.zeros(0, jnp.int32)
        ),
        lambda: net.numerical_gradient(
            net.init_params(0, 4, 3, 2), jnp.ones((0, 4)), jnp.zeros(0, jnp.int32)
        ),
        lambda: gradient.print_gradient_check(np.zeros((0, 784), np.uint8), []),
    ],
    ids=[
        "affine",
        "affine-nd",
        "softmax_with_loss",
        "cross_entropy_error",
        "loss",
        "accuracy",
        "gradient",
        "numerical_gradient",
        "print_gradient_check",
    ],
)
def test_empty_batch_is_a_value_error(call):
    """Was: ZeroDivisionError (integer modulo by zero) or a NaN loss."""
    with pytest.raises(ValueError, match="batch is empty"):
        call()


def test_accuracy_takes_only_labels_that_fit_the_logits():
    """Was: (N, 1) labels scored 0.0, (1,) and scalars broadcast, 9-class one-hot accepted."""
    p = net.init_params(0, 4, 5, 10)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(6, 4)), jnp.float32)
    y = jnp.argmax(net.predict(p, x), -1)
    assert float(net.accuracy(p, x, y)) == 1.0
    assert float(net.accuracy(p, x, jax.nn.one_hot(y, 10))) == 1.0
    for bad in (y[:, None], y[:1], y[0], jax.nn.one_hot(y, 9)):
        with pytest.raises(ValueError, match="labels t must") as err:
            net.accuracy(p, x, bad)
        assert "(6, 10)" in str(err.value) and str(tuple(bad.shape)) in str(err.value)
    nan_params = dict(p, W1=jnp.full_like(p["W1"], jnp.nan))
    assert float(net.accuracy(nan_params, x, jnp.zeros(6, jnp.int32))) == 0.0  # was 1.0


def test_numerical_gradients_refuse_what_they_cannot_do():
    p = net.init_params(0, 4, 3, 2)
    t = jnp.array([0, 1])
    for images in (jnp.ones((2, 4), jnp.uint8), jnp.ones((2, 4), bool)):
        with pytest.raises(TypeError, match="floating"):
            net.numerical_gradient(p, images, t)
    for h in (0.0, -1e-4, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="h must be finite and > 0"):
            net.numerical_gradient(p, jnp.ones((2, 4)), t, h=h)
    for dtype in (jnp.float16, jnp.bfloat16):  # was: zeros
        with pytest.raises(TypeError, match="meaningless"):
            gradient.numerical_gradient(lambda v: jnp.sum(v**2), jnp.ones(3, dtype))
        with pytest.raises(TypeError, match="meaningless"):
            net.numerical_gradient(
                jax.tree_util.tree_map(lambda v: v.astype(dtype), p), jnp.ones((2, 4), dtype), t
            )


def test_gradient_check_inputs_agree_and_are_normalised_once():
    """Was: (3, 784) images with 2 labels became (2, 1176); float images divided twice."""
    with pytest.raises(ValueError, match=r"\(3, 784\).*\(2,\).*agree in count"):
        gradient.print_gradient_check(np.zeros((3, 784), np.uint8), [1, 2])
    pixels = np.random.default_rng(4).integers(0, 256, size=(2, 784)).astype(np.uint8)
    with enable_x64():
        a, _ = gradient.gradient_check_inputs(pixels, [1, 2])
        b, _ = gradient.gradient_check_inputs(pixels / 255.0, [1, 2])
        top = float(a.max())
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64 and 0.5 < top <= 1.0
