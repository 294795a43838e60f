"""Chapter 6: MultiLayerNetExtend, the gradient check three ways plus the book's class."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from book_numpy import ch6 as book

from jaxbp import multi_layer_net as m
from jaxbp import optimizer, reference
from jaxbp.gradient import enable_x64
from jaxbp.weight_init import init_std

SMALL = dict(input_size=12, hidden_size_list=(6, 5), output_size=4)
CONFIGS = {  # between them: batch norm, dropout with a fixed key, weight decay, both activations
    "batchnorm, weight decay": m.Hyper(**SMALL, use_batchnorm=True, weight_decay_lambda=0.1),
    "all, sigmoid": m.Hyper(
        **SMALL,
        activation="sigmoid",
        weight_init_std="xavier",
        use_batchnorm=True,
        use_dropout=True,
        dropout_ratio=0.2,
        weight_decay_lambda=0.05,
    ),
    "dropout": m.Hyper(**SMALL, use_dropout=True, dropout_ratio=0.3),
}


def reference_loss(params, x, t, hyper, key):
    """The same network from the plain-jnp twins (JAX's own derivative rules)."""
    n = len(hyper.hidden_size_list)
    keys = jax.random.split(key, n)
    act = reference.relu if hyper.activation == "relu" else reference.sigmoid
    h = x
    for i in range(1, n + 1):
        h = reference.affine(h, params[f"W{i}"], params[f"b{i}"])
        if hyper.use_batchnorm:
            h, _ = reference.batch_norm(h, params[f"gamma{i}"], params[f"beta{i}"], None, True)
        h = act(h)
        if hyper.use_dropout:
            h = reference.dropout(h, keys[i - 1], hyper.dropout_ratio, True)
    logits = reference.affine(h, params[f"W{n + 1}"], params[f"b{n + 1}"])
    weights = [params[f"W{i}"] for i in range(1, n + 2)]
    return reference.softmax_with_loss(logits, t) + reference.weight_decay_loss(
        weights, hyper.weight_decay_lambda
    )


def book_network(params, x, hyper, key):
    """The book's class on the same weights, its Dropout fed our uniforms."""
    n = len(hyper.hidden_size_list)
    rands = [
        np.asarray(jax.random.uniform(k, (x.shape[0], d), jnp.float64))
        for k, d in zip(jax.random.split(key, n), hyper.hidden_size_list)
    ]
    return book.MultiLayerNetExtend(
        hyper.input_size,
        list(hyper.hidden_size_list),
        hyper.output_size,
        hyper.activation,
        hyper.weight_decay_lambda,
        hyper.use_dropout,
        hyper.dropout_ratio,
        hyper.use_batchnorm,
        params={k: np.asarray(v) for k, v in params.items()},
        dropout_rands=rands,
    )


def setup(hyper, seed=0, batch=5, dtype=jnp.float64):
    """float64 params (biases, gamma, beta moved off 0/1), pixel-like x, labels."""
    rng = np.random.default_rng(seed)
    params = m.init_params(seed, hyper, dtype=dtype)
    params = {
        k: v + (0.1 * rng.normal(size=v.shape).astype(dtype) if k[0] in "bg" else 0)
        for k, v in params.items()
    }
    x = jnp.asarray(rng.random(size=(batch, hyper.input_size)), dtype)
    t = jnp.asarray(rng.integers(0, hyper.output_size, size=batch), jnp.int32)
    return params, x, t, jax.random.PRNGKey(seed + 1)


@functools.partial(jax.jit, static_argnums=4)
def three_gradients(params, x, t, key, hyper):
    """(a) our rules, (b) jax.grad of the twins, (c) central differences (h = 1e-5)."""
    return {
        "backprop": m.gradient(params, x, t, None, hyper, key=key),
        "reference": jax.grad(reference_loss)(params, x, t, hyper, key),
        "numerical": m.numerical_gradient(params, x, t, None, hyper, key=key, h=1e-5),
    }


def mean_abs(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_check_three_ways_and_the_books_class(name):
    """Run with -s for the table: mean |difference| per parameter, float64, 5 inputs.

    Central differences use h = 1e-5: with batch norm over 5 samples the
    O(h^2) truncation error at the book's h = 1e-4 is up to ~1e-9 (W1).
    """
    hyper = CONFIGS[name]
    with enable_x64():
        params, x, t, key = setup(hyper)
        grads = three_gradients(params, x, t, key, hyper)
        net = book_network(params, x, hyper, key)
    grads["book"] = net.gradient(np.asarray(x), np.asarray(t))
    pairs = [
        ("backprop", "reference"),
        ("backprop", "numerical"),
        ("reference", "numerical"),
        ("backprop", "book"),
    ]
    print(
        f"\n{name}, float64, 5 inputs, mean |difference|:\n  {'':7s}"
        + "".join(f"{p + '-' + q:>20s}" for p, q in pairs)
    )
    for k in params:
        row = [mean_abs(grads[p][k], grads[q][k]) for p, q in pairs]
        print(f"  {k:7s}" + "".join(f"{d:20.1e}" for d in row))
        assert row[0] <= 1e-12 and row[3] <= 1e-12, (k, row)
        assert row[1] <= 1e-9 and row[2] <= 1e-9, (k, row)
        assert (
            max(
                float(np.max(np.abs(np.asarray(grads[p][k]) - grads["book"][k])))
                for p in ("backprop", "reference")
            )
            <= 1e-12
        )
    assert float(np.max(np.abs(grads["backprop"]["W1"]))) > 1e-3  # a real gradient


def test_init_params_is_the_books():
    assert m.Hyper() == m.Hyper(
        784, (100, 100, 100, 100), 10, "relu", "relu", 0.0, False, 0.5, False
    )
    hyper = m.Hyper(hidden_size_list=[100, 50], use_batchnorm=True)
    assert hyper.hidden_size_list == (100, 50) and hash(hyper) == hash(dataclasses.replace(hyper))
    p = m.init_params(jax.random.PRNGKey(0), hyper)
    assert {k: v.shape for k, v in p.items()} == {
        "W1": (784, 100),
        "b1": (100,),
        "gamma1": (100,),
        "beta1": (100,),
        "W2": (100, 50),
        "b2": (50,),
        "gamma2": (50,),
        "beta2": (50,),
        "W3": (50, 10),
        "b3": (10,),
    }
    assert all(not np.asarray(p[k]).any() for k in ("b1", "beta1", "b3"))
    assert np.all(np.asarray(p["gamma2"]) == 1)
    for init, scale in (("relu", 2.0), ("He", 2.0), ("sigmoid", 1.0), ("xavier", 1.0)):
        W1 = np.asarray(m.init_params(1, hyper, weight_init_std=init)["W1"])
        np.testing.assert_allclose(W1.std(), np.sqrt(scale / 784), rtol=0.02)
    W2 = np.asarray(m.init_params(1, hyper, weight_init_std=0.01)["W2"])
    np.testing.assert_allclose(W2.std(), 0.01, rtol=0.05)
    state = m.init_state(p)
    assert set(state) == {"BatchNorm1", "BatchNorm2"} and state["BatchNorm2"][
        "running_var"
    ].shape == (50,)
    assert not np.asarray(state["BatchNorm1"]["running_mean"]).any()
    assert m.init_state(m.init_params(0, m.Hyper(**SMALL))) == {}


def test_train_loss_threads_state_like_the_book():
    hyper = CONFIGS["all, sigmoid"]
    with enable_x64():
        params, x, t, key = setup(hyper, seed=3)
        assert "custom_vjp_call" in str(
            jax.make_jaxpr(jax.grad(lambda p: m.train_loss(p, None, x, t, key, hyper)[0]))(params)
        )
        step = jax.jit(m.train_loss, static_argnums=5)
        value, state = step(params, m.init_state(params), x, t, key, hyper)
        net = book_network(params, x, hyper, key)
        book_value = net.loss(np.asarray(x), np.asarray(t), train_flg=True)
        np.testing.assert_allclose(value, book_value, rtol=1e-6)  # the book adds 1e-7 in log
        for i in (1, 2):
            layer = net.layers[f"BatchNorm{i}"]
            np.testing.assert_allclose(
                state[f"BatchNorm{i}"]["running_mean"], layer.running_mean, rtol=1e-12
            )
            np.testing.assert_allclose(
                state[f"BatchNorm{i}"]["running_var"], layer.running_var, rtol=1e-12
            )
        logits = jax.jit(m.predict, static_argnums=3)(params, x, state, hyper)  # running stats
        np.testing.assert_allclose(logits, net.predict(np.asarray(x), train_flg=False), rtol=1e-10)
        acc = m.accuracy(params, x, t, state, hyper)
        assert isinstance(acc, float) and acc == int(np.sum(np.argmax(logits, 1) == t)) / len(t)


def test_a_few_adam_steps_learn():
    """The trainer's pattern: value_and_grad of train_loss, an optax update, jitted."""
    hyper = m.Hyper(
        **SMALL, use_batchnorm=True, use_dropout=True, dropout_ratio=0.1, weight_decay_lambda=1e-3
    )
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((64, 12)), jnp.float32)
    t = jnp.asarray(np.argmax(np.asarray(x)[:, :4], 1), jnp.int32)
    params = m.init_params(jax.random.PRNGKey(0), hyper)
    state, tx = m.init_state(params), optimizer.get("adam", 0.01)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, state, opt_state, key):
        (loss, state), grads = jax.value_and_grad(m.train_loss, has_aux=True)(
            params, state, x, t, key, hyper
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    losses = []
    for i in range(60):
        params, state, opt_state, loss = step(params, state, opt_state, jax.random.PRNGKey(i))
        losses.append(float(loss))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    assert m.accuracy(params, x, t, state, hyper) > 0.5


def test_bad_input_errors_name_the_problem():
    hyper = CONFIGS["all, sigmoid"]
    params, x, t, key = setup(hyper, dtype=jnp.float32)
    with pytest.raises(ValueError, match=r"params do not fit.*'W1': \(12, 6\)"):
        m.predict(params, x, None, dataclasses.replace(hyper, hidden_size_list=(7, 5)))
    with pytest.raises(ValueError, match="use_dropout needs a jax.random key"):
        m.loss(params, x, t, None, hyper, train=True)
    with pytest.raises(ValueError, match=r"state must have keys \['BatchNorm1', 'BatchNorm2'\]"):
        m.predict(params, x, {"BatchNorm1": {}}, hyper)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\]"):
        m.loss(params, x, jnp.array([0, 1, 2, 3, 4]), None, hyper)
    with pytest.raises(ValueError, match=r"x of shape \(5, 11\) has 11 features"):
        m.predict(params, x[:, :11], None, hyper)
    with pytest.raises(ValueError, match="activation must be 'relu' or 'sigmoid', got 'tanh'"):
        m.Hyper(activation="tanh")
    with pytest.raises(ValueError, match="unknown weight_init_std 'glorot'"):
        m.Hyper(weight_init_std="glorot")
    with pytest.raises(ValueError, match=r"dropout_ratio must be in \[0, 1\), got 1.0"):
        m.Hyper(dropout_ratio=1.0)
    with pytest.raises(ValueError, match="layer sizes must be positive integers"):
        m.Hyper(hidden_size_list=[100, 0])
    with pytest.raises(TypeError, match="hyper must be a multi_layer_net.Hyper"):
        m.init_params(0, {"input_size": 3})


def test_init_std_is_the_books_table():
    assert init_std("relu", 50) == init_std("He", 50) == np.sqrt(2 / 50)
    assert init_std("sigmoid", 50) == init_std("XAVIER", 50) == np.sqrt(1 / 50)
    assert init_std(0.01, 50) == 0.01 and init_std(np.float32(0.5), 3) == 0.5
    with pytest.raises(
        ValueError,
        match="unknown weight_init_std 'lecun'; use one of 'relu', 'he', "
        "'sigmoid', 'xavier' or a number",
    ):
        init_std("lecun", 50)
    with pytest.raises(ValueError, match="positive and finite, got -0.1"):
        init_std(-0.1, 50)
    with pytest.raises(ValueError, match="n_in must be a positive integer, got 0"):
        init_std("he", 0)
    with pytest.raises(TypeError, match="a name or a number, got NoneType"):
        init_std(None, 5)
