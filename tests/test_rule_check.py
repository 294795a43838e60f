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


# ---- sound at kinks: entries where the derivative does not exist are not compared --------
def test_relu_at_its_kink_passes_and_says_so():
    """ReLU at exactly 0: the central difference there is 0.5, the book's rule 0."""
    check = check_rules(lambda x: jnp.sum(layers.relu(x)), jnp.zeros(4))
    (row,) = check.rows
    assert check.passed and row.kinks == 4
    assert "4 entries at a kink not compared" in str(check)


def test_a_wrong_relu_still_fails_away_from_its_kink():
    x = jnp.array([0.0, 1.5, -2.0, 0.0, 0.7, -0.3])  # two entries at the kink, four not
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        check = check_rules(lambda x: jnp.sum(layers.relu(x) * jnp.arange(6.0)), x)
    (row,) = check.rows
    assert not check.passed and row.kinks == 2 and row.autodiff_rel > 0.5


def test_two_layer_net_with_an_all_zero_image_passes():
    """Biases start at 0: the zero image's hidden pre-activations are exactly 0."""
    params, x, t = net_inputs(6)
    check = check_rules(two_layer_net.loss, params, x.at[2].set(0.0), t)
    assert check.passed, str(check)
    assert check[1].name == "relu" and check[1].kinks == params["W1"].shape[1]
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        bad = check_rules(two_layer_net.loss, params, x.at[2].set(0.0), t)
    assert bad.first_failure.node == 2


# ---- nested rules: each checked alone, the innermost wrong one named ---------------------
def _nested(inner_bwd, outer_bwd):
    """outer(x) = 3 * inner(x), inner(x) = x ** 2, each a custom_vjp with the given backward."""
    inner = jax.custom_vjp(lambda x: x**2)
    inner.defvjp(lambda x: (x**2, x), inner_bwd)

    def _outer(x):
        return 3 * inner(x)

    outer = jax.custom_vjp(_outer)
    outer.defvjp(lambda x: (_outer(x), x), outer_bwd)
    return lambda x: jnp.sum(outer(x))


RIGHT_INNER, WRONG_INNER = (lambda x, g: (2 * x * g,)), (lambda x, g: (x * g,))
RIGHT_OUTER, WRONG_OUTER = (lambda x, g: (6 * x * g,)), (lambda x, g: (-6 * x * g,))


def test_a_correct_outer_rule_over_a_wrong_inner_rule():
    check = check_rules(_nested(WRONG_INNER, RIGHT_OUTER), jnp.linspace(0.5, 2.0, 4))
    assert [(r.name, r.parent, r.passed) for r in check] == [
        ("outer", None, True),  # its autodiff witness runs inner's forward body, not its rule
        ("<lambda>", 1, False),
    ]
    assert check.first_failure.node == 2
    assert "inside node 1" in str(check) and str(check).endswith(
        "first wrong rule: node 2, <lambda>"
    )


def test_both_wrong_names_the_innermost():
    check = check_rules(_nested(WRONG_INNER, WRONG_OUTER), jnp.linspace(0.5, 2.0, 4))
    assert [r.passed for r in check] == [False, False]
    assert check.first_failure.node == 2
    assert check_rules(_nested(RIGHT_INNER, RIGHT_OUTER), jnp.linspace(0.5, 2.0, 4)).passed
    only_outer = check_rules(_nested(RIGHT_INNER, WRONG_OUTER), jnp.linspace(0.5, 2.0, 4))
    assert only_outer.first_failure.node == 1 and only_outer[1].passed


# ---- refused inputs: one line naming the input -------------------------------------------
def test_non_finite_inputs_are_refused_by_name():
    params, x, t = net_inputs(3)
    params = {**params, "W1": params["W1"].at[0, :3].set(jnp.nan)}
    with pytest.raises(ValueError, match=r"args\[0\]\['W1'\] has 3 NaN/inf entries") as e:
        check_rules(two_layer_net.loss, params, x, t)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"args\[1\] has 1 NaN/inf"):
        check_rules(two_layer_net.loss, net_inputs(3)[0], x.at[0, 0].set(jnp.inf), t)


