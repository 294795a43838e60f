"""Watch backpropagation happen: a computational graph as an HTML page you step through.

The chapter's figures (5-16, 5-17, 5-19, 5-20) show a graph with every value
already written on it.  :func:`explore` makes the same graph (traced by
:func:`jaxbp.trace.trace`) into one self-contained page -- inline SVG, CSS
and script (``explore_page/page.css`` and ``page.js`` beside this module), no
network -- with four buttons:

* **forward**: the values appear node by node in topological order (5.1);
* **backward**: the red derivatives appear edge by edge in reverse order,
  starting from ``dout = 1`` at the output, and each node shows its local rule
  as the book writes it (``dout * y`` and ``dout * x`` for the multiplication,
  5.3.2's "swap x and y"; ``dout * 1`` for the addition, 5.3.1; ...);
* **step**: one event at a time, forward then backward; **reset**.

Hovering over (or clicking) a node lists its inputs, its output, the upstream
``dout`` and the derivatives it passes on, worked out with the numbers when
they are scalars (``dout * y = 1.1 * 2 = 2.2``).  The page shows in Jupyter and
Colab, ``.save(path)`` writes it, ``.html`` is its text.  A URL fragment plays it
on load: ``page.html#click=forward,backward,node:op2&delay=0`` clicks those
buttons (and that node) in turn.

Layout: our own small layered layout (longest-path layers left to right, order
within a layer by barycentre) rather than Graphviz's, so that the page needs
nothing installed and its SVG elements are ours for the script to drive.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxbp._explore_svg import layout, svg
from jaxbp._files import atomic_write
from jaxbp.trace import Graph, Node, bwd_text, trace

__all__ = ["explore", "Explorer", "layout"]

# Local rules as the book writes them, one formula per input (None: no derivative).
# "unary": x is the input and y the output (y = 1/x, y = exp(x), figure 5-19);
# "binary": x and y are the inputs (z = x * y, 5.3.2).
_RULES = {
    "×": ("5.3.2", "binary", ("dout * y", "dout * x")),
    "+": ("5.3.1", "binary", ("dout * 1", "dout * 1")),
    "exp": ("5.5.2", "unary", ("dout * exp(x)",)),
    "log": ("", "unary", ("dout / x",)),
    "relu": ("5.5.1", "unary", ("dout where x > 0, else 0",)),
    "sigmoid": ("5.5.2", "unary", ("dout * y * (1 - y)",)),
    "affine": ("5.6.2", "binary", ("dout · Wᵀ", "xᵀ · dout", "sum(dout, axis=0)")),
    "softmax_with_loss": ("5.6.3", "binary", ("dout * (softmax(x) - t) / batch_size", None)),
    "dot": ("5.6.1", "binary", ("dout · yᵀ", "xᵀ · dout")),
}
_RECIPROCAL = ("5.5.2", "unary", (None, "-dout / x^2 (= -dout * y^2)"))  # 1 / x, figure 5-20
_DIV = ("5.5.2", "binary", ("dout / y", "-dout * x / y^2"))
_NEG, _SUB = ("", "unary", ("-dout",)), ("", "binary", ("dout", "-dout"))
_TOKEN = re.compile(r"\b(dout|x|y)\b")


def _rule(graph: Graph, node: Node) -> tuple[str, str, tuple]:
    """``(section, style, formulas)``: the local rule of operation ``node``."""
    ins = graph.into(node.id)
    if node.label == "/":
        one = graph.node(ins[0].tail).kind == "const" and ins[0].fwd == "1"
        return _RECIPROCAL if one else _DIV
    if node.label == "−":
        return _NEG if len(ins) == 1 else _SUB
    if node.label.startswith("^"):  # integer_pow
        n = int(node.label[1:])
        return "", "unary", (f"dout * {n} * x^{n - 1}",)
    generic = ("", "binary", tuple(f"JAX's rule for {node.prim}" for _ in ins))
    return _RULES.get(node.label, generic)


def _number(text: str | None) -> str | None:
    """``text`` if it is a scalar's value (negative ones in parentheses), else None."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return f"({text})" if v < 0 else text


