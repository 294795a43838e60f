"""Which hand-written rule is wrong: a gradient check per node (book section 5.7.3).

The book's gradient check (5.7.3) compares whole gradients: when backprop and
central differences disagree on ``W1``, every rule between the loss and
``W1`` is a suspect.  :func:`check_rules` checks each :func:`jax.custom_vjp`
node *on its own*, at the inputs it actually saw, so a wrong rule in a deep
network is named by itself and not by every parameter downstream of it:

* ``f(*args)`` is traced with :func:`jax.make_jaxpr` in float64 (``jit``
  calls inlined, as :mod:`jaxbp.drawing` does) and run equation by equation
  to find the values entering every ``custom_vjp`` node, in forward order;
* each node's custom backward (``jax.vjp`` of that one node, which runs its
  hand-written rule) gets a random cotangent ``u`` and is compared with two
  witnesses:

  1. *autodiff*: ``jax.vjp`` of the node's own forward computation (the
     primal function of the ``custom_vjp``), JAX's rules instead of ours;
  2. *numerical*: central differences of the node alone along a random
     direction ``v``: ``<J^T u, v>`` against
     ``<u, (g(x + h v) - g(x - h v)) / 2h>``.

Only floating inputs are compared (integer labels and boolean masks get no
derivative).  A backward that raises (e.g. cotangents of the wrong shape) is
a failed row with the error, not a crash.  Rules applied inside ``lax``
control flow (``scan``, ``while_loop``, ``cond``, ``lax.map``) are not
visited; call ``check_rules`` on the function inside the loop instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp.drawing import _custom_name, _flatten, _Op, _run
from jaxbp.numerical import enable_x64

try:
    from jax.extend.core import jaxpr_as_fun
except ImportError:  # older jax
    from jax.core import jaxpr_as_fun

__all__ = ["check_rules", "print_rule_check", "RuleCheck", "RuleRow", "BOOK_RULES"]

# The book's backward formula of each of jaxbp's rules, by rule name.
BOOK_RULES = {
    "add": "5.3.1, eq. 5.5: dx = dout * 1, dy = dout * 1",
    "mul": "5.3.2, eq. 5.6: dx = dout * y, dy = dout * x",
    "relu": "5.5.1, eq. 5.8: dx = dout where x > 0, else 0",
    "sigmoid": "5.5.2, eq. 5.12: dx = dout * y * (1 - y)",
    "affine": "5.6.1-5.6.2, eq. 5.13: dx = dout W^T, dW = x^T dout, db = sum(dout, axis 0)",
    "softmax_with_loss": "5.6.3, figure 5-30: dx = (y - t) / N",
    "batch_norm_train": (
        "6.3.2, figure 6-17: dbeta = sum(dout), dgamma = sum(xn * dout), "
        "dx via dxn, dxc, dstd, dvar, dmu"
    ),
    "weight_decay": "6.4.2: dW = lambda * W",
    "dropout": "6.4.3: dx = dout * mask",
    "convolution": "7.4.3: db = sum(dout), dW = col^T dout, dx = col2im(dout col_W^T)",
    "max_pooling": "7.4.4: dx = col2im(dout placed at arg_max)",
}
BOOK_RULES["batch_norm"] = BOOK_RULES["batch_norm_train"]
_SYMBOLS = {"×": "mul", "+": "add", "−": "sub", "/": "div"}  # drawing's labels, spelled out

# Per dtype of a node's inputs: the steps h (relative to each input's RMS), and the
# relative tolerances against central differences and against autodiff.
_TOLERANCES = {
    "float64": ((1e-5, 1e-6, 1e-7), 1e-6, 1e-9),
    "float32": ((1e-2, 1e-3), 1e-2, 1e-4),  # f casts to float32 itself: a coarser check
}


@dataclass(frozen=True)
class RuleRow:
    """One ``custom_vjp`` node of ``f``, checked at the inputs it saw.

    ``node`` counts the rules in forward order from 1; ``book`` is the book's
    section and formula for jaxbp's rules ("" for others); ``shapes`` the
    input shapes; ``*_abs`` / ``*_rel`` the largest absolute / relative
    difference of the custom backward against each witness; ``error`` what
    the custom backward raised, if it did (then ``passed`` is False).
    """

    node: int
    name: str
    book: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str
    autodiff_abs: float
    autodiff_rel: float
    numerical_abs: float
    numerical_rel: float
    passed: bool
    error: str = ""


_DIFFS = ("autodiff_abs", "autodiff_rel", "numerical_abs", "numerical_rel")


@dataclass(frozen=True)
class RuleCheck:
    """The rows of :func:`check_rules`, one per rule application; iterable."""

    rows: tuple[RuleRow, ...]
    function: str = "f"

    def __iter__(self) -> Iterator[RuleRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> RuleRow:
        return self.rows[i]

    @property
    def passed(self) -> bool:
        """Every rule agrees with both witnesses."""
        return all(r.passed for r in self.rows)

    @property
    def first_failure(self) -> RuleRow | None:
        """The first failing row in forward order, or ``None``."""
        return next((r for r in self.rows if not r.passed), None)


# The witnesses run once: compiling them fast matters more than running them fast.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _jit(fn: Callable) -> Callable:
    try:
        return jax.jit(fn, compiler_options=_FAST_COMPILE)
    except TypeError:  # older jax: no compiler_options
        return jax.jit(fn)


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.floating)


def _as_float64(args: tuple) -> tuple:
    """``args`` with floating leaves cast to float64; ``TypeError`` for 16-bit floats."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(args)
    out = []
    for path, leaf in leaves:
        if _is_float(leaf) and jnp.finfo(jnp.result_type(leaf)).bits < 32:
            name = f"args{jax.tree_util.keystr(path)}"
            raise TypeError(
                f"check_rules: {name} is {jnp.result_type(leaf).name}; central differences "
                f"in 16-bit floats are meaningless (x + h rounds to x), pass float32 or float64"
            )
        out.append(jnp.asarray(leaf, jnp.float64) if _is_float(leaf) else leaf)
    return jax.tree_util.tree_unflatten(tree, out)