def test_integer_only_inputs_are_refused_by_name():
    f = lambda n: jnp.sum(layers.relu(n.astype(jnp.float32)))
    with pytest.raises(ValueError, match=r"no argument of f is floating \(args\[0\] is int32"):
        check_rules(f, jnp.arange(4))


# ---- rules inside control flow, checkpoint, vmap, grad: found and checked -----------------
def _scan(x):
    return jax.lax.scan(lambda c, xi: (c + jnp.sum(layers.relu(xi)), None), 0.0, x)[0]


def _cond(x):
    return jax.lax.cond(jnp.sum(x) > -1e3, lambda z: jnp.sum(layers.relu(z)), lambda z: 0.0, x)


def _while(x):
    body = lambda s: (s[0] + 1, s[1] + jnp.sum(layers.relu(x * s[0])))
    return jax.lax.while_loop(lambda s: s[0] < 4, body, (1.0, 0.0))[1]


PLACES = {
    "scan": (_scan, "in scan"),
    "cond": (_cond, "in cond branch 1"),
    "while": (_while, "in while"),
    "checkpoint": (lambda x: jax.checkpoint(lambda z: jnp.sum(layers.relu(z)))(x), "checkpoint"),
    "remat under grad": (
        lambda x: jnp.sum(jax.grad(jax.remat(lambda z: jnp.sum(layers.relu(z) ** 2)))(x)),
        "under jax.grad",
    ),
    "grad": (lambda x: jnp.sum(jax.grad(lambda z: jnp.sum(layers.relu(z) ** 2))(x)), "grad"),
    "vmap": (lambda x: jnp.sum(jax.vmap(layers.relu)(x)), ""),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_rules_are_found_wherever_they_run(place):
    f, where = PLACES[place]
    x = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4) + 0.05
    check = check_rules(f, x)
    assert check.passed and {r.name for r in check} == {"relu"}, str(check)
    assert all(where in r.where for r in check), [r.where for r in check]
    with planted(layers._relu, lambda m, d: (jnp.where(m, d, 0.0),)):
        bad = check_rules(f, x)
    assert not bad.passed and bad.first_failure.name == "relu"


def test_a_long_scan_is_checked_at_representative_steps():
    x = jnp.linspace(-1.0, 1.0, 100).reshape(50, 2) + 0.005
    check = check_rules(_scan, x)
    assert [r.node for r in check] == [1, 2, 26, 49, 50]
    assert check[2].where == "in scan, call 26 of 50"
    assert check.notes == ("relu ran 50 times at one place; checked calls 1, 2, 26, 49, 50",)


# ---- labels: not differentiated is accepted, for labels only ------------------------------
def _softmax(x):
    e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _book_loss(x, t):
    """The book's cross_entropy_error(softmax(x), t): -sum(t * log(y + 1e-7)) / N."""
    return -jnp.sum(t * jnp.log(_softmax(x) + 1e-7)) / x.shape[0]


def _book_softmax_with_loss(bwd):
    rule = jax.custom_vjp(_book_loss)
    rule.defvjp(lambda x, t: (_book_loss(x, t), (_softmax(x), t)), bwd)
    return rule


def _exact_dx(res, g):
    y, t = res
    return g * (y - t) / y.shape[0]


LABEL_COTANGENTS = {
    "None": lambda res, g: (_exact_dx(res, g), None),
    "zeros": lambda res, g: (_exact_dx(res, g), jnp.zeros_like(res[1])),
    "true derivative": lambda res, g: (
        _exact_dx(res, g),
        -g * jnp.log(res[0] + 1e-7) / res[0].shape[0],
    ),
}


def _logits_and_one_hot(n=4, c=3):
    x = jnp.asarray(np.random.default_rng(1).standard_normal((n, c)), jnp.float32)
    return x, jax.nn.one_hot(jnp.arange(n) % c, c)


