"""Draw a function's computational graph the way chapter 5 does (5.1-5.6).

Every figure of the chapter (5-16 and 5-17 for the apples and oranges, 5-19
and 5-20 for the sigmoid) is a computational graph read left to right: one
node per operation, the forward value written above each edge and the
backward value -- the derivative of the output with respect to the value on
that edge -- below it.  :func:`trace` finds that graph, as plain data, for any
function built from :mod:`jaxbp` pieces or plain ``jax.numpy``; :func:`draw`
writes it as Graphviz DOT and :func:`jaxbp.explore.explore` as an HTML page:

* ``f`` is traced with :func:`jax.make_jaxpr`; ``jit`` calls are inlined, and
  each :func:`jax.custom_vjp` node (``_mul``, ``_affine``, ...) stays one node
  named after its function (``x``, ``+``, ``affine``, ``softmax_with_loss``);
* the forward values are found by running the jaxpr equation by equation;
* the backward value on each edge is ``d out / d eps`` at ``eps = 0``, where a
  zero ``eps`` is added to the value at that edge (one per use, so a value that
  feeds two nodes shows each branch's share, 5.2.1's "local" derivative).
  Constants (the ``1`` of ``1 + exp(-x)``) carry no backward value: only what
  depends on an input of ``f`` does.

With ``backward=True`` the graph drawn is the backward pass itself (figure
5-20): the function ``(inputs, dout) -> d out/d inputs`` that ``jax.grad`` runs,
traced like any other, so the custom rules' backward functions appear as the
ordinary operations they are made of; its nodes that run on ``dout`` are the
backward part (drawn red).  Drawing ``jax.grad(f)`` itself gives the
derivative of the derivative.

Scalars are written as numbers (``220``, ``1.1``), arrays as shape and dtype
with the norm of their gradient.  Rendering uses Graphviz's ``dot`` program;
making the DOT text does not need it.
"""

from __future__ import annotations

import html
import inspect
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import jax
import jax.numpy as jnp
import numpy as np

try:
    from jax.extend.core import Literal
except ImportError:  # older jax
    from jax.core import Literal

__all__ = ["draw", "trace", "dot_source", "book_sigmoid", "Drawing", "Graph", "Node", "Edge"]

INSTALL_HINT = (
    "Graphviz's `dot` program is needed to render the graph but was not "
    "found on PATH. Install Graphviz, e.g. `apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install "
    "graphviz`. (The DOT text is available without it: `.source`.)"
)

# Book-style node labels (figure 5-19 draws x, +, exp, /).
LABELS = {
    "mul": "×",
    "add": "+",
    "add_any": "+",
    "sub": "−",
    "div": "/",
    "neg": "−",
    "dot_general": "dot",
    "reduce_sum": "sum",
    "reduce_max": "max",
}
_INLINE = ("pjit", "jit", "closed_call", "core_call")
_CUSTOM = ("custom_vjp_call", "custom_vjp_call_jaxpr", "custom_jvp_call")
_HIDDEN = ("convert_element_type", "copy", "copy_p")  # drawn as plain wires
_NOISE = (
    "broadcast_in_dim",
    "reshape",
    "squeeze",
    "expand_dims",
    "stop_gradient",
    "transpose",
)  # drawn small and grey


@dataclass(frozen=True)
class _Const:
    val: object


@dataclass
class _Op:
    eqn: object
    ins: list
    outs: list
    label: str
    hidden: bool = False
    prim: str = ""  # the primitive, or a custom rule's function name (mul, affine)


