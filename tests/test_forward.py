"""5.1.3, 5.4-5.6 forward mode: each custom_jvp rule against the custom_vjp rule and the twins.

The forward rule J v and the backward rule J^T u are the same local derivative
exactly when <J v, u> = <v, J^T u> for every v and u (the adjoint identity);
both are also compared with jax.jvp of the plain-jnp twins in jaxbp.reference.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxbp import forward, graph, layers, reference, two_layer_net

try:  # the numerical helpers' new home, or their old one
    from jaxbp.numerical import enable_x64
except ImportError:
    from jaxbp.gradient import enable_x64

SETTINGS = settings(max_examples=20, deadline=None)
# A few shapes of each kind (compiled once each); the values vary with the seed.
shapes = st.sampled_from([(), (1,), (5,), (2, 3), (1, 4, 2)])
seeds = st.integers(0, 2**31 - 1)
TOL = 1e-12


def _dot(a, b):
    """sum over a pytree of <a_i, b_i>, and the same sum of |a_i| |b_i| (the scale)."""
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    value = sum(jnp.sum(u * v) for u, v in zip(la, lb))
    scale = sum(jnp.sum(jnp.abs(u) * jnp.abs(v)) for u, v in zip(la, lb))
    return float(value), float(scale)


def _random_like(rng, tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape), a.dtype), tree)


def assert_close(a, b, tol=TOL):
    """Each leaf of a equals b's to tol relative to b's largest entry (same shapes, dtypes)."""
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        assert u.shape == v.shape and u.dtype == v.dtype, (u.shape, v.shape, u.dtype, v.dtype)
        scale = max(1.0, float(jnp.max(jnp.abs(v)))) if v.size else 1.0
        assert float(jnp.max(jnp.abs(u - v), initial=0.0)) <= tol * scale


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _three_ways(fwd_fn, bwd_fn, ref_fn, diff, args, v, u):
    """J v by the forward rule, J^T u by the backward rule, J v by jax.jvp of the twin."""

    def moving(fn):  # fn of the arguments in diff, the others held fixed
        def at(*d):
            full = list(args)
            for i, di in zip(diff, d):
                full[i] = di
            return fn(*full)

        return at

    primals = tuple(args[i] for i in diff)
    out, jv = jax.jvp(moving(fwd_fn), primals, v)
    out_b, pullback = jax.vjp(moving(bwd_fn), *primals)
    ref_out, ref_jv = jax.jvp(moving(ref_fn), primals, v)
    return out, out_b, jv, pullback(u), ref_out, ref_jv


def check_rule(fwd_fn, bwd_fn, ref_fn, args, seed, diff=None):
    """Forward rule vs backward rule (adjoint identity) and vs jax.jvp of the twin, float64.

    ``diff``: which of ``args`` get a tangent (default all); the others are held fixed.
    Returns the forward rule's J v.
    """
    rng = np.random.default_rng(seed)
    diff = tuple(range(len(args)) if diff is None else diff)
    v = _random_like(rng, tuple(args[i] for i in diff))
    u = _random_like(rng, jax.eval_shape(fwd_fn, *args))
    out, out_b, jv, vjp_u, ref_out, ref_jv = _three_ways(fwd_fn, bwd_fn, ref_fn, diff, args, v, u)
    assert_close(out, out_b)  # the same primal as the reverse-mode layer
    left, scale = _dot(jv, u)
    right, _ = _dot(v, vjp_u)
    assert abs(left - right) <= TOL * max(scale, 1e-300), (left, right)
    assert_close(out, ref_out)
    assert_close(jv, ref_jv)
    return jv


def _times(x, y):
    return x * y


def _plus(x, y):
    return x + y


# ---- each rule: adjoint identity and the twin ------------------------------------------
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_mul_and_add(shape, seed):
    rng = np.random.default_rng(seed)
    with enable_x64():
        x, y = (jnp.asarray(rng.normal(size=shape)) for _ in range(2))
        check_rule(forward.mul, graph.mul, _times, (x, y), seed)
        check_rule(forward.add, graph.add, _plus, (x, y), seed)


@SETTINGS
@given(shape=shapes.filter(bool), seed=seeds)
def test_relu_and_sigmoid(shape, seed):
    with enable_x64():
        x = jnp.asarray(np.random.default_rng(seed).normal(size=shape) * 3)
        x = x.at[(0,) * len(shape)].set(0.0)  # the kink: derivative 0, as the book
        jv = check_rule(forward.relu, layers.relu, reference.relu, (x,), seed)
        assert float(jv[(0,) * len(shape)]) == 0.0
        check_rule(forward.sigmoid, layers.sigmoid, reference.sigmoid, (x,), seed)


@SETTINGS
@given(
    xshape=st.sampled_from([(1,), (4,), (1, 3), (5, 3), (3, 2, 2)]),
    n_out=st.sampled_from([1, 3]),
    seed=seeds,
)
def test_affine(xshape, n_out, seed):
    """Single sample (5.6.1), batch (5.6.2) and (N, 2, n) inputs; tangents in x, W and b."""
    rng = np.random.default_rng(seed)
    k = int(np.prod(xshape[1:])) if len(xshape) > 1 else xshape[0]
    with enable_x64():
        args = tuple(jnp.asarray(rng.normal(size=s)) for s in (xshape, (k, n_out), (n_out,)))
        check_rule(forward.affine, layers.affine, reference.affine, args, seed)


@SETTINGS
@given(
    batch=st.sampled_from([1, 4]),
    classes=st.sampled_from([2, 5]),
    labels=st.sampled_from(["int", "one-hot", "soft"]),
    scale=st.sampled_from([1.0, 30.0]),
    seed=seeds,
)
def test_softmax_with_loss(batch, classes, labels, scale, seed):
    """Integer labels (tangent in x), one-hot and soft rows (tangents in x and t)."""
    rng = np.random.default_rng(seed)
    with enable_x64():
        x = jnp.asarray(rng.normal(size=(batch, classes)) * scale)
        idx = jnp.asarray(rng.integers(0, classes, batch))
        if labels == "int":
            t, diff = idx, [0]
        elif labels == "one-hot":
            t, diff = jax.nn.one_hot(idx, classes, dtype=jnp.float64), [0, 1]
        else:  # any rows, not summing to 1
            t, diff = jnp.asarray(rng.uniform(size=(batch, classes))), [0, 1]
        fns = (forward.softmax_with_loss, layers.softmax_with_loss, reference.softmax_with_loss)
        check_rule(*fns, (x, t), seed, diff=diff)


def test_soft_label_tangent_is_minus_log_y_over_n():
    """dL = -sum(log softmax(x) * dt) / N when only t moves: checked against its formula."""
    with enable_x64():
        rng = np.random.default_rng(0)
        x, t, dt = (jnp.asarray(rng.normal(size=(4, 3))) for _ in range(3))
        _, dL = jax.jvp(lambda t: forward.softmax_with_loss(x, t), (t,), (dt,))
        want = -jnp.sum(jax.nn.log_softmax(x) * dt) / 4
        assert abs(float(dL - want)) <= TOL * float(jnp.sum(jnp.abs(dt)))


# ---- dtypes and batch sizes ------------------------------------------------------------
@jax.jit
def _both_modes(x, W, b, t):
    """Each layer's value and its tangent along ones, forward layers then reverse layers."""
    cases = [("sigmoid", (x,)), ("relu", (x,)), ("affine", (x, W, b))]
    cases += [("softmax_with_loss", (x[:, :3], t))]
    outs = []
    for module in (forward, layers):
        for name, args in cases:
            f = getattr(module, name)
            value = f(*args)
            along = lambda a0: f(a0, *args[1:])
            tangent = (
                jax.jvp(along, (args[0],), (jnp.ones_like(args[0]),))[1]
                if module is forward
                else value
            )
            outs.append((value, tangent))
    return outs[: len(cases)], outs[len(cases) :]


