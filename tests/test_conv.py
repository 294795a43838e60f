"""7.4: im2col/col2im, convolution and max pooling, each checked three ways.

(a) our rule vs ``jax.grad`` of the plain-jnp twin (:mod:`jaxbp.reference`),
(b) vs central differences, (c) vs the book's own NumPy layers
(``experiments/book_numpy/ch7.py``); all in float64.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book_numpy import ch7 as book
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_checks import assert_grad_uses_rule

from jaxbp import conv, reference
from jaxbp.conv import col2im, convolution, im2col, max_pooling
from jaxbp.gradient import enable_x64, numerical_gradient

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)  # the same examples each run
GRID = [(1, 0), (1, 1), (2, 0), (2, 1)]  # (stride, pad)


@st.composite
def geometries(draw):
    """(x shape, window fh x fw, stride, pad) with the window fitting the padded input."""
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H = draw(st.integers(max(1, fh - 2 * pad), 8))
    W = draw(st.integers(max(1, fw - 2 * pad), 8))
    return (N, C, H, W), fh, fw, stride, pad


def max_abs(a, b):
    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def value_and_vjp(fn, static, args, g):
    """``fn(*args, *static)`` and the gradients of ``sum(fn(...) * g)`` w.r.t. args.

    One compiled program per layer and shape (eager op-by-op dispatch would
    compile every small op for every hypothesis shape: several times slower).
    """
    f = lambda a: fn(*a, *static)
    return f(args), jax.grad(lambda a: jnp.sum(f(a) * g))(args)


def cotangent(rng, fn, static, args):
    return jnp.asarray(rng.normal(size=jax.eval_shape(lambda a: fn(*a, *static), args).shape))


@functools.partial(jax.jit, static_argnums=(0, 1))
def central_differences(fn, static, args, g):
    """Central differences (4.4) of ``sum(fn(*args, *static) * g)``, forward passes only."""
    return numerical_gradient(lambda a: jnp.sum(fn(*a, *static) * g), args)


# ---- im2col / col2im (7.4.3) --------------------------------------------------------
@functools.partial(jax.jit, static_argnums=(2,))
def im2col_col2im_transpose(x, c, geometry):
    """im2col(x), col2im(c) and the transpose JAX derives for im2col, applied to c."""
    _, transpose = jax.vjp(lambda x: im2col(x, *geometry[1:]), x)
    return im2col(x, *geometry[1:]), col2im(c, *geometry), transpose(c)[0]


@SETTINGS
@given(geo=geometries(), seed=st.integers(0, 2**31 - 1))
def test_im2col_is_the_books_and_col2im_its_adjoint(geo, seed):
    shape, fh, fw, stride, pad = geo
    rng = np.random.default_rng(seed)
    with enable_x64():
        x = rng.normal(size=shape)
        c = rng.normal(size=book.im2col(x, fh, fw, stride, pad).shape)
        col, back, transpose = im2col_col2im_transpose(jnp.asarray(x), jnp.asarray(c), geo)
        np.testing.assert_array_equal(col, book.im2col(x, fh, fw, stride, pad))
        assert max_abs(back, book.col2im(c, shape, fh, fw, stride, pad)) <= 1e-12
        lhs, rhs = float(jnp.vdot(col, c)), float(jnp.vdot(x, back))  # <im2col x,c>, <x,col2im c>
        assert abs(lhs - rhs) <= 1e-12 * (1 + abs(lhs))
        assert max_abs(transpose, back) <= 1e-12  # col2im is JAX's transpose of im2col


# ---- convolution (7.4.3) -------------------------------------------------------------
# the layer with each way of computing its forward output; one rule differentiates both
CONVS = {f: functools.partial(convolution, forward=f) for f in conv.FORWARDS}


def conv_args(rng, shape, FN, fh, fw):
    return tuple(jnp.asarray(rng.normal(size=s)) for s in (shape, (FN, shape[1], fh, fw), (FN,)))


@pytest.mark.parametrize("forward", conv.FORWARDS)
@SETTINGS
@given(geo=geometries(), FN=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_convolution_matches_jax_grad_of_lax_conv(forward, geo, FN, seed):
    shape, fh, fw, stride, pad = geo
    rng = np.random.default_rng(seed)
    with enable_x64():
        args = conv_args(rng, shape, FN, fh, fw)
        g = cotangent(rng, convolution, (stride, pad), args)
        out, grads = value_and_vjp(CONVS[forward], (stride, pad), args, g)
        out_ref, grads_ref = value_and_vjp(reference.convolution, (stride, pad), args, g)
        assert max_abs(out, out_ref) <= 1e-12
        assert max_abs(grads, grads_ref) <= 1e-12


@pytest.mark.parametrize("forward", conv.FORWARDS)
@pytest.mark.parametrize("stride,pad", GRID)
def test_convolution_matches_the_books_layer_and_central_differences(stride, pad, forward):
    """Batch 1 and 2, odd sizes (7x5 images, 3x2 filters), either forward."""
    rng = np.random.default_rng(stride * 10 + pad)
    layer_fn = CONVS[forward]
    with enable_x64():
        for N in (1, 2):
            args = conv_args(rng, (N, 3, 7, 5), 4, 3, 2)
            g = cotangent(rng, convolution, (stride, pad), args)
            out, grads = value_and_vjp(layer_fn, (stride, pad), args, g)
            layer = book.Convolution(*(np.asarray(a) for a in args[1:]), stride, pad)
            assert max_abs(out, layer.forward(np.asarray(args[0]))) <= 1e-12
            dx = layer.backward(np.asarray(g))
            assert max_abs(grads, (dx, layer.dW, layer.db)) <= 1e-12
            # central differences of sum(out * g): linear in each argument, so exact to rounding
            numeric = central_differences(layer_fn, (stride, pad), args, g)
            assert max_abs(grads, numeric) <= 1e-9


# ---- max pooling (7.4.4) -------------------------------------------------------------
@SETTINGS
@given(geo=geometries(), ties=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_max_pooling_matches_jax_grad_of_twin_ties_included(geo, ties, seed):
    shape, ph, pw, stride, pad = geo
    rng = np.random.default_rng(seed)
    with enable_x64():
        x = rng.normal(size=shape)
        args = (jnp.asarray(np.round(x) if ties else x),)  # integers: ties, with the 0 padding too
        static = (ph, pw, stride, pad)
        g = cotangent(rng, max_pooling, static, args)
        out, grads = value_and_vjp(max_pooling, static, args, g)
        out_ref, grads_ref = value_and_vjp(reference.max_pooling, static, args, g)
        np.testing.assert_array_equal(out, out_ref)
        assert max_abs(grads, grads_ref) <= 1e-12
        if not ties:  # what a JAX user writes, where no ties
            xp = jnp.pad(args[0], ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            windows = jax.lax.reduce_window(
                xp, -jnp.inf, jax.lax.max, (1, 1, ph, pw), (1, 1, stride, stride), "VALID"
            )
            np.testing.assert_array_equal(out, windows)


@pytest.mark.parametrize("stride,pad", GRID)
def test_max_pooling_matches_the_books_layer_and_central_differences(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    static = (3, 2, stride, pad)
    with enable_x64():
        for N, ties in ((1, False), (2, True)):
            x = rng.permutation(N * 70).reshape(N, 2, 7, 5) - 30.5  # distinct, none 0 (the padding)
            x = np.floor(x / 3) if ties else x
            g = cotangent(rng, max_pooling, static, (jnp.asarray(x),))
            out, (grad,) = value_and_vjp(max_pooling, static, (jnp.asarray(x),), g)
            if pad == 0:  # the book's Pooling.forward leaves pad out of out_h: pad 0 only
                layer = book.Pooling(*static)
                assert max_abs(out, layer.forward(x)) == 0
                assert max_abs(grad, layer.backward(np.asarray(g))) <= 1e-12
            if not ties:  # gaps of 1 >> h: no window's maximum changes
                (numeric,) = central_differences(max_pooling, static, (jnp.asarray(x),), g)
                assert max_abs(grad, numeric) <= 1e-9


@pytest.mark.parametrize("size,pad", [(2, 0), (2, 1), (3, 0), (3, 1)])
def test_max_pooling_of_tiling_windows_is_the_books(size, pad):
    """stride == pool_h == pool_w (the network's 2x2/2) takes a reshape path, no im2col:
    the same values, arg-max ties and gradients as the twin and the book, odd sizes
    (the dropped last row/column gets 0), batch 1 and 2."""
    rng = np.random.default_rng(size * 10 + pad)
    static = (size, size, size, pad)
    with enable_x64():
        for N, H, W in ((1, 7, 5), (2, 6, 9)):
            x = np.floor(rng.normal(size=(N, 3, H, W)) * 2)  # many ties, and ties with the 0 pad
            g = cotangent(rng, max_pooling, static, (jnp.asarray(x),))
            out, grad = value_and_vjp(max_pooling, static, (jnp.asarray(x),), g)
            out_ref, grad_ref = value_and_vjp(reference.max_pooling, static, (jnp.asarray(x),), g)
            np.testing.assert_array_equal(out, out_ref)
            np.testing.assert_array_equal(grad[0], grad_ref[0])
            if pad == 0:
                layer = book.Pooling(*static)
                np.testing.assert_array_equal(out, layer.forward(x))
                np.testing.assert_array_equal(grad[0], layer.backward(np.asarray(g)))


def test_max_pooling_tie_goes_to_the_first_in_row_major_order():
    x = jnp.array([[[[0.0, 2.0, 2.0], [2.0, 2.0, 1.0]]]])
    dx = jax.grad(lambda x: jnp.sum(max_pooling(x, 2, 2)))(x)  # two windows, stride 1
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 0], [0, 0, 0]])  # (0,1) is first in both
    dx_pad = jax.grad(lambda x: jnp.sum(max_pooling(x, 2, 2, stride=2, pad=1)))(-x - 1)
    assert float(jnp.sum(dx_pad)) == 0  # every window's maximum is a padding 0


# ---- the rules are the ones that run --------------------------------------------------
RULES = {
    "convolution": (
        conv._convolution,
        lambda x: convolution(x, jnp.arange(12.0).reshape(2, 1, 2, 3) / 7, jnp.ones(2), 2, 1),
    ),
    "convolution, lax forward": (
        conv._convolution,
        lambda x: CONVS["lax"](x, jnp.arange(12.0).reshape(2, 1, 2, 3) / 7, jnp.ones(2), 2, 1),
    ),
    "max_pooling": (conv._max_pooling, lambda x: max_pooling(x, 2, 2, stride=2)),
}


@pytest.mark.parametrize("name", RULES)
def test_jax_grad_goes_through_the_hand_written_rule(name):
    rule, layer = RULES[name]
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1, 5, 6)), jnp.float32)
    assert_grad_uses_rule(rule, lambda x: jnp.sum(layer(x) ** 2), x)


def test_compose_with_jit_vmap_and_dtypes():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(3, 2, 6, 6)), jnp.float32)
    W, b = jnp.asarray(rng.normal(size=(4, 2, 3, 3)), jnp.float32), jnp.zeros(4, jnp.float32)
    f = lambda x, W, b: jnp.sum(max_pooling(convolution(x, W, b, 1, 1), 2, 2, 2) ** 2)
    grads = jax.grad(f, argnums=(0, 1, 2))(x, W, b)
    assert all(g.dtype == jnp.float32 for g in grads)
    jitted = jax.jit(jax.grad(f, argnums=(0, 1, 2)))(x, W, b)
    assert max_abs(grads, jitted) <= 1e-4
    per_image = jax.vmap(jax.grad(lambda xi: f(xi[None], W, b)))(x)  # per-example gradients
    assert max_abs(per_image, grads[0]) <= 1e-4


# ---- bad input ------------------------------------------------------------------------
def test_bad_input_errors_name_the_problem():
    x, W, b = jnp.ones((2, 3, 5, 5)), jnp.ones((4, 3, 3, 3)), jnp.zeros(4)
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 5\) has 3 channels.*\(4, 2, 3, 3\) expects"):
        convolution(x, jnp.ones((4, 2, 3, 3)), b)
    with pytest.raises(
        ValueError,
        match=r"filter 7x7 is larger than the padded input 5x5 "
        r"\(x of shape \(2, 3, 5, 5\), pad=0\)",
    ):
        convolution(x, jnp.ones((4, 3, 7, 7)), b)
    convolution(x, jnp.ones((4, 3, 7, 7)), b, pad=1)  # 7x7 fits 7x7
    with pytest.raises(ValueError, match=r"window 8x2 is larger than the padded input 7x7"):
        max_pooling(x, 8, 2, pad=1)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        convolution(x, W, b, stride=0)
    with pytest.raises(ValueError, match="pad must be an integer >= 0, got -1"):
        max_pooling(x, 2, 2, pad=-1)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 1.5"):
        im2col(x, 2, 2, stride=1.5)
    with pytest.raises(ValueError, match=r"\(0, 3, 5, 5\) is empty"):
        convolution(jnp.ones((0, 3, 5, 5)), W, b)
    with pytest.raises(ValueError, match=r"x must be 4-D.*\(3, 5, 5\)"):
        max_pooling(jnp.ones((3, 5, 5)), 2, 2)
    with pytest.raises(ValueError, match=r"b must have shape \(4,\).*got \(3,\)"):
        convolution(x, W, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"W must be 4-D"):
        convolution(x, jnp.ones((4, 27)), b)
    with pytest.raises(ValueError, match=r"col must have shape \(18, 12\).*got \(18, 11\)"):
        col2im(jnp.ones((18, 11)), (2, 3, 4, 4), 2, 2)
    with pytest.raises(TypeError, match="uint8"):
        convolution(x.astype(jnp.uint8), W, b)
    with pytest.raises(ValueError, match=r"forward must be one of \['im2col', 'lax'\], got 'fft'"):
        convolution(x, W, b, forward="fft")
    with pytest.raises(TypeError, match="int32"):
        max_pooling(jnp.ones((1, 1, 4, 4), jnp.int32), 2, 2)
