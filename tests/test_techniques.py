"""6.3-6.4: dropout, batch norm and weight decay, each checked three ways.

(a) our rule vs ``jax.grad`` of the plain-jnp twin (:mod:`jaxbp.reference`),
(b) vs central differences, (c) vs the book's own NumPy layer
(``book_numpy.ch6``), all in float64 with random incoming cotangents.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book_numpy import ch6 as book
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_checks import assert_grad_uses_rule

from jaxbp import reference, techniques
from jaxbp.gradient import enable_x64, numerical_gradient
from jaxbp.techniques import batch_norm, dropout, weight_decay_loss

SETTINGS = settings(max_examples=6, deadline=None)
seeds = st.integers(0, 2**31 - 1)


def close(a, b, tol=1e-12):
    """max |a - b| <= tol * max(1, max |b|) for every leaf (relative for large values)."""
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.shape(u) == np.shape(v)
        scale = max(1.0, float(np.max(np.abs(v), initial=0)))
        assert float(np.max(np.abs(np.asarray(u) - np.asarray(v)), initial=0)) <= tol * scale


def vjp(fn, args, argnums, cotangent):
    """Gradient of sum(cotangent * fn(*args)) with respect to ``argnums``."""
    return jax.grad(lambda *a: jnp.sum(fn(*a) * cotangent), argnums=argnums)(*args)


def bn_inputs(rng, shape):
    d = int(np.prod(shape[1:]))
    x = jnp.asarray(rng.normal(size=shape) * 2 + 1)
    gamma, beta = jnp.asarray(rng.normal(size=d)), jnp.asarray(rng.normal(size=d))
    state = {
        "running_mean": jnp.asarray(rng.normal(size=d)),
        "running_var": jnp.asarray(rng.random(size=d) + 0.5),
    }
    return x, gamma, beta, state


def bn_out(module, train, state):
    return lambda x, g, b: module.batch_norm(x, g, b, state, train)[0]


# ---- (a) against jax.grad of the plain-jnp twins ---------------------------------
# Each example runs as one jitted program (one compile, not one per operation).
@functools.partial(jax.jit, static_argnames=("ratio", "train"))
def dropout_pair(x, key, g, ratio, train):
    outs = [m.dropout(x, key, ratio, train) for m in (techniques, reference)]
    grads = [
        vjp(lambda x: m.dropout(x, key, ratio, train), (x,), 0, g) for m in (techniques, reference)
    ]
    return outs, grads


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    ratio=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
    train=st.booleans(),
    seed=seeds,
)
def test_dropout_matches_reference(shape, ratio, train, seed):
    rng = np.random.default_rng(seed)
    with enable_x64():
        x, g = (jnp.asarray(rng.normal(size=shape)) for _ in range(2))
        (out, ref_out), (ours, ref) = dropout_pair(x, jax.random.PRNGKey(seed), g, ratio, train)
        np.testing.assert_array_equal(out, ref_out)
        close(ours, ref)


@functools.partial(jax.jit, static_argnames="train")
def batch_norm_pair(x, gamma, beta, state, g, train):
    outs = [m.batch_norm(x, gamma, beta, state, train) for m in (techniques, reference)]
    grads = [
        vjp(bn_out(m, train, state), (x, gamma, beta), (0, 1, 2), g)
        for m in (techniques, reference)
    ]
    return outs, grads


@SETTINGS
@given(
    batch=st.integers(1, 6),
    feat=st.one_of(st.tuples(st.integers(1, 7)), st.tuples(*[st.integers(1, 3)] * 3)),
    train=st.booleans(),
    seed=seeds,
)
def test_batch_norm_matches_reference(batch, feat, train, seed):
    """(N, D) and (N, C, H, W), batch 1 included, both modes, random cotangents."""
    rng = np.random.default_rng(seed)
    with enable_x64():
        x, gamma, beta, state = bn_inputs(rng, (batch, *feat))
        g = jnp.asarray(rng.normal(size=x.shape))
        ((out, new), (ref_out, ref_new)), (ours, ref) = batch_norm_pair(
            x, gamma, beta, state, g, train
        )
        close(out, ref_out)
        close(new, ref_new)
        close(ours, ref)


@jax.jit
def weight_decay_pair(Ws, lam, g):
    return [
        jax.grad(lambda Ws, lam: g * m.weight_decay_loss(Ws, lam), (0, 1))(Ws, lam)
        for m in (techniques, reference)
    ]


@SETTINGS
@given(
    shapes=st.lists(st.sampled_from([(1, 1), (3, 2), (2, 5)]), min_size=1, max_size=2),
    lam=st.floats(0, 2),
    seed=seeds,
)
def test_weight_decay_matches_reference(shapes, lam, seed):
    rng = np.random.default_rng(seed)
    with enable_x64():
        Ws = [jnp.asarray(rng.normal(size=s)) for s in shapes]
        g = 0.5 + rng.random()
        close(weight_decay_loss(Ws, lam), reference.weight_decay_loss(Ws, lam))
        ours, ref = weight_decay_pair(Ws, lam, g)
        close(ours, ref)
        close(ours[0], [g * lam * W for W in Ws])  # book: dW + lambda * W


# ---- (c) against the book's NumPy layers ----------------------------------------
BOOK_CASES = [((1, 3), True), ((3, 2, 2, 3), True), ((4, 5), False)]


@pytest.mark.parametrize("shape,train", BOOK_CASES)
def test_dropout_matches_the_books_layer(shape, train):
    rng = np.random.default_rng(len(shape))
    with enable_x64():
        x, g = rng.normal(size=shape), rng.normal(size=shape)
        key = jax.random.PRNGKey(len(shape))
        layer = book.Dropout(0.3)
        u = np.asarray(jax.random.uniform(key, shape, jnp.float64))
        layer.rand = lambda *s: u  # the same uniforms as ours
        (out, _), (ours, _) = dropout_pair(jnp.asarray(x), key, jnp.asarray(g), 0.3, train)
        close(out, layer.forward(x, train))
        if train:  # the book's backward is train-only
            close(ours, layer.backward(g))


def book_batch_norm(x, gamma, beta, state, train, g):
    layer = book.BatchNormalization(
        np.asarray(gamma),
        np.asarray(beta),
        running_mean=np.asarray(state["running_mean"]),
        running_var=np.asarray(state["running_var"]),
    )
    out = layer.forward(np.asarray(x), train)
    dx = layer.backward(np.array(g)) if train else None
    new = {"running_mean": layer.running_mean, "running_var": layer.running_var}
    return out, new, (dx, layer.dgamma, layer.dbeta)


@pytest.mark.parametrize("shape,train", BOOK_CASES)
def test_batch_norm_matches_the_books_layer(shape, train):
    rng = np.random.default_rng(len(shape))
    with enable_x64():
        x, gamma, beta, state = bn_inputs(rng, shape)
        g = rng.normal(size=shape)
        ((out, new), _), (ours, _) = batch_norm_pair(x, gamma, beta, state, jnp.asarray(g), train)
        b_out, b_new, b_grads = book_batch_norm(x, gamma, beta, state, train, g)
        close(out, b_out)
        close(new, b_new)
        if train:
            close(ours, b_grads)


def test_batch_norm_running_statistics_over_steps_match_the_book():
    """Five training calls thread the state as the book's layer keeps it on self."""
    rng = np.random.default_rng(1)
    with enable_x64():
        _, gamma, beta, _ = bn_inputs(rng, (4, 6))
        layer = book.BatchNormalization(np.asarray(gamma), np.asarray(beta))
        state = None  # the book's lazy zeros
        for _ in range(5):
            x = rng.normal(size=(4, 6))
            _, state = batch_norm(jnp.asarray(x), gamma, beta, state, True)
            layer.forward(x, True)
        close(state, {"running_mean": layer.running_mean, "running_var": layer.running_var})
        x = rng.normal(size=(3, 6))
        close(batch_norm(jnp.asarray(x), gamma, beta, state, False)[0], layer.forward(x, False))


