"""7.5: SimpleConvNet, the gradient check three ways (and the book's NumPy net), training."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from book_numpy import ch7 as book
from rule_checks import scaled_rule

from jaxbp import conv, reference
from jaxbp import simple_conv_net as net
from jaxbp.gradient import enable_x64

SMALL = net.Hyper(filter_num=3, hidden_size=10)  # W2 is 432 x 10: a fast check


def twin_loss(params, x, t, hyper):
    """The same network from the plain-jnp twins (JAX's own rules)."""
    h = reference.relu(
        reference.convolution(
            x.reshape(-1, *hyper.input_dim), params["W1"], params["b1"], hyper.stride, hyper.pad
        )
    )
    h = reference.max_pooling(h, 2, 2, 2)
    h = reference.relu(reference.affine(h, params["W2"], params["b2"]))
    return reference.softmax_with_loss(reference.affine(h, params["W3"], params["b3"]), t)


def float64_params(seed, hyper, std=0.1, bias_std=0.1):
    """Weights of scale ``std`` and nonzero biases: away from ReLU's kink at exactly 0."""
    rng = np.random.default_rng(seed)
    p = net.init_params(seed, dataclasses.replace(hyper, weight_init_std=std), jnp.float64)
    return {
        k: v + (bias_std * jnp.asarray(rng.normal(size=v.shape)) if k[0] == "b" else 0)
        for k, v in p.items()
    }


def three_way(params, x, t, hyper):
    """Mean |difference| per key: backprop vs jax.grad of the twin vs central differences.

    h = 1e-6: the loss has kinks (ReLU at 0, a pooling window whose two largest
    entries are equal), and a step that crosses one gives a difference
    quotient off by up to 1e-3; with h = 1e-4 or 1e-5 a few of the 5184 ReLUs
    and windows of three images lie that close for some seeds, with 1e-6
    none did for seeds 0-5 (MNIST and random), and float64 rounding
    (eps * L / h) stays near 1e-10.
    """
    grads = {
        "backprop": net.gradient(params, x, t, hyper=hyper),
        "reference": jax.jit(jax.grad(twin_loss), static_argnums=3)(params, x, t, hyper),
        "numerical": net.numerical_gradient(params, x, t, hyper=hyper, h=1e-6),
    }
    pairs = [("backprop", "reference"), ("backprop", "numerical"), ("reference", "numerical")]
    return grads, {
        k: {f"{a}-{b}": float(jnp.mean(jnp.abs(grads[a][k] - grads[b][k]))) for a, b in pairs}
        for k in params
    }


def assert_three_way(table):
    for key, row in table.items():
        assert row["backprop-reference"] <= 1e-12, (key, row)
        assert row["backprop-numerical"] <= 1e-9, (key, row)
        assert row["reference-numerical"] <= 1e-9, (key, row)


def test_init_params_and_interface_are_the_books():
    p = net.init_params(jax.random.PRNGKey(0))
    assert {k: v.shape for k, v in p.items()} == {
        "W1": (30, 1, 5, 5),
        "b1": (30,),
        "W2": (4320, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert all(v.dtype == jnp.float32 for v in p.values())
    assert not any(p[k].any() for k in ("b1", "b2", "b3"))
    assert 0.009 < float(jnp.std(p["W2"])) < 0.011
    assert net.init_state(p) == {}
    assert net.Hyper(input_dim=(1, 29, 29)).pool_output_size == 30 * 12 * 12  # odd conv output
    assert net.TRAIN_DEFAULTS == {
        "optimizer": "adam",
        "lr": 0.001,
        "iters": 12000,
        "batch_size": 100,
    }
    x, small = jax.random.uniform(jax.random.PRNGKey(1), (3, 784)), net.init_params(0, SMALL)
    logits, state = jax.jit(net.forward, static_argnames="hyper")(small, x, hyper=SMALL)
    assert logits.shape == (3, 10) and state == {}
    np.testing.assert_allclose(
        net.predict(small, x.reshape(3, 1, 28, 28), hyper=SMALL), logits, rtol=1e-6
    )


@pytest.mark.parametrize("forward", conv.FORWARDS)
def test_gradient_three_ways_and_the_books_numpy_net(forward):
    """Float64, reduced Hyper, 3 random images: also equal to the book's SimpleConvNet,
    with Conv1's output computed either way (``Hyper.conv_forward``)."""
    rng = np.random.default_rng(0)
    hyper = dataclasses.replace(SMALL, conv_forward=forward)
    with enable_x64():
        params = float64_params(0, hyper)
        x, t = jnp.asarray(rng.random((3, 784))), jnp.array([1, 5, 7])
        grads, table = three_way(params, x, t, hyper)
        assert_three_way(table)
        book_net = book.SimpleConvNet(
            conv_param={"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 1}, hidden_size=10
        )
        for i, name in enumerate(["Conv1", "Affine1", "Affine2"], start=1):
            book_net.layers[name].W = book_net.params[f"W{i}"] = np.asarray(params[f"W{i}"])
            book_net.layers[name].b = book_net.params[f"b{i}"] = np.asarray(params[f"b{i}"])
        book_grads = book_net.gradient(np.asarray(x).reshape(3, 1, 28, 28), np.asarray(t))
        for k in params:
            assert float(jnp.max(jnp.abs(grads["backprop"][k] - book_grads[k]))) <= 1e-12, k
        # the same forward pass; the book's loss adds 1e-7 inside the log
        y = jax.nn.softmax(net.predict(params, x, hyper=hyper))[jnp.arange(3), t]
        book_loss = book_net.loss(np.asarray(x).reshape(3, 1, 28, 28), np.asarray(t))
        assert abs(float(-jnp.mean(jnp.log(y + 1e-7))) - book_loss) <= 1e-12


def test_gradient_three_ways_on_three_mnist_images(mnist_raw):
    with enable_x64():
        x = jnp.asarray(mnist_raw["x_train"][:3].reshape(3, -1), jnp.float64) / 255
        t = jnp.asarray(mnist_raw["t_train"][:3])
        _, table = three_way(float64_params(1, SMALL), x, t, SMALL)
        assert_three_way(table)


@pytest.mark.parametrize("forward", conv.FORWARDS)
def test_the_rules_differentiate_either_conv_forward(forward):
    """Conv1's output from im2col or from ``lax.conv``: the hand-written rule is what
    ``jax.grad`` runs (scaled by 3, it scales dW1 by 3), and both give the same network
    up to summation order."""
    p, hyper = net.init_params(2, SMALL), dataclasses.replace(SMALL, conv_forward=forward)
    x = jax.random.uniform(jax.random.PRNGKey(3), (7, 784))
    t = jnp.array([0, 1, 2, 3, 4, 5, 6], jnp.int32)
    jaxpr = str(jax.make_jaxpr(lambda p: net.train_loss(p, {}, x, t, None, hyper)[0])(p))
    assert jaxpr.count("custom_vjp_call") == 7  # conv, relu, pool, affine, relu, affine, loss
    good = net.gradient(p, x, t, hyper=hyper)
    with scaled_rule(conv._convolution):  # a wrong conv rule changes only W1, b1
        fresh = lambda p: net.train_loss(p, {}, x, t, None, hyper)[0]  # traced afresh
        bad = jax.jit(jax.grad(fresh))(p)
    assert float(jnp.max(jnp.abs(good["W1"]))) > 0
    np.testing.assert_allclose(bad["W1"], 3 * good["W1"], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(bad["W3"], good["W3"], rtol=1e-5, atol=1e-9)
    book_path = net.gradient(p, x, t, hyper=SMALL)
    for k in p:
        np.testing.assert_allclose(good[k], book_path[k], rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match=r"conv_forward must be one of \['im2col', 'lax'\]"):
        dataclasses.replace(SMALL, conv_forward="fft")


def test_rules_run_train_loss_jits_and_accuracy_chunks():
    p = net.init_params(2, SMALL)
    x = jax.random.uniform(jax.random.PRNGKey(3), (7, 784))
    t = jnp.array([0, 1, 2, 3, 4, 5, 6], jnp.int32)
    step = jax.jit(net.train_loss, static_argnames="hyper")
    value, state = step(p, {}, x, t, jax.random.PRNGKey(0), hyper=SMALL)
    assert state == {}
    np.testing.assert_allclose(value, net.loss(p, x, t, hyper=SMALL), rtol=1e-6)
    logits = net.predict(p, x, hyper=SMALL)
    t = t.at[:3].set(jnp.argmax(logits[:3], -1))  # three right, by construction
    hits = int(jnp.sum(jnp.argmax(logits, -1) == t))
    expected = float(np.float32(hits) / np.float32(len(t)))  # count / N in float32
    assert expected >= 3 / 7
    # 3 chunks of 3 (2 of them padding images), and one chunk of one-hot labels
    assert float(net.accuracy(p, x, t, hyper=SMALL, batch_size=3)) == expected
    one_hot = jax.nn.one_hot(t, 10)
    assert float(net.accuracy(p, x, one_hot, hyper=SMALL)) == expected


def test_bad_input_errors():
    p = net.init_params(0, SMALL)
    x, t = jnp.ones((2, 784)), jnp.array([0, 1])
    with pytest.raises(ValueError, match=r"\(N, 784\) or \(N, 1, 28, 28\), got \(2, 783\)"):
        net.loss(p, jnp.ones((2, 783)), t, hyper=SMALL)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        net.gradient(p, x, jnp.array([0, 10]), hyper=SMALL)
    with pytest.raises(ValueError, match="params must be a dict with keys"):
        net.predict({"W1": p["W1"]}, x, hyper=SMALL)
    with pytest.raises(TypeError, match="bool"):
        net.accuracy(p, x, jnp.array([True, False]), hyper=SMALL)
    with pytest.raises(ValueError, match="leave nothing"):
        net.init_params(0, net.Hyper(input_dim=(1, 5, 5)))


@functools.partial(jax.jit, static_argnums=(3,))
def _adam_steps(params, x_train, t_train, steps, key):
    """``steps`` Adam steps (lr 0.001, batch 100, with replacement) in one fori_loop."""
    opt = optax.adam(1e-3)

    def step(i, carry):
        params, opt_state = carry
        idx = jax.random.randint(jax.random.fold_in(key, i), (100,), 0, x_train.shape[0])
        x = x_train[idx].astype(jnp.float32).reshape(100, -1) / 255
        loss = lambda p: net.train_loss(p, {}, x, t_train[idx], None, net.Hyper())[0]
        grads = jax.grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.lax.fori_loop(0, steps, step, (params, opt.init(params)))[0]


def test_short_training_on_mnist_reaches_90_percent(mnist_raw):
    """The book's 7.5 setting (Adam 0.001, batch 100), 300 steps instead of 12000."""
    params = _adam_steps(
        net.init_params(0),
        jnp.asarray(mnist_raw["x_train"]),
        jnp.asarray(mnist_raw["t_train"], jnp.int32),
        300,
        jax.random.PRNGKey(0),
    )
    x_test = mnist_raw["x_test"].reshape(10000, -1).astype(np.float32) / 255
    acc = float(net.accuracy(params, x_test, mnist_raw["t_test"]))
    assert acc >= 0.9, acc
