"""The step-through page's picture (:func:`jaxbp.explore.explore`): its layout, and the SVG.

Our own small layered layout (longest-path layers left to right, order within a
layer by barycentre) rather than Graphviz's, so that the page needs nothing
installed and its SVG elements are ours for the page's script to drive: each
edge a ``g.edge`` with its forward and backward labels (empty until shown),
each node a ``g.node``.
"""

from __future__ import annotations

import html

from jaxbp.trace import Graph, Node

# ---- layout ------------------------------------------------------------------
_ROW = 96  # vertical distance between nodes: room for a label above and below each edge
_BEND = 48  # horizontal room for an edge's bend into (or out of) its row
_FONT = 14  # edge labels' font size


def _text_width(text: str, size: float) -> float:
    return 0.62 * size * len(text)


def _size(node: Node) -> tuple[float, float]:
    """Width and height of ``node``'s box."""
    if node.kind == "op" and not node.noise and len(node.label) <= 3:
        return 42.0, 42.0  # the book's circles: ×, +, exp
    if node.kind == "op":
        return _text_width(node.label, 11 if node.noise else 15) + 20, 26.0 if node.noise else 34.0
    if node.kind == "output" and not node.label:
        return 4.0, 4.0
    return _text_width(node.label, 16) + 8, 22.0


