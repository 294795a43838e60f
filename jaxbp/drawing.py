"""Draw a function's computational graph the way chapter 5 does (5.1-5.6).

Every figure of the chapter (5-16 and 5-17 for the apples and oranges, 5-19
and 5-20 for the sigmoid) is a computational graph read left to right, the
forward value written above each edge and the backward value below it.
:func:`jaxbp.trace.trace` finds that graph as plain data; :func:`draw` writes it
as Graphviz DOT (:func:`dot_source`), with the book's node labels: ``×``, ``+``,
``exp``, ``/``, one node per custom rule (``affine``, ``relu``).

With ``backward=True`` the graph drawn is the backward pass itself (figure
5-20): its nodes that run on ``dout`` are drawn red.  Drawing ``jax.grad(f)``
itself gives the derivative of the derivative.

Rendering uses Graphviz's ``dot`` program; making the DOT text does not need
it.  ``trace``, ``Graph``, ``Node`` and ``Edge`` are :mod:`jaxbp.trace`'s, also
importable from here.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import jax
import jax.numpy as jnp

from jaxbp.trace import Edge, Graph, Node, trace

__all__ = ["draw", "trace", "dot_source", "book_sigmoid", "Drawing", "Graph", "Node", "Edge"]

INSTALL_HINT = (
    "Graphviz's `dot` program is needed to render the graph but was not "
    "found on PATH. Install Graphviz, e.g. `apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install "
    "graphviz`. (The DOT text is available without it: `.source`.)"
)


def _edge_label(fwd: str, bwd: str | None) -> str:
    rows = f"<TR><TD>{html.escape(fwd)}</TD></TR>"
    if bwd is not None:
        rows += f'<TR><TD><FONT COLOR="red">{html.escape(bwd)}</FONT></TD></TR>'
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def book_sigmoid(x: Any) -> jax.Array:
    """The sigmoid ``1 / (1 + exp(-x))`` built from figure 5-19's nodes (5.5.2).

    ``×`` by the constant ``-1``, ``exp``, ``+`` the constant ``1``, and ``/``
    (``1 / x``), so that :func:`draw` shows the book's graph (``jnp``'s ``-x``
    would be a unary minus node); ``draw(book_sigmoid, x, backward=True)`` is
    figure 5-20's backward pass.

    >>> [n.label for n in trace(book_sigmoid, 1.0).nodes]
    ['x', '-1', '×', 'exp', '1', '+', '1', '/', '']
    """
    return 1 / (1 + jnp.exp(x * -1))


# ---- DOT --------------------------------------------------------------------
@dataclass(frozen=True)
class Drawing:
    """A drawn graph: ``.source`` is the DOT text; rendering needs ``dot``."""

    source: str
    files: tuple = field(default=())

    def pipe(self, format: str = "svg") -> bytes:
        if shutil.which("dot") is None:
            raise RuntimeError(INSTALL_HINT)
        try:
            return graphviz.Source(self.source).pipe(format=format)
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(INSTALL_HINT) from e

    def render(
        self, filename: str | os.PathLike, format: str | Sequence[str] = ("svg", "png")
    ) -> list[Path]:
        """Write ``filename.<fmt>`` for each format; return the paths."""
        formats = (format,) if isinstance(format, str) else tuple(format)
        stem = Path(filename)
        stem = stem.with_suffix("") if stem.suffix.lstrip(".") in formats else stem
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]
        for p, fmt in zip(paths, formats):
            p.write_bytes(self.pipe(fmt))
        return paths

    def _repr_svg_(self) -> str:
        return self.pipe("svg").decode()


def _digraph(title: str | None) -> graphviz.Digraph:
    g = graphviz.Digraph(
        graph_attr=dict(
            rankdir="LR", ordering="in", nodesep="0.4", ranksep="0.5", fontname="Helvetica"
        ),
        node_attr=dict(fontname="Helvetica"),
        edge_attr=dict(fontname="Helvetica", fontsize="11", arrowsize="0.7"),
    )
    if title:
        g.attr(label=title, labelloc="t", fontsize="16")
    return g


def _dot_node(g: graphviz.Digraph, node: Node) -> None:
    if node.kind == "input":
        g.node(node.id, node.label, shape="plaintext")
    elif node.kind == "const":
        g.node(node.id, node.label, shape="plaintext", fontsize="11")
    elif node.kind == "output":
        g.node(node.id, node.label, shape="none", width="0", height="0")
    elif node.noise:
        g.node(
            node.id,
            node.label,
            shape="box",
            fontsize="9",
            color="grey",
            fontcolor="grey40",
            height="0.3",
        )
    else:
        small = len(node.label) <= 3  # book: ×, +, exp in circles
        g.node(
            node.id,
            node.label,
            shape="circle" if small else "box",
            style="" if small else "rounded",
            width="0.5",
            fontsize="16" if len(node.label) == 1 else "12",
            fixedsize="true" if small else "false",
            **(dict(color="red", fontcolor="red") if node.backward else {}),
        )


def dot_source(graph: Graph) -> str:
    """``graph`` as Graphviz DOT text: each node, then the edges into it with their labels.

    >>> from jaxbp.graph import buy_apple
    >>> "apple_num" in dot_source(trace(buy_apple, 100.0, 2.0, 1.1))
    True
    """
    g = _digraph(graph.title)
    into: dict = {}
    for e in graph.edges:
        into.setdefault(e.head, []).append(e)
    for node in graph.nodes:
        _dot_node(g, node)
        for e in into.get(node.id, ()):
            g.edge(e.tail, e.head, label=_edge_label(e.fwd, e.bwd))
    return g.source


def draw(
    f: Callable[..., Any],
    *args: Any,
    grads: bool | None = None,
    argnames: Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    filename: str | os.PathLike | None = None,
    title: str | None = None,
    backward: bool = False,
) -> Drawing:
    """Draw ``f(*args)``'s computational graph like figures 5-16, 5-17, 5-19.

    Nodes: the inputs (named after ``f``'s parameters, or ``argnames``; pytree
    leaves as ``params.W1``), one node per primitive or custom-rule node, and
    the output.  Each edge shows its forward value in black (a number, or shape
    and dtype for arrays) and, with ``grads`` (the default), ``d out / d value``
    below it in red (the norm for arrays); that needs a scalar floating output.

    ``backward=True`` draws the backward pass as a graph of its own (figure
    5-20): inputs ``x..., dout``, outputs ``dx...``, the operations that run on
    ``dout`` in red; see :func:`trace`.

    Returns a :class:`Drawing` (``.source`` DOT text, ``.render(path)``, shown
    as SVG in notebooks).  With ``filename``, also writes ``filename.svg`` and
    ``filename.png`` (or only ``format``); rendering needs Graphviz's ``dot``.

    >>> from jaxbp.graph import buy_apple
    >>> d = draw(buy_apple, 100.0, 2.0, 1.1, backward=True)  # figure 5-16's backward pass
    >>> d.source.count('label="×" color=red')  # dout * tax, dout * apple_price, then two more
    4
    """
    graph = trace(
        f, *args, grads=grads, argnames=argnames, backward=backward, title=title, who="draw"
    )
    drawing = Drawing(dot_source(graph))
    if filename is not None:
        drawing = Drawing(drawing.source, tuple(drawing.render(filename, format or ("svg", "png"))))
    return drawing