# ---- (b) against central differences, and the three-way table ---------------------
def three_way_rows(seed=0):
    """{layer: (ours-vs-twin, ours-vs-numerical, ours-vs-book)} max |diff|, float64."""
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    x, gamma, beta, state = bn_inputs(rng, (5, 7))
    g = jnp.asarray(rng.normal(size=x.shape))
    Ws = [jnp.asarray(rng.normal(size=(7, 4))), jnp.asarray(rng.normal(size=(4, 3)))]
    lam = 0.1
    cases = {
        "dropout": (
            lambda m, x: jnp.sum(g * m.dropout(x, key, 0.5, True)),
            x,
            lambda: (lambda l: (l.forward(np.asarray(x), True), l.backward(np.asarray(g)))[1])(
                _book_dropout(key, x.shape, 0.5)
            ),
        ),
        "batch_norm": (
            lambda m, p: jnp.sum(g * m.batch_norm(*p, state, True)[0]),
            (x, gamma, beta),
            lambda: book_batch_norm(x, gamma, beta, state, True, g)[2],
        ),
        "weight_decay": (
            lambda m, Ws: m.weight_decay_loss(Ws, lam),
            Ws,
            lambda: [lam * np.asarray(W) for W in Ws],
        ),
    }
    rows = {}
    for name, (f, arg, book_grad) in cases.items():
        ours, twin, num = jax.jit(
            lambda a: (
                jax.grad(lambda a: f(techniques, a))(a),
                jax.grad(lambda a: f(reference, a))(a),
                numerical_gradient(lambda a: f(techniques, a), a, h=1e-5),
            )
        )(arg)
        rows[name] = tuple(
            max(
                float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
                for u, v in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(other))
            )
            for other in (twin, num, book_grad())
        )
    return rows


