"""A function's computational graph as plain data, values and derivatives on every edge (5.1-5.6).

Every figure of the chapter (5-16 and 5-17 for the apples and oranges, 5-19
and 5-20 for the sigmoid) is a computational graph read left to right: one
node per operation, the forward value written above each edge and the
backward value -- the derivative of the output with respect to the value on
that edge -- below it.  :func:`trace` finds that graph, as a :class:`Graph`,
for any function built from :mod:`jaxbp` pieces or plain ``jax.numpy``;
:func:`jaxbp.drawing.draw` writes it as Graphviz DOT and
:func:`jaxbp.explore.explore` as an HTML page:

* ``f`` is traced with :func:`jax.make_jaxpr`; ``jit`` calls are inlined, and
  each :func:`jax.custom_vjp` node (``_mul``, ``_affine``, ...) stays one node
  named after its rule (``x``, ``+``, ``affine``, ``softmax_with_loss``);
* the forward values are found by running the graph equation by equation
  (5.1's local computations, one at a time);
* the backward values by running it backwards the same way (5.2-5.3): each
  node's vector-Jacobian product (for the custom nodes, the hand-written
  rule) turns the ``dout`` of its outputs into one derivative per input edge,
  and a value used by several nodes sums its edges' derivatives (5.2.1).
  Constants (the ``1`` of ``1 + exp(-x)``) carry no backward value: only what
  depends on an input of ``f`` does.

No program is compiled for the whole graph: each operation runs on its own (JAX
compiles each kind of operation once), so a graph of a thousand nodes takes seconds.

With ``backward=True`` the graph traced is the backward pass itself (figure
5-20): the function ``(inputs, dout) -> d out/d inputs`` that ``jax.grad`` runs,
traced like any other, so the custom rules' backward functions appear as the
ordinary operations they are made of; its nodes that run on ``dout`` are the
backward part.  Tracing ``jax.grad(f)`` itself gives the derivative of the
derivative.

Scalars are written as numbers (``220``, ``1.1``), arrays as shape and dtype
with the norm of their gradient.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp._equations import Const, flatten, prune, reach, run_backward, run_forward

__all__ = ["trace", "Graph", "Node", "Edge"]

_NOISE = (
    "broadcast_in_dim",
    "reshape",
    "squeeze",
    "expand_dims",
    "stop_gradient",
    "transpose",
)  # drawn small and grey


# ---- the graph as plain data -------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One node of a traced graph.

    ``id``: ``in<k>`` (an input of ``f``), ``c<k>`` (a constant), ``op<k>``
    (an operation) or ``out<k>``; ``kind``: ``"input"``, ``"const"``, ``"op"``
    or ``"output"``; ``label``: what the figure writes (``×``, ``exp``,
    ``apple``, ``1``); ``prim``: an operation's JAX primitive (``mul``, ``exp``)
    or custom rule's name (``mul``, ``affine``); ``noise``: a reshape-like
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
    ``value`` and ``grad`` are the arrays themselves (``grad``: ``d out / d value``,
    of ``value``'s shape).
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

    @cached_property
    def _index(self) -> tuple[dict, dict, dict]:
        nodes = {n.id: n for n in self.nodes}
        into: dict = {nid: [] for nid in nodes}
        leaving: dict = {nid: [] for nid in nodes}
        for e in self.edges:
            into[e.head].append(e)
            leaving[e.tail].append(e)
        return nodes, into, leaving

    def node(self, nid: str) -> Node:
        """The node called ``nid``."""
        return self._index[0][nid]

    def into(self, nid: str) -> list[Edge]:
        """The edges ending at node ``nid``, by port."""
        return sorted(self._index[1][nid], key=lambda e: e.port)

    def leaving(self, nid: str) -> list[Edge]:
        """The edges starting at node ``nid`` (one per use of its value)."""
        return list(self._index[2][nid])

    def upstream(self, nid: str) -> np.ndarray | None:
        """``dout`` at node ``nid``: the sum of the derivatives on the edges leaving it
        (5.2.1: a value used twice gets both branches' derivatives), or None."""
        gs = [e.grad for e in self._index[2][nid]]
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


# ---- text ---------------------------------------------------------------------
def number_text(v) -> str:
    """Compact number: ``220``, ``2.2``: shortest repr, at most 6 significant digits
    (float32's ``1.1 * 3 = 3.3000002`` is written ``3.3`` as in figure 5-17)."""
    v = np.asarray(v)[()]  # numpy scalar keeps float32
    if v.dtype.kind != "f":
        return str(v.item())
    x = abs(float(v))
    if x != 0 and not 1e-4 <= x < 1e7:
        return np.format_float_scientific(v, precision=4, trim="-", exp_digits=1)
    return np.format_float_positional(v, precision=6, fractional=False, trim="-")


def fwd_text(v) -> str:
    """A forward value as an edge writes it: the number, or ``(shape) dtype``.

    >>> fwd_text(np.float32(1.1) * 3), fwd_text(np.zeros((100, 784), np.float32))
    ('3.3', '(100, 784) float32')
    """
    v = np.asarray(v)
    return number_text(v) if v.ndim == 0 else f"{tuple(v.shape)} {v.dtype}"


def bwd_text(g) -> str | None:
    """A derivative as an edge writes it: the number, or ``‖·‖=`` its norm; None for None.

    >>> bwd_text(np.float32(2.2)), bwd_text(np.array([3.0, 4.0])), bwd_text(None)
    ('2.2', '‖·‖=5', None)
    """
    if g is None:
        return None
    g = np.asarray(g)
    if g.ndim == 0:
        return number_text(g)
    return "‖·‖=" + number_text(np.linalg.norm(g.astype(np.float64)).astype(g.dtype))


# ---- names and structure ---------------------------------------------------------
def _argnames(argnames, n: int, who: str) -> list[str]:
    if isinstance(argnames, str) or not isinstance(argnames, Sequence):
        raise TypeError(f"{who}: argnames must be a list of strings, got {argnames!r}")
    if len(argnames) != n:
        raise ValueError(f"{who}: argnames must name each of the {n} arguments, got {argnames!r}")
    if not all(isinstance(a, str) for a in argnames):
        raise TypeError(f"{who}: argnames must be strings, one per argument, got {argnames!r}")
    return list(argnames)


def _leaf_names(f, args, argnames, who: str) -> list[str]:
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
    else:
        argnames = _argnames(argnames, len(args), who)
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


def _count_nodes(ops, n_inputs: int, outs) -> int:
    """How many nodes :func:`_build` makes: inputs, one per drawn operation, one per use
    of a constant, outputs."""
    consts = sum(isinstance(a, Const) for op in ops if not op.hidden for a in op.ins)
    consts += sum(isinstance(op.ins[0], Const) for op in ops if op.hidden)
    consts += sum(isinstance(a, Const) for a in outs)
    return n_inputs + sum(not op.hidden for op in ops) + consts + len(outs)


def _is_scalar_loss(out_vals) -> bool:
    return (
        len(out_vals) == 1
        and jnp.shape(out_vals[0]) == ()
        and jnp.issubdtype(jnp.result_type(out_vals[0]), jnp.inexact)
    )


def _backward_fn(f, args, names, who: str):
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
            f"{who}(backward=True) needs f to return floating values, got dtypes "
            + ", ".join(str(o.dtype) for o in out_leaves)
        )
    douts = [jnp.ones(o.shape, o.dtype) for o in out_leaves]

    def grad_fn(*ins):
        vjp = jax.vjp(flat_f, *ins[: len(xs)])[1]
        return vjp(jax.tree_util.tree_unflatten(out_tree, list(ins[len(xs) :])))

    dnames = ["dout"] if len(douts) == 1 else [f"dout{k}" for k in range(len(douts))]
    return grad_fn, xs + douts, [names[i] for i in diff] + dnames, ["d" + names[i] for i in diff]


