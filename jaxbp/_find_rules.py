"""Where a function applies its ``jax.custom_vjp`` rules, and the values each application saw.

:func:`jaxbp.rule_check.check_rules` checks each application of a hand-written
rule on its own.  To find them all, ``f`` is traced with :func:`jax.make_jaxpr`
and run once, compiled, with a ``jax.debug.callback`` placed before every
``custom_vjp_call`` equation: in ``f`` itself, in the functions it jits, in
``jax.checkpoint`` regions, and in the bodies of ``lax.scan``,
``lax.while_loop`` and the branches of ``lax.cond`` (each step, or the branch
taken, reports its own values).  A rule applied inside another rule's
function (nested) is found in that function's jaxpr and gets its values by
running it.

Under ``jax.grad`` (or ``jax.vjp``) the jaxpr holds no ``custom_vjp_call``: the
rules were consumed while tracing.  Then ``f`` runs once more, eagerly, with
``jax.jit`` off and every :class:`jax.custom_vjp` call intercepted: each call
is traced alone into a jaxpr (its equation is what the check re-runs) and its
values are recorded as they are computed.

:func:`primal` is a rule's forward computation with every hand-written rule
inside it replaced by its own forward body, so that autodiff of it uses JAX's
rules only and an inner rule's mistake is not blamed on the outer rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from jaxbp._equations import INLINE, apply_eqn, custom_name

try:
    from jax.extend.core import ClosedJaxpr, Jaxpr, Literal
except ImportError:  # older jax
    from jax.core import ClosedJaxpr, Jaxpr, Literal

#: Calls of one rule at one place (a scan's steps, a loop, a vmap's examples) beyond this
#: many are checked at a representative set: the first two, the middle, the last two.
ALL_UP_TO = 8
_CALLS = INLINE + ("remat2", "checkpoint", "custom_jvp_call")
_REMAT = {"remat2": "in jax.checkpoint", "checkpoint": "in jax.checkpoint"}
_HOW = {  # the kind of tracer an intercepted rule was called with, as the reader says it
    "JVPTracer": "under jax.grad/jvp",
    "LinearizeTracer": "under jax.grad/vjp",
    "BatchTracer": "under jax.vmap",
    "DynamicJaxprTracer": "under jax.grad/vjp, traced (jax.checkpoint, lax.scan)",
}
# The compiled run happens once: compiling it fast matters more than running it fast.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn: Callable) -> Callable:
    """``jax.jit(fn)``, compiled with XLA's cheap settings (for a program run once)."""
    try:
        return jax.jit(fn, compiler_options=FAST_COMPILE)
    except TypeError:  # older jax: no compiler_options
        return jax.jit(fn)


@dataclass
class Application:
    """One application of a hand-written rule: its ``custom_vjp_call`` equation, the
    values of all its inputs (``values``; the rule's own arguments follow
    ``eqn.params['num_consts']`` closed-over constants), its arguments' names, the
    index of the application whose function applied it (``parent``), where it ran
    (``where``) and the key of the applications it is one of (``group``)."""

    eqn: Any
    values: list
    name: str
    arg_names: tuple[str, ...] = ()
    parent: int | None = None
    where: str = ""
    group: tuple = ()

    @property
    def num_consts(self) -> int:
        return int(self.eqn.params.get("num_consts", 0))


@dataclass
class _Site:
    """A place a rule is applied: its equation (or, intercepted, the call alone as a
    jaxpr), where it is, and the values of each time it ran."""

    eqn: Any = None
    closed: Any = None
    where: str = ""
    group: tuple = ()
    calls: list = field(default_factory=list)
    digests: set = field(default_factory=set)

    def record(self, *values) -> None:
        values = [np.asarray(v) for v in values]
        digest = hashlib.sha1(b"".join(v.tobytes() for v in values)).hexdigest()
        if digest not in self.digests:  # a rematerialised forward runs it twice
            self.digests.add(digest)
            self.calls.append(values)


# ---- rules inside a jaxpr, and running a jaxpr with them rewritten ---------------------
def _subjaxprs(params) -> list:
    found = []
    for v in params.values():
        for item in v if isinstance(v, (tuple, list)) else (v,):
            if isinstance(item, ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, Jaxpr):
                found.append(item)
    return found


