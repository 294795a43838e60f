"""jaxbp.trace: a function's graph as plain data, run one operation at a time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import two_layer_net
from jaxbp.trace import Graph, trace


def step(x):
    """Three operations (sin, * 0.01, +) whose derivative, 1 + 0.01 cos(x), stays near 1."""
    return x + 0.01 * jnp.sin(x)


def chain(n: int):
    def f(x):
        for _ in range(n):
            x = step(x)
        return x

    return f


def test_a_300_operation_chain_has_jax_grads_on_its_edges():
    """Each step's output node has d out / d x_k upstream: jax.grad of the rest of the chain;
    its two edges (into sin and into +) carry each branch's share (5.2.1)."""
    n = 100
    graph = trace(chain(n), jnp.float32(0.5))
    ops = [node for node in graph.nodes if node.kind == "op"]
    assert [node.label for node in ops[:3]] == ["sin", "×", "+"] and len(ops) == 3 * n
    x = jnp.float32(0.5)
    for k in range(n):
        node = ops[3 * k - 1].id if k else "in0"  # the node whose value is x_k
        (value,) = {float(e.value) for e in graph.leaving(node)}
        assert value == pytest.approx(float(x), rel=1e-6)
        if k % 7 == 0:
            want = float(jax.grad(chain(n - k))(x))
            assert 1 < want < 10  # far from 0: the comparison means something
            assert float(graph.upstream(node)) == pytest.approx(want, rel=1e-5), k
            shares = sorted(float(e.grad) for e in graph.leaving(node))
            assert shares[1] == pytest.approx(want / (1 + 0.01 * np.cos(float(x))), rel=1e-5)
        x = step(x)


def test_two_layer_net_upstream_of_each_parameter_is_its_gradient():
    params = two_layer_net.init_params(0, 6, 4, 3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 6))
    t = jnp.arange(5) % 3
    graph = trace(two_layer_net.loss, params, x, t)
    grads = two_layer_net.gradient(params, x, t)
    names = {n.label: n.id for n in graph.nodes if n.kind == "input"}
    for key in two_layer_net.PARAM_KEYS:
        np.testing.assert_allclose(graph.upstream(names[f"params.{key}"]), grads[key], rtol=1e-5)
    assert graph.upstream(names["t"]) is None  # integer labels: no derivative


def test_the_graph_is_indexed():
    graph = trace(lambda a, b: a * b + a, 2.0, 3.0)
    assert isinstance(graph, Graph)
    assert [e.port for e in graph.into("op1")] == [0, 1]
    assert len(graph.leaving("in0")) == 2  # a is used twice: one edge per use (5.2.1)
    assert float(graph.upstream("in0")) == pytest.approx(4.0)  # b + 1
    assert graph.node("in1").label == "b"


def test_max_nodes_refuses_before_computing_anything():
    calls = []

    def f(x):
        calls.append(1)
        return chain(17)(x)

    with pytest.raises(ValueError, match="trace: f's graph has 70 nodes, more than max_nodes=40"):
        trace(f, 0.5, max_nodes=40)
    assert len(calls) == 1  # traced once to count its nodes; no value computed after


def test_argnames_are_checked_with_the_callers_name():
    with pytest.raises(TypeError, match=r"draw: argnames must be strings, one per argument"):
        trace(lambda a, b: a * b, 2.0, 3.0, argnames=["a", 2], who="draw")
