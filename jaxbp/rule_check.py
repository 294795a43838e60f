"""Which hand-written rule is wrong: a gradient check per node (book section 5.7.3).

The book's gradient check (5.7.3) compares whole gradients: when backprop and
central differences disagree on ``W1``, every rule between the loss and
``W1`` is a suspect.  :func:`check_rules` checks each :func:`jax.custom_vjp`
rule *on its own*, at the inputs it actually saw, so a wrong rule in a deep
network is named by itself and not by every parameter downstream of it:

* ``f(*args)`` runs once in float64 with every rule application recorded with
  its inputs, wherever it happens: in ``f`` or a function it jits, inside
  ``lax.scan``, ``lax.while_loop``, ``lax.cond``, ``jax.checkpoint``, under
  ``jax.vmap`` or ``jax.grad``, and inside another rule's function (nested
  rules are listed after the rule that applies them, each checked alone);
* each application's custom backward (``jax.vjp`` of that one node, which
  runs its hand-written rule) gets a random cotangent ``u`` and is compared
  with two witnesses:

  1. *autodiff*: ``jax.vjp`` of the node's own forward computation (the
     primal function of the ``custom_vjp``, with any rule inside it replaced
     by that rule's forward body), JAX's rules instead of ours;
  2. *numerical*: central differences of the node alone along a random
     direction ``v``: ``<J^T u, v>`` against
     ``<u, (g(x + h v) - g(x - h v)) / 2h>``.

What is not compared, and why the row says so:

* integer and boolean inputs (labels, masks) have no derivative;
* labels (:func:`looks_like_labels`) whose hand-written cotangent is ``None``
  or zeros are "not differentiated" (a true derivative is compared as usual);
* entries at a kink (ReLU at exactly 0, a tie in a max), where the derivative
  does not exist and both witnesses would be arbitrary: found as the entries
  where autodiff's ``J^T u`` jumps between ``x - d v`` and ``x + d v`` for a
  tiny ``d``, and left out of both comparisons;
* a rule applied many times at one place (a loop, a scan's steps, a vmap's
  examples) is checked at a representative set of its applications.

A backward that raises (e.g. cotangents of the wrong shape) is a failed row
with the error, not a crash.  ``str(check)`` is the table
:func:`print_rule_check` prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp._find_rules import find, representatives
from jaxbp._rule_table import table
from jaxbp._witnesses import (
    TOLERANCES,
    Plan,
    functions,
    is_float,
    max_diff,
    numerical_diff,
    run_witnesses,
    witnesses,
)
from jaxbp.numerical import enable_x64

__all__ = [
    "check_rules",
    "print_rule_check",
    "looks_like_labels",
    "RuleCheck",
    "RuleRow",
    "BOOK_RULES",
]

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


#: How far from 1 a row of labels may sum (probabilities computed in float32 round).
LABEL_ROW_SUM_TOL = 1e-5


def looks_like_labels(x: Any) -> bool:
    """Whether ``x`` looks like labels, which backpropagation does not differentiate.

    Labels are an integer (or boolean) array of any shape (class indices, 5.6.3),
    or a floating array of at least one dimension whose entries lie in [0, 1]
    and whose rows (the last axis) each sum to 1 (one-hot or probability rows,
    within ``LABEL_ROW_SUM_TOL``).  For such an input a hand-written cotangent
    of ``None`` or zeros is accepted as "not differentiated"; the true
    derivative is accepted too.

    >>> looks_like_labels(jnp.array([0, 2])), looks_like_labels(jnp.eye(3))
    (True, True)
    >>> looks_like_labels(jnp.array([[0.2, 0.8], [1.0, 0.0]])), looks_like_labels(jnp.ones(3))
    (True, False)
    """
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        return True
    if x.dtype.kind != "f" or x.ndim == 0 or x.size == 0:
        return False
    rows = x.astype(np.float64)
    in_range = bool(np.all((rows >= 0) & (rows <= 1)))
    return in_range and bool(np.all(np.abs(rows.sum(-1) - 1) <= LABEL_ROW_SUM_TOL))


@dataclass(frozen=True)
class RuleRow:
    """One application of a ``custom_vjp`` rule in ``f``, checked at the inputs it saw.

    ``node`` counts the rule applications in forward order from 1 (a rule's
    inner rules right after it); ``book`` is the book's section and formula
    for jaxbp's rules ("" for others); ``shapes`` the input shapes; ``*_abs``
    / ``*_rel`` the largest absolute / relative difference of the custom
    backward against each witness; ``error`` what the custom backward raised,
    if it did (then ``passed`` is False).  ``not_differentiated``: positions of
    the inputs not compared (integer or boolean ones, and labels whose
    cotangent is ``None`` or zeros); ``kinks``: entries at a kink, not
    compared; ``where``: where it ran when that is not plainly in ``f``
    (``scan step 2 of 5``, ``under jax.grad``, ``call 3 of 100``);
    ``parent``: the node whose function applied it (nested rules), else None;
    ``arg_names``: the rule's argument names, where known.
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
    not_differentiated: tuple[int, ...] = ()
    kinks: int = 0
    where: str = ""
    parent: int | None = None
    arg_names: tuple[str, ...] = ()