def has_rule(eqn, memo: dict) -> bool:
    """Whether ``eqn`` is, or contains, a ``custom_vjp_call``."""
    if eqn.primitive.name.startswith("custom_vjp_call"):
        return True
    for sub in _subjaxprs(eqn.params):
        if id(sub) not in memo:
            memo[id(sub)] = (sub, any(has_rule(e, memo) for e in sub.eqns))
        if memo[id(sub)][1]:
            return True
    return False


def _rewrite_eval(jaxpr, consts, args, at_rule, memo, where="") -> list:
    """Evaluate ``jaxpr`` with each ``custom_vjp_call`` replaced by ``at_rule(eqn, ins,
    where)``: jit calls, remat and custom_jvp functions inlined, and scan, while and cond
    bound over bodies rewritten the same way."""
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    read = lambda a: a.val if isinstance(a, Literal) else env[a]
    for eqn in jaxpr.eqns:
        ins, name = [read(a) for a in eqn.invars], eqn.primitive.name
        if not has_rule(eqn, memo):
            outs = apply_eqn(eqn, ins)
        elif name.startswith("custom_vjp_call"):
            outs = at_rule(eqn, ins, where)
        elif name in _CALLS:
            sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
            at = ", ".join(filter(None, [where, _REMAT.get(name)]))
            sub_consts = getattr(sub, "consts", ())
            outs = _rewrite_eval(getattr(sub, "jaxpr", sub), sub_consts, ins, at_rule, memo, at)
        else:
            outs = apply_eqn(eqn.replace(params=_rewritten(eqn, at_rule, memo, where)), ins)
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


def _rewritten(eqn, at_rule, memo, where) -> dict:
    """``eqn``'s params with each body that holds a rule rewritten by :func:`_rewrite_eval`."""

    def one(item, label):
        if not isinstance(item, ClosedJaxpr) or not any(has_rule(e, memo) for e in item.eqns):
            return item
        specs = [
            jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in item.in_avals
        ]
        at = ", ".join(filter(None, [where, label]))
        body = lambda *a: _rewrite_eval(item.jaxpr, item.consts, a, at_rule, memo, at)
        return jax.make_jaxpr(body)(*specs)

    name, params = eqn.primitive.name, {}
    for key, value in eqn.params.items():
        if isinstance(value, tuple):
            params[key] = tuple(one(b, f"in {name} branch {i}") for i, b in enumerate(value))
        else:
            params[key] = one(value, f"in {name}")
    return params


# ---- the walk: each application, and the rules inside it -------------------------------
class _Walker:
    """Records applications, and runs a rule's function eagerly to find (and give values
    to) the rules inside it, entering jit calls, scan/while steps and cond branches."""

    def __init__(self):
        self.apps: list[Application] = []
        self.memo: dict = {}

    def walk(self, jaxpr, consts, args, parent, where, group) -> list:
        env = dict(zip(jaxpr.constvars, consts))
        env.update(zip(jaxpr.invars, args))
        read = lambda a: a.val if isinstance(a, Literal) else env[a]
        for eqn in jaxpr.eqns:
            ins = [read(a) for a in eqn.invars]
            env.update(zip(eqn.outvars, self.eqn(eqn, ins, parent, where, group)))
        return [read(a) for a in jaxpr.outvars]

    def eqn(self, eqn, ins, parent, where, group, outputs=True) -> list:
        """Run ``eqn`` on ``ins``, recording the rules in it (its outputs are not computed
        when ``outputs`` is False and nothing inside it needs running)."""
        name = eqn.primitive.name
        if not has_rule(eqn, self.memo):
            return apply_eqn(eqn, ins)
        if name.startswith("custom_vjp_call"):
            rule, shapes = custom_name(eqn.params), tuple(np.shape(v) for v in ins)
            key = group if parent is None else (group, rule, shapes)
            self.apps.append(Application(eqn, ins, rule, _names(eqn), parent, where, key))
            body = eqn.params["call_jaxpr"]
            if not any(has_rule(e, self.memo) for e in body.jaxpr.eqns):
                return apply_eqn(eqn, ins) if outputs else []
            return self.walk(body.jaxpr, body.consts, ins, len(self.apps) - 1, where, key)
        if name in _CALLS:
            sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
            consts = getattr(sub, "consts", ())
            return self.walk(getattr(sub, "jaxpr", sub), consts, ins, parent, where, group)
        step = {"scan": self._scan, "while": self._while, "cond": self._cond}.get(name)
        return step(eqn, ins, parent, where, group) if step else apply_eqn(eqn, ins)

    def _scan(self, eqn, ins, parent, where, group) -> list:
        p = eqn.params
        n_c, n_carry, length, body = p["num_consts"], p["num_carry"], p["length"], p["jaxpr"]
        consts, carry, xs = ins[:n_c], ins[n_c : n_c + n_carry], ins[n_c + n_carry :]
        if not length:
            return apply_eqn(eqn, ins)
        ys = []
        for i in reversed(range(length)) if p["reverse"] else range(length):
            args = consts + carry + [x[i] for x in xs]
            out = self.walk(body.jaxpr, body.consts, args, parent, where, group)
            carry = out[:n_carry]
            ys.append(out[n_carry:])
        ys = ys[::-1] if p["reverse"] else ys
        return carry + [np.stack([y[k] for y in ys]) for k in range(len(ys[0]))]

    def _while(self, eqn, ins, parent, where, group) -> list:
        p = eqn.params
        n_cc, n_bc = p["cond_nconsts"], p["body_nconsts"]
        cc, bc, val = ins[:n_cc], ins[n_cc : n_cc + n_bc], ins[n_cc + n_bc :]
        cond, body = p["cond_jaxpr"], p["body_jaxpr"]
        while bool(self.walk(cond.jaxpr, cond.consts, cc + val, parent, where, group)[0]):
            val = self.walk(body.jaxpr, body.consts, bc + val, parent, where, group)
        return val

    def _cond(self, eqn, ins, parent, where, group) -> list:
        branches = eqn.params["branches"]
        branch = branches[int(np.clip(int(ins[0]), 0, len(branches) - 1))]
        return self.walk(branch.jaxpr, branch.consts, ins[1:], parent, where, group)