def _book_dropout(key, shape, ratio):
    layer = book.Dropout(ratio)
    u = np.asarray(jax.random.uniform(key, shape, jnp.float64))
    layer.rand = lambda *s: u
    return layer


def test_three_way_table():
    """Run with -s to see the table: max |difference| of the gradients, float64.

    Central differences with h = 1e-5 (batch norm's O(h^2) truncation error
    is ~1e-8 at the book's h = 1e-4 on this input).
    """
    with enable_x64():
        rows = three_way_rows()
    print("\nchapter 6 layers, float64, max |difference| of gradients (5 x 7 input):")
    print(
        f"  {'layer':14s}{'rule-vs-jax.grad':>18s}{'rule-vs-numerical':>19s}{'rule-vs-book':>14s}"
    )
    for name, (twin, num, bk) in rows.items():
        print(f"  {name:14s}{twin:18.1e}{num:19.1e}{bk:14.1e}")
        assert twin <= 1e-12 and bk <= 1e-12 and num <= 1e-8, (name, twin, num, bk)


# ---- the rules are the ones that run ----------------------------------------------
KEY = jax.random.PRNGKey(0)
X = jnp.array([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0], [2.0, 0.1, 0.4]])
ONES = jnp.ones(3)
RULES = {
    "dropout": (techniques._dropout, lambda x: jnp.sum(dropout(x, KEY, 0.3, True) * X)),
    "batch_norm": (
        techniques._batch_norm_train,
        lambda x: jnp.sum(batch_norm(x, ONES * 1.5, ONES, None, True)[0] * X),
    ),
    "weight_decay": (techniques._weight_decay, lambda x: weight_decay_loss([x], 0.1)),
}


@pytest.mark.parametrize("name", RULES)
def test_jax_grad_goes_through_the_hand_written_rule(name):
    rule, scalar = RULES[name]
    assert_grad_uses_rule(rule, scalar, X)


def test_test_mode_needs_no_rule_and_has_the_books_gradient():
    """Test mode is x * (1 - ratio) and the running-stat affine map, no custom rule."""
    assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda x: dropout(x, None, 0.3, False))(X))
    np.testing.assert_allclose(
        jax.grad(lambda x: jnp.sum(dropout(x, None, 0.3, False)))(X),
        0.7 * np.ones((3, 3)),
        rtol=1e-6,
    )
    state = {"running_mean": ONES, "running_var": 3 * ONES}
    gx = jax.grad(lambda x: jnp.sum(batch_norm(x, 2 * ONES, ONES, state, False)[0]))(X)
    np.testing.assert_allclose(gx, 2 / np.sqrt(3 + 1e-6) * np.ones((3, 3)), rtol=1e-6)