def _rule_name(params) -> str:
    name = _custom_name(params)
    return _SYMBOLS.get(name, name)


@dataclass(frozen=True)
class _Graph:
    """``f``'s flat graph (jit calls inlined) and the positions of its custom rules."""

    ops: list
    in_ids: list
    outs: list
    rules: list

    @classmethod
    def trace(cls, f: Callable, args: tuple) -> _Graph:
        closed = jax.make_jaxpr(f)(*args)
        ops, fresh = [], iter(range(10**9))
        in_ids = [next(fresh) for _ in closed.jaxpr.invars]
        outs = _flatten(closed.jaxpr, closed.consts, in_ids, ops, fresh)
        rules = [i for i, op in enumerate(ops) if op.eqn.primitive.name.startswith("custom_vjp")]
        return cls(ops, in_ids, outs, rules)

    def node_inputs(self, leaves: list) -> list[list]:
        """The values entering each custom rule, in forward order."""
        seen: dict = {}
        _run(self.ops, self.in_ids, self.outs, leaves, {}, seen)
        return [[seen[(i, j)] for j in range(len(self.ops[i].ins))] for i in self.rules]


def _split(vals: list, fn: Callable) -> tuple[Callable, list]:
    """``fn`` as a function of the floating values only (the others closed over)."""
    where = [k for k, v in enumerate(vals) if _is_float(v)]

    def of_floats(*xs):
        full = list(vals)
        for k, x in zip(where, xs):
            full[k] = x
        return [o for o in fn(*full) if _is_float(o)]

    return of_floats, [vals[k] for k in where]


def _node_functions(op: _Op, vals: list) -> tuple[Callable, Callable, list]:
    """``(custom, primal, floats)``: the node re-bound (its rule runs under ``jax.vjp``)
    and its primal body (no rule), both of its floating inputs ``floats``."""
    ids = list(range(len(vals)))
    one = _Op(op.eqn, ids, [len(ids) + k for k in range(len(op.eqn.outvars))], op.label)
    body = op.eqn.params.get("call_jaxpr", op.eqn.params.get("fun_jaxpr"))
    custom, floats = _split(vals, lambda *a: _run([one], ids, one.outs, a, {}))
    primal, _ = _split(vals, jaxpr_as_fun(body))
    return custom, primal, floats


