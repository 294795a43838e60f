"""Watch backpropagation happen: a computational graph as an HTML page you step through.

The chapter's figures (5-16, 5-17, 5-19, 5-20) show a graph with every value
already written on it.  :func:`explore` makes the same graph (traced by
:func:`jaxbp.drawing.trace`) into one self-contained page -- inline SVG, CSS
and script, no network -- with four buttons:

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

import html
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxbp._files import atomic_write
from jaxbp.drawing import Graph, Node, _bwd_text, trace

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
    ins = sorted((e for e in graph.edges if e.head == node.id), key=lambda e: e.port)
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
    ins = sorted((e for e in graph.edges if e.head == node.id), key=lambda e: e.port)
    outs = [e for e in graph.edges if e.tail == node.id]
    up = graph.upstream(node.id)
    info = dict(name=node.label or "output", kind=node.kind, section="", caption="")
    info.update(outs=[e.id for e in outs], dout=None if up is None else _bwd_text(up), ins=[])
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
        outs = [e for e in graph.edges if e.tail == node.id]
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


def _svg(graph: Graph, pos: dict, info: dict) -> str:
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


# ---- the page ----------------------------------------------------------------
_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 12px; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px; }
#controls button { font-size: 14px; margin-right: 6px; padding: 4px 12px; cursor: pointer; }
#status { margin: 8px 0; min-height: 1.3em; font-size: 14px; }
#main { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
#canvas { overflow: auto; max-width: 100%; border: 1px solid #eee; }
#info { width: 300px; font-size: 13px; border: 1px solid #ccc; padding: 8px; min-height: 80px; }
#info h3 { margin: 0 0 6px; font-size: 15px; }
#info td, #info th { text-align: left; vertical-align: top; padding: 1px 6px 1px 0; }
.legend { font-size: 12px; color: #555; margin-top: 6px; }
svg text { font-size: 14px; text-anchor: middle; paint-order: stroke; stroke: #fff;
  stroke-width: 3px; stroke-linejoin: round; }
.wire { fill: none; stroke: #333; stroke-width: 1.2; marker-end: url(#arrow); }
.bpath { fill: none; stroke: #d22; stroke-width: 1.2; stroke-dasharray: 4 3;
  marker-start: url(#barrow); visibility: hidden; }
.edge.bwd-shown .bpath { visibility: visible; }
.edge.current .wire { stroke-width: 2.5; }
text.fwd { fill: #000; }
text.bwd { fill: #d22; }
.node circle, .node.op rect { fill: #fff; stroke: #333; stroke-width: 1.3; }
.node.op rect { rx: 8; }
.node.noise rect { stroke: #999; }
.node.back circle, .node.back.op rect { stroke: #d22; }
.node.back .label { fill: #d22; }
.node .hit { fill: transparent; stroke: none; }
.node .label { font-size: 16px; }
.node.op .label { font-size: 17px; }
.node.noise .label { font-size: 11px; fill: #666; }
.node .rule { fill: #d22; font-size: 12px; text-anchor: start; visibility: hidden; }
.node.bwd-done .rule { visibility: visible; }
.node.current circle, .node.current rect { fill: #fff3b0; }
.node.current .hit { fill: #fff3b0; }
.node { cursor: pointer; }
"""