_DIFFS = ("autodiff_abs", "autodiff_rel", "numerical_abs", "numerical_rel")


@dataclass(frozen=True)
class RuleCheck:
    """The rows of :func:`check_rules`, one per rule application checked; iterable.
    ``str(check)`` is the table; ``notes`` says what was not checked."""

    rows: tuple[RuleRow, ...]
    function: str = "f"
    notes: tuple[str, ...] = ()

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
        """The first failing row in forward order, or ``None``; when a rule inside it
        (nested) fails too, the innermost such one."""
        bad = next((r for r in self.rows if not r.passed), None)
        while bad is not None:
            inner = next((r for r in self.rows if not r.passed and r.parent == bad.node), None)
            if inner is None:
                return bad
            bad = inner
        return None

    def __str__(self) -> str:
        return table(self)


# ---- the arguments -----------------------------------------------------------------
def _leaf_text(name: str, leaf) -> str:
    return f"{name} is {jnp.result_type(leaf).name}{np.shape(leaf)}"


def _as_float64(args: tuple) -> tuple:
    """``args`` with floating leaves cast to float64; refuses 16-bit floats (``TypeError``),
    NaN or inf, and arguments with nothing floating (``ValueError``)."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(args)
    out, others = [], []
    for path, leaf in leaves:
        name = f"args{jax.tree_util.keystr(path)}"
        if not is_float(leaf):
            out.append(leaf)
            others.append(_leaf_text(name, leaf))
            continue
        if jnp.finfo(jnp.result_type(leaf)).bits < 32:
            raise TypeError(
                f"check_rules: {name} is {jnp.result_type(leaf).name}; central differences "
                f"in 16-bit floats are meaningless (x + h rounds to x), pass float32 or float64"
            )
        value = np.asarray(leaf, np.float64)
        if bad := int(value.size - np.count_nonzero(np.isfinite(value))):
            raise ValueError(
                f"check_rules: {name} has {bad} NaN/inf entries (of {value.size}); the checks "
                f"compare finite numbers, pass finite inputs"
            )
        out.append(jnp.asarray(value))
    if len(others) == len(leaves):
        what = "; ".join(others[:3]) + (" ..." if len(others) > 3 else "") or "no arguments"
        raise ValueError(
            f"check_rules: no argument of f is floating ({what}), so there is nothing to "
            f"differentiate and no rule to check; pass floating arrays"
        )
    return jax.tree_util.tree_unflatten(tree, out)


# ---- planning, then one compiled program for every application ------------------------
def _plan(app, node: int, seed: int) -> Plan:
    """Application ``node``'s plan; ``error`` if its backward cannot even be traced (e.g. a
    rule returning cotangents of the wrong shape)."""
    inputs = list(range(app.num_consts, len(app.values)))
    floats = [k for k in inputs if is_float(app.values[k])]
    plan = Plan(app, node, tuple(np.shape(app.values[k]) for k in inputs), floats, [])
    if not floats:  # nothing floating to differentiate: nothing to compare
        return plan
    dtype = jnp.result_type(*[app.values[k] for k in floats])
    plan.dtype, plan.tol = dtype.name, TOLERANCES.get(dtype.name, TOLERANCES["float64"])
    if jnp.finfo(dtype).bits < 32:
        raise TypeError(
            f"check_rules: node {node} ({app.name}) computes in {dtype.name} (f casts to it "
            f"itself); central differences in 16-bit floats are meaningless, check f in "
            f"float32 or float64 (e.g. without a bfloat16 compute_dtype)"
        )
    for k in floats:
        value = np.asarray(app.values[k])
        if bad := int(value.size - np.count_nonzero(np.isfinite(value))):
            raise ValueError(
                f"check_rules: the inputs of node {node} ({app.name}) hold {bad} NaN/inf "
                f"entries, computed by f from finite arguments; check f where it stays finite"
            )
    plan.labels = [looks_like_labels(app.values[k]) for k in floats]
    custom, _, xs = functions(plan, app.values)
    outs = jax.eval_shape(custom, *xs)
    rng = np.random.default_rng([seed, node])
    plan.us = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]
    plan.zs = [rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype) for x in xs]
    try:
        trial = lambda v, u, z: witnesses(plan, v, u, z, probe=False)
        jax.eval_shape(trial, app.values, plan.us, plan.zs)
    except Exception as e:  # a wrong rule may return the wrong shapes: a failed row
        plan.error = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    return plan


def _row(plan: Plan, witnesses, rtol: float | None) -> RuleRow:
    """The row of one application from its plan and its computed witnesses (None: none)."""
    app, inputs = plan.app, range(plan.app.num_consts, len(plan.app.values))
    name = _SYMBOLS.get(app.name, app.name)
    fields = dict(node=plan.node, name=name, book=BOOK_RULES.get(name, ""), shapes=plan.shapes)
    fields.update(dtype=plan.dtype, error=plan.error, where=app.where, arg_names=app.arg_names)
    fields["parent"] = None if app.parent is None else app.parent + 1
    fixed = [k - app.num_consts for k in inputs if k not in plan.floats]
    if plan.error or witnesses is None:
        value = float("nan") if plan.error else 0.0
        diffs = dict.fromkeys(_DIFFS, value)
        return RuleRow(**fields, **diffs, passed=not plan.error, not_differentiated=tuple(fixed))
    got, expected, kinks, nd, d_rule, quotients, sizes, _ = witnesses
    tol = plan.tol
    if rtol is not None and plan.dtype == "float64":
        tol = tol._replace(numerical=rtol, autodiff=rtol)
    keep = [np.logical_not(k) & (not bool(n)) for k, n in zip(kinks, nd)]
    ad_abs, ad_rel = max_diff(got, expected, keep)
    eps = float(jnp.finfo(plan.dtype).eps)
    num_abs, num_rel, num_ok = numerical_diff(d_rule, quotients, sizes, eps, tol.numerical)
    fixed += [k - app.num_consts for k, n in zip(plan.floats, nd) if n]
    return RuleRow(
        **fields,
        **dict(zip(_DIFFS, (ad_abs, ad_rel, num_abs, num_rel))),
        passed=ad_rel <= tol.autodiff and num_ok,
        not_differentiated=tuple(sorted(fixed)),
        kinks=int(sum(np.count_nonzero(k) for k in kinks)),
    )


def _check_all(apps: list, chosen: list, seed: int, rtol) -> tuple[RuleRow, ...]:
    """The rows of the ``chosen`` applications: every witness in one compiled program, and
    a second one with kink probes for the applications whose one-sided quotients disagree."""
    plans = [_plan(apps[k], k + 1, seed) for k in chosen]
    todo = [p for p in plans if p.us is not None and not p.error]
    computed = run_witnesses(todo, probe=False)
    computed.update(run_witnesses([p for p in todo if computed[p.node][-1]], probe=True))
    return tuple(_row(p, computed.get(p.node), rtol) for p in plans)


def check_rules(
    f: Callable[..., Any], *args: Any, seed: int = 0, rtol: float | None = None
) -> RuleCheck:
    """Check every ``custom_vjp`` rule ``f(*args)`` applies, each at its own inputs (5.7.3).

    ``f``: any JAX function (a network's loss, a composition of layers, one
    with your own :func:`jax.custom_vjp`, ``jax.grad`` of one), possibly
    ``jax.jit``-wrapped; ``args``: its arguments (arrays or pytrees of them;
    floating leaves are cast to float64 for the check; float16/bfloat16 ones
    are refused with ``TypeError``, NaN or inf and arguments with no floating
    leaf with ``ValueError``); ``seed``: for the random cotangents and
    directions; ``rtol``: the relative tolerance of both comparisons for
    float64 nodes (default: 1e-9 against autodiff, 1e-6 against central
    differences; a float32 node, where ``f`` casts to float32 itself, keeps
    1e-4 and 1e-2).

    Returns a :class:`RuleCheck`: one :class:`RuleRow` per rule application
    in forward order (a rule applied more than 8 times at one place: a
    representative 5 of them).  ``ValueError`` when ``f`` applies no custom
    rule.  ``f`` runs once with ``jax.jit`` off, while ``jax.custom_vjp``
    calls are intercepted (not thread-safe).

    >>> import jax.numpy as jnp
    >>> from jaxbp.rule_check import check_rules
    >>> from jaxbp.two_layer_net import init_params, loss
    >>> params = init_params(0, 4, 5, 3)
    >>> check = check_rules(loss, params, jnp.linspace(0, 1, 8).reshape(2, 4), jnp.array([0, 2]))
    >>> [row.name for row in check], check.passed
    (['affine', 'relu', 'affine', 'softmax_with_loss'], True)
    >>> check[1].book, check[3].not_differentiated     # the labels t: no derivative
    ('5.5.1, eq. 5.8: dx = dout where x > 0, else 0', (1,))
    """
    if not callable(f):
        raise TypeError(f"check_rules: f must be callable, got {type(f).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"check_rules: seed must be an int, got {seed!r}")
    if rtol is not None and (
        isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1
    ):
        raise ValueError(f"check_rules: rtol must be a number in (0, 1), got {rtol!r}")
    with enable_x64():
        args = _as_float64(args)
        apps, notes = find(f, args)
        if not apps:
            raise ValueError(
                "check_rules: f applies no jax.custom_vjp rule to these arguments (none is "
                "called when f runs, with jit, scan, cond, while, checkpoint, vmap and grad "
                "looked into), so there is no hand-written backward to check"
            )
        chosen, sampled = representatives(apps)
        notes += sampled
        rows = _check_all(apps, chosen, int(seed), rtol)
    return RuleCheck(rows, getattr(f, "__name__", type(f).__name__), tuple(notes))


def print_rule_check(
    check_or_f: RuleCheck | Callable[..., Any],
    *args: Any,
    file: TextIO | None = None,
    seed: int = 0,
    rtol: float | None = None,
) -> RuleCheck:
    """Print :func:`check_rules`'s table, one row per node, and name the first wrong rule.

    ``check_or_f``: a :class:`RuleCheck`, or ``f`` to check with ``args``
    (and ``seed``, ``rtol``); ``file``: where to print (standard output by
    default).  Prints ``str(check)``; returns the check.

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
        check = check_rules(check_or_f, *args, seed=seed, rtol=rtol)
    print(check, file=file if file is not None else sys.stdout)
    return check