def _max_diff(a: list, b: list) -> tuple[float, float]:
    """Largest absolute difference, and largest relative to each input's scale
    (floored at 1e-6 of the largest scale, so an input whose cotangent is all
    rounding noise is not compared with itself)."""
    a, b = [np.asarray(x) for x in a], [np.asarray(y) for y in b]
    scales = [
        max(np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0)) for x, y in zip(a, b)
    ]
    floor = 1e-6 * max(scales, default=0.0)
    abs_d = rel_d = 0.0
    for x, y, scale in zip(a, b, scales):
        d = float(np.max(np.abs(x - y), initial=0.0))
        abs_d = max(abs_d, d)
        rel_d = max(rel_d, d / float(max(scale, floor)) if d > 0 else 0.0)
    return abs_d, rel_d


def _randoms(rng: np.random.Generator, out_shapes: list, floats: list) -> tuple[list, list]:
    """Standard normal cotangents ``u`` (one per output) and directions ``z`` (one
    per floating input), drawn with NumPy from the shapes alone."""
    us = [rng.standard_normal(o.shape).astype(o.dtype) for o in out_shapes]
    zs = [rng.standard_normal(x.shape).astype(x.dtype) for x in floats]
    return us, zs


def _witnesses(op: _Op, vals: list, us: list, zs: list, steps: tuple):
    """Both sides of both comparisons at the node ``op`` with inputs ``vals``, for
    cotangents ``us`` and the direction ``v = z * RMS(x)`` per input ``x`` (1 for
    an all-zero input: the step is relative to each input's size).

    Returns ``(custom cotangents, autodiff cotangents, <J^T u, v> by the rule,
    quotients, sizes)``: for each step ``h``, the quotient
    ``<u, (g(x + h v) - g(x - h v)) / 2h>`` and the size of the terms it
    cancels, ``<|u|, |g(x + h v)| + |g(x - h v)|> / 2h``.
    """
    custom, primal, floats = _node_functions(op, vals)
    rms = [jnp.sqrt(jnp.mean(jnp.square(x))) if jnp.size(x) else 1.0 for x in floats]
    vs = [z * jnp.where(r > 0, r, 1) for z, r in zip(zs, rms)]
    expected = jax.vjp(primal, *floats)[1](us)
    got = jax.vjp(custom, *floats)[1](us)  # runs the hand-written backward
    d_rule = sum(jnp.vdot(g, v) for g, v in zip(got, vs))
    hs = jnp.asarray([s * h for h in steps for s in (1, -1)], jnp.result_type(*floats))
    moved = jax.vmap(  # g(x + h v), g(x - h v) for every step, one batched call
        lambda h: primal(*[x + h * v for x, v in zip(floats, vs)])
    )(hs)
    quotients = sum(jnp.tensordot(p[0::2] - p[1::2], u, u.ndim) for u, p in zip(us, moved))
    sizes = sum(
        jnp.tensordot(abs(p[0::2]) + abs(p[1::2]), abs(u), u.ndim) for u, p in zip(us, moved)
    )
    quotients, sizes = quotients / (2 * hs[0::2]), sizes / (2 * hs[0::2])
    return got, expected, d_rule, quotients, sizes


def _numerical_diff(d_rule, quotients, sizes, eps: float, rtol: float):
    """``(abs, rel, passed)`` for the step that agrees best with the rule.

    A step passes when ``|rule - quotient| <= rtol * max(|rule|, |quotient|)``
    plus the quotient's rounding noise, ``10 * eps * size``.  Several steps
    guard against a step that crosses a kink (ReLU at 0, a tie in max pooling).
    """
    best = None
    for d_num, size in zip(quotients, sizes):
        d_abs = abs(float(d_rule) - float(d_num))
        scale = max(abs(float(d_rule)), abs(float(d_num)))
        ok = d_abs <= rtol * scale + 10 * eps * float(size)
        cand = (not ok, d_abs, d_abs / scale if scale > 0 else 0.0)
        best = cand if best is None or cand < best else best
    failed, d_abs, d_rel = best
    return d_abs, d_rel, not failed


def _row_error(node: int, name: str, floats: list) -> None:
    """``TypeError`` when a node computes in a 16-bit float (``f`` casts to it itself)."""
    dtype = jnp.result_type(*floats)
    if jnp.finfo(dtype).bits < 32:
        raise TypeError(
            f"check_rules: node {node} ({name}) computes in {dtype.name} (f casts to it "
            f"itself); central differences in 16-bit floats are meaningless, check f in "
            f"float32 or float64 (e.g. without a bfloat16 compute_dtype)"
        )