def _const(atom: Const) -> str:
    return number_text(atom.val) if np.ndim(atom.val) == 0 else "const"


def _build(ops, in_ids, outs, names, out_names, seen, grad, on_dout):
    """The :class:`Node` and :class:`Edge` lists of the flat graph."""
    nodes = [Node(f"in{i}", "input", name) for i, name in enumerate(names)]
    src, edges = {vid: f"in{i}" for i, vid in enumerate(in_ids)}, []

    def tail(atom):
        if not isinstance(atom, Const):
            return src[atom]
        nodes.append(Node(f"c{sum(n.kind == 'const' for n in nodes)}", "const", _const(atom)))
        return nodes[-1].id

    def edge(tail_id, head, port, key):
        v, g = np.asarray(seen[key]), grad.get(key)
        g = None if g is None else np.asarray(g)
        edges.append(Edge(f"e{len(edges)}", tail_id, head, port, fwd_text(v), bwd_text(g), v, g))

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
        t = tail(a)  # a constant output's node comes before the output's
        nodes.append(Node(f"out{k}", "output", out_names[k] if out_names else ""))
        edge(t, f"out{k}", 0, ("out", k))
    return nodes, edges


def _live(ops, outs, varies, seen) -> list:
    """The uses that carry a derivative: values that depend on an input and are floating."""
    atoms = {(i, j): a for i, op in enumerate(ops) for j, a in enumerate(op.ins)}
    atoms.update((("out", k), a) for k, a in enumerate(outs))
    return [
        k
        for k, a in atoms.items()
        if not isinstance(a, Const)
        and a in varies
        and jnp.issubdtype(jnp.result_type(seen[k]), jnp.inexact)
    ]