@SETTINGS
@given(
    batch=st.sampled_from([1, 6]),
    dtype=st.sampled_from([jnp.float32, jnp.float64, jnp.bfloat16, jnp.float16]),
    seed=seeds,
)
def test_dtypes_follow_the_reverse_layers(batch, dtype, seed):
    """Values, output and tangent dtypes as the custom_vjp layers, in every float dtype."""
    rng = np.random.default_rng(seed)
    with enable_x64():
        x = jnp.asarray(rng.normal(size=(batch, 5)), dtype)
        W, b = jnp.asarray(rng.normal(size=(5, 3)), dtype), jnp.asarray(rng.normal(size=3), dtype)
        t = jnp.asarray(rng.integers(0, 3, batch))
        tol = {jnp.float64: 1e-12, jnp.float32: 1e-5}.get(dtype, 5e-2)
        ours, theirs = _both_modes(x, W, b, t)
        for (value, tangent), (want, _) in zip(ours, theirs):
            assert value.dtype == want.dtype == tangent.dtype == dtype
            np.testing.assert_allclose(np.float64(value), np.float64(want), rtol=tol, atol=tol)


def test_mixed_dtypes_promote_as_the_reverse_layers():
    with enable_x64():
        x, W, b = jnp.ones((2, 3), jnp.float32), jnp.ones((3, 4)), jnp.zeros(4, jnp.float32)
        assert forward.affine(x, W, b).dtype == layers.affine(x, W, b).dtype == jnp.float64
        soft = jnp.full((2, 4), 0.25)  # float64 labels with float32 logits
        ours = forward.softmax_with_loss(jnp.ones((2, 4), jnp.float32), soft)
        assert ours.dtype == layers.softmax_with_loss(jnp.ones((2, 4), jnp.float32), soft).dtype