def _worked(formula: str, values: dict, result: str | None) -> str | None:
    """``dout * y = 1.1 * 2 = 2.2``: the formula with scalar values put in, or None."""
    formula = formula.split(" (=")[0]
    names = set(_TOKEN.findall(formula))
    nums = {k: _number(values.get(k)) for k in names}
    if "dout" not in names or result is None or None in nums.values():
        return None
    return f"{formula} = {_TOKEN.sub(lambda m: nums[m[1]], formula)} = {result}"


def _node_info(graph: Graph, node: Node) -> dict:
    """What the page's panel shows for ``node``: its inputs with their rules, outputs, dout."""
    ins, outs = graph.into(node.id), graph.leaving(node.id)
    up = graph.upstream(node.id)
    info = dict(name=node.label or "output", kind=node.kind, section="", caption="")
    info.update(outs=[e.id for e in outs], dout=None if up is None else bwd_text(up), ins=[])
    if node.kind != "op":
        info["ins"] = [dict(edge=e.id, src=graph.node(e.tail).label, rule=None) for e in ins]
        return info
    section, style, formulas = _rule(graph, node)
    formulas = tuple(formulas) + (None,) * (len(ins) - len(formulas))
    values = {"dout": info["dout"], "y": outs[0].fwd if outs else None}
    if style == "binary":
        values.update(x=ins[0].fwd if ins else None, y=ins[1].fwd if len(ins) > 1 else None)
    else:  # x: the one input with a derivative (1 / x: the second)
        values["x"] = next((e.fwd for e, r in zip(ins, formulas) if r), None)
    rows = []
    for e, formula in zip(ins, formulas):
        rule = formula if e.bwd is not None else None
        worked = _worked(rule, values, e.bwd) if rule else None
        rows.append(dict(edge=e.id, src=graph.node(e.tail).label, rule=rule, worked=worked))
    info.update(ins=rows, section=section, prim="" if node.prim == node.label else node.prim)
    info["caption"] = ", ".join(r["rule"].split(" (=")[0] for r in rows if r["rule"])
    return info


def _events(graph: Graph, info: dict) -> list[dict]:
    """The page's steps: forward node by node, then backward edge by edge in reverse."""
    events = []
    for node in graph.nodes:
        outs = graph.leaving(node.id)
        if not outs:
            continue
        what = {"input": f"{node.label} = ", "const": "constant "}.get(
            node.kind, f"{node.label} → "
        )
        text = f"forward: {what}{outs[0].fwd}"
        events.append(dict(phase="forward", node=node.id, edges=[e.id for e in outs], text=text))
    rank = {nid: i for i, nid in enumerate(graph.order)}
    back = sorted((e for e in graph.edges if e.bwd is not None), key=lambda e: -rank[e.head])
    for e in back:
        head = graph.node(e.head)
        if head.kind == "output":
            text = f"backward: start with dout = {e.bwd} at the output"
        else:
            row = next(r for r in info[e.head]["ins"] if r["edge"] == e.id)
            how = row["worked"] or f"{row['rule']} = {e.bwd}"
            text = f"backward: {head.label} passes {how} to {graph.node(e.tail).label}"
        events.append(dict(phase="backward", node=e.head, edges=[e.id], text=text))
    return events


# ---- the page ----------------------------------------------------------------
_HINT = "forward: values node by node · backward: derivatives edge by edge · step: one at a time"


@functools.cache
def _asset(name: str) -> str:
    """The page's CSS or script, a package data file beside this module (in the wheel)."""
    return importlib.resources.files("jaxbp").joinpath("explore_page", name).read_text("utf-8")