# ---- transformations and dtypes ---------------------------------------------------
def test_jit_vmap_and_second_derivatives():
    rng = np.random.default_rng(0)
    with enable_x64():
        x, gamma, beta, state = bn_inputs(rng, (4, 3))
        g, v = (jnp.asarray(rng.normal(size=(4, 3))) for _ in range(2))

        @jax.jit
        def both(x):
            out = []
            for mod in (techniques, reference):
                f = lambda x: jnp.sum(g * jnp.tanh(mod.batch_norm(x, gamma, beta, state, True)[0]))
                hvp = jax.grad(lambda x: jnp.vdot(jax.grad(f)(x), v))(x)
                out.append((hvp, jax.vmap(jax.grad(f))(jnp.stack([x, 2 * x]))))
            return out

        ours, ref = both(x)
        close(ours, ref, tol=1e-10)


def test_float32_stays_float32():
    x = jnp.ones((2, 3), jnp.float32).at[0].set(2.0)

    @jax.jit
    def run(x):
        out, new = batch_norm(x, jnp.ones(3), jnp.zeros(3), None, True)
        gx = jax.grad(
            lambda x: jnp.sum(batch_norm(x, jnp.ones(3), jnp.zeros(3), None, True)[0] * x)
        )(x)
        return out, new, gx, jax.grad(lambda x: jnp.sum(dropout(x, KEY, 0.5, True)))(x)

    out, new, gx, gd = run(x)
    assert out.dtype == new["running_var"].dtype == gx.dtype == gd.dtype == jnp.float32


# ---- bad input ----------------------------------------------------------------------
def test_bad_input_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"empty batch, x has shape \(0, 3\)"):
        dropout(jnp.ones((0, 3)), KEY, 0.5, True)
    with pytest.raises(ValueError, match=r"empty batch, x has shape \(0, 4\)"):
        batch_norm(jnp.ones((0, 4)), jnp.ones(4), jnp.zeros(4), None, True)
    with pytest.raises(TypeError, match="int32"):
        dropout(jnp.ones((2, 3), jnp.int32), KEY, 0.5, True)
    with pytest.raises(TypeError, match="uint8"):
        batch_norm(jnp.ones((2, 3), jnp.uint8), jnp.ones(3), jnp.zeros(3), None, True)
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\), got 1.0"):
        dropout(X, KEY, 1.0, True)
    with pytest.raises(ValueError, match="needs a jax.random key"):
        dropout(X, None, 0.5, True)
    with pytest.raises(
        ValueError,
        match=r"gamma must have shape \(12,\) for x of shape "
        r"\(2, 3, 2, 2\) \(flattened to \(2, 12\)\), got \(3,\)",
    ):
        batch_norm(jnp.ones((2, 3, 2, 2)), jnp.ones(3), jnp.zeros(12), None, True)
    with pytest.raises(
        ValueError, match=r"x must have shape \(N, D\) or \(N, C, H, W\), got \(3,\)"
    ):
        batch_norm(jnp.ones(3), jnp.ones(3), jnp.zeros(3), None, True)
    with pytest.raises(ValueError, match=r"state\['running_var'\] must have shape \(3,\)"):
        batch_norm(X, ONES, ONES, {"running_mean": ONES, "running_var": jnp.ones(2)}, True)
    with pytest.raises(ValueError, match="keys running_mean and running_var"):
        batch_norm(X, ONES, ONES, {"mean": ONES}, True)
    with pytest.raises(TypeError, match="train must be a Python bool"):
        jax.jit(lambda t: batch_norm(X, ONES, ONES, None, t))(True)
    with pytest.raises(ValueError, match="lambda_ must be >= 0, got -0.1"):
        weight_decay_loss([X], -0.1)


# ---- out of range under jit and vmap: NaN, never a finite number ----------------------
NAN, INF = float("nan"), float("inf")
BAD_RATIOS = [1.5, -0.1, 1.0, NAN, INF]