# ---- the graph as plain data -------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One node of a traced graph.

    ``id``: ``in<k>`` (an input of ``f``), ``c<k>`` (a constant), ``op<k>``
    (an operation) or ``out<k>``; ``kind``: ``"input"``, ``"const"``, ``"op"``
    or ``"output"``; ``label``: what the figure writes (``×``, ``exp``,
    ``apple``, ``1``); ``prim``: an operation's JAX primitive (``mul``, ``exp``)
    or custom rule's function (``mul``, ``affine``); ``noise``: a reshape-like
    op drawn small; ``backward``: an operation of a backward graph that runs on
    ``dout``.
    """

    id: str
    kind: str
    label: str
    prim: str = ""
    noise: bool = False
    backward: bool = False


@dataclass(frozen=True)
class Edge:
    """A value flowing from node ``tail`` into input ``port`` of node ``head``.

    ``fwd`` and ``bwd`` are the texts written above and below the edge (``bwd``
    is None where there is no derivative: integers, constants, ``grads=False``);
    ``value`` and ``grad`` are the arrays themselves.
    """

    id: str
    tail: str
    head: str
    port: int
    fwd: str
    bwd: str | None
    value: np.ndarray = field(repr=False, compare=False)
    grad: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Graph:
    """A traced computational graph: ``nodes`` in topological order, ``edges``
    ordered by their head's position (then port), and the figure's ``title``."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    title: str | None = None

    @property
    def order(self) -> tuple[str, ...]:
        """Node ids in topological order (every edge goes from earlier to later)."""
        return tuple(n.id for n in self.nodes)

    def node(self, nid: str) -> Node:
        """The node called ``nid``."""
        return next(n for n in self.nodes if n.id == nid)

    def upstream(self, nid: str) -> np.ndarray | None:
        """``dout`` at node ``nid``: the sum of the derivatives on the edges leaving it
        (5.2.1: a value used twice gets both branches' derivatives), or None."""
        gs = [e.grad for e in self.edges if e.tail == nid]
        if not gs or any(g is None for g in gs) or len({g.shape for g in gs}) > 1:
            return None
        return sum(gs[1:], gs[0])

    def as_dict(self) -> dict:
        """JSON-ready dict: ``nodes``, ``edges`` (texts, no arrays), ``order``, ``title``."""
        nodes = [vars(n).copy() for n in self.nodes]
        edges = [
            {k: getattr(e, k) for k in ("id", "tail", "head", "port", "fwd", "bwd")}
            for e in self.edges
        ]
        return dict(title=self.title, nodes=nodes, edges=edges, order=list(self.order))


# ---- tracing ----------------------------------------------------------------
def _custom_name(params) -> str:
    """Name of a custom-rule node: ``params['name']`` or the traced function's, less ``_``."""
    name = params.get("name")
    for key in ("call_jaxpr", "fun_jaxpr"):
        dbg = getattr(getattr(params.get(key), "jaxpr", None), "debug_info", None)
        name = (
            name
            or getattr(dbg, "func_name", None)
            or (getattr(dbg, "func_src_info", None) or "").split(" ")[0]
        )
    return str(name or "custom").lstrip("_")


def _flatten(jaxpr, consts, ins, ops, fresh):
    """Append ``jaxpr``'s equations to ``ops`` with jit calls inlined."""
    env = dict(zip(jaxpr.invars, ins))
    env.update((v, _Const(c)) for v, c in zip(jaxpr.constvars, consts))
    read = lambda a: _Const(a.val) if isinstance(a, Literal) else env[a]
    for eqn in jaxpr.eqns:
        args, name = [read(a) for a in eqn.invars], eqn.primitive.name
        if name in _INLINE:
            sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
            outs = _flatten(
                getattr(sub, "jaxpr", sub), getattr(sub, "consts", ()), args, ops, fresh
            )
        else:
            outs = [next(fresh) for _ in eqn.outvars]
            prim = _custom_name(eqn.params) if name in _CUSTOM else name
            label = f"^{eqn.params['y']}" if name == "integer_pow" else LABELS.get(prim, prim)
            ops.append(_Op(eqn, args, outs, label, name in _HIDDEN, prim))
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