def _names(eqn) -> tuple[str, ...]:
    """The rule's argument names, from its ``fwd`` function's signature (``x``, ``t``)."""
    info = getattr(eqn.params.get("fwd_jaxpr_thunk"), "debug_info", None)
    names = tuple(getattr(info, "arg_names", None) or ())
    n_args = len(eqn.invars) - int(eqn.params.get("num_consts", 0))
    return names if len(names) == n_args and all(names) else ()


# ---- finding the applications ------------------------------------------------------------
def _instrumented_run(closed, leaves: list) -> list[_Site]:
    """Run ``closed`` once, compiled, with a callback recording each rule's inputs."""
    sites: list[_Site] = []

    def record(eqn, ins, where):
        site = _Site(eqn=eqn, where=where, group=(len(sites),))
        sites.append(site)
        jax.debug.callback(site.record, *ins)
        return apply_eqn(eqn, ins)

    memo: dict = {}
    fast_jit(lambda *a: _rewrite_eval(closed.jaxpr, closed.consts, a, record, memo))(*leaves)
    jax.effects_barrier()
    return sites


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _is_value(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, complex))


def _stack(frame) -> tuple:
    """Where a call was made from: every line on the stack (the steps of a loop share it)."""
    lines = []
    while frame is not None:
        lines.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return tuple(lines)


def _positional(rule, args, kwargs) -> tuple:
    """``args`` and ``kwargs`` as the positional arguments of ``rule``'s function."""
    if not kwargs:
        return args
    try:
        return inspect.signature(rule.fun).bind(*args, **kwargs).args
    except (TypeError, ValueError):
        return args + tuple(kwargs.values())  # the call itself will say what is wrong


