"""Tests of jaxbp.drawing: the chapter-5 graph pictures (figures 5-16, 5-17, 5-19)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import graphviz
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbp import drawing, two_layer_net
from jaxbp.graph import buy_apple, buy_apple_orange, draw, mul

_NODE = re.compile(r'^\s*(\w+) \[label=(?:"([^"]*)"|(\S+?))[ \]]', re.M)
_EDGE = re.compile(
    r"^\s*(\w+) -> (\w+) \[label=<<TABLE[^>]*><TR><TD>([^<]*)</TD></TR>"
    r'(?:<TR><TD><FONT COLOR="red">([^<]*)</FONT></TD></TR>)?',
    re.M,
)


def parse(source):
    """DOT text -> ({node id: label}, [(tail id, head id, forward, backward)])."""
    nodes = {m[1]: m[2] if m[2] is not None else m[3] for m in _NODE.finditer(source)}
    return nodes, [m.groups() for m in _EDGE.finditer(source)]


def test_apple_orange_numbers_on_the_right_edges():
    """Figure 5-17: every forward (black) and backward (red) value."""
    nodes, edges = parse(draw(buy_apple_orange, 100.0, 2.0, 150.0, 3.0, 1.1).source)
    by_tail = {nodes[t]: (h, fwd, bwd) for t, h, fwd, bwd in edges}
    for name, fwd, bwd in [
        ("apple", "100", "2.2"),
        ("apple_num", "2", "110"),
        ("orange", "150", "3.3"),
        ("orange_num", "3", "165"),
        ("tax", "1.1", "650"),
    ]:
        head, f, b = by_tail[name]
        assert nodes[head] == "×" and (f, b) == (fwd, bwd), name
    assert by_tail["apple"][0] == by_tail["apple_num"][0]
    assert by_tail["orange"][0] == by_tail["orange_num"][0] != by_tail["apple"][0]
    (plus,) = [n for n, label in nodes.items() if label == "+"]
    into_plus = sorted((f, b) for t, h, f, b in edges if h == plus)
    assert into_plus == [("200", "1.1"), ("450", "1.1")]
    assert {nodes[t] for t, h, f, b in edges if h == plus} == {"×"}
    (out_edge,) = [e for e in edges if nodes[e[1]] == ""]
    assert out_edge[2:] == ("715", "1")
    assert [(f, b) for t, h, f, b in edges if t == plus and h == by_tail["tax"][0]] == [
        ("650", "1.1")
    ]


def test_apple_figure_5_16():
    nodes, edges = parse(draw(buy_apple, 100.0, 2.0, 1.1).source)
    got = {(nodes[t], nodes[h]): (f, b) for t, h, f, b in edges}
    assert got[("apple", "×")] == ("100", "2.2")
    assert got[("apple_num", "×")] == ("2", "110")
    assert got[("tax", "×")] == ("1.1", "200")
    assert got[("×", "×")] == ("200", "1.1")
    assert got[("×", "")] == ("220", "1")


def test_argnames_override_and_grads_false():
    nodes, edges = parse(
        draw(
            buy_apple_orange,
            100.0,
            2.0,
            150.0,
            3.0,
            1.1,
            grads=False,
            argnames=["a", "n", "o", "m", "t"],
        ).source
    )
    assert {"a", "n", "o", "m", "t"} <= set(nodes.values())
    assert all(b is None for *_, b in edges)


def test_fan_out_shows_each_branch():
    """x * x: each edge gets its own share (3 and 3); together d/dx = 6."""
    nodes, edges = parse(draw(lambda x: mul(x, x), 3.0).source)
    assert sorted((f, b) for t, h, f, b in edges if nodes[t] == "x") == [("3", "3")] * 2


def test_plain_jnp_sigmoid_figure_5_19():
    nodes, edges = parse(draw(lambda x: 1 / (1 + jnp.exp(-x)), 1.0).source)
    assert {"−", "exp", "+", "/"} <= set(nodes.values())
    into_x = [b for t, h, f, b in edges if nodes[t] == "x"]
    y = 1 / (1 + np.exp(-1.0))
    assert float(into_x[0]) == pytest.approx(y * (1 - y), rel=1e-5)  # eq. 5.12


def test_two_layer_net_arrays_with_shapes_and_gradient_norms():
    params = two_layer_net.init_params(0, 784, 50, 10)
    x = jax.random.uniform(jax.random.PRNGKey(1), (100, 784))
    t = jnp.arange(100) % 10
    nodes, edges = parse(draw(two_layer_net.loss, params, x, t).source)
    labels = sorted(label for n, label in nodes.items() if n.startswith("op"))
    assert labels == ["affine", "affine", "relu", "softmax_with_loss"]
    chain = {(nodes[t_], nodes[h]): (f, b) for t_, h, f, b in edges}
    assert chain[("affine", "relu")][0] == "(100, 50) float32"
    assert chain[("relu", "affine")][0] == "(100, 50) float32"
    assert chain[("affine", "softmax_with_loss")][0] == "(100, 10) float32"
    assert chain[("t", "softmax_with_loss")] == ("(100,) int32", None)
    assert chain[("params.W1", "affine")][0] == "(784, 50) float32"
    grads = two_layer_net.gradient(params, x, t)
    for k in two_layer_net.PARAM_KEYS:
        bwd = chain[(f"params.{k}", "affine")][1]
        assert bwd.startswith("‖·‖=")
        assert float(bwd[4:]) == pytest.approx(float(jnp.linalg.norm(grads[k])), rel=1e-4)


def test_non_scalar_output_needs_grads_false():
    with pytest.raises(ValueError, match="scalar"):
        draw(lambda x: mul(x, x), jnp.ones(3))
    nodes, edges = parse(draw(lambda x: mul(x, x), jnp.ones(3), grads=False).source)
    assert ("(3,) float32", None) in [(f, b) for *_, f, b in edges]


@pytest.mark.needs_dot
def test_render_svg_and_png(tmp_path):
    d = draw(buy_apple_orange, 100.0, 2.0, 150.0, 3.0, 1.1, filename=tmp_path / "ao")
    svg, png = d.files
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    for number in ("715", "650", "165", "3.3", "2.2", "110", "apple_num"):
        assert f">{number}<" in text
    assert "<svg" in d._repr_svg_()


def test_missing_dot_gives_install_hint(tmp_path, monkeypatch):
    d = draw(buy_apple_orange, 100.0, 2.0, 150.0, 3.0, 1.1)  # DOT text needs no dot
    assert "715" in d.source
    monkeypatch.setattr(drawing.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        d.render(tmp_path / "x")
    with pytest.raises(RuntimeError, match="brew install graphviz"):
        draw(buy_apple_orange, 100.0, 2.0, 150.0, 3.0, 1.1, filename=tmp_path / "y")
    # dot found by which() but not runnable: graphviz's own error is translated too
    monkeypatch.setattr(drawing.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="conda install graphviz") as e:
        d.pipe("svg")
    assert isinstance(e.value.__cause__, graphviz.ExecutableNotFound)


@pytest.mark.needs_dot
def test_experiment_script_writes_all_figures(tmp_path):
    path = Path(__file__).parents[1] / "examples" / "ch05" / "draw_figures.py"
    spec = importlib.util.spec_from_file_location("draw_figures", path)
    draw_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(draw_figures)
    draw_figures.main(["--out", str(tmp_path)])
    names = {"apple", "apple_orange", "sigmoid", "two_layer_net"}
    assert {p.name for p in tmp_path.iterdir()} == {
        f"{n}.{e}" for n in names for e in ("svg", "png")
    } | {f"{n}.html" for n in ("apple", "apple_orange", "sigmoid")}


# ---- the backward pass as a graph of its own (figure 5-20) --------------------
def test_backward_graph_of_buy_apple_has_the_books_four_multiplications():
    """Figure 5-16's backward: dout*tax, dout*apple_price, then *apple_num and *apple."""
    nodes, edges = parse(draw(buy_apple, 100.0, 2.0, 1.1, backward=True).source)
    src = draw(buy_apple, 100.0, 2.0, 1.1, backward=True).source
    red = set(re.findall(r'^\s*(\w+) \[label="×" color=red', src, re.M))
    assert len(red) == 4
    outs = sorted({t: float(f) for t, h, f, b in edges if t in red}.values())
    assert outs == pytest.approx(sorted([1.1, 200.0, 2.2, 110.0]))
    grads = jax.grad(buy_apple, argnums=(0, 1, 2))(100.0, 2.0, 1.1)
    got = {nodes[h]: float(f) for t, h, f, b in edges if nodes[h].startswith("d")}
    assert got == pytest.approx(dict(zip(["dapple", "dapple_num", "dtax"], map(float, grads))))
    assert "dout" in nodes.values()
    forward = [n for n, label in nodes.items() if label == "×" and n not in red]
    assert len(forward) == 1  # apple * apple_num: the residual apple_price; 220 itself is unused