def _json_in_script(data: dict) -> str:
    """``data`` as JSON safe inside ``<script>``: no ``<`` (``</script>`` or ``<!--`` in a
    name would end or hide the block), ``>`` or ``&``; each is a ``\\u`` escape in a string."""
    blob = json.dumps(data, ensure_ascii=False)
    return blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, svg: str, data: dict) -> str:
    """The self-contained HTML document."""
    blob = _json_in_script(data)
    buttons = "".join(
        f'<button id="btn-{b}" title="{t}">{b}</button>'
        for b, t in (
            ("forward", "순전파"),
            ("backward", "역전파"),
            ("step", "한 단계"),
            ("reset", "처음부터"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_asset("page.css")}</style></head>
<body>
<h1 id="title">{html.escape(title)}</h1>
<div id="controls">{buttons}</div>
<div id="status"></div>
<div id="main"><div id="canvas">{svg}</div><div id="info">hover over or click a node</div></div>
<div class="legend">black: forward values (arrays: shape and dtype) · red: backward,
d out / d value (arrays: its norm ‖·‖) and each node's local rule</div>
<script type="application/json" id="jaxbp-data">{blob}</script>
<script>{_asset("page.js")}</script>
</body></html>
"""


@dataclass(frozen=True)
class Explorer:
    """An explorable graph page: ``.html`` (its text), ``.save(path)``, shown in notebooks."""

    html: str
    graph: Graph = field(repr=False)
    height: int = 500

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (a temporary file renamed into place); return the path.

        >>> import pathlib, tempfile
        >>> from jaxbp.graph import buy_apple
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> explore(buy_apple).save(folder / "apple.html").read_text().startswith("<!DOCTYPE")
        True
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: fh.write(self.html.encode("utf-8")))
        return path

    def _repr_html_(self) -> str:
        # an iframe keeps the page's ids and script apart from the notebook's (and other pages')
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'style="width: 100%; height: {self.height}px; border: 0"></iframe>'
        )


#: The largest graph a page is made for, in nodes.  Measured in headless Chromium on a
#: chain (forward and backward played with no delay, 2 cores): 1,002 nodes play in 5 s and
#: 2,502 in 6 s, but 3,502 take 82 s and 5,002 115 s (the SVG is then over 300,000 px
#: wide and every step redraws it): past this a page is not one a reader can use.
MAX_NODES = 2500


def explore(
    f: Callable[..., Any],
    *args: Any,
    grads: bool | None = None,
    argnames: Sequence[str] | None = None,
    backward: bool = False,
    title: str | None = None,
    delay_ms: int = 400,
    max_nodes: int = MAX_NODES,
) -> Explorer:
    """An HTML page that steps through ``f(*args)``'s forward and backward pass.

    Same arguments as :func:`jaxbp.drawing.draw` (``backward=True``: the page
    of the backward pass's own graph, figure 5-20); ``delay_ms``: the pause
    between two events when the forward or backward button plays them;
    ``max_nodes``: a larger graph is refused (``ValueError``) before any value
    is computed (see :data:`MAX_NODES`).  ``f`` needs at least one input (an
    argument, or a default): a function of nothing has nothing to step
    through, and is refused too.

    >>> from jaxbp.graph import buy_apple
    >>> page = explore(buy_apple, 100.0, 2.0, 1.1)       # figure 5-16
    >>> page.html.count('class="bwd"'), "dout * y" in page.html
    (5, True)
    """
    if not callable(f):
        raise TypeError(f"explore: f must be callable, got {type(f).__name__}")
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
        raise ValueError(f"explore: delay_ms must be an int >= 0, got {delay_ms!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"explore: max_nodes must be an int >= 1, got {max_nodes!r}")
    graph = trace(
        f,
        *args,
        grads=grads,
        argnames=argnames,
        backward=backward,
        title=title,
        max_nodes=max_nodes,
        who="explore",
    )
    if not any(n.kind == "input" for n in graph.nodes):
        raise ValueError(
            "explore: f has no input (no arguments were given and f has no defaults), "
            "so there is nothing to step through; pass the arguments f takes"
        )
    pos = layout(graph)
    info = {n.id: _node_info(graph, n) for n in graph.nodes}
    name = title or getattr(f, "__name__", "f") + (" (backward pass)" if backward else "")
    data = dict(events=_events(graph, info), info=info, delay=delay_ms, hint=_HINT)
    picture = svg(graph, pos, info)
    height = int(max(y + h / 2 for _, y, _, h in pos.values())) + 250
    return Explorer(_page(str(name), picture, data), graph, height)