# ---- bad input: the same errors as the reverse-mode layers -----------------------------
BAD = [
    ("mul", (jnp.ones(2), jnp.ones(3))),
    ("add", (jnp.ones(2), jnp.ones(2, jnp.int32))),
    ("relu", (jnp.arange(3),)),
    ("sigmoid", (jnp.ones(2, jnp.uint8),)),
    ("affine", (jnp.ones((2, 3)), jnp.ones((4, 2)), jnp.zeros(2))),
    ("affine", (jnp.ones((2, 3)), jnp.ones((3, 2)), jnp.zeros(3))),
    ("affine", (jnp.ones((0, 3)), jnp.ones((3, 2)), jnp.zeros(2))),
    ("affine", (jnp.ones(()), jnp.ones((3, 2)), jnp.zeros(2))),
    ("softmax_with_loss", (jnp.ones((2, 3)), jnp.array([0, 1, 2]))),
    ("softmax_with_loss", (jnp.ones((2, 3)), jnp.array([0, 3]))),
    ("softmax_with_loss", (jnp.ones((2, 3)), jnp.ones((2, 2)))),
    ("softmax_with_loss", (jnp.ones((2, 3, 1)), jnp.array([0, 1]))),
]


@pytest.mark.parametrize("name, args", BAD)
def test_bad_input_raises_the_reverse_layers_error(name, args):
    reverse = getattr(graph if name in ("mul", "add") else layers, name)
    with pytest.raises((TypeError, ValueError)) as theirs:
        reverse(*args)
    with pytest.raises(theirs.type) as ours:
        getattr(forward, name)(*args)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith(f"{name}:")


def test_bad_network_input_raises():
    params = two_layer_net.init_params(0, 4, 3, 2)
    with pytest.raises(ValueError, match="params must be a dict"):
        forward.loss({"W1": params["W1"]}, jnp.ones((2, 4)), jnp.array([0, 1]))
    with pytest.raises(TypeError, match="images x must be floating"):
        forward.predict(params, jnp.ones((2, 4), jnp.uint8))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        forward.loss(params, jnp.ones((2, 4)), jnp.array([0, 2]))


def test_out_of_range_label_under_jit_is_nan_in_value_and_tangent():
    x = jnp.zeros((2, 3))
    f = jax.jit(lambda x, t: jax.jvp(lambda x: forward.softmax_with_loss(x, t), (x,), (x + 1,)))
    value, tangent = f(x, jnp.array([0, 3]))
    assert bool(jnp.isnan(value)) and bool(jnp.isnan(tangent))
    value, tangent = f(x, jnp.array([0, 2]))
    assert bool(jnp.isfinite(value)) and bool(jnp.isfinite(tangent))


