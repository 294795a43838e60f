"""5.1-5.4: add and multiply nodes, the apple examples."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import graph
from jaxbp.graph import add, buy_apple, buy_apple_orange, mul


def test_apple_example_book_numbers():
    price, g = jax.value_and_grad(buy_apple, argnums=(0, 1, 2))(100.0, 2.0, 1.1)
    np.testing.assert_allclose(price, 220, rtol=1e-6)
    np.testing.assert_allclose(g, [2.2, 110, 200], rtol=1e-6)
    assert float(buy_apple()) == float(price)  # the defaults are the book's


def test_apple_orange_example_book_numbers():
    price, g = jax.value_and_grad(buy_apple_orange, argnums=range(5))(100.0, 2.0, 150.0, 3.0, 1.1)
    np.testing.assert_allclose(price, 715, rtol=1e-6)
    assert float(buy_apple_orange()) == float(price)
    # book: print(dapple_num, dapple, dorange, dorange_num, dtax) # 110 2.2 3.3 165 650
    np.testing.assert_allclose([g[1], g[0], g[2], g[3], g[4]], [110, 2.2, 3.3, 165, 650], rtol=1e-6)


def test_apple_script_prints_book_numbers(capsys):
    path = pathlib.Path(__file__).parents[1] / "examples" / "ch05" / "buy_apple.py"
    spec = importlib.util.spec_from_file_location("apple", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main()
    out = capsys.readouterr().out
    assert "price: 220" in out and "price: 715" in out
    assert "110 2.2 3.3 165 650" in out
    assert "dTax: 200" in out


def test_mul_rule_swaps_inputs_and_add_passes_through():
    x, y = jnp.array([1.0, -2.0, 3.0]), jnp.array([4.0, 5.0, -6.0])
    dout = jnp.array([0.5, 2.0, -1.0])
    _, vjp = jax.vjp(mul, x, y)
    dx, dy = vjp(dout)
    np.testing.assert_array_equal(dx, dout * y)
    np.testing.assert_array_equal(dy, dout * x)
    _, vjp = jax.vjp(add, x, y)
    dx, dy = vjp(dout)
    np.testing.assert_array_equal(dx, dout)
    np.testing.assert_array_equal(dy, dout)


def test_grad_runs_the_hand_written_rule():
    jaxpr = jax.make_jaxpr(lambda a, b: mul(add(a, b), b))(1.0, 2.0)
    assert str(jaxpr).count("custom_vjp_call") == 2
    # buy_apple_orange is built from the nodes: three mul and one add, each its rule
    jaxpr = str(jax.make_jaxpr(buy_apple_orange)(100.0, 2.0, 150.0, 3.0, 1.1))
    assert jaxpr.count("custom_vjp_call") == 4
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(mul, (1.0, 2.0), (1.0, 0.0))
    # a deliberately wrong rule changes jax.grad's answer
    graph._mul.defvjp(graph._mul_fwd, lambda res, g: (2 * g * res[1], g * res[0]))
    try:
        assert float(jax.grad(mul)(3.0, 5.0)) == 10.0
    finally:
        graph._mul.defvjp(graph._mul_fwd, graph._mul_bwd)
    assert float(jax.grad(mul)(3.0, 5.0)) == 5.0


def test_nodes_reject_broadcasting_and_integers():
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        mul(jnp.ones(3), jnp.ones(2))
    with pytest.raises(TypeError, match="floating"):
        add(jnp.ones(2, jnp.int32), jnp.ones(2, jnp.int32))