def _run(ops, in_ids, outs, in_vals, eps, seen=None):
    """Evaluate the flat graph, adding ``eps[k]`` to the value at each use ``k``."""
    env, eps = dict(zip(in_ids, in_vals)), dict(eps)

    def val(a, k):
        v = a.val if isinstance(a, _Const) else env[a]
        return v + eps[k] if k in eps else v

    for i, op in enumerate(ops):
        args = [val(a, (i, j)) for j, a in enumerate(op.ins)]
        if seen is not None:
            seen.update(((i, j), v) for j, v in enumerate(args))
        prim = op.eqn.primitive  # as jax.core.eval_jaxpr does
        params = prim.get_bind_params(op.eqn.params)
        subfuns, params = params if isinstance(params, tuple) else ((), params)
        res = prim.bind(*subfuns, *args, **params)
        env.update(zip(op.outs, res if prim.multiple_results else [res]))
    res = [val(a, ("out", k)) for k, a in enumerate(outs)]
    if seen is not None:
        seen.update((("out", k), v) for k, v in enumerate(res))
    return res


def _num(v) -> str:
    """Compact number: ``220``, ``2.2``: shortest repr, at most 6 significant digits
    (float32's ``1.1 * 3 = 3.3000002`` is written ``3.3`` as in figure 5-17)."""
    v = np.asarray(v)[()]  # numpy scalar keeps float32
    if v.dtype.kind != "f":
        return str(v.item())
    x = abs(float(v))
    if x != 0 and not 1e-4 <= x < 1e7:
        return np.format_float_scientific(v, precision=4, trim="-", exp_digits=1)
    return np.format_float_positional(v, precision=6, fractional=False, trim="-")


def _fwd_text(v) -> str:
    v = np.asarray(v)
    return _num(v) if v.ndim == 0 else f"{tuple(v.shape)} {v.dtype}"


def _bwd_text(g) -> str | None:
    if g is None:
        return None
    g = np.asarray(g)
    return (
        _num(g)
        if g.ndim == 0
        else "‖·‖=" + _num(np.linalg.norm(g.astype(np.float64)).astype(g.dtype))
    )


def _edge_label(fwd: str, bwd: str | None) -> str:
    rows = f"<TR><TD>{html.escape(fwd)}</TD></TR>"
    if bwd is not None:
        rows += f'<TR><TD><FONT COLOR="red">{html.escape(bwd)}</FONT></TD></TR>'
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def _leaf_names(f, args, argnames):
    if argnames is None:
        try:
            params = list(inspect.signature(f).parameters.values())
        except (TypeError, ValueError):
            params = []
        argnames = [
            p.name
            if i < len(params) and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            else f"arg{i}"
            for i, p in enumerate(params + [None] * (len(args) - len(params)))
        ][: len(args)]
    elif isinstance(argnames, str) or len(argnames) != len(args):
        raise ValueError(
            f"draw: argnames must name each of the {len(args)} arguments, got {argnames!r}"
        )
    names = []
    for name, arg in zip(argnames, args):
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            keys = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
            names.append(".".join([name, *keys]))
    return names