# ---- TwoLayerNet: jvp, jacfwd, grad and hessian through the rules ----------------------
def _small_net(seed, batch, sizes=(6, 4, 3)):
    """A 6-4-3 TwoLayerNet with unit-scale float64 weights and a batch of ``batch``."""
    rng = np.random.default_rng(seed)
    n_in, hidden, n_out = sizes
    shapes = {"W1": (n_in, hidden), "b1": (hidden,), "W2": (hidden, n_out), "b2": (n_out,)}
    params = {k: jnp.asarray(rng.normal(size=s)) for k, s in shapes.items()}
    x = jnp.asarray(rng.normal(size=(batch, n_in)))
    return params, x, jnp.asarray(rng.integers(0, n_out, batch))


@jax.jit
def _four_ways(params, x, t, v):
    f = lambda p: forward.loss(p, x, t)
    twin = jax.grad(lambda p: reference.loss(p, x, t))(params)
    return f(params), jax.grad(f)(params), jax.jacfwd(f)(params), twin, jax.jvp(f, (params,), (v,))


@SETTINGS
@given(batch=st.sampled_from([1, 3, 8]), seed=seeds)
def test_two_layer_net_jvp_jacfwd_grad(batch, seed):
    """jax.grad, jax.jacfwd and jax.jvp of the forward-mode loss agree with backprop."""
    with enable_x64():
        params, x, t = _small_net(seed, batch)
        v = _random_like(np.random.default_rng(seed), params)
        value, grad, jac, twin, (value2, dL) = _four_ways(params, x, t, v)
        back = two_layer_net.gradient(params, x, t)  # the custom_vjp rules
        assert_close(value, two_layer_net.loss(params, x, t))
        assert_close(value2, value)
        assert_close(grad, back)
        assert_close(jac, back)
        assert_close(twin, back)
        want, scale = _dot(back, v)
        assert abs(float(dL) - want) <= TOL * scale


def _hessian_of_slice(loss, params, x, t):
    """jax.hessian of ``loss`` w.r.t. W2 and b2 only (the others held fixed)."""
    at = lambda s: loss(dict(params, **s), x, t)
    return jax.hessian(at)({"W2": params["W2"], "b2": params["b2"]})


def test_two_layer_net_hessian_matches_the_twin():
    """jax.hessian (jacfwd of jacrev) w.r.t. a slice: W2 and b2 of a 784-50-10 network."""
    with enable_x64():
        params = two_layer_net.init_params(1, 784, 50, 10, weight_init_std=0.1, dtype=jnp.float64)
        rng = np.random.default_rng(1)
        x, t = jnp.asarray(rng.uniform(size=(8, 784))), jnp.asarray(rng.integers(0, 10, 8))
        hessians = jax.jit(lambda p, x, t: [_hessian_of_slice(f, p, x, t) for f in
                                            (forward.loss, reference.loss)])  # fmt: skip
        ours, theirs = hessians(params, x, t)
        assert ours["W2"]["W2"].shape == (50, 10, 50, 10)
        assert float(jnp.max(jnp.abs(ours["W2"]["W2"]))) > 1e-3  # not trivially zero
        assert_close(ours, theirs)


def _sigmoid_net(x, W, m, t, ops):
    """sigmoid(x) * x + x, then sigmoid, affine and the loss: second derivatives everywhere."""
    sig, aff, swl, mul, add = ops
    h = add(mul(sig(x), x), x)
    return swl(aff(sig(h), W, jnp.arange(W.shape[1]) * m), t)


def test_hessian_through_sigmoid_mul_add_matches_the_twin():
    """Second derivatives that are not zero everywhere: sigmoid, mul and add nodes."""
    ops = (forward.sigmoid, forward.affine, forward.softmax_with_loss, forward.mul, forward.add)
    twin = (reference.sigmoid, reference.affine, reference.softmax_with_loss, _times, _plus)

    @jax.jit
    def hessians(x, W, m, t):
        h = lambda ops: jax.hessian(lambda *a: _sigmoid_net(*a, t, ops), argnums=(0, 1, 2))
        return h(ops)(x, W, m), h(twin)(x, W, m)

    with enable_x64():
        rng = np.random.default_rng(2)
        x, W = (jnp.asarray(rng.normal(size=s)) for s in ((3, 4), (4, 5)))
        ours, theirs = hessians(x, W, jnp.asarray(1.5), jnp.array([0, 4, 2]))
        assert float(jnp.max(jnp.abs(ours[0][0]))) > 1e-3
        assert_close(ours, theirs)