def _site(original, rule, args, caller) -> tuple[_Site, list]:
    """The call ``rule(*args)`` alone as a jaxpr of its array arguments."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(tuple(args))
    static = set(getattr(rule, "nondiff_argnums", ()))
    dyn = [k for k, (p, x) in enumerate(leaves) if p[0].idx not in static and _is_value(x)]

    def alone(*values):
        full = [x for _, x in leaves]
        for k, v in zip(dyn, values):
            full[k] = v
        return original(rule, *jax.tree_util.tree_unflatten(tree, full))

    dynamic = [leaves[k][1] for k in dyn]
    types = [jax.typeof(x) for x in dynamic]
    specs = [jax.ShapeDtypeStruct(t.shape, t.dtype, weak_type=t.weak_type) for t in types]
    how = next((_HOW.get(type(x).__name__, "") for x in dynamic if _is_tracer(x)), "")
    group = (id(rule), _stack(caller), tree, tuple(map(str, types)))
    return _Site(closed=jax.make_jaxpr(alone)(*specs), where=how, group=group), dynamic


@contextlib.contextmanager
def _intercepting(sites: list):
    """Inside the block every outermost ``jax.custom_vjp`` call is recorded in ``sites``
    (calls made inside a rule are found later, in its jaxpr)."""
    original = jax.custom_vjp.__call__
    busy: list = []

    def call(rule, *args, **kwargs):
        if busy or not getattr(rule, "bwd", None):
            return original(rule, *args, **kwargs)
        busy.append(rule)
        try:
            args = _positional(rule, args, kwargs)
            site, dynamic = _site(original, rule, args, sys._getframe(1))
            sites.append(site)
            if any(_is_tracer(x) for x in dynamic):
                jax.debug.callback(site.record, *dynamic)
            else:
                site.record(*dynamic)
            return original(rule, *args)
        finally:
            busy.pop()

    jax.custom_vjp.__call__ = call
    try:
        yield
    finally:
        jax.custom_vjp.__call__ = original


def _intercepted_run(f: Callable, args: tuple) -> list[_Site]:
    sites: list[_Site] = []
    with _intercepting(sites), jax.disable_jit():
        f(*args)
        jax.effects_barrier()
    return sites


def find(f: Callable, args: tuple) -> tuple[list[Application], list[str]]:
    """Every application of a hand-written rule when ``f(*args)`` runs, in the order they
    ran (a rule's inner rules right after it), and notes on rules traced but not run."""
    # a fresh function: make_jaxpr keeps the trace of one it has seen, and with it the rules
    # as they were then (what jax.grad(f) runs now is traced now; what f jits stays cached)
    closed, memo = jax.make_jaxpr(lambda *a: f(*a))(*args), {}
    if any(has_rule(e, memo) for e in closed.jaxpr.eqns):
        sites = _instrumented_run(closed, jax.tree_util.tree_leaves(args))
    else:  # consumed while tracing (jax.grad): intercept the calls themselves
        sites = _intercepted_run(f, args)
    walker, notes = _Walker(), []
    for site in sites:
        for values in site.calls:
            if site.closed is None:
                walker.eqn(site.eqn, values, None, site.where, site.group, outputs=False)
            else:
                jaxpr = site.closed.jaxpr
                walker.walk(jaxpr, site.closed.consts, values, None, site.where, site.group)
        if not site.calls:
            eqns = [site.eqn] if site.closed is None else site.closed.jaxpr.eqns
            rules = [custom_name(e.params) for e in eqns if has_rule(e, memo)]
            notes.append(f"{', '.join(rules)} ({site.where}) never ran: a branch not taken")
    return walker.apps, notes


def representatives(apps: list[Application]) -> tuple[list[int], list[str]]:
    """The applications to check: all of a group of up to :data:`ALL_UP_TO`, else its first
    two, middle and last two (each one's ``where`` says which of how many it is); and a
    note per group checked in part."""
    groups: dict = {}
    for k, app in enumerate(apps):
        groups.setdefault(app.group, []).append(k)
    chosen, notes = [], []
    for members in groups.values():
        n = len(members)
        picks = list(range(n)) if n <= ALL_UP_TO else sorted({0, 1, n // 2, n - 2, n - 1})
        for i in picks:
            chosen.append(members[i])
            if n > 1:
                app = apps[members[i]]
                app.where = ", ".join(filter(None, [app.where, f"call {i + 1} of {n}"]))
        if len(picks) < n:
            calls = ", ".join(str(i + 1) for i in picks)
            notes.append(
                f"{apps[members[0]].name} ran {n} times at one place; checked calls {calls}"
            )
    return sorted(chosen), notes


# ---- a rule's primal, its inner rules stripped ------------------------------------------
def primal(eqn) -> Callable:
    """The forward computation of the rule ``eqn`` as a function of all its inputs, with
    each rule inside it replaced by that rule's own forward body."""
    body, memo = eqn.params["call_jaxpr"], {}

    def strip(inner, ins, where):
        sub = inner.params["call_jaxpr"]
        return _rewrite_eval(sub.jaxpr, sub.consts, ins, strip, memo)

    return lambda *args: _rewrite_eval(body.jaxpr, body.consts, args, strip, memo)