@pytest.mark.parametrize("how", sorted(LABEL_COTANGENTS))
def test_float_labels_none_zeros_or_true_derivative_all_pass(how):
    check = check_rules(
        _book_softmax_with_loss(LABEL_COTANGENTS[how]), *_logits_and_one_hot(), rtol=1e-5
    )
    (row,) = check.rows
    assert check.passed, str(check)
    assert row.not_differentiated == (() if how == "true derivative" else (1,))
    assert ("t not differentiated" in str(check)) == (how != "true derivative")


def test_a_wrong_label_derivative_fails():
    wrong = lambda res, g: (_exact_dx(res, g), jnp.ones_like(res[1]))
    check = check_rules(_book_softmax_with_loss(wrong), *_logits_and_one_hot(), rtol=1e-5)
    assert not check.passed and check[0].not_differentiated == ()


def test_zeros_for_an_input_that_is_not_labels_fail():
    x, y = jnp.array([0.5, -1.5, 2.0]), jnp.array([1.0, 2.0, -0.5])
    with planted(graph._add, lambda _, d: (d, jnp.zeros_like(d))):
        check = check_rules(graph.add, x, y)
    assert not check.passed and check[0].not_differentiated == ()


def test_looks_like_labels():
    from jaxbp.rule_check import looks_like_labels

    assert looks_like_labels(jnp.array([3, 0, 1]))  # class indices
    assert looks_like_labels(jax.nn.one_hot(jnp.array([0, 2]), 3))  # one-hot rows
    assert looks_like_labels(jnp.array([[0.2, 0.3, 0.5]], jnp.float32))  # probabilities
    assert not looks_like_labels(jnp.array([[0.2, 0.3, 0.6]]))  # does not sum to 1
    assert not looks_like_labels(jnp.array([[1.5, -0.5]]))  # sums to 1, out of [0, 1]
    assert not looks_like_labels(jnp.float32(1.0))  # a scalar has no rows
    assert not looks_like_labels(jnp.zeros((2, 3)))


# ---- the tolerance: the book's + 1e-7 passes at 1e-5, fails at the default ---------------
def test_rtol_replaces_both_tolerances():
    rule = _book_softmax_with_loss(LABEL_COTANGENTS["None"])
    args = _logits_and_one_hot()
    default = check_rules(rule, *args)
    assert not default.passed and 1e-9 < default[0].autodiff_rel < 1e-5  # log(y + 1e-7)
    assert check_rules(rule, *args, rtol=1e-5).passed
    assert not check_rules(rule, *args, rtol=1e-8).passed
    for bad in (0, -1e-3, 1.5, "1e-5", True):
        with pytest.raises(ValueError, match="rtol must be a number in"):
            check_rules(rule, *args, rtol=bad)


# ---- readable: str is the table, rules named after their pair ----------------------------
def test_str_is_the_printed_table():
    check = check_rules(two_layer_net.loss, *net_inputs(4))
    out = io.StringIO()
    print_rule_check(check, file=out)
    assert out.getvalue() == str(check) + "\n"
    assert str(check).splitlines()[1].split()[:2] == ["node", "rule"]
    from jaxbp import gradient

    assert gradient.print_rule_check is print_rule_check


def test_a_rule_is_named_after_its_fwd_bwd_pair():
    """A helper that wraps any pair in one function (the exercises' custom_rule) names it f."""

    def custom_rule(fwd, bwd):
        @jax.custom_vjp
        def f(*args):
            return fwd(*args)[0]

        f.defvjp(fwd, bwd)
        return f

    def relu_fwd(x):
        return jnp.maximum(x, 0), x > 0

    def relu_bwd(mask, dout):
        return (jnp.where(mask, dout, 0),)

    check = check_rules(lambda x: jnp.sum(custom_rule(relu_fwd, relu_bwd)(x)), jnp.ones(3))
    assert [r.name for r in check] == ["relu"] and check[0].book.startswith("5.5.1")


def test_rule_check_needs_neither_graphviz_nor_the_drawing_code():
    import subprocess
    import sys

    code = (
        "import sys, jaxbp.rule_check, jaxbp.explore\n"
        "loaded = [m for m in ('graphviz', 'jaxbp.drawing') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
