"""check_rules names the wrong hand-written rule, node by node (jaxbp.rule_check)."""

from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import graph, layers, two_layer_net
from jaxbp.rule_check import check_rules, print_rule_check


@contextlib.contextmanager
def planted(rule, wrong_bwd):
    """Inside the block, ``rule`` (a ``jax.custom_vjp``) runs ``wrong_bwd`` as its backward.

    ``jax.clear_caches``: ``two_layer_net.loss`` is jitted, and its cached trace
    would keep the rule it was traced with.
    """
    fwd, bwd = rule.fwd, rule.bwd
    rule.defvjp(fwd, wrong_bwd)
    jax.clear_caches()
    try:
        yield
    finally:
        rule.defvjp(fwd, bwd)
        jax.clear_caches()


def net_inputs(batch, sizes=(12, 7, 5), seed=0, std=0.5):
    """TwoLayerNet params, images and integer labels, float32 (checked in float64)."""
    n_in, hidden, n_out = sizes
    params = two_layer_net.init_params(seed, n_in, hidden, n_out, weight_init_std=std)
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.uniform(size=(batch, n_in)), jnp.float32)
    t = jnp.asarray(rng.integers(0, n_out, batch), jnp.int32)
    return params, x, t


def composed(x, s, c, W, b, t):
    """sigmoid -> mul -> add -> affine -> softmax_with_loss: nodes 1..5."""
    h = graph.add(graph.mul(layers.sigmoid(x), s), c)
    return layers.softmax_with_loss(layers.affine(h, W, b), t)


def composed_inputs(seed=0, n=4, d=3, k=5):
    rng = np.random.default_rng(seed)
    a = lambda *shape: jnp.asarray(rng.standard_normal(shape), jnp.float32)
    return a(n, d), a(n, d), a(n, d), a(d, k), a(k), jnp.asarray(rng.integers(0, k, n))


def _affine_parts(res, dout):
    x, W = res
    return x, W, dout


def _affine_dw_untransposed(res, dout):
    x, W, dout = _affine_parts(res, dout)
    return dout @ W.T, dout.T @ x, dout.sum(0)  # dW = dout^T x, not x^T dout


def _affine_db_wrong_axis(res, dout):
    x, W, dout = _affine_parts(res, dout)
    return dout @ W.T, x.T @ dout, dout.sum(1)  # sums over the features, not the batch


def _affine_dx_untransposed(res, dout):
    x, W, dout = _affine_parts(res, dout)
    return dout @ W, x.T @ dout, dout.sum(0)  # dx = dout W, not dout W^T


def _softmax_no_mean(res, g):
    y, t, _ = res
    return g * (y - jax.nn.one_hot(t, y.shape[-1], dtype=y.dtype)), None  # no / N


# (name, rule, wrong backward, network, expected first failing node)
NET = dict(sizes=(6, 6, 6), batch=6)  # square shapes: the wrong-transpose rules type-check
MISTAKES = [
    ("affine dW = dout^T x", layers._affine, _affine_dw_untransposed, NET, 1),
    ("affine db on axis 1", layers._affine, _affine_db_wrong_axis, NET, 1),
    ("affine dx = dout W", layers._affine, _affine_dx_untransposed, NET, 1),
    ("relu mask flipped", layers._relu, lambda m, d: (jnp.where(m, d, 0.0),), {}, 2),
    ("softmax_with_loss no /N", layers._softmax_with_loss, _softmax_no_mean, {}, 4),
    ("sigmoid dout * y", layers._sigmoid, lambda y, d: (d * y,), None, 1),
    ("mul wrong sign", graph._mul, lambda r, d: (-d * r[1], -d * r[0]), None, 2),
    ("mul not swapped", graph._mul, lambda r, d: (d * r[0], d * r[1]), None, 2),
    ("add wrong sign", graph._add, lambda _, d: (d, -d), None, 3),
]


def _check(net, seed):
    if net is None:
        return check_rules(composed, *composed_inputs(seed), seed=seed)
    batch = net.get("batch", 8)
    return check_rules(two_layer_net.loss, *net_inputs(batch, net.get("sizes", (12, 7, 5)), seed))


@pytest.mark.parametrize("batch", [1, 100])
def test_correct_rules_pass_on_two_layer_net(batch):
    check = check_rules(two_layer_net.loss, *net_inputs(batch, (784, 50, 10), std=0.01))
    assert [r.name for r in check] == ["affine", "relu", "affine", "softmax_with_loss"]
    assert check.passed and check.first_failure is None
    for row in check:
        assert row.dtype == "float64"  # float32 inputs, checked in float64
        assert row.autodiff_rel < 1e-9 and row.numerical_rel < 1e-6, row
    assert check[0].shapes == ((batch, 784), (784, 50), (50,))
    assert check[3].shapes == ((batch, 10), (batch,))


