"""Tests of jaxbp.explore: the step-through page, clicked through in headless Chromium.

The page plays the clicks named in its URL fragment (``#click=forward,backward``)
on the real buttons; ``chromium --dump-dom`` then gives the DOM as the reader
would see it, and the values written on the edges are compared with ``jax.grad``.
Without a browser on PATH these tests skip; ``JAXBP_REQUIRE_BROWSER=1`` fails them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import missing
from jaxbp import layers, two_layer_net
from jaxbp.drawing import book_sigmoid
from jaxbp.explore import explore, layout
from jaxbp.graph import buy_apple, buy_apple_orange, mul
from jaxbp.graph import explore as graph_explore

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@pytest.fixture(scope="module")
def browser():
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    missing(
        "no headless Chromium on PATH (apt-get install chromium; "
        "JAXBP_REQUIRE_BROWSER=1 makes this a failure)",
        "JAXBP_REQUIRE_BROWSER",
    )


class _Dom(HTMLParser):
    """The shown edge labels ({edge id: {"fwd"/"bwd": text}}), #status, #info and body's data."""

    def __init__(self):
        super().__init__()
        self.shown, self.texts, self.body, self._open = {}, {}, {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        kind = next((k for k in ("fwd", "bwd") if f"data-{k}" in a), None)
        if tag == "text" and kind and "shown" in a.get("class", "").split():
            self._open.append((("edge", a["data-edge"], kind), tag))
        elif a.get("id") in ("status", "info", "title"):
            self._open.append((("id", a["id"]), tag))

    def handle_endtag(self, tag):
        if self._open and tag == self._open[-1][1] and tag in ("text", "div", "h1"):
            self._open.pop()

    def handle_data(self, data):
        for key, _ in self._open:
            self.texts[key] = self.texts.get(key, "") + data
            if key[0] == "edge":
                self.shown.setdefault(key[1], {})[key[2]] = self.texts[key]


def play(browser, tmp_path, page, clicks, screenshot=None):
    """Open ``page`` in headless Chromium with ``#click=clicks``; return the parsed DOM."""
    path = page.save(tmp_path / "page.html")
    args = [browser, "--headless=new", "--no-sandbox", "--disable-gpu"]
    args += [f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
    args += [f"--screenshot={screenshot}", "--window-size=1200,700"] if screenshot else []
    args += ["--dump-dom"] if not screenshot else []
    url = f"{path.as_uri()}#click={','.join(clicks)}&delay=5"
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = _Dom()
    dom.feed(out.stdout)
    if not screenshot:
        assert dom.body.get("data-played") == "1", dom.body  # every click ran
    return dom


def by_tail(page, dom):
    """{tail label: (forward text, backward text)} of the edges shown."""
    g, get = page.graph, lambda e, k: dom.shown.get(e.id, {}).get(k)
    return {g.node(e.tail).label: (get(e, "fwd"), get(e, "bwd")) for e in g.edges}


def test_apple_orange_forward_then_backward_equals_jax_grad(browser, tmp_path):
    """Figure 5-17: after the two buttons, each input's edge shows its value and jax.grad's."""
    args = (100.0, 2.0, 150.0, 3.0, 1.1)
    page = explore(buy_apple_orange, *args)
    dom = play(browser, tmp_path, page, ["forward", "backward"])
    grads = jax.grad(buy_apple_orange, argnums=range(5))(*args)
    shown = by_tail(page, dom)
    names = ("apple", "apple_num", "orange", "orange_num", "tax")
    for name, x, g in zip(names, args, grads):
        fwd, bwd = shown[name]
        assert float(fwd) == pytest.approx(x) and float(bwd) == pytest.approx(float(g), rel=1e-6)
    assert [shown[n][1] for n in ("apple_num", "apple", "orange", "orange_num", "tax")] == [
        "110",
        "2.2",
        "3.3",
        "165",
        "650",
    ]  # the book's numbers, as the book writes them
    assert len(dom.shown) == len(page.graph.edges)  # every edge has its label
    assert "backward" in dom.texts[("id", "status")]


def test_apple_buttons_step_and_reset(browser, tmp_path):
    """Figure 5-16: forward shows values only; step shows one event; reset clears."""
    page = explore(buy_apple, 100.0, 2.0, 1.1)
    events = json.loads(page.html.split('id="jaxbp-data">')[1].split("</script>")[0])["events"]
    n_fwd = sum(e["phase"] == "forward" for e in events)
    dom = play(browser, tmp_path, page, ["forward"])
    assert all(set(v) == {"fwd"} for v in dom.shown.values())
    assert len(dom.shown) == len(page.graph.edges) and dom.body["data-step"] == str(n_fwd)
    dom = play(browser, tmp_path, page, ["step"] * (n_fwd + 2))  # two steps into backward
    bwd = {e for e, v in dom.shown.items() if "bwd" in v}
    first, second = (ev["edges"] for ev in events[n_fwd : n_fwd + 2])
    assert bwd == {*first, *second} and len(bwd) == 2
    assert dom.shown[first[0]]["bwd"] == "1"  # dout = 1 at the output first
    dom = play(browser, tmp_path, page, ["forward", "backward"])
    grads = jax.grad(buy_apple, argnums=(0, 1, 2))(100.0, 2.0, 1.1)
    shown = by_tail(page, dom)
    got = [float(shown[n][1]) for n in ("apple", "apple_num", "tax")]
    assert got == pytest.approx([float(g) for g in grads]) and got == pytest.approx([2.2, 110, 200])
    dom = play(browser, tmp_path, page, ["forward", "backward", "reset"])
    assert dom.shown == {} and dom.body["data-step"] == "0"


def test_node_panel_shows_inputs_dout_and_the_swapped_rule(browser, tmp_path):
    """Clicking the tax node: inputs 200 and 1.1, dout 1, dout * y and dout * x worked out."""
    page = explore(buy_apple, 100.0, 2.0, 1.1)
    (tax_node,) = [e.head for e in page.graph.edges if page.graph.node(e.tail).label == "tax"]
    dom = play(browser, tmp_path, page, ["forward", "backward", f"node:{tax_node}"])
    text = " ".join(dom.texts[("id", "info")].split())
    assert "dout * y = 1 * 1.1 = 1.1" in text and "dout * x = 1 * 200 = 200" in text
    assert "×" in text and "5.3.2" in text
    before = play(browser, tmp_path, page, ["forward", f"node:{tax_node}"])
    assert "= 200" not in before.texts[("id", "info")]  # nothing passed on before backward


def test_sigmoid_figure_5_19_in_the_browser(browser, tmp_path):
    """The book's sigmoid graph: the input's backward value is dout * y * (1 - y)."""
    page = graph_explore(book_sigmoid, 1.0)
    dom = play(browser, tmp_path, page, ["backward"])  # runs the forward first
    fwd, bwd = by_tail(page, dom)["x"]
    y = float(jax.nn.sigmoid(1.0))
    assert float(fwd) == 1.0
    assert float(bwd) == pytest.approx(y * (1 - y), rel=1e-5)
    assert float(bwd) == pytest.approx(float(jax.grad(book_sigmoid)(1.0)), rel=1e-6)
    consts = {e.id for e in page.graph.edges if page.graph.node(e.tail).kind == "const"}
    assert consts and all("bwd" not in dom.shown[e] for e in consts)  # constants: no gradient
    layer = explore(layers.sigmoid, 1.0)  # the sigmoid layer: one node and its rule
    (op,) = [n.id for n in layer.graph.nodes if n.kind == "op"]
    dom = play(browser, tmp_path, layer, ["forward", "backward", f"node:{op}"])
    assert f"dout * y * (1 - y) = 1 * {y:.6g} * (1 - {y:.6g})" in dom.texts[("id", "info")]


def test_screenshot_after_forward_and_backward(browser, tmp_path):
    shot = tmp_path / "apple_orange.png"
    play(browser, tmp_path, explore(buy_apple_orange), ["forward", "backward"], screenshot=shot)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 1200  # width in the IHDR chunk


# ---- without a browser -------------------------------------------------------
def test_page_is_self_contained_and_saved_atomically(tmp_path):
    page = explore(buy_apple_orange)
    for outside in ("http://", "https://", "<script src", "<link", "@import"):
        assert outside not in page.html
    path = tmp_path / "sub" / "ao.html"
    path.parent.mkdir()
    path.write_text("old")
    assert page.save(path) == path and path.read_text() == page.html
    assert sorted(p.name for p in path.parent.iterdir()) == ["ao.html"]  # no temp file left
    iframe = page._repr_html_()
    assert iframe.startswith("<iframe srcdoc=") and "<svg" not in iframe  # escaped


def test_two_layer_net_shapes_and_gradient_norms():
    """Figure 5-29's blocks: arrays as shape/dtype, gradients as the norm jax.grad gives."""
    params = two_layer_net.init_params(0, 6, 4, 3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 6))
    t = jnp.arange(5) % 3
    page = explore(two_layer_net.loss, params, x, t)
    g = page.graph
    ops = [n.label for n in g.nodes if n.kind == "op"]
    assert ops == ["affine", "relu", "affine", "softmax_with_loss"]
    grads = two_layer_net.gradient(params, x, t)
    for e in g.edges:
        name = g.node(e.tail).label
        if name.startswith("params."):
            w = params[name[7:]]
            assert e.fwd == f"{tuple(w.shape)} float32" and f'data-fwd="{e.fwd}"' in page.html
            norm = float(jnp.linalg.norm(grads[name[7:]]))
            assert float(e.bwd[4:]) == pytest.approx(norm, rel=1e-4)
    assert "(y - t)" not in page.html or "softmax(x) - t" in page.html
    assert "sum(dout, axis=0)" in page.html  # affine's db, 5.6.2


def test_layout_left_to_right_without_overlaps():
    params = two_layer_net.init_params(0, 6, 4, 3)
    for graph in (
        explore(buy_apple_orange).graph,
        explore(book_sigmoid, 1.0, backward=True).graph,
        explore(two_layer_net.loss, params, jnp.ones((5, 6)), jnp.arange(5) % 3).graph,
    ):
        pos = layout(graph)
        assert set(pos) == set(graph.order)
        for e in graph.edges:
            assert pos[e.tail][0] < pos[e.head][0], (e.tail, e.head)
        boxes = sorted(pos.values())
        for a in boxes:
            for b in boxes:
                if a is not b and a[0] == b[0]:  # same column: boxes apart vertically
                    assert abs(a[1] - b[1]) >= (a[3] + b[3]) / 2


def test_backward_page_and_bad_arguments():
    page = explore(buy_apple, backward=True)  # three outputs: values only, no red
    assert all(e.bwd is None for e in page.graph.edges)
    assert sum(n.backward and n.label == "×" for n in page.graph.nodes) == 4
    with pytest.raises(TypeError, match="f must be callable"):
        explore(3.0)
    with pytest.raises(ValueError, match="delay_ms"):
        explore(buy_apple, delay_ms=-1)
    assert np.isfinite(float(page.graph.edges[0].fwd))


# ---- hostile names, empty calls, long graphs --------------------------------------------
HOSTILE = ["<!--<script>", "y</script><b>&amp;"]
HOSTILE_TITLE = "</title><script>document.body.dataset.pwned=1</script>"


def _data_block(page):
    return page.html.split('id="jaxbp-data">')[1].split("</script>")[0]


def test_hostile_names_are_escaped_and_the_page_still_plays(browser, tmp_path):
    page = explore(mul, 2.0, 3.0, argnames=HOSTILE, title=HOSTILE_TITLE)
    (op,) = [n.id for n in page.graph.nodes if n.kind == "op"]
    dom = play(browser, tmp_path, page, ["forward", "backward", f"node:{op}"])  # played to the end
    shown = by_tail(page, dom)
    assert shown[HOSTILE[0]] == ("2", "3") and shown[HOSTILE[1]] == ("3", "2")  # d(xy)/dx = y
    assert dom.texts[("id", "title")] == HOSTILE_TITLE and "pwned" not in dom.body
    info = dom.texts[("id", "info")]
    assert HOSTILE[0] in info and HOSTILE[1] in info  # the names, as text


def test_the_data_block_has_no_markup():
    page = explore(mul, 2.0, 3.0, argnames=HOSTILE)
    block = _data_block(page)
    assert not {"<", ">", "&"} & set(block)
    assert "\\u003c!--\\u003cscript\\u003e" in block
    assert json.loads(block)["info"]["in0"]["name"] == HOSTILE[0]  # the same text, once parsed


def test_a_function_of_nothing_is_one_line():
    with pytest.raises(ValueError, match="nothing to step through") as e:
        explore(lambda: jnp.float32(1.0))
    assert "\n" not in str(e.value)
    page = explore(lambda x: jnp.float32(1.0), 2.0)  # a constant of an input: a page
    assert [n.kind for n in page.graph.nodes] == ["input", "const", "output"]


def test_argnames_that_are_not_strings_are_one_line():
    with pytest.raises(TypeError, match=r"explore: argnames must be strings, .* \[1, None\]"):
        explore(mul, 2.0, 3.0, argnames=[1, None])
    with pytest.raises(TypeError, match="explore: argnames must be a list of strings"):
        explore(mul, 2.0, 3.0, argnames="xy")
    with pytest.raises(ValueError, match="explore: argnames must name each of the 2"):
        explore(mul, 2.0, 3.0, argnames=["x"])


def test_a_graph_past_a_page_is_refused_with_its_size():
    from jaxbp.explore import MAX_NODES

    def chain(x):
        for _ in range(MAX_NODES):
            x = jnp.sin(x)
        return x

    with pytest.raises(
        ValueError, match=f"has {MAX_NODES + 2} nodes, more than max_nodes={MAX_NODES}"
    ):
        explore(chain, 0.5)
    assert len(explore(chain, 0.5, max_nodes=MAX_NODES + 2).graph.nodes) == MAX_NODES + 2


def test_the_page_files_are_package_data():
    """The CSS and script are files beside the module, listed for the wheel in pyproject."""
    import fnmatch
    import importlib.resources
    import pathlib
    import re

    root = pathlib.Path(__file__).parents[1]
    data = (root / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1]
    patterns = re.findall(r'"([^"]+)"', re.search(r"^jaxbp = \[(.*)\]", data, re.M)[1])
    files = sorted(p.name for p in (root / "jaxbp" / "explore_page").iterdir())
    assert files == ["page.css", "page.js"]
    for name in files:
        assert any(fnmatch.fnmatch(f"explore_page/{name}", p) for p in patterns), name
        text = importlib.resources.files("jaxbp").joinpath("explore_page", name).read_text()
        assert text.strip() and text in explore(buy_apple).html