def _plan(graph: _Graph, leaves: list, k: int, vals: list, seed: int) -> dict:
    """Node ``k``'s row fields and random inputs, and ``error`` if its backward
    cannot even be traced (e.g. a rule returning cotangents of the wrong shape)."""
    op = graph.ops[graph.rules[k]]
    name = _rule_name(op.eqn.params)
    plan = dict(node=k + 1, name=name, book=BOOK_RULES.get(name, ""), error="")
    plan["shapes"] = tuple(tuple(v.shape) for v in vals)
    floats = [v for v in vals if _is_float(v)]
    plan["dtype"] = jnp.result_type(*floats).name if floats else "-"
    if not floats:  # nothing floating to differentiate: nothing to compare
        return plan
    _row_error(k + 1, name, floats)
    steps = _TOLERANCES.get(plan["dtype"], _TOLERANCES["float64"])[0]
    primal_at = lambda lv: _node_functions(op, graph.node_inputs(lv)[k])[1](*floats_at(lv))
    floats_at = lambda lv: [v for v in graph.node_inputs(lv)[k] if _is_float(v)]
    out_shapes = jax.eval_shape(primal_at, leaves)
    plan["us"], plan["zs"] = _randoms(np.random.default_rng([seed, k]), out_shapes, floats)
    try:
        jax.eval_shape(_node_witnesses(graph, k, steps), leaves, plan["us"], plan["zs"])
    except Exception as e:  # a wrong rule may return the wrong shapes: a failed row
        plan["error"] = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    return plan


def _node_witnesses(graph: _Graph, k: int, steps: tuple) -> Callable:
    """``(leaves, us, zs) -> _witnesses(...)`` of node ``k``."""
    op = graph.ops[graph.rules[k]]
    return lambda leaves, us, zs: _witnesses(op, graph.node_inputs(leaves)[k], us, zs, steps)


def _row(plan: dict, witnesses) -> RuleRow:
    """The row of one node from its plan and its computed witnesses (``None``: none)."""
    fields = {key: plan[key] for key in ("node", "name", "book", "shapes", "dtype", "error")}
    if plan["error"] or witnesses is None:
        value = float("nan") if plan["error"] else 0.0
        return RuleRow(**fields, **dict.fromkeys(_DIFFS, value), passed=not plan["error"])
    got, expected, d_rule, quotients, sizes = witnesses
    _, rtol_num, rtol_ad = _TOLERANCES.get(plan["dtype"], _TOLERANCES["float64"])
    ad_abs, ad_rel = _max_diff(got, expected)
    eps = float(jnp.finfo(plan["dtype"]).eps)
    num_abs, num_rel, num_ok = _numerical_diff(d_rule, quotients, sizes, eps, rtol_num)
    diffs = dict(zip(_DIFFS, (ad_abs, ad_rel, num_abs, num_rel)))
    return RuleRow(**fields, **diffs, passed=ad_rel <= rtol_ad and num_ok)


def _check_all(graph: _Graph, leaves: list, seed: int) -> tuple[RuleRow, ...]:
    """Every node's row; the witnesses of all checkable nodes in one compiled program."""
    avals = jax.eval_shape(graph.node_inputs, leaves)
    plans = [_plan(graph, leaves, k, vals, seed) for k, vals in enumerate(avals)]
    todo = [k for k, p in enumerate(plans) if "us" in p and not p["error"]]

    def all_witnesses(leaves, randoms):
        return [
            _node_witnesses(
                graph, k, _TOLERANCES.get(plans[k]["dtype"], _TOLERANCES["float64"])[0]
            )(leaves, *randoms[n])
            for n, k in enumerate(todo)
        ]

    randoms = [(plans[k]["us"], plans[k]["zs"]) for k in todo]
    computed = dict(zip(todo, jax.device_get(_jit(all_witnesses)(leaves, randoms))))
    return tuple(_row(p, computed.get(k)) for k, p in enumerate(plans))