_JS = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("jaxbp-data").textContent);
  const q = new URLSearchParams(location.hash.slice(1));
  const delay = Number(q.get("delay") || D.delay);
  const svg = document.getElementById("graph");
  const status = document.getElementById("status");
  const info = document.getElementById("info");
  const btn = (n) => document.getElementById("btn-" + n);
  const all = (sel) => Array.from(svg.querySelectorAll(sel));
  const nForward = D.events.filter((e) => e.phase === "forward").length;
  let done = 0, timer = null, pinned = null;

  const text = (eid, kind) => svg.querySelector(`text.${kind}[data-edge="${eid}"]`);
  const shown = (eid, kind) => {
    const t = text(eid, kind);
    return !!t && t.classList.contains("shown");
  };
  const value = (eid, kind) => (shown(eid, kind) ? text(eid, kind).dataset[kind] : "…");

  function reveal(ev) {
    const kind = ev.phase === "forward" ? "fwd" : "bwd";
    all(".current").forEach((el) => el.classList.remove("current"));
    for (const eid of ev.edges) {
      const t = text(eid, kind);
      t.textContent = t.dataset[kind];
      t.classList.add("shown");
      const g = svg.querySelector(`g.edge[data-edge="${eid}"]`);
      g.classList.add(kind + "-shown", "current");
    }
    const node = svg.querySelector(`g.node[data-node="${ev.node}"]`);
    node.classList.add("current", kind + "-done");
    status.textContent = `${done + 1}/${D.events.length}  ${ev.text}`;
  }
  function update() {
    btn("forward").disabled = done >= nForward;
    btn("backward").disabled = done >= D.events.length;
    btn("step").disabled = done >= D.events.length;
    document.body.dataset.step = String(done);
    if (pinned) showInfo(pinned);
  }
  function stepOnce() {
    if (done < D.events.length) { reveal(D.events[done]); done += 1; update(); }
  }
  function stop() { clearTimeout(timer); timer = null; }
  function play(upto) {
    stop();
    const tick = () => {
      if (done < upto) { stepOnce(); timer = setTimeout(tick, delay); } else { timer = null; }
    };
    tick();
  }
  function reset() {
    stop();
    done = 0;
    all("text.fwd, text.bwd").forEach((t) => { t.textContent = ""; t.classList.remove("shown"); });
    for (const c of ["current", "fwd-shown", "bwd-shown", "fwd-done", "bwd-done"]) {
      all("." + c).forEach((el) => el.classList.remove(c));
    }
    status.textContent = D.hint;
    update();
  }
  function row(table, head, ...cells) {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.textContent = head;
    tr.appendChild(th);
    for (const c of cells) tr.insertCell().textContent = c;
  }
  function showInfo(nid) {
    const n = D.info[nid];
    info.dataset.node = nid;
    info.textContent = "";
    const h = document.createElement("h3");
    h.textContent = n.name + (n.prim ? ` (${n.prim})` : "") + (n.section ? `  §${n.section}` : "");
    const table = document.createElement("table");
    info.append(h, table);
    for (const r of n.ins) row(table, "input", r.src, value(r.edge, "fwd"));
    if (n.outs.length) row(table, "output", value(n.outs[0], "fwd"));
    const up = n.outs.length && n.outs.every((e) => shown(e, "bwd"));
    if (n.dout !== null) row(table, "dout", up ? n.dout : "…");
    for (const r of n.ins) {
      if (!r.rule) continue;
      const passed = shown(r.edge, "bwd");
      const how = r.worked || `${r.rule} = ${value(r.edge, "bwd")}`;
      row(table, "passes", "to " + r.src, passed ? how : r.rule);
    }
  }
  btn("forward").addEventListener("click", () => play(nForward));
  btn("backward").addEventListener("click", () => play(D.events.length));
  btn("step").addEventListener("click", () => { stop(); stepOnce(); });
  btn("reset").addEventListener("click", reset);
  for (const g of all("g.node")) {
    g.addEventListener("mouseenter", () => showInfo(g.dataset.node));
    g.addEventListener("mouseleave", () => { if (pinned) showInfo(pinned); });
    g.addEventListener("click", () => { pinned = g.dataset.node; showInfo(pinned); });
  }
  reset();
  const clicks = (q.get("click") || "").split(",").filter(Boolean);
  function next() {
    if (timer !== null) { setTimeout(next, 20); return; }
    const c = clicks.shift();
    if (c === undefined) { document.body.dataset.played = "1"; return; }
    if (c.startsWith("node:")) {
      const g = svg.querySelector(`g.node[data-node="${c.slice(5)}"]`);
      if (!g) { document.body.dataset.error = "no node " + c.slice(5); return; }
      g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    } else if (btn(c)) {
      btn(c).click();
    } else {
      document.body.dataset.error = "no button " + c;
      return;
    }
    setTimeout(next, 0);
  }
  if (clicks.length) next();
})();
"""

_HINT = "forward: values node by node · backward: derivatives edge by edge · step: one at a time"


def _page(title: str, svg: str, data: dict) -> str:
    """The self-contained HTML document."""
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
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
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<div id="controls">{buttons}</div>
<div id="status"></div>
<div id="main"><div id="canvas">{svg}</div><div id="info">hover over or click a node</div></div>
<div class="legend">black: forward values (arrays: shape and dtype) · red: backward,
d out / d value (arrays: its norm ‖·‖) and each node's local rule</div>
<script type="application/json" id="jaxbp-data">{blob}</script>
<script>{_JS}</script>
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


def explore(
    f: Callable[..., Any],
    *args: Any,
    grads: bool | None = None,
    argnames: Sequence[str] | None = None,
    backward: bool = False,
    title: str | None = None,
    delay_ms: int = 400,
) -> Explorer:
    """An HTML page that steps through ``f(*args)``'s forward and backward pass.

    Same arguments as :func:`jaxbp.drawing.draw` (``backward=True``: the page
    of the backward pass's own graph, figure 5-20); ``delay_ms``: the pause
    between two events when the forward or backward button plays them.

    >>> from jaxbp.graph import buy_apple
    >>> page = explore(buy_apple, 100.0, 2.0, 1.1)       # figure 5-16
    >>> page.html.count('class="bwd"'), "dout * y" in page.html
    (5, True)
    """
    if not callable(f):
        raise TypeError(f"explore: f must be callable, got {type(f).__name__}")
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or delay_ms < 0:
        raise ValueError(f"explore: delay_ms must be an int >= 0, got {delay_ms!r}")
    graph = trace(f, *args, grads=grads, argnames=argnames, backward=backward, title=title)
    pos = layout(graph)
    info = {n.id: _node_info(graph, n) for n in graph.nodes}
    name = title or getattr(f, "__name__", "f") + (" (backward pass)" if backward else "")
    data = dict(events=_events(graph, info), info=info, delay=delay_ms, hint=_HINT)
    svg = _svg(graph, pos, info)
    height = int(max(y + h / 2 for _, y, _, h in pos.values())) + 250
    return Explorer(_page(name, svg, data), graph, height)