def test_correct_rules_pass_on_composition():
    check = check_rules(composed, *composed_inputs())
    assert [r.name for r in check] == ["sigmoid", "mul", "add", "affine", "softmax_with_loss"]
    assert check.passed
    assert check[0].book.startswith("5.5.2, eq. 5.12")


@pytest.mark.parametrize("name, rule, wrong, net, node", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_planted_mistake_is_named_first(name, rule, wrong, net, node):
    seed = [m[0] for m in MISTAKES].index(name)  # other data and directions for each
    with planted(rule, wrong):
        check = _check(net, seed)
    bad = check.first_failure
    assert bad is not None and bad.node == node, (name, check.rows)
    assert not check.passed
    # every failing row is an application of the planted rule; the others pass
    assert {r.name for r in check if not r.passed} == {bad.name}
    assert all(r.passed for r in check if r.name != bad.name)
    assert bad.autodiff_rel > 1e-3 or bad.error


def test_planted_rules_are_restored():
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        assert not _check({}, 0).passed
    assert _check({}, 0).passed


def test_wrong_shapes_from_a_rule_are_a_failed_row():
    wrong = lambda res, dout: (dout @ res[1].T, res[0].T @ dout, dout.sum(1))  # db of shape (N,)
    with planted(layers._affine, wrong):
        check = check_rules(two_layer_net.loss, *net_inputs(3))
    bad = check.first_failure
    assert (bad.node, bad.name) == (1, "affine") and bad.error
    assert check[1].passed and check[1].name == "relu"  # the next rule is still checked


def _square(x):
    return x**2


def _square_fwd(x):
    return x**2, x


def test_a_users_own_rule():
    my_square = jax.custom_vjp(_square)
    my_square.defvjp(_square_fwd, lambda x, g: (2 * x * g,))
    f = lambda x: jnp.sum(layers.relu(my_square(x)))
    x = jnp.linspace(-1.0, 2.0, 6)  # no 0: relu(x ** 2) has its kink there
    check = check_rules(f, x)
    assert [r.name for r in check] == ["square", "relu"] and check.passed
    assert check[0].book == ""  # not one of the book's rules
    my_square.defvjp(_square_fwd, lambda x, g: (x * g,))  # forgot the 2
    jax.clear_caches()  # JAX keeps the rule a function was traced with
    check = check_rules(f, x)
    assert check.first_failure.name == "square" and check[1].passed
    assert abs(check[0].autodiff_rel - 0.5) < 1e-12  # x g against 2 x g


def test_under_jit_nodes_are_still_found():
    args = net_inputs(4)
    check = check_rules(jax.jit(two_layer_net.loss), *args)
    assert [r.name for r in check] == ["affine", "relu", "affine", "softmax_with_loss"]
    assert check.passed
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        assert (
            check_rules(jax.jit(lambda *a: two_layer_net.loss(*a)), *args).first_failure.node == 2
        )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_16_bit_floats_are_refused(dtype):
    params, x, t = net_inputs(2)
    with pytest.raises(TypeError, match="16-bit floats are meaningless"):
        check_rules(two_layer_net.loss, params, x.astype(dtype), t)


def test_no_custom_rule_is_a_value_error():
    with pytest.raises(ValueError, match="no jax.custom_vjp rule"):
        check_rules(lambda x: jnp.sum(jax.nn.relu(x)), jnp.ones(3))  # custom_jvp is JAX's


def test_bad_arguments():
    with pytest.raises(TypeError, match="f must be callable"):
        check_rules(3.0, jnp.ones(3))
    with pytest.raises(TypeError, match="seed must be an int"):
        check_rules(graph.mul, 1.0, 2.0, seed=0.5)


def test_print_names_the_first_wrong_rule():
    args = net_inputs(8)
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        out = io.StringIO()
        check = print_rule_check(two_layer_net.loss, *args, file=out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["node", "rule"]
    rows = lines[2:6]
    assert [r.split()[1] for r in rows] == ["affine", "relu", "affine", "softmax_with_loss"]
    assert [r.split()[-1] for r in rows] == ["ok", "FAIL", "ok", "ok"]
    assert len({r.index(r.split()[-1]) for r in rows}) == 1  # the result column is aligned
    assert (
        lines[-1]
        == "first wrong rule: node 2, relu (5.5.1, eq. 5.8: dx = dout where x > 0, else 0)"
    )
    again = io.StringIO()
    print_rule_check(check, file=again)  # a RuleCheck prints the same table
    assert again.getvalue() == text
    with pytest.raises(TypeError, match="args only with a function"):
        print_rule_check(check, 1.0)


def test_print_all_agree():
    out = io.StringIO()
    print_rule_check(graph.buy_apple, 100.0, 2.0, 1.1, file=out)
    assert out.getvalue().splitlines()[-1] == (
        "all 2 rules agree with autodiff and central differences"
    )