def trace(
    f: Callable[..., Any],
    *args: Any,
    grads: bool | None = None,
    argnames: Sequence[str] | None = None,
    backward: bool = False,
    title: str | None = None,
    max_nodes: int | None = None,
    who: str = "trace",
) -> Graph:
    """``f(*args)``'s computational graph as plain data (figures 5-16 to 5-20).

    ``args``: ``f``'s arguments (arrays, numbers, pytrees of them; none: ``f``'s
    defaults); ``argnames``: a name per argument (default: ``f``'s parameter
    names; pytree leaves are written ``params.W1``).  ``grads``: write
    ``d out / d value`` on every edge that depends on an input (needs one
    floating scalar output); None: yes, except for a backward graph with more
    than one output.  ``backward=True``: the graph of the backward pass instead
    (inputs ``x..., dout``; outputs ``dx...``).  ``max_nodes``: refuse
    (``ValueError``) a graph of more nodes, before computing any value;
    ``who``: the name error messages start with.  Returns a :class:`Graph`
    with nodes in topological order.

    >>> from jaxbp.graph import buy_apple
    >>> g = trace(buy_apple, 100.0, 2.0, 1.1)          # figure 5-16
    >>> [(g.node(e.tail).label, e.fwd, e.bwd) for e in g.edges if e.tail.startswith("in")]
    [('apple', '100', '2.2'), ('apple_num', '2', '110'), ('tax', '1.1', '200')]
    >>> float(g.upstream("in0"))                       # d price / d apple
    2.2
    """
    args = args or _defaults(f)
    names = _leaf_names(f, args, argnames, who)
    if backward:
        f, in_vals, names, out_names = _backward_fn(f, args, names, who)
        closed = jax.make_jaxpr(f)(*in_vals)
    else:
        closed, out_names = jax.make_jaxpr(f)(*args), None
        in_vals = [jnp.asarray(a) for a in jax.tree_util.tree_leaves(args)]
    ops, fresh = [], iter(range(10**9))
    in_ids = [next(fresh) for _ in closed.jaxpr.invars]
    outs = flatten(closed.jaxpr, closed.consts, in_ids, ops, fresh)
    ops = prune(ops, outs) if backward else ops
    n = _count_nodes(ops, len(names), outs)
    if max_nodes is not None and n > max_nodes:
        raise ValueError(f"{who}: f's graph has {n} nodes, more than max_nodes={max_nodes}")
    out_vals, seen = run_forward(ops, in_ids, outs, in_vals)
    varies = reach(ops, in_ids)
    grads = (not backward or _is_scalar_loss(out_vals)) if grads is None else grads
    if grads and not _is_scalar_loss(out_vals):
        raise ValueError(
            f"{who}(grads=True) needs f to return one floating scalar (like the loss L); got "
            + ", ".join(fwd_text(np.zeros(np.shape(v), jnp.result_type(v))) for v in out_vals)
            + ". Reduce it (e.g. jnp.sum) or pass grads=False."
        )
    grad = run_backward(ops, outs, seen, _live(ops, outs, varies, seen)) if grads else {}
    n_dout = len(in_ids) - len(out_names) if backward else 0
    on_dout = reach(ops, in_ids[len(in_ids) - n_dout :]) if backward else set()
    nodes, edges = _build(ops, in_ids, outs, names, out_names, seen, grad, on_dout)
    return Graph(tuple(nodes), tuple(edges), title)
