"""Every constructor and layer of the book's modules refuses bad arguments with one
clear ``TypeError``/``ValueError`` naming the argument, at trace time (so ``jit`` and
``vmap`` still work); the networks' accuracies are exact fractions; and the
derivations of the backward rules are importable text that the docstrings state."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import conv, im2col, labels, layers, numerical, techniques
from jaxbp import multi_layer_net as mln
from jaxbp import simple_conv_net as scn
from jaxbp import two_layer_net as tln
from jaxbp._checks import boolean, integer, prng_key, real

NAN, INF = float("nan"), float("inf")
X4 = jnp.ones((1, 1, 4, 4))
SCN = scn.Hyper(input_dim=(1, 8, 8), filter_num=2, filter_size=3, hidden_size=3, output_size=4)
MLN = mln.Hyper(input_size=6, hidden_size_list=(5,), output_size=3)


def _tln():
    return tln.init_params(0, 4, 3, 2)


def _scn():
    return scn.init_params(0, SCN)


def _mln():
    return mln.init_params(0, MLN)


def _listed(params):
    return {k: np.asarray(v).tolist() for k, v in params.items()}


# (what, callable, exception type, a regex the message must match, naming the argument)
CASES = [
    # simple_conv_net.Hyper: every field
    (
        "scn pad -1",
        lambda: scn.Hyper(pad=-1),
        ValueError,
        r"Hyper: pad must be an integer >= 0, got -1",
    ),
    (
        "scn filter 0",
        lambda: scn.Hyper(filter_size=0),
        ValueError,
        r"Hyper: filter_size must be an integer >= 1, got 0",
    ),
    (
        "scn filter 2.5",
        lambda: scn.Hyper(filter_size=2.5),
        ValueError,
        r"filter_size must be an integer >= 1, got 2.5",
    ),
    (
        "scn filter_num 0",
        lambda: scn.Hyper(filter_num=0),
        ValueError,
        r"filter_num must be an integer >= 1, got 0",
    ),
    (
        "scn hidden 0",
        lambda: scn.Hyper(hidden_size=0),
        ValueError,
        r"hidden_size must be an integer >= 1, got 0",
    ),
    (
        "scn output True",
        lambda: scn.Hyper(output_size=True),
        TypeError,
        r"output_size must be an integer >= 1, got True",
    ),
    (
        "scn std nan",
        lambda: scn.Hyper(weight_init_std=NAN),
        ValueError,
        r"weight_init_std must be finite and > 0, got nan",
    ),
    (
        "scn std '0.01'",
        lambda: scn.Hyper(weight_init_std="0.01"),
        TypeError,
        r"weight_init_std must be a real number .*str '0.01'",
    ),
    (
        "scn stride 0",
        lambda: scn.Hyper(stride=0),
        ValueError,
        r"Hyper: stride must be an integer >= 1, got 0",
    ),
    (
        "scn input_dim (1, 28)",
        lambda: scn.Hyper(input_dim=(1, 28)),
        ValueError,
        r"input_dim must have 3 entries, got \(1, 28\)",
    ),
    (
        "scn input_dim 28.0",
        lambda: scn.Hyper(input_dim=(1, 28.0, 28)),
        ValueError,
        r"input_dim\[1\] must be an integer >= 1, got 28.0",
    ),
    (
        "scn input_dim 784",
        lambda: scn.Hyper(input_dim=784),
        TypeError,
        r"input_dim must be a tuple of integers, got 784",
    ),
    (
        "scn nothing left",
        lambda: scn.Hyper(input_dim=(1, 5, 5)),
        ValueError,
        r"Hyper: a 5x5 filter .* leave nothing of a 5x5 input",
    ),
    (
        "scn hyper dict",
        lambda: scn.init_params(0, {"stride": 1}),
        TypeError,
        r"init_params: hyper must be a simple_conv_net.Hyper, got dict",
    ),
    # conv / im2col
    (
        "pool 2.5",
        lambda: conv.max_pooling(X4, 2.5, 2.5, stride=2),
        ValueError,
        r"max_pooling: pool_h must be an integer >= 1, got 2.5",
    ),
    (
        "pool 2.0",
        lambda: conv.max_pooling(X4, 2, 2.0, stride=2),
        ValueError,
        r"max_pooling: pool_w must be an integer >= 1, got 2.0",
    ),
    (
        "pool '2'",
        lambda: conv.max_pooling(X4, "2", 2, stride=2),
        TypeError,
        r"max_pooling: pool_h must be an integer >= 1, got str '2'",
    ),
    (
        "pool 0",
        lambda: conv.max_pooling(X4, 0, 2),
        ValueError,
        r"max_pooling: pool_h must be an integer >= 1, got 0",
    ),
    (
        "pool stride True",
        lambda: conv.max_pooling(X4, 2, 2, stride=True),
        TypeError,
        r"max_pooling: stride must be an integer >= 1, got True",
    ),
    (
        "im2col 2.0",
        lambda: im2col.im2col(X4, 2.0, 2),
        ValueError,
        r"im2col: filter_h must be an integer >= 1, got 2.0",
    ),
    (
        "col2im None",
        lambda: im2col.col2im(jnp.ones((9, 4)), (1, 1, 4, 4), 2, None),
        TypeError,
        r"col2im: filter_w must be an integer >= 1, got NoneType None",
    ),
    (
        "col2im shape 4.5",
        lambda: im2col.col2im(jnp.ones((9, 4)), (1, 1, 4.5, 4), 2, 2),
        ValueError,
        r"col2im: input_shape\[2\] must be an integer >= 0, got 4.5",
    ),
    (
        "col2im shape 3-D",
        lambda: im2col.col2im(jnp.ones((9, 4)), (1, 4, 4), 2, 2),
        ValueError,
        r"col2im: input_shape must have 4 entries",
    ),
    (
        "conv 0 filters",
        lambda: conv.convolution(X4, jnp.ones((0, 1, 2, 2)), jnp.ones(0)),
        ValueError,
        r"convolution: W of shape \(0, 1, 2, 2\) has no filters",
    ),
    (
        "conv pad '1'",
        lambda: conv.convolution(X4, jnp.ones((2, 1, 2, 2)), jnp.ones(2), pad="1"),
        TypeError,
        r"convolution: pad must be an integer >= 0, got str '1'",
    ),
    # techniques
    (
        "decay nan",
        lambda: techniques.weight_decay_loss(jnp.ones(2), NAN),
        ValueError,
        r"weight_decay_loss: lambda_ must be finite and >= 0, got nan",
    ),
    (
        "decay inf",
        lambda: techniques.weight_decay_loss(jnp.ones(2), INF),
        ValueError,
        r"lambda_ must be finite and >= 0, got inf",
    ),
    (
        "decay '0.1'",
        lambda: techniques.weight_decay_loss(jnp.ones(2), "0.1"),
        TypeError,
        r"lambda_ must be a real number .*str '0.1'",
    ),
    (
        "bn eps inf",
        lambda: techniques.batch_norm(
            jnp.ones((2, 3)), jnp.ones(3), jnp.zeros(3), None, True, eps=INF
        ),
        ValueError,
        r"batch_norm: eps must be finite and > 0, got inf",
    ),
    (
        "bn eps 0",
        lambda: techniques.batch_norm(
            jnp.ones((2, 3)), jnp.ones(3), jnp.zeros(3), None, True, eps=0.0
        ),
        ValueError,
        r"batch_norm: eps must be > 0, got 0.0",
    ),
    (
        "bn momentum '0.9'",
        lambda: techniques.batch_norm(
            jnp.ones((2, 3)), jnp.ones(3), jnp.zeros(3), None, True, momentum="0.9"
        ),
        TypeError,
        r"batch_norm: momentum must be a real number \(in \[0, 1\]\)",
    ),
    (
        "bn train 1",
        lambda: techniques.batch_norm(jnp.ones((2, 3)), jnp.ones(3), jnp.zeros(3), None, 1),
        TypeError,
        r"batch_norm: train must be a Python bool .*got 1",
    ),
    (
        "bn state 2.0",
        lambda: techniques.batch_norm_state(2.0),
        ValueError,
        r"batch_norm_state: n_features must be an integer >= 1, got 2.0",
    ),
    (
        "dropout train 'no'",
        lambda: techniques.dropout(jnp.ones((2, 3)), None, 0.5, train="no"),
        TypeError,
        r"dropout: train must be a Python bool \(True or False\), got str 'no'",
    ),
    (
        "dropout ratio '0.5'",
        lambda: techniques.dropout(jnp.ones((2, 3)), None, "0.5", train=False),
        TypeError,
        r"dropout: ratio must be a real number .*str '0.5'",
    ),
    (
        "dropout ratio nan",
        lambda: techniques.dropout(jnp.ones((2, 3)), None, NAN, train=False),
        ValueError,
        r"dropout: ratio must be in \[0, 1\), got nan",
    ),
    (
        "dropout key 1.5",
        lambda: techniques.dropout(jnp.ones((2, 3)), 1.5, 0.5),
        TypeError,
        r"dropout: key must be a jax.random key or an integer seed",
    ),
    (
        "mask dtype int",
        lambda: techniques.dropout_mask(jax.random.PRNGKey(0), (2,), 0.5, jnp.int32),
        TypeError,
        r"dropout_mask: dtype must be a floating dtype",
    ),
    # multi_layer_net
    (
        "mln use_batchnorm 'no'",
        lambda: mln.Hyper(use_batchnorm="no"),
        TypeError,
        r"Hyper: use_batchnorm must be a Python bool .*str 'no'",
    ),
    (
        "mln use_dropout 1",
        lambda: mln.Hyper(use_dropout=1),
        TypeError,
        r"Hyper: use_dropout must be a Python bool .*got 1",
    ),
    (
        "mln hidden 50.0",
        lambda: mln.Hyper(hidden_size_list=(50.0,)),
        ValueError,
        r"layer sizes must be positive integers: "
        r"hidden_size_list\[0\] must be an integer >= 1, got 50.0",
    ),
    (
        "mln hidden 50",
        lambda: mln.Hyper(hidden_size_list=50),
        TypeError,
        r"Hyper: hidden_size_list must be a tuple or list",
    ),
    (
        "mln lambda nan",
        lambda: mln.Hyper(weight_decay_lambda=NAN),
        ValueError,
        r"Hyper: weight_decay_lambda must be finite and >= 0, got nan",
    ),
    (
        "mln ratio '0.5'",
        lambda: mln.Hyper(dropout_ratio="0.5"),
        TypeError,
        r"Hyper: dropout_ratio must be a real number",
    ),
    (
        "mln key np.float64",
        lambda: mln.init_params(np.float64(1), MLN),
        TypeError,
        r"init_params: key must be a jax.random key or an integer seed",
    ),
    (
        "mln dtype int",
        lambda: mln.init_params(0, MLN, dtype=jnp.int32),
        TypeError,
        r"init_params: dtype must be a floating dtype",
    ),
    (
        "mln train 'yes'",
        lambda: mln.forward(_mln(), jnp.ones((2, 6)), hyper=MLN, train="yes"),
        TypeError,
        r"forward: train must be a Python bool",
    ),
    (
        "mln list params",
        lambda: mln.predict(_listed(_mln()), jnp.ones((2, 6)), hyper=MLN),
        TypeError,
        r"multi_layer_net: params\['W1'\] must be a floating-point array, got list",
    ),
    (
        "mln one image, t (1,)",
        lambda: mln.gradient(_mln(), jnp.ones(6), jnp.array([1]), hyper=MLN),
        ValueError,
        r"integer labels t must have shape \(\) for logits of shape \(3,\), got \(1,\)",
    ),
    # two_layer_net
    (
        "tln hidden 50.0",
        lambda: tln.init_params(0, 4, 50.0, 2),
        ValueError,
        r"init_params: hidden_size must be an integer >= 1, got 50.0",
    ),
    (
        "tln input True",
        lambda: tln.init_params(0, True, 3, 2),
        TypeError,
        r"init_params: input_size must be an integer >= 1, got True",
    ),
    (
        "tln key 2**64",
        lambda: tln.init_params(2**64, 4, 3, 2),
        ValueError,
        r"init_params: key must be a jax.random key or an integer seed in \[0, 2\*\*32\), "
        r"got 18446744073709551616",
    ),
    (
        "tln key -1",
        lambda: tln.init_params(-1, 4, 3, 2),
        ValueError,
        r"init_params: key must be .* in \[0, 2\*\*32\), got -1",
    ),
    (
        "tln key np.int64 2**40",
        lambda: tln.init_params(np.int64(2**40), 4, 3, 2),
        ValueError,
        r"integer seed in \[0, 2\*\*32\), got 1099511627776",
    ),
    (
        "tln key '0'",
        lambda: tln.init_params("0", 4, 3, 2),
        TypeError,
        r"init_params: key must be a jax.random key .*got str '0'",
    ),
    (
        "tln key float array",
        lambda: tln.init_params(jnp.ones(2), 4, 3, 2),
        TypeError,
        r"init_params: key must be a jax.random key .*shape \(2,\) and dtype float32",
    ),
    (
        "tln std nan",
        lambda: tln.init_params(0, 4, 3, 2, weight_init_std=NAN),
        ValueError,
        r"init_params: weight_init_std must be finite and > 0, got nan",
    ),
    (
        "tln dtype int",
        lambda: tln.init_params(0, 4, 3, 2, dtype=jnp.int32),
        TypeError,
        r"init_params: dtype must be a floating dtype",
    ),
    (
        "tln list params",
        lambda: tln.accuracy(_listed(_tln()), jnp.ones((2, 4)), jnp.array([0, 1])),
        TypeError,
        r"two_layer_net: params\['W1'\] must be a floating-point array, got list",
    ),
    (
        "tln h '1e-4'",
        lambda: tln.numerical_gradient(_tln(), jnp.ones((2, 4)), jnp.array([0, 1]), h="1e-4"),
        TypeError,
        r"numerical_gradient: h must be a real number .*str '1e-4'",
    ),
    # simple_conv_net's functions
    (
        "scn accuracy batch 0",
        lambda: scn.accuracy(_scn(), jnp.ones((2, 64)), jnp.array([0, 1]), hyper=SCN, batch_size=0),
        ValueError,
        r"accuracy: batch_size must be an integer >= 1, got 0",
    ),
    (
        "scn accuracy batch 2.5",
        lambda: scn.accuracy(
            _scn(), jnp.ones((2, 64)), jnp.array([0, 1]), hyper=SCN, batch_size=2.5
        ),
        ValueError,
        r"accuracy: batch_size must be an integer >= 1, got 2.5",
    ),
    (
        "scn one image",
        lambda: scn.loss(_scn(), jnp.ones(64), jnp.zeros(64, jnp.int32), hyper=SCN),
        ValueError,
        r"x must be \(N, 64\) or \(N, 1, 8, 8\), got \(64,\) \(one image: pass x\[None\]",
    ),
    (
        "scn list params",
        lambda: scn.predict(_listed(_scn()), jnp.ones((2, 64)), hyper=SCN),
        TypeError,
        r"simple_conv_net: params\['W1'\] must be a floating-point array, got list",
    ),
    (
        "scn train 'no'",
        lambda: scn.forward(_scn(), jnp.ones((2, 64)), hyper=SCN, train="no"),
        TypeError,
        r"forward: train must be a Python bool",
    ),
    (
        "scn h 0",
        lambda: scn.numerical_gradient(
            _scn(), jnp.ones((2, 64)), jnp.array([0, 1]), hyper=SCN, h=0.0
        ),
        ValueError,
        r"numerical_gradient: h must be finite and > 0",
    ),
    (
        "scn key np.float32",
        lambda: scn.init_params(np.float32(0), SCN),
        TypeError,
        r"init_params: key must be a jax.random key",
    ),
    # numerical / layers
    (
        "numgrad empty",
        lambda: numerical.numerical_gradient(jnp.sum, jnp.ones(0)),
        ValueError,
        r"numerical_gradient: x has no entries to differentiate \(size 0, shape \(0,\)\)",
    ),
    (
        "numgrad vector f",
        lambda: numerical.numerical_gradient(lambda v: v**2, jnp.ones(3)),
        ValueError,
        r"numerical_gradient: f must return a scalar \(the loss\), got shape \(3,\)",
    ),
    (
        "numgrad batch 0",
        lambda: numerical.numerical_gradient(jnp.sum, jnp.ones(3), batch_size=0),
        ValueError,
        r"numerical_gradient: batch_size must be an integer >= 1, got 0",
    ),
    (
        "swl 0 classes",
        lambda: layers.softmax_with_loss(jnp.ones((2, 0)), jnp.array([0, 0])),
        ValueError,
        r"softmax_with_loss: x of shape \(2, 0\) has no classes",
    ),
    (
        "swl 0 classes one-hot",
        lambda: layers.softmax_with_loss(jnp.ones((2, 0)), jnp.ones((2, 0))),
        ValueError,
        r"softmax_with_loss: x of shape \(2, 0\) has no classes",
    ),
    (
        "cee 0 classes",
        lambda: layers.cross_entropy_error(jnp.ones((2, 0)), jnp.ones((2, 0))),
        ValueError,
        r"cross_entropy_error: x of shape \(2, 0\) has no classes",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_argument_is_refused_with_one_clear_error(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    assert type(info.value) is error  # not a subclass that happens to carry the words


# ---- the helpers: what passes, unchanged ---------------------------------------------
def test_checks_accept_numpy_scalars_and_return_them_unchanged():
    assert integer("f", "n", np.int64(3), low=1) == 3 and type(integer("f", "n", np.int8(3))) is int
    assert boolean("f", "b", np.bool_(True)) is True
    for v in (0.5, np.float32(0.5), np.float64(0.5), jnp.float32(0.5), 0):
        assert real("f", "r", v, low=0, high=1) is v


def test_integer_seeds_of_numpy_types_give_the_same_params_as_python_ints():
    for seed in (0, 7, 2**32 - 1):
        want = tln.init_params(seed, 4, 3, 2)
        for same in (np.int64(seed), np.uint32(seed), prng_key("f", seed)):
            got = tln.init_params(same, 4, 3, 2)
            assert all(np.array_equal(got[k], want[k]) for k in want)
    typed = jax.random.key(3)
    assert np.array_equal(
        mln.init_params(typed, MLN)["W1"], mln.init_params(jax.random.key_data(typed), MLN)["W1"]
    )


# ---- trace time only: jit and vmap still work ------------------------------------------
def test_checks_run_at_trace_time_and_leave_jit_and_vmap_working():
    x = jnp.arange(2 * 6.0).reshape(2, 6)
    key = jax.random.PRNGKey(0)

    @jax.jit
    def traced(x, ratio, lam, key):
        out = techniques.dropout(x, key, ratio)  # a traced ratio and key pass
        return jnp.sum(out) + techniques.weight_decay_loss(x, lam)

    eager = techniques.dropout(x, key, 0.25).sum() + techniques.weight_decay_loss(x, 0.1)
    assert np.allclose(traced(x, 0.25, 0.1, key), eager)
    pooled = jax.vmap(lambda im: conv.max_pooling(im[None], 2, 2, stride=2)[0])(X4 * 2)
    assert pooled.shape == (1, 1, 2, 2)
    loss, _ = jax.jit(mln.train_loss, static_argnums=5)(_mln(), {}, x, jnp.array([0, 2]), None, MLN)
    assert np.isfinite(loss)
    with pytest.raises(TypeError, match="train must be a Python bool .*traced"):
        jax.jit(lambda t: techniques.dropout(x, key, 0.5, train=t))(True)


def test_one_image_with_one_label_is_still_one_sample():
    p, x = _mln(), jnp.linspace(-1, 1, 6)
    single = mln.gradient(p, x, jnp.array(2), hyper=MLN)
    batch = mln.gradient(p, x[None], jnp.array([2]), hyper=MLN)
    assert all(np.allclose(single[k], batch[k]) for k in p)


# ---- exact accuracy ------------------------------------------------------------------
def _labels(hits, n, classes, rng):
    """``n`` labels of which exactly ``hits`` are the class every sample predicts (0)."""
    t = np.concatenate([np.zeros(hits, np.int32), rng.integers(1, classes, n - hits)])
    return jnp.asarray(rng.permutation(t).astype(np.int32))


def test_accuracies_are_exact_fractions_in_the_inputs_dtype_under_x64():
    rng = np.random.default_rng(0)
    with numerical.enable_x64():
        nets = {
            "two_layer_net": (tln.init_params(0, 4, 3, 2, dtype=jnp.float64), 4, 2, {}),
            "multi_layer_net": (mln.init_params(0, MLN, dtype=jnp.float64), 6, 3, {"hyper": MLN}),
            "simple_conv_net": (scn.init_params(0, SCN, jnp.float64), 64, 4, {"hyper": SCN}),
        }
        module = {"two_layer_net": tln, "multi_layer_net": mln, "simple_conv_net": scn}
        for name, (p, d, classes, kw) in nets.items():
            last = "b3" if name == "simple_conv_net" else "b2"  # the last bias
            p = dict(p, **{last: jnp.zeros(classes, jnp.float64).at[0].set(1.0)})
            for hits, n in ((331, 400), (1, 3), (7, 10)):
                t = _labels(hits, n, classes, rng)
                acc = module[name].accuracy(p, jnp.zeros((n, d), jnp.float64), t, **kw)
                assert float(acc) == hits / n, (name, float(acc), hits / n)
                if name != "multi_layer_net":  # that one returns a Python float
                    assert acc.dtype == jnp.float64
        p32 = tln.init_params(0, 4, 3, 2)
        p32["b2"] = jnp.array([1.0, 0.0])
        acc32 = tln.accuracy(p32, jnp.zeros((400, 4), jnp.float32), _labels(331, 400, 2, rng))
        assert acc32.dtype == jnp.float32 and float(acc32) == float(np.float32(331) / 400)


def test_fraction_correct_of_one_sample():
    assert float(labels.fraction_correct(jnp.array([0.2, 0.8]), jnp.array(1))) == 1.0


# ---- the derivations -----------------------------------------------------------------
def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("``", "")).strip()


def test_derivations_are_stated_in_the_docstrings_where_the_rules_are():
    where = {
        "dout": layers.__doc__,
        "affine": layers.affine.__doc__,
        "softmax_with_loss": layers.softmax_with_loss.__doc__,
        "col2im": im2col.col2im.__doc__,
    }
    assert set(layers.DERIVATIONS) == set(where)
    for name, doc in where.items():
        assert _words(layers.DERIVATIONS[name]) in _words(doc), name
    assert im2col.DERIVATION == layers.DERIVATIONS["col2im"]
    assert (
        "x^T dout" in layers.DERIVATIONS["affine"]
        and "(y - t) / N" in layers.DERIVATIONS["softmax_with_loss"]
    )