# ---- the rules are the ones that run ---------------------------------------------------
@contextlib.contextmanager
def scaled_jvp_rule(rule, factor: float = 3.0):
    """Inside the block, ``rule``'s jvp returns ``factor`` times its tangents."""
    jvp = rule.jvp

    def scaled(primals, tangents):
        out, dout = jvp(primals, tangents)
        return out, jax.tree_util.tree_map(lambda d: factor * d, dout)

    rule.defjvp(scaled)
    try:
        yield
    finally:
        rule.defjvp(jvp)


RULES = [
    ("_mul", lambda: (jnp.array([1.0, -2.0]), jnp.array([3.0, 0.5]))),
    ("_add", lambda: (jnp.array([1.0, -2.0]), jnp.array([3.0, 0.5]))),
    ("_relu", lambda: (jnp.array([1.0, -2.0, 3.0]),)),
    ("_sigmoid", lambda: (jnp.array([1.0, -2.0, 3.0]),)),
    ("_affine", lambda: (jnp.ones((2, 3)), jnp.arange(12.0).reshape(3, 4), jnp.ones(4))),
    ("_softmax_with_loss", lambda: (jnp.array([[1.0, 0.0], [0.0, 3.0]]), jnp.array([0, 0]))),
]


@pytest.mark.parametrize("rule_name, make_args", RULES, ids=[r[0] for r in RULES])
def test_jvp_and_grad_run_the_hand_written_rule(rule_name, make_args):
    """Swap the rule for 3x itself: jax.jvp triples, and so does jax.grad (its transpose)."""
    rule, public = getattr(forward, rule_name), getattr(forward, rule_name[1:])
    args = make_args()
    x0, rest = args[0], args[1:]
    scalar = lambda x: jnp.sum(public(x, *rest))
    assert "custom_jvp_call" in str(jax.make_jaxpr(scalar)(x0))
    tangent = jnp.ones_like(x0)
    good_jvp, good_grad = jax.jvp(scalar, (x0,), (tangent,))[1], jax.grad(scalar)(x0)
    with scaled_jvp_rule(rule):
        bad_jvp, bad_grad = jax.jvp(scalar, (x0,), (tangent,))[1], jax.grad(scalar)(x0)
    assert float(jnp.max(jnp.abs(good_grad))) > 0
    np.testing.assert_allclose(bad_jvp, 3 * good_jvp, rtol=1e-6)
    np.testing.assert_allclose(bad_grad, 3 * good_grad, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(scalar)(x0), good_grad)  # restored


# ---- the custom_vjp error and its explanation ------------------------------------------
@pytest.mark.parametrize(
    "transform",
    [
        lambda f, x: jax.jvp(f, (x,), (x,)),
        lambda f, x: jax.jacfwd(f)(x),
    ],
    ids=["jvp", "jacfwd"],
)
def test_forward_mode_of_the_reverse_layers_is_explained(transform):
    x = jnp.array([1.0, -1.0])
    with pytest.raises(TypeError, match="custom_vjp") as err:
        transform(layers.relu, x)
    hint = forward.explain_jvp_error(err.value)
    assert hint is not None and "jaxbp.forward" in hint
    transform(forward.relu, x)  # the forward-mode layer runs


def test_explain_jvp_error_ignores_other_errors():
    assert forward.explain_jvp_error(TypeError("unsupported operand type")) is None
    assert forward.explain_jvp_error(ValueError(forward._JVP_OF_VJP)) is None


def test_jvp_adds_the_explanation_and_passes_other_errors():
    x = jnp.array([1.0, -1.0])
    with pytest.raises(TypeError, match=r"custom_vjp function\. .*jaxbp\.forward\.loss"):
        forward.jvp(layers.relu, (x,), (x,))
    with pytest.raises(TypeError) as other:
        forward.jvp(forward.relu, (x,), (jnp.ones(3, jnp.int32),))
    assert forward.explain_jvp_error(other.value) is None
    out, dout = forward.jvp(forward.relu, (x,), (x,))
    np.testing.assert_array_equal(dout, jnp.array([1.0, 0.0]))