def _defaults(f) -> tuple:
    """``f``'s parameters' default values (``buy_apple``'s 100, 2, 1.1), or ``()``."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return ()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    vals = [p.default for p in params if p.kind in kinds]
    return () if not vals or inspect.Parameter.empty in vals else tuple(vals)


def _prune(ops, outs) -> list:
    """``ops`` less those whose results nothing uses (the backward pass's unused ``out``)."""
    need, keep = {a for a in outs if not isinstance(a, _Const)}, []
    for op in reversed(ops):
        if any(o in need for o in op.outs):
            keep.append(op)
            need.update(a for a in op.ins if not isinstance(a, _Const))
    return keep[::-1]


def _reach(ops, start) -> set:
    """Ids of the values that depend on the values ``start`` (and ``start`` itself)."""
    reach = set(start)
    for op in ops:
        if any(a in reach for a in op.ins if not isinstance(a, _Const)):
            reach.update(op.outs)
    return reach


def _forward(ops, in_ids, outs, in_vals) -> tuple[list, dict]:
    """The outputs, and the value at every use (``{(op, input) or ("out", k): value}``)."""
    keys: list = []

    def run(vals):
        seen: dict = {}
        out = _run(ops, in_ids, outs, vals, {}, seen)
        keys[:] = seen
        return out, list(seen.values())

    out_vals, values = jax.jit(run)(list(in_vals))  # one compiled program, not one per op
    return out_vals, dict(zip(keys, values))


def _is_scalar_loss(out_vals) -> bool:
    return (
        len(out_vals) == 1
        and jnp.shape(out_vals[0]) == ()
        and jnp.issubdtype(out_vals[0].dtype, jnp.inexact)
    )


def _edge_grads(ops, in_ids, outs, in_vals, out_vals, seen, keys) -> dict:
    """``d out / d value`` at each use in ``keys`` (a subset of ``seen``'s keys)."""
    if not _is_scalar_loss(out_vals):
        raise ValueError(
            "draw(grads=True) needs f to return one floating scalar "
            "(like the loss L); got "
            + ", ".join(_fwd_text(np.zeros(np.shape(v), v.dtype)) for v in out_vals)
            + ". Reduce it (e.g. jnp.sum) or pass grads=False."
        )
    zeros = [jnp.zeros_like(seen[k]) for k in keys]
    grad = jax.jit(jax.grad(lambda e, v: _run(ops, in_ids, outs, v, zip(keys, e))[0]))
    return dict(zip(keys, grad(zeros, in_vals)))  # one compiled program, not one per op


def _backward_fn(f, args, names):
    """What ``jax.grad`` runs, as a function of its own: ``(x..., dout) -> dL/dx...``.

    ``x`` are ``args``' floating leaves (the others, e.g. integer labels, are
    closed over); ``dout`` is the output's cotangent, 1 for a scalar loss.
    Returns the function, its arguments' values, and its inputs' and outputs' names.
    """
    leaves, tree = jax.tree_util.tree_flatten(args)
    leaves = [jnp.asarray(v) for v in leaves]
    diff = [i for i, v in enumerate(leaves) if jnp.issubdtype(v.dtype, jnp.inexact)]

    def flat_f(*xs):
        full = list(leaves)
        for i, x in zip(diff, xs):
            full[i] = x
        return f(*jax.tree_util.tree_unflatten(tree, full))

    xs = [leaves[i] for i in diff]
    out = jax.eval_shape(flat_f, *xs)
    out_leaves, out_tree = jax.tree_util.tree_flatten(out)
    if not all(jnp.issubdtype(o.dtype, jnp.inexact) for o in out_leaves):
        raise ValueError(
            "draw(backward=True) needs f to return floating values, got dtypes "
            + ", ".join(str(o.dtype) for o in out_leaves)
        )
    douts = [jnp.ones(o.shape, o.dtype) for o in out_leaves]

    def grad_fn(*ins):
        vjp = jax.vjp(flat_f, *ins[: len(xs)])[1]
        return vjp(jax.tree_util.tree_unflatten(out_tree, list(ins[len(xs) :])))

    dnames = ["dout"] if len(douts) == 1 else [f"dout{k}" for k in range(len(douts))]
    return grad_fn, xs + douts, [names[i] for i in diff] + dnames, ["d" + names[i] for i in diff]


def _build(ops, in_ids, outs, names, out_names, seen, grad, on_dout):
    """The :class:`Node` and :class:`Edge` lists of the flat graph."""
    nodes = [Node(f"in{i}", "input", name) for i, name in enumerate(names)]
    src, edges = {vid: f"in{i}" for i, vid in enumerate(in_ids)}, []

    def tail(atom):
        if not isinstance(atom, _Const):
            return src[atom]
        nodes.append(Node(f"c{sum(n.kind == 'const' for n in nodes)}", "const", _const(atom)))
        return nodes[-1].id

    def edge(tail_id, head, port, key):
        v, g = np.asarray(seen[key]), grad.get(key)
        g = None if g is None else np.asarray(g)
        edges.append(Edge(f"e{len(edges)}", tail_id, head, port, _fwd_text(v), _bwd_text(g), v, g))

    for i, op in enumerate(ops):
        if op.hidden:  # dtype casts: a plain wire
            src.update((o, tail(op.ins[0])) for o in op.outs)
            continue
        tails, noise = [tail(a) for a in op.ins], op.eqn.primitive.name in _NOISE
        back = any(o in on_dout for o in op.outs)
        nodes.append(Node(f"op{i}", "op", op.label, op.prim, noise, back))
        for j, t in enumerate(tails):
            edge(t, f"op{i}", j, (i, j))
        src.update((o, f"op{i}") for o in op.outs)
    for k, a in enumerate(outs):
        nodes.append(Node(f"out{k}", "output", out_names[k] if out_names else ""))
        edge(tail(a), f"out{k}", 0, ("out", k))
    return nodes, edges


def _const(atom: _Const) -> str:
    return _num(atom.val) if np.ndim(atom.val) == 0 else "const"


def trace(
    f: Callable[..., Any],
    *args: Any,
    grads: bool | None = None,
    argnames: Sequence[str] | None = None,
    backward: bool = False,
    title: str | None = None,
) -> Graph:
    """``f(*args)``'s computational graph as plain data (figures 5-16 to 5-20).

    ``grads``: write ``d out / d value`` on every edge that depends on an input
    (needs one floating scalar output); None: yes, except for a backward graph
    with more than one output.  ``backward=True``: the graph of the backward
    pass instead (inputs ``x..., dout``; outputs ``dx...``).  Returns a
    :class:`Graph` with nodes in topological order.

    >>> from jaxbp.graph import buy_apple
    >>> g = trace(buy_apple, 100.0, 2.0, 1.1)          # figure 5-16
    >>> [(g.node(e.tail).label, e.fwd, e.bwd) for e in g.edges if e.tail.startswith("in")]
    [('apple', '100', '2.2'), ('apple_num', '2', '110'), ('tax', '1.1', '200')]
    """
    args = args or _defaults(f)
    names = _leaf_names(f, args, argnames)
    if backward:
        f, in_vals, names, out_names = _backward_fn(f, args, names)
        closed = jax.make_jaxpr(f)(*in_vals)
    else:
        closed, out_names = jax.make_jaxpr(f)(*args), None
        in_vals = [jnp.asarray(a) for a in jax.tree_util.tree_leaves(args)]
    ops, fresh = [], iter(range(10**9))
    in_ids = [next(fresh) for _ in closed.jaxpr.invars]
    outs = _flatten(closed.jaxpr, closed.consts, in_ids, ops, fresh)
    ops = _prune(ops, outs) if backward else ops
    out_vals, seen = _forward(ops, in_ids, outs, in_vals)
    varies = _reach(ops, in_ids)
    atoms = {(i, j): a for i, op in enumerate(ops) for j, a in enumerate(op.ins)}
    atoms.update((("out", k), a) for k, a in enumerate(outs))
    live = [
        k
        for k, a in atoms.items()
        if not isinstance(a, _Const)
        and a in varies
        and jnp.issubdtype(jnp.result_type(seen[k]), jnp.inexact)
    ]
    grads = (not backward or _is_scalar_loss(out_vals)) if grads is None else grads
    grad = _edge_grads(ops, in_ids, outs, in_vals, out_vals, seen, live) if grads else {}
    n_dout = len(in_ids) - len(out_names) if backward else 0
    on_dout = _reach(ops, in_ids[len(in_ids) - n_dout :]) if backward else set()
    nodes, edges = _build(ops, in_ids, outs, names, out_names, seen, grad, on_dout)
    return Graph(tuple(nodes), tuple(edges), title)


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
    graph = trace(f, *args, grads=grads, argnames=argnames, backward=backward, title=title)
    drawing = Drawing(dot_source(graph))
    if filename is not None:
        drawing = Drawing(drawing.source, tuple(drawing.render(filename, format or ("svg", "png"))))
    return drawing