def test_backward_graph_of_the_sigmoid_figure_5_20():
    g = drawing.trace(drawing.book_sigmoid, 1.0, backward=True)
    back = {n.label for n in g.nodes if n.backward}  # the ops that run on dout
    assert {"×", "−"} <= back  # -dout * (1/x^2), * exp(-x), * (-1)
    assert {"exp", "^-2"} <= {n.label for n in g.nodes}  # exp(-x) and 1/x^2 from the forward
    (dx,) = [e for e in g.edges if g.node(e.head).kind == "output"]
    y = 1 / (1 + np.exp(-1.0))
    assert float(dx.fwd) == pytest.approx(y * (1 - y), rel=1e-5)


def test_second_order_equals_grad_of_grad():
    """The derivative of the derivative: drawn two ways, both jax.grad(jax.grad(sigmoid))."""
    want = float(jax.grad(jax.grad(drawing.book_sigmoid))(1.0))
    for d in (
        draw(jax.grad(drawing.book_sigmoid), 1.0),
        draw(drawing.book_sigmoid, 1.0, backward=True),
    ):
        nodes, edges = parse(d.source)
        (into_x,) = [b for t, h, f, b in edges if nodes[t] == "x"]
        assert float(into_x) == pytest.approx(want, rel=1e-5)


def test_book_sigmoid_figure_5_19_constants_carry_no_gradient():
    g = drawing.trace(drawing.book_sigmoid, 1.0)
    assert [n.label for n in g.nodes if n.kind == "op"] == ["×", "exp", "+", "/"]
    consts = [e for e in g.edges if g.node(e.tail).kind == "const"]
    assert [g.node(e.tail).label for e in consts] == ["-1", "1", "1"]
    assert all(e.bwd is None for e in consts)
    assert all(e.bwd is not None for e in g.edges if g.node(e.tail).kind != "const")
    assert g.upstream("in0") == pytest.approx(float(jax.grad(drawing.book_sigmoid)(1.0)))


def test_argnames_must_name_every_argument():
    """Short argnames gave KeyError: 1 (and later an unnamed input edge)."""
    with pytest.raises(ValueError, match="argnames must name each of the 2 arguments"):
        draw(mul, 2.0, 3.0, argnames=["x"])
