"""5.5-5.6: each layer's hand-written rule against jax.grad of its plain-jnp twin."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_checks import assert_grad_uses_rule

from jaxbp import layers, reference
from jaxbp.gradient import enable_x64
from jaxbp.layers import affine, cross_entropy_error, relu, sigmoid, softmax, softmax_with_loss

SETTINGS = settings(max_examples=20, deadline=None)
dims = st.integers(1, 7)


def vjp_pair(ours, ref, args, seed, argnums):
    """Cotangent-weighted gradients of ours and ref (float64), random cotangent."""
    out = ours(*args)
    g = jnp.asarray(np.random.default_rng(seed).normal(size=np.shape(out)))
    f = lambda fn: jax.grad(lambda *a: jnp.sum(fn(*a) * g), argnums=argnums)(*args)
    return f(ours), f(ref)


def assert_tree_close(a, b, tol=1e-12):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert u.shape == v.shape and u.dtype == v.dtype
        assert float(jnp.max(jnp.abs(u - v))) <= tol


@SETTINGS
@given(shape=st.lists(dims, min_size=1, max_size=3), seed=st.integers(0, 2**31 - 1))
def test_relu_and_sigmoid_match_reference(shape, seed):
    with enable_x64():
        x = jnp.asarray(np.random.default_rng(seed).normal(size=shape) * 3)
        x = x.at[(0,) * len(shape)].set(0.0)  # the kink: derivative 0, as the book
        for ours, ref in ((relu, reference.relu), (sigmoid, reference.sigmoid)):
            np.testing.assert_array_equal(ours(x), ref(x))
            a, b = vjp_pair(ours, ref, (x,), seed, 0)
            assert_tree_close(a, b)


@SETTINGS
@given(
    batch=st.one_of(st.none(), dims),
    n_in=dims,
    n_out=dims,
    extra=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_affine_matches_reference(batch, n_in, n_out, extra, seed):
    """Single sample (5.6.1), batch (5.6.2, batch 1 included) and (N, 2, n) inputs."""
    rng = np.random.default_rng(seed)
    with enable_x64():
        if batch is None:
            xshape = (n_in,)
        elif extra:
            xshape = (batch, 2, n_in)
        else:
            xshape = (batch, n_in)
        k = n_in * (2 if extra and batch is not None else 1)
        x, W, b = (jnp.asarray(rng.normal(size=s)) for s in (xshape, (k, n_out), (n_out,)))
        np.testing.assert_allclose(affine(x, W, b), reference.affine(x, W, b), atol=1e-13)
        a, r = vjp_pair(affine, reference.affine, (x, W, b), seed, (0, 1, 2))
        assert a[0].shape == x.shape
        assert_tree_close(a, r)


@SETTINGS
@given(
    batch=dims,
    classes=st.integers(2, 9),
    one_hot=st.booleans(),
    scale=st.sampled_from([1.0, 30.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_softmax_with_loss_matches_reference(batch, classes, one_hot, scale, seed):
    rng = np.random.default_rng(seed)
    with enable_x64():
        x = jnp.asarray(rng.normal(size=(batch, classes)) * scale)
        t = jnp.asarray(rng.integers(0, classes, size=batch), jnp.int32)
        if one_hot:
            t = jax.nn.one_hot(t, classes, dtype=jnp.float64)
        np.testing.assert_allclose(
            softmax_with_loss(x, t), reference.softmax_with_loss(x, t), rtol=1e-13, atol=1e-13
        )
        g = 0.5 + rng.random()  # the incoming cotangent counts
        ours = jax.grad(lambda x: g * softmax_with_loss(x, t))(x)
        ref = jax.grad(lambda x: g * reference.softmax_with_loss(x, t))(x)
        assert_tree_close(ours, ref)
        y = softmax(x)
        tt = t if one_hot else jax.nn.one_hot(t, classes, dtype=x.dtype)
        np.testing.assert_allclose(ours, g * (y - tt) / batch, atol=1e-15)  # book: (y - t)/N
        if one_hot:  # label cotangent, too
            assert_tree_close(
                jax.grad(softmax_with_loss, 1)(x, t), jax.grad(reference.softmax_with_loss, 1)(x, t)
            )


def test_softmax_with_loss_single_sample_and_integer_labels():
    x = jnp.array([0.3, 2.9, 4.0])
    assert softmax_with_loss(x, 2).shape == ()
    np.testing.assert_allclose(
        softmax_with_loss(x, 2), softmax_with_loss(x, jnp.array([0.0, 0.0, 1.0])), rtol=1e-6
    )
    np.testing.assert_allclose(
        jax.grad(softmax_with_loss)(x, 2), softmax(x) - jnp.array([0, 0, 1.0]), atol=1e-7
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_softmax_with_loss_finite_for_huge_logits(dtype):
    with enable_x64(dtype == jnp.float64):
        x = jnp.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
        for t in (jnp.array([1, 2]), jax.nn.one_hot(jnp.array([1, 2]), 3, dtype=dtype)):
            loss, g = jax.value_and_grad(softmax_with_loss)(x, t)
            assert np.isfinite(loss) and np.all(np.isfinite(g))
            np.testing.assert_allclose(loss, 1e4, rtol=1e-6)  # (2e4 + 0) / 2
            loss1, g1 = jax.value_and_grad(softmax_with_loss)(x[:1], t[:1])
            assert np.isfinite(loss1) and np.all(np.isfinite(g1))


def test_cross_entropy_error_plain_function():
    y = jnp.array([[0.1, 0.05, 0.6, 0.0, 0.25]])
    np.testing.assert_allclose(cross_entropy_error(y, jnp.array([2])), -np.log(0.6), rtol=1e-6)
    t = jax.nn.one_hot(jnp.array([2]), 5)
    np.testing.assert_allclose(cross_entropy_error(y, t), -np.log(0.6), rtol=1e-6)  # 0*log0 = 0
    assert cross_entropy_error(y, jnp.array([3])) == jnp.inf  # no made-up 1e-7


# ---- the rules are the ones that run -------------------------------------------
RULES = {  # the rule, and arguments of the layer
    "relu": (layers._relu, (jnp.array([1.0, -1.0, 2.0]),)),
    "sigmoid": (layers._sigmoid, (jnp.array([1.0, -1.0, 2.0]),)),
    "affine": (layers._affine, (jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.zeros(4))),
    "softmax_with_loss": (
        layers._softmax_with_loss,
        (jnp.array([[1.0, 2.0, 0.5]]), jnp.array([1])),
    ),
}


@pytest.mark.parametrize("name", RULES)
def test_jax_grad_goes_through_the_hand_written_rule(name):
    rule, args = RULES[name]
    fn = getattr(layers, name)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda x: fn(x, *args[1:]), (args[0],), (jnp.ones_like(args[0]),))
    assert_grad_uses_rule(rule, lambda *a: jnp.sum(fn(*a)), *args)


# ---- transformations and dtypes -------------------------------------------------
def test_compose_with_jit_vmap_and_grad_of_grad():
    with enable_x64():
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(4, 5)))
        W, b = jnp.asarray(rng.normal(size=(5, 3))), jnp.asarray(rng.normal(size=3))
        t = jnp.array([0, 2, 1, 1])
        f = lambda x: softmax_with_loss(affine(sigmoid(x), W, b), t)
        fr = lambda x: reference.softmax_with_loss(reference.affine(reference.sigmoid(x), W, b), t)
        assert_tree_close(jax.jit(jax.grad(f))(x), jax.grad(fr)(x))
        # per-sample gradients: vmap over single samples (5.6.1's 1-D affine)
        per = jax.vmap(jax.grad(lambda xi, ti: softmax_with_loss(affine(relu(xi), W, b), ti)))(x, t)
        per_ref = jax.vmap(
            jax.grad(
                lambda xi, ti: reference.softmax_with_loss(
                    reference.affine(reference.relu(xi), W, b), ti
                )
            )
        )(x, t)
        assert_tree_close(per, per_ref)
        # second derivatives: the backward rules are jnp code, so they differentiate too
        v = jnp.asarray(rng.normal(size=x.shape))
        hvp = lambda fn: jax.grad(lambda x: jnp.vdot(jax.grad(fn)(x), v))(x)
        assert_tree_close(hvp(f), hvp(fr), tol=1e-11)
        relu_hvp = jax.grad(lambda x: jnp.sum(jax.grad(lambda y: jnp.sum(relu(y) ** 2))(x)))(x)
        np.testing.assert_allclose(relu_hvp, 2.0 * (x > 0))


@pytest.mark.parametrize("x64", [False, True])
def test_gradient_dtypes_follow_inputs(x64):
    with enable_x64(x64):
        x = jnp.ones((2, 3), jnp.float32)
        W, b = jnp.ones((3, 4), jnp.float32), jnp.zeros(4, jnp.float32)
        grads = jax.grad(
            lambda x, W, b: softmax_with_loss(affine(relu(sigmoid(x)), W, b), jnp.array([0, 3])),
            argnums=(0, 1, 2),
        )(x, W, b)
        assert all(g.dtype == jnp.float32 for g in grads)
        if x64:
            W64 = W.astype(jnp.float64)
            gx, gW = jax.grad(lambda x, W: jnp.sum(affine(x, W, b)), argnums=(0, 1))(x, W64)
            assert gx.dtype == jnp.float32 and gW.dtype == jnp.float64


# ---- bad input ----------------------------------------------------------------------
def test_bad_input_errors_name_the_problem():
    x, W, b = jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.zeros(4)
    with pytest.raises(ValueError, match=r"\(2, 5\).*5 features.*\(3, 4\)"):
        affine(jnp.ones((2, 5)), W, b)
    with pytest.raises(ValueError, match=r"b must have shape \(4,\).*got \(3,\)"):
        affine(x, W, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"b must have shape"):
        affine(x, W, jnp.zeros((1, 4)))  # no silent broadcasting
    with pytest.raises(ValueError, match="W must be 2-D"):
        affine(x, jnp.ones(3), b)
    with pytest.raises(TypeError, match="uint8"):
        affine(jnp.ones((2, 3), jnp.uint8), W, b)
    with pytest.raises(TypeError, match="int32"):
        relu(jnp.array([1, 2]))
    logits = jnp.ones((2, 4))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\].*\[0, 4\]"):
        softmax_with_loss(logits, jnp.array([0, 4]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\].*\[-1, 2\]"):
        softmax_with_loss(logits, jnp.array([-1, 2]))
    with pytest.raises(ValueError, match=r"one-hot labels.*\(2, 4\).*\(2, 3\)"):
        softmax_with_loss(logits, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"integer labels.*\(2,\).*\(3,\)"):
        softmax_with_loss(logits, jnp.array([0, 1, 2]))
    with pytest.raises(TypeError, match="bool"):
        softmax_with_loss(logits, jnp.array([True, False]))