def _neighbours(graph: Graph) -> tuple[dict, dict, dict]:
    """Each node's predecessors, successors, and the ports it feeds."""
    preds = {n.id: [] for n in graph.nodes}
    succs, ports = {n.id: [] for n in graph.nodes}, {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        preds[e.head].append(e.tail)
        succs[e.tail].append(e.head)
        ports[e.tail].append(e.port)
    return preds, succs, ports


def _layers(graph: Graph, preds: dict, succs: dict) -> list[list[str]]:
    """Longest-path layers; inputs and constants sit just before their first use."""
    layer = {}
    for nid in graph.order:
        layer[nid] = 1 + max((layer[p] for p in preds[nid]), default=-1)
    for nid in graph.order:
        if not preds[nid] and succs[nid]:
            layer[nid] = min(layer[s] for s in succs[nid]) - 1
    low = min(layer.values())
    rows = [[] for _ in range(max(layer.values()) - low + 1)]
    for nid in graph.order:
        rows[layer[nid] - low].append(nid)
    return [r for r in rows if r]


def _mean(xs, default):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else default


def _barycentre(rows: list, preds: dict, succs: dict, ports: dict, sweeps: int = 2) -> None:
    """Order each layer by its nodes' mean neighbour position, down then up, ``sweeps`` times.

    Nodes with no neighbour on that side (constants, inputs) go last (below);
    inputs of one node keep its ports' order (``ports``: the ports each node feeds)."""
    pos = {n: i - (len(r) - 1) / 2 for r in rows for i, n in enumerate(r)}
    for _ in range(sweeps):
        for order, nbrs in ((range(1, len(rows)), preds), (range(len(rows) - 2, -1, -1), succs)):
            for k in order:
                key = lambda n, nbrs=nbrs: (
                    not nbrs[n],
                    _mean((pos[m] for m in nbrs[n]), pos[n]),
                    _mean(ports[n], 0) if nbrs is succs else 0,
                )
                rows[k].sort(key=key)
                pos.update((n, i - (len(rows[k]) - 1) / 2) for i, n in enumerate(rows[k]))


def _heights(rows: list, preds: dict, succs: dict) -> dict:
    """y of each node: near its neighbours' mean, keeping the order and ``_ROW`` apart."""
    y = {n: (i - (len(r) - 1) / 2) * _ROW for r in rows for i, n in enumerate(r)}
    for nbrs, order in ((preds, rows), (succs, rows[::-1]), (preds, rows)):
        for row in order:
            want = [_mean((y[m] for m in nbrs[n]), y[n]) for n in row]
            placed = []
            for w in want:
                placed.append(max(w, placed[-1] + _ROW) if placed else w)
            shift = _mean(want, 0) - _mean(placed, 0)
            y.update((n, p + shift) for n, p in zip(row, placed))
    return y


def layout(graph: Graph) -> dict[str, tuple[float, float, float, float]]:
    """Positions for drawing ``graph`` left to right: ``{node id: (x, y, width, height)}``.

    Longest-path layering (each node one layer right of its latest input), the
    order within a layer by barycentre (two sweeps), and each column as wide
    as the labels of the edges that end in it.  Coordinates are the nodes'
    centres, in pixels, all positive.

    >>> from jaxbp.graph import buy_apple
    >>> from jaxbp.trace import trace
    >>> pos = layout(trace(buy_apple, 100.0, 2.0, 1.1))
    >>> pos["in0"][0] < pos["op2"][0] < pos["op4"][0] < pos["out0"][0]   # left to right
    True
    """
    preds, succs, ports = _neighbours(graph)
    rows = _layers(graph, preds, succs)
    _barycentre(rows, preds, succs, ports)
    y = _heights(rows, preds, succs)
    size = {n.id: _size(n) for n in graph.nodes}
    col = {n: k for k, r in enumerate(rows) for n in r}
    label = [70.0 + _BEND] * len(rows)
    for e in graph.edges:
        w = max(_text_width(e.fwd, _FONT), _text_width(e.bwd or "", _FONT))
        label[col[e.head]] = max(label[col[e.head]], w + 24 + _BEND)
    xs, x = [], 20.0
    for k, row in enumerate(rows):
        half = max(size[n][0] for n in row) / 2
        x += (label[k] if k else 0) + half
        xs.append(x)
        x += half
    top = min(y.values()) - 50
    return {n: (xs[col[n]], y[n] - top, *size[n]) for n in col}


# ---- SVG ---------------------------------------------------------------------
def _route(p0, p3, bend_at_tail: bool) -> tuple[str, tuple[float, float]]:
    """SVG path from ``p0`` to ``p3``: straight along one end's row, bending near the other;
    and the middle of the straight part, where the labels go."""
    bend = min(_BEND, (p3[0] - p0[0]) * 0.45)
    if bend_at_tail:  # a value used several times: one row per use, at the head's height
        a, b = (p0[0] + bend, p3[1]), p3
        d = f"M{p0[0]:.1f},{p0[1]:.1f} C{p0[0] + bend / 2:.1f},{p0[1]:.1f} "
        d += f"{p0[0] + bend / 2:.1f},{p3[1]:.1f} {a[0]:.1f},{a[1]:.1f} L{b[0]:.1f},{b[1]:.1f}"
    else:
        a, b = p0, (p3[0] - bend, p0[1])
        d = f"M{a[0]:.1f},{a[1]:.1f} L{b[0]:.1f},{b[1]:.1f} C{b[0] + bend / 2:.1f},{b[1]:.1f} "
        d += f"{b[0] + bend / 2:.1f},{p3[1]:.1f} {p3[0]:.1f},{p3[1]:.1f}"
    return d, ((a[0] + b[0]) / 2, a[1])


def _svg_edge(e, pos: dict, n_in: int, fan_out: int) -> str:
    xt, yt, wt, _ = pos[e.tail]
    xh, yh, wh, hh = pos[e.head]
    spread = min(10.0, hh / max(n_in, 1))
    p0, p3 = (xt + wt / 2, yt), (xh - wh / 2 - 1, yh + (e.port - (n_in - 1) / 2) * spread)
    d, (lx, ly) = _route(p0, p3, fan_out > 1)
    out = [f'<g class="edge" data-edge="{e.id}">', f'<path class="wire" d="{d}"/>']
    if e.bwd is not None:
        out.append(f'<path class="bpath" d="{d}" transform="translate(0,4)"/>')
    out.append(
        f'<text class="fwd" data-edge="{e.id}" data-fwd="{html.escape(e.fwd)}"'
        f' x="{lx:.1f}" y="{ly - 7:.1f}"></text>'
    )
    if e.bwd is not None:
        out.append(
            f'<text class="bwd" data-edge="{e.id}" data-bwd="{html.escape(e.bwd)}"'
            f' x="{lx:.1f}" y="{ly + 19:.1f}"></text>'
        )
    return "".join(out) + "</g>"


def _svg_node(node: Node, xywh, caption: str) -> str:
    x, y, w, h = xywh
    cls = f"node {node.kind}" + " noise" * node.noise + " back" * node.backward
    out = [f'<g class="{cls}" data-node="{node.id}" transform="translate({x:.1f},{y:.1f})">']
    out.append(f"<title>{html.escape(node.label or 'output')}</title>")
    box = f'x="{-w / 2:.1f}" y="{-h / 2:.1f}" width="{w:.1f}" height="{h:.1f}"'
    if node.kind == "op" and w == h:
        out.append(f'<circle r="{w / 2:.0f}"/>')
    else:  # inputs, constants: an invisible box to hover over
        out.append(f"<rect {box}/>" if node.kind == "op" else f'<rect class="hit" {box}/>')
    out.append(f'<text class="label" y="5">{html.escape(node.label)}</text>')
    if caption:
        out.append(f'<text class="rule" x="4" y="{h / 2 + 16:.0f}">{html.escape(caption)}</text>')
    return "".join(out) + "</g>"


def svg(graph: Graph, pos: dict, info: dict) -> str:
    """The whole picture: arrowheads, edges (with empty labels), then nodes."""
    width = max(x + w / 2 for x, _, w, _ in pos.values()) + 30
    height = max(y + h / 2 for _, y, _, h in pos.values()) + 50
    n_in, n_out = {}, {}
    for e in graph.edges:
        n_in[e.head] = n_in.get(e.head, 0) + 1
        n_out[e.tail] = n_out.get(e.tail, 0) + 1
    arrow = '<path d="M0,0 L10,5 L0,10 z" fill="{}"/>'
    marker = (
        '<marker id="{}" viewBox="0 0 10 10" refX="{}" refY="5" markerWidth="9" '
        'markerHeight="9" markerUnits="userSpaceOnUse" orient="{}">{}</marker>'
    )
    defs = "<defs>" + marker.format("arrow", 9, "auto", arrow.format("#333"))
    defs += marker.format("barrow", 1, "auto-start-reverse", arrow.format("#d22")) + "</defs>"
    edges = "".join(_svg_edge(e, pos, n_in[e.head], n_out[e.tail]) for e in graph.edges)
    nodes = "".join(_svg_node(n, pos[n.id], info[n.id]["caption"]) for n in graph.nodes)
    return (
        f'<svg id="graph" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">{defs}{edges}{nodes}</svg>'
    )