def check_rules(f: Callable[..., Any], *args: Any, seed: int = 0) -> RuleCheck:
    """Check every ``custom_vjp`` rule ``f(*args)`` applies, each at its own inputs (5.7.3).

    ``f``: any JAX function (a network's loss, a composition of layers, one
    with your own :func:`jax.custom_vjp`), possibly ``jax.jit``-wrapped;
    ``args``: its arguments (arrays or pytrees of them; floating leaves are
    cast to float64 for the check, float16/bfloat16 ones are refused with
    ``TypeError``); ``seed``: for the random cotangents and directions.

    Returns a :class:`RuleCheck`: one :class:`RuleRow` per rule application
    in forward order, each comparing the rule's backward with JAX's autodiff
    of the rule's forward (relative tolerance 1e-9) and with central
    differences along a random direction (1e-6).  ``ValueError`` when ``f``
    applies no custom rule.

    >>> import jax.numpy as jnp
    >>> from jaxbp.rule_check import check_rules
    >>> from jaxbp.two_layer_net import init_params, loss
    >>> params = init_params(0, 4, 5, 3)
    >>> check = check_rules(loss, params, jnp.linspace(0, 1, 8).reshape(2, 4), jnp.array([0, 2]))
    >>> [row.name for row in check], check.passed
    (['affine', 'relu', 'affine', 'softmax_with_loss'], True)
    >>> check[1].book
    '5.5.1, eq. 5.8: dx = dout where x > 0, else 0'
    """
    if not callable(f):
        raise TypeError(f"check_rules: f must be callable, got {type(f).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"check_rules: seed must be an int, got {seed!r}")
    with enable_x64():
        args = _as_float64(args)
        graph = _Graph.trace(f, args)
        if not graph.rules:
            raise ValueError(
                "check_rules: f applies no jax.custom_vjp rule to these arguments, so there "
                "is no hand-written backward to check"
            )
        rows = _check_all(graph, jax.tree_util.tree_leaves(args), int(seed))
    return RuleCheck(rows, getattr(f, "__name__", type(f).__name__))


def _cells(row: RuleRow) -> list[str]:
    shapes = " ".join(str(s) if len(s) != 1 else f"({s[0]},)" for s in row.shapes)
    if row.error:
        return [str(row.node), row.name, shapes, row.dtype, "-", "-", "-", "-", "FAIL"]
    return [
        str(row.node),
        row.name,
        shapes,
        row.dtype,
        f"{row.autodiff_abs:.1e}",
        f"{row.autodiff_rel:.1e}",
        f"{row.numerical_abs:.1e}",
        f"{row.numerical_rel:.1e}",
        "ok" if row.passed else "FAIL",
    ]


def _verdict(check: RuleCheck) -> str:
    bad = check.first_failure
    if bad is None:
        return f"all {len(check)} rules agree with autodiff and central differences"
    where = f" ({bad.book})" if bad.book else ""
    line = f"first wrong rule: node {bad.node}, {bad.name}{where}"
    return line + (f"\n  its backward raised {bad.error}" if bad.error else "")


def print_rule_check(
    check_or_f: RuleCheck | Callable[..., Any],
    *args: Any,
    file: TextIO | None = None,
    seed: int = 0,
) -> RuleCheck:
    """Print :func:`check_rules`'s table, one row per node, and name the first wrong rule.

    ``check_or_f``: a :class:`RuleCheck`, or ``f`` to check with ``args``
    (and ``seed``); ``file``: where to print (standard output by default).
    Returns the check.

    >>> import jax.numpy as jnp
    >>> from jaxbp.graph import buy_apple_orange
    >>> from jaxbp.rule_check import print_rule_check
    >>> check = print_rule_check(buy_apple_orange, 100.0, 2.0, 150.0, 3.0, 1.1)
    rule check of buy_apple_orange, in forward order: ...
    node  rule  inputs  dtype    autodiff |diff|  (rel)  numerical |diff|  (rel)  result
       1  mul   () ()   float64  ...
       4  mul   () ()   float64  ...
    all 4 rules agree with autodiff and central differences
    """
    if isinstance(check_or_f, RuleCheck):
        if args:
            raise TypeError("print_rule_check: pass args only with a function, not a RuleCheck")
        check = check_or_f
    else:
        check = check_rules(check_or_f, *args, seed=seed)
    out = file if file is not None else sys.stdout
    head = ["node", "rule", "inputs", "dtype", "autodiff |diff|", "(rel)"]
    head += ["numerical |diff|", "(rel)", "result"]
    table = [head] + [_cells(r) for r in check]
    widths = [max(len(row[c]) for row in table) for c in range(len(head))]
    right = {0, 4, 5, 6, 7}
    print(
        f"rule check of {check.function}, in forward order: each custom_vjp backward against "
        f"JAX's autodiff of its forward and central differences, at its own inputs",
        file=out,
    )
    for row in table:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        print("  ".join(cells).rstrip(), file=out)
    print(_verdict(check), file=out)
    return check