@pytest.mark.parametrize("train", [True, False])
def test_a_traced_dropout_ratio_out_of_range_gives_nan(train):
    """jax.jit(lambda r: dropout(x, key, r))(1.5) gave all zeros, a NaN ratio too."""
    f = lambda x, r: dropout(x, KEY, r, train=train)
    for r in BAD_RATIOS:
        with pytest.raises(ValueError, match=r"dropout: ratio must be in \[0, 1\)"):
            f(X, r)
        assert np.isnan(jax.jit(f)(X, r)).all(), r
        grad = jax.jit(jax.grad(lambda x, r: f(x, r).sum()))(X, r)
        assert np.isnan(grad).all(), r
    rows = jax.vmap(lambda r: f(X, r))(jnp.array([0.25, *BAD_RATIOS]))
    np.testing.assert_array_equal(rows[0], f(X, 0.25))  # an accepted ratio: as eagerly
    assert np.isnan(rows[1:]).all()


def test_a_traced_weight_decay_lambda_out_of_range_gives_nan():
    """jax.jit(lambda l: weight_decay_loss(p, l))(-1.0) gave -2.0."""
    p = {"W1": jnp.array([[1.0, -1.0], [1.0, 1.0]])}
    for lam in (-1.0, -1e-30, NAN, INF, -INF):
        with pytest.raises(ValueError, match="weight_decay_loss: lambda_ must be"):
            weight_decay_loss(p, lam)
        assert np.isnan(jax.jit(lambda l: weight_decay_loss(p, l))(lam)), lam
        d_p, d_lam = jax.jit(jax.grad(weight_decay_loss, argnums=(0, 1)))(p, lam)
        assert np.isnan(d_p["W1"]).all() and np.isnan(d_lam), lam
    losses = jax.vmap(lambda l: weight_decay_loss(p, l))(jnp.array([0.1, -1.0, NAN]))
    assert float(losses[0]) == pytest.approx(0.2) and np.isnan(losses[1:]).all()
    d_p, d_lam = jax.jit(jax.grad(weight_decay_loss, argnums=(0, 1)))(p, 0.1)
    ref_p, ref_lam = jax.grad(reference.weight_decay_loss, argnums=(0, 1))(p, 0.1)
    close(d_p, ref_p, tol=1e-6)
    close(d_lam, ref_lam, tol=1e-6)


@pytest.mark.parametrize("bad", [-1.0, -0.5e-6, NAN])
def test_a_bad_running_variance_gives_nan_in_its_feature(bad):
    """batch_norm in test mode with a negative running variance was NaN only by accident of
    the square root, and finite for one above -eps (-0.5e-6 gave 1054.1)."""
    x = jnp.array([[1.0, 2.0], [3.0, 5.0], [0.0, -1.0]])
    state = {"running_mean": jnp.zeros(2), "running_var": jnp.array([bad, 1.0])}
    good = {"running_mean": jnp.zeros(2), "running_var": jnp.array([1.0, 1.0])}
    bn = lambda x, s, train: batch_norm(x, jnp.ones(2), jnp.zeros(2), s, train)
    for train in (False, True):
        with pytest.raises(ValueError, match=r"batch_norm: state\['running_var'\] must be >= 0"):
            bn(x, state, train)
    out, new = jax.jit(bn, static_argnums=2)(x, state, False)
    assert np.isnan(out[:, 0]).all() and np.isnan(new["running_var"][0])
    np.testing.assert_array_equal(out[:, 1], bn(x, good, False)[0][:, 1])
    _, new = jax.jit(bn, static_argnums=2)(x, state, True)
    assert np.isnan(new["running_var"][0]) and np.isfinite(new["running_var"][1])
    gx = jax.jit(jax.grad(lambda x, s: bn(x, s, False)[0].sum()))(x, state)
    assert np.isnan(gx[:, 0]).all() and np.isfinite(gx[:, 1]).all()
    variances = jnp.array([[1.0, 1.0], [bad, 1.0]])
    outs = jax.vmap(lambda v: bn(x, {**good, "running_var": v}, False)[0])(variances)
    np.testing.assert_array_equal(outs[0], bn(x, good, False)[0])
    assert np.isnan(outs[1][:, 0]).all() and np.isfinite(outs[1][:, 1]).all()
