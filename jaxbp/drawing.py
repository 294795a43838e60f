"""Draw a function's computational graph the way chapter 5 does (5.1-5.6).

Every figure of the chapter (5-16 and 5-17 for the apples and oranges, 5-19
and 5-20 for the sigmoid) is a computational graph read left to right: one
node per operation, the forward value written above each edge and the
backward value -- the derivative of the output with respect to the value on
that edge -- below it.  :func:`draw` produces that picture for any function
built from :mod:`jaxbp` pieces or plain ``jax.numpy``:

* ``f`` is traced with :func:`jax.make_jaxpr`; ``jit`` calls are inlined, and
  each :func:`jax.custom_vjp` node (``_mul``, ``_affine``, ...) stays one node
  named after its function (``x``, ``+``, ``affine``, ``softmax_with_loss``);
* the forward values are found by running the jaxpr equation by equation;
* the backward value on each edge is ``d out / d eps`` at ``eps = 0``, where a
  zero ``eps`` is added to the value at that edge (one per use, so a value that
  feeds two nodes shows each branch's share, 5.2.1's "local" derivative).

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

__all__ = ["draw", "Drawing"]

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


def _custom_name(params) -> str:
    """Name of a custom-rule node: ``params['name']`` or the traced function's."""
    name = params.get("name")
    for key in ("call_jaxpr", "fun_jaxpr"):
        dbg = getattr(getattr(params.get(key), "jaxpr", None), "debug_info", None)
        name = (
            name
            or getattr(dbg, "func_name", None)
            or (getattr(dbg, "func_src_info", None) or "").split(" ")[0]
        )
    name = str(name or "custom").lstrip("_")
    return LABELS.get(name, name)


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
            label = _custom_name(eqn.params) if name in _CUSTOM else LABELS.get(name, name)
            label = f"^{eqn.params['y']}" if name == "integer_pow" else label
            ops.append(_Op(eqn, args, outs, label, name in _HIDDEN))
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
    names = []
    for name, arg in zip(argnames, args):
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            keys = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
            names.append(".".join([name, *keys]))
    return names


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


def _edge_grads(ops, in_ids, outs, in_vals, out_vals, seen) -> dict:
    """``d out / d value`` for every floating value on an edge (``seen``'s keys)."""
    if (
        len(out_vals) != 1
        or jnp.shape(out_vals[0]) != ()
        or not jnp.issubdtype(out_vals[0].dtype, jnp.inexact)
    ):
        raise ValueError(
            "draw(grads=True) needs f to return one floating scalar "
            "(like the loss L); got "
            + ", ".join(_fwd_text(np.zeros(np.shape(v), v.dtype)) for v in out_vals)
            + ". Reduce it (e.g. jnp.sum) or pass grads=False."
        )
    keys = [k for k, v in seen.items() if jnp.issubdtype(jnp.result_type(v), jnp.inexact)]
    zeros = [jnp.zeros_like(seen[k]) for k in keys]
    gs = jax.grad(lambda e: _run(ops, in_ids, outs, in_vals, zip(keys, e))[0])(zeros)
    return dict(zip(keys, gs))


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


def _op_node(g: graphviz.Digraph, nid: str, op: _Op) -> None:
    small = len(op.label) <= 3  # book: ×, +, exp in circles
    if op.eqn.primitive.name in _NOISE:
        g.node(
            nid, op.label, shape="box", fontsize="9", color="grey", fontcolor="grey40", height="0.3"
        )
    else:
        g.node(
            nid,
            op.label,
            shape="circle" if small else "box",
            style="" if small else "rounded",
            width="0.5",
            fontsize="16" if len(op.label) == 1 else "12",
            fixedsize="true" if small else "false",
        )


def _add_edges(g, ops, in_ids, outs, names, seen, grad) -> None:
    """Inputs, one node per op, the output, and every edge with its two labels."""
    src = {}
    for i, (vid, name) in enumerate(zip(in_ids, names)):
        g.node(f"in{i}", name, shape="plaintext")
        src[vid] = f"in{i}"
    n_const = iter(range(10**9))

    def tail(atom):
        if not isinstance(atom, _Const):
            return src[atom]
        cid = f"c{next(n_const)}"
        g.node(
            cid,
            _num(atom.val) if np.ndim(atom.val) == 0 else "const",
            shape="plaintext",
            fontsize="11",
        )
        return cid

    def edge(atom, head, key):
        g.edge(tail(atom), head, label=_edge_label(_fwd_text(seen[key]), _bwd_text(grad.get(key))))

    for i, op in enumerate(ops):
        if op.hidden:  # dtype casts: a plain wire
            src.update((o, tail(op.ins[0])) for o in op.outs)
            continue
        _op_node(g, f"op{i}", op)
        for j, a in enumerate(op.ins):
            edge(a, f"op{i}", (i, j))
        src.update((o, f"op{i}") for o in op.outs)
    for k, a in enumerate(outs):
        g.node(f"out{k}", "", shape="none", width="0", height="0")
        edge(a, f"out{k}", ("out", k))


def draw(
    f: Callable[..., Any],
    *args: Any,
    grads: bool = True,
    argnames: Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    filename: str | os.PathLike | None = None,
    title: str | None = None,
) -> Drawing:
    """Draw ``f(*args)``'s computational graph like figures 5-16, 5-17, 5-19.

    Nodes: the inputs (named after ``f``'s parameters, or ``argnames``; pytree
    leaves as ``params.W1``), one node per primitive or custom-rule node, and
    the output.  Each edge shows its forward value in black (a number, or shape
    and dtype for arrays) and, with ``grads=True``, ``d out / d value`` below
    it in red (the norm for arrays); that needs a scalar floating output.

    Returns a :class:`Drawing` (``.source`` DOT text, ``.render(path)``, shown
    as SVG in notebooks).  With ``filename``, also writes ``filename.svg`` and
    ``filename.png`` (or only ``format``); rendering needs Graphviz's ``dot``.
    """
    closed = jax.make_jaxpr(f)(*args)
    ops, fresh = [], iter(range(10**9))
    in_ids = [next(fresh) for _ in closed.jaxpr.invars]
    outs = _flatten(closed.jaxpr, closed.consts, in_ids, ops, fresh)
    in_vals = [jnp.asarray(a) for a in jax.tree_util.tree_leaves(args)]
    seen: dict = {}
    out_vals = _run(ops, in_ids, outs, in_vals, {}, seen)
    grad = _edge_grads(ops, in_ids, outs, in_vals, out_vals, seen) if grads else {}
    g = _digraph(title)
    names = _leaf_names(f, args, argnames)
    _add_edges(g, ops, in_ids, outs, names, seen, grad)
    drawing = Drawing(g.source)
    if filename is not None:
        drawing = Drawing(g.source, tuple(drawing.render(filename, format or ("svg", "png"))))
    return drawing
