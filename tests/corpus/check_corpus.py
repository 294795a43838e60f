"""Check that each corpus file fails exactly where its ``# expect:`` lines say.

    python tests/corpus/check_corpus.py tests/corpus/ch05 [-j 2]

Each student file is imported in a child process (this script with ``--child``),
which only calls the student's functions on fixed float64 inputs and sends
back what they returned or raised, one record a line; the child never
compares anything, so a file that patches NumPy, JAX or jaxbp cannot forge a
verdict.  This process computes the right answers (``jax.vjp`` of
:mod:`jaxbp.reference`'s twins; mul and add by hand; ``jax.grad`` of
``reference.loss`` for the network), finds where the file disagrees and which
kinds of mistake the disagreement looks like, and prints one line per file:
``ok`` when that matches the file's expectation lines, else ``MISMATCH`` and why.
A child that hangs is stopped after ``--limit`` seconds in one exercise (or at
import), and a child that exits is started again for the exercises left.
The format of the expectation lines is in ``tests/corpus/README.md``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import functools
import hashlib
import importlib.util
import inspect
import os
import pickle
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

RULES = ("mul", "add", "relu", "sigmoid", "affine", "softmax_with_loss")
NET = "two_layer_net_gradient"
ARGS = {"mul": 2, "add": 2, "relu": 1, "sigmoid": 1, "affine": 3, "softmax_with_loss": 2}
GRADS = {
    "mul": ("dx", "dy"),
    "add": ("dx", "dy"),
    "relu": ("dx",),
    "sigmoid": ("dx",),
    "affine": ("dx", "dW", "db"),
    "softmax_with_loss": ("dx", "dt"),
}
KEYS = ("W1", "b1", "W2", "b2")
NET_RULES = {"relu", "affine", "softmax_with_loss"}
STRUCTURE = {"signature", "args_order", "fwd_structure", "bwd_structure", "grads_structure"}
RUNNING = {"in_place", "not_traceable", "shape_error", "raised", "timeout", "exited"}
FILE_KINDS = {"syntax_error", "import_error", "raised", "timeout", "exited"}
VALUES = {
    "zeros", "sign", "factor_n", "factor_inv_n", "factor", "missing_factor", "extra_factor",
    "ignores_dout", "transposed", "wrong_axis", "not_summed", "wrong_shape", "unstable", "values",
}  # fmt: skip
SPECIFIC = {
    "not_swapped", "relu_mask_inverted", "relu_mask_strict", "relu_fwd_mask_inverted",
    "sigmoid_dout_y", "sigmoid_dout_1my", "sigmoid_used_x", "sigmoid_fwd_sign",
    "w_not_transposed", "layers_order", "bias_missing",
}  # fmt: skip
UNKNOWN = {"?"}  # an exception or a structure: which output is wrong is not known
KINDS = STRUCTURE | RUNNING | FILE_KINDS | VALUES | SPECIFIC
NOTES = {"book_epsilon"}
NOT_TRACEABLE = (
    "Tracer", "Concretization", "NonConcreteBooleanIndex", "truth value of an array",
    "Only scalar arrays can be converted", "only length-1 arrays", "only 0-dimensional",
)  # fmt: skip


# ---- the inputs (the same in the child and here) ---------------------------------------
def _vals(rng, *shape):
    v = rng.uniform(-2, 2, shape).round(1)
    return np.where(v == 0, 0.5, v)


def _one_hot(rng, n, c):
    return np.eye(c)[rng.integers(0, c, n)]


@functools.cache
def cases(name):
    """``[(inputs, dout, tag)]``: tag "zero" (ReLU inputs exactly 0), "large" (logits ~1000)."""
    rng = np.random.default_rng(list(RULES).index(name) if name in RULES else 9)
    if name in ("mul", "add"):
        out = [((np.float64(100.0), np.float64(2.0)), np.float64(1.1), "")]
        return out + [
            ((_vals(rng, *s), _vals(rng, *s)), _vals(rng, *s), "") for s in ((2, 3), (1, 4))
        ]
    if name == "relu":
        out = []
        for shape, zeros in (((2, 4), 2), ((1, 5), 0), ((5, 3), 3)):
            x = _vals(rng, *shape)
            x.flat[rng.choice(x.size, zeros, replace=False)] = 0.0
            out.append(((x,), _vals(rng, *shape), "zero" if zeros else ""))
        return out
    if name == "sigmoid":
        return [((_vals(rng, *s),), _vals(rng, *s), "") for s in ((2, 3), (1, 4), (4, 3))]
    if name == "affine":  # the first W is square: dout . W (no transpose) runs there
        dims = ((2, 3, 3), (1, 3, 2), (5, 4, 3), (3, 2, 4))
        return [
            ((_vals(rng, N, n), _vals(rng, n, m), _vals(rng, m)), _vals(rng, N, m), "")
            for N, n, m in dims
        ]
    if name == "softmax_with_loss":
        out = [((_vals(rng, N, C), _one_hot(rng, N, C)), np.float64(g), "") for N, C, g in
               ((2, 3, 1.0), (1, 4, 0.5), (5, 3, 1.0))]  # fmt: skip
        near = 1000.0 + _vals(rng, 3, 4)  # exp overflows without the max subtraction
        out.append(((near, _one_hot(rng, 3, 4)), np.float64(1.0), "large"))
        spread = np.array([[800.0, 0.5, -800.0], [-500.0, 600.0, 10.0]])  # softmax underflows
        out.append(((spread, np.eye(3)[[0, 1]]), np.float64(1.0), "large"))
        return out
    out = []  # the network: 4 inputs, 5 hidden, 3 classes
    for N, zero in ((1, False), (3, True)):
        p = {
            "W1": _vals(rng, 4, 5),
            "b1": _vals(rng, 5),
            "W2": _vals(rng, 5, 3),
            "b2": _vals(rng, 3),
        }
        x = _vals(rng, N, 4)
        if zero:  # the book's b1 = 0 and an all-zero image: hidden units exactly at ReLU's kink
            p["b1"], x[0] = np.zeros(5), 0.0
        out.append(((p, x, _one_hot(rng, N, 3)), None, "zero" if zero else ""))
    return out


# ---- the child: call the student's functions, report raw results -----------------------
def _plain(v):
    """Numbers as float64 NumPy, tuples kept, lists and dicts tagged, anything else its type."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, tuple) and not hasattr(v, "_fields"):
        return tuple(_plain(a) for a in v)
    if isinstance(v, list):
        return ("<list>", [_plain(a) for a in v])
    if isinstance(v, dict):
        return ("<dict>", {k: _plain(a) for k, a in v.items()})
    try:
        a = np.asarray(v)
        if np.issubdtype(a.dtype, np.number) or a.dtype == bool:
            return a.astype(np.float64)
    except Exception:
        pass
    return ("<other>", type(v).__name__)


def _tagged(v, tag):
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and v[0] == tag


def _exc(e: BaseException) -> tuple[str, str]:
    text = str(e).strip().splitlines()
    return type(e).__name__, text[0][:300] if text else ""


class _Writer:
    def __init__(self, path):
        self.f = open(path, "a", encoding="ascii")

    def __call__(self, *rec):
        self.f.write(base64.b64encode(pickle.dumps(rec)).decode() + "\n")
        self.f.flush()


def _child_pair(ns, name, jax, jnp):
    fwd, bwd = ns.get(name + "_fwd"), ns.get(name + "_bwd")
    if fwd is None or bwd is None:
        return {"missing": True}
    obs = {"bwd_params": _params(bwd), "fwd_ok": _binds(fwd, ARGS[name]), "cases": []}
    obs["bwd_ok"] = _binds(bwd, 2)
    if not (obs["fwd_ok"] and obs["bwd_ok"]):
        return obs
    for i, (inputs, dout, _) in enumerate(cases(name)):
        args, d = tuple(jnp.asarray(a) for a in inputs), jnp.asarray(dout)
        rec = {}
        obs["cases"].append(rec)
        try:
            r = fwd(*args)
        except NotImplementedError:
            return {"skipped": "fwd"}
        except BaseException as e:
            rec["fwd_exc"] = _exc(e)
            continue
        if not (isinstance(r, tuple) and len(r) == 2):
            rec["fwd_structure"] = _plain(r)
            continue
        rec["out"] = _plain(r[0])
        try:
            rec["cts"] = _plain(bwd(r[1], d))
        except NotImplementedError:
            return {"skipped": "bwd"}
        except BaseException as e:
            rec["bwd_exc"] = _exc(e)
            continue
        if i != len(cases(name)) - 1:
            continue
        try:  # the pair as a real custom_vjp rule, under jit (the last input: compiled once)
            f = jax.custom_vjp(lambda *a: fwd(*a)[0])
            f.defvjp(fwd, bwd)

            def run(a, g, f=f):
                out, vjp = jax.vjp(f, *a)
                return out, vjp(g)

            rec["jit"] = _plain(jax.jit(run)(args, d))
        except BaseException as e:
            rec["jit_exc"] = _exc(e)
    return obs


def _child_net(ns, jnp):
    fn = ns.get(NET)
    if fn is None:
        return {"missing": True}
    if not _binds(fn, 3):
        return {"fwd_ok": False}
    obs = {"cases": []}
    for (p, x, t), _, _ in cases(NET):
        rec = {}
        obs["cases"].append(rec)
        try:
            rec["grads"] = _plain(
                fn({k: jnp.asarray(v) for k, v in p.items()}, jnp.asarray(x), jnp.asarray(t))
            )
        except NotImplementedError:
            return {"skipped": "net"}
        except BaseException as e:
            rec["exc"] = _exc(e)
    return obs


def _binds(fn, n):
    try:
        inspect.signature(fn).bind(*range(n))
        return True
    except (TypeError, ValueError):
        return False


def _params(fn):
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def child(path, out, names):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    write = _Writer(out)
    spec = importlib.util.spec_from_file_location("student_file", path)
    mod = importlib.util.module_from_spec(spec)
    write("import")
    try:
        spec.loader.exec_module(mod)
    except BaseException as e:
        write("import_exc", _exc(e))
        return
    write("imported")
    ns = vars(mod)
    for name in names:
        write("start", name)
        try:
            obs = _child_net(ns, jnp) if name == NET else _child_pair(ns, name, jax, jnp)
        except BaseException as e:  # the harness itself met something odd: say so
            obs = {"harness_exc": _exc(e)}
        write("result", name, obs)
    write("done")


_CHILD_SOURCE = "".join(
    inspect.getsource(f)
    for f in (
        _vals,
        _one_hot,
        cases,
        _plain,
        _tagged,
        _exc,
        _Writer,
        _child_pair,
        _child_net,
        child,
    )
)


# ---- running the child -----------------------------------------------------------------
def _read(path):
    recs = []
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.endswith("\n"):
                recs.append(pickle.loads(base64.b64decode(line)))
    return recs


def observe(path, limit, cache=None):
    """``(file_event, {exercise: obs})``: file_event None, or (kind, detail).

    With ``cache`` (a folder), the observations of a file are kept there, under a
    hash of the file and of the child's code: the judging can change without rerunning.
    """
    if cache:
        h = hashlib.sha256(open(path, "rb").read() + _CHILD_SOURCE.encode()).hexdigest()
        kept = os.path.join(cache, h[:32] + ".pickle")
        if os.path.exists(kept):
            with open(kept, "rb") as f:
                return pickle.load(f)
        os.makedirs(cache, exist_ok=True)
        found = observe(path, limit)
        with open(kept, "wb") as f:
            pickle.dump(found, f)
        return found
    todo, results = [*RULES, NET], {}
    while todo:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "records")
            open(out, "w").close()
            cmd = [sys.executable, os.path.abspath(__file__), "--child", os.path.abspath(path), out]
            cmd.append(",".join(todo))
            with open(os.path.join(tmp, "stderr"), "w") as err:
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp)
            seen, since, timed_out = -1, time.monotonic(), False
            while proc.poll() is None:
                time.sleep(0.1)
                recs = _read(out)
                if len(recs) != seen:
                    seen, since = len(recs), time.monotonic()
                waiting = recs[-1][0] if recs else "import"
                allowed = max(2 * limit, 40.0) if waiting == "import" else limit
                if waiting in ("start", "import") and time.monotonic() - since > allowed:
                    proc.kill()
                    timed_out = True
            proc.wait()
            recs = _read(out)
        kinds = [r[0] for r in recs]
        if "import_exc" in kinds:
            return ("import", recs[kinds.index("import_exc")][1]), results
        if "imported" not in kinds:
            return ("timeout" if timed_out else "exited", str(proc.returncode)), results
        for r in recs:
            if r[0] == "result":
                results[r[1]] = r[2]
                todo.remove(r[1])
        if "done" in kinds:
            break
        current = recs[-1][1]  # it was inside this exercise when it hung or exited
        results[current] = {"died": "timeout" if timed_out else "exited"}
        todo.remove(current)
    return None, results


# ---- the right answers -----------------------------------------------------------------
def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


@functools.cache
def answer(name, i, ones=False):
    """The right answer for ``cases(name)[i]`` (with ``dout`` all ones if ``ones``), once."""
    inputs, dout, _ = cases(name)[i]
    return reference(name, inputs, np.ones_like(dout) if ones else dout)


def reference(name, inputs, dout):
    """``(out, {grad: value})`` for a rule; for the network ``(None, {key: gradient})``."""
    jax = _jax()
    from jaxbp import reference as ref

    if name == "mul":
        x, y = inputs
        return x * y, {"dx": dout * y, "dy": dout * x}
    if name == "add":
        x, y = inputs
        return x + y, {"dx": dout * np.ones_like(x), "dy": dout * np.ones_like(y)}
    if name == NET:
        p, x, t = inputs
        g = jax.grad(ref.loss)(p, x, t)
        return None, {k: np.asarray(v) for k, v in g.items()}
    out, vjp = jax.vjp(getattr(ref, name), *inputs)
    cts = vjp(np.asarray(dout, dtype=np.float64) * np.ones(np.shape(out)))
    return np.asarray(out), {g: np.asarray(c) for g, c in zip(GRADS[name], cts)}


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def patterns(name, inputs, d):
    """``{output: [(kind, value)]}``: what each known mistake gives on this input."""
    if name == "mul":
        x, y = inputs
        return {"dx": [("not_swapped", d * x)], "dy": [("not_swapped", d * y)]}
    if name == "add":  # mul's rule copied into add
        x, y = inputs
        return {"dx": [("extra_factor", d * y)], "dy": [("extra_factor", d * x)]}
    if name == "relu":
        (x,) = inputs
        return {
            "out": [("relu_fwd_mask_inverted", np.where(x <= 0, x, 0.0))],
            "dx": [
                ("relu_mask_inverted", np.where(x <= 0, d, 0.0)),
                ("relu_mask_strict", np.where(x < 0, 0.0, d)),
                ("ignores_dout", (x > 0) * 1.0),
                ("extra_factor", d * np.maximum(x, 0)),  # dout * out
            ],
        }
    if name == "sigmoid":
        (x,) = inputs
        y = _sig(x)
        return {
            "out": [("sigmoid_fwd_sign", 1 / (1 + np.exp(x)))],
            "dx": [
                ("sigmoid_dout_y", d * y),
                ("sigmoid_dout_1my", d * (1 - y)),
                ("sigmoid_used_x", d * x * (1 - x)),
                ("ignores_dout", y * (1 - y)),
                ("missing_factor", d * y * y),  # fig. 5-20's dout * y^2 * exp(-x) without exp(-x)
            ],
        }
    if name == "affine":
        x, W, b = inputs
        pats = {
            "out": [("bias_missing", x @ W)],
            "dx": [("transposed", (d @ W.T).T)],
            "dW": [("transposed", (x.T @ d).T)],
            "db": [
                ("wrong_axis", d.sum(axis=1)),
                ("wrong_axis", d.sum()),
                ("not_summed", d),
                ("factor_inv_n", d.sum(0) / len(x)),
            ],
        }
        if W.shape[0] == W.shape[1]:
            pats["dx"].append(("w_not_transposed", d @ W))
        return pats
    if name == "softmax_with_loss":
        x, t = inputs
        with np.errstate(all="ignore"):
            return {"out": [("wrong_axis", -np.sum(t * np.log(_softmax(x, axis=0))) / len(x))]}
    return {}


def book_loss(x, t):
    """The book's cross_entropy_error with its ``log(y + 1e-7)``."""
    return -np.sum(t * np.log(_softmax(x) + 1e-7)) / len(x)


# ---- comparing -------------------------------------------------------------------------
def close(got, want):
    if not isinstance(got, np.ndarray) or np.shape(got) != np.shape(want):
        return False
    return bool(np.allclose(got, want, rtol=1e-7, atol=1e-10))


def value_kinds(got, want, pats, dout_free, n):
    """The kinds that ``got`` (not ``want``) looks like."""
    if not isinstance(got, np.ndarray):
        return {"wrong_shape"} if got is None else set()
    kinds = {k for k, v in pats if close(got, np.asarray(v))}
    if dout_free is not None and close(got, dout_free):
        kinds.add("ignores_dout")
    if np.shape(got) != np.shape(want):
        if got.size and not np.any(got) and np.any(want):
            return kinds | {"zeros"}
        if np.shape(got) == np.shape(want.T) and close(got, want.T):
            kinds.add("transposed")
        return kinds | {"wrong_shape"}
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        kinds.add("unstable")
    elif np.any(want) and not np.any(got):
        kinds.add("zeros")
    else:
        big = np.abs(want) > 1e-8
        if np.any(big) and np.allclose(got[~big], 0, atol=1e-10):
            r = got[big] / want[big]
            if np.allclose(r, r.flat[0], rtol=1e-7):
                c = float(r.flat[0])
                if np.isclose(c, -1):
                    kinds.add("sign")
                elif n != 1 and np.isclose(c, n):
                    kinds.add("factor_n")
                elif n != 1 and np.isclose(c, 1 / n):
                    kinds.add("factor_inv_n")
                elif not np.isclose(c, 1):
                    kinds.add("factor")
    return kinds | {"values"}


@dataclass
class Verdict:
    status: str = "pass"  # pass, fail, skip
    outputs: set = field(default_factory=set)  # the outputs that disagree
    kinds: set = field(default_factory=set)  # what the disagreement looks like
    notes: set = field(default_factory=set)
    tags: set = field(default_factory=set)  # the tags of the cases that disagree
    why: str = ""

    def fail(self, outputs, kinds, tag="", why=""):
        self.status = "fail"
        self.outputs |= set(outputs)
        self.kinds |= set(kinds)
        self.tags.add(tag)
        self.why = self.why or why


def _exc_kinds(exc):
    typ, msg = exc
    if typ == "SystemExit":
        return {"exited"}
    if "immutable" in msg or "item assignment" in msg:
        return {"in_place"}
    if any(s in typ or s in msg for s in NOT_TRACEABLE):
        return {"not_traceable"}
    if typ in ("TypeError", "ValueError") and any(
        s in msg for s in ("shape", "dot_general", "broadcast", "dimension")
    ):
        return {"shape_error"}
    return {"raised"}


def judge_pair(name, obs):
    v = Verdict()
    if obs.get("missing") or obs.get("skipped"):
        v.status = "skip"
        return v
    if "died" in obs:
        v.fail(UNKNOWN, {obs["died"]}, why=obs["died"])
        return v
    if "harness_exc" in obs:
        v.fail(UNKNOWN, {"raised"}, why=f"harness: {obs['harness_exc']}")
        return v
    params = obs.get("bwd_params", [])
    if len(params) >= 2 and ("dout" in params[0] or "grad" in params[0]) and "res" in params[1]:
        v.fail(UNKNOWN, {"args_order"}, why="bwd(dout, residuals)")
    if not (obs["fwd_ok"] and obs["bwd_ok"]):
        v.fail(UNKNOWN, {"signature"}, why="signature")
        return v
    for i, rec in enumerate(obs["cases"]):
        _judge_case(v, name, i, rec)
    return v


def _judge_case(v, name, i, rec):
    inputs, dout, tag = cases(name)[i]
    if "fwd_exc" in rec:
        return v.fail(UNKNOWN, _exc_kinds(rec["fwd_exc"]), tag, f"fwd: {rec['fwd_exc']}")
    if "fwd_structure" in rec:
        return v.fail(UNKNOWN, {"fwd_structure"}, tag, "fwd did not return (out, res)")
    out, want = answer(name, i)
    n = len(inputs[0]) if np.ndim(inputs[0]) and name not in ("mul", "add") else 1  # batch
    pats = patterns(name, inputs, dout)
    got_out = rec["out"]
    if not close(got_out, out):
        if name == "softmax_with_loss" and close(got_out, book_loss(*inputs)):
            v.notes.add("book_epsilon")
        else:
            v.fail({"out"}, value_kinds(got_out, out, pats.get("out", []), None, n), tag, "out")
    if "bwd_exc" in rec:
        return v.fail(UNKNOWN, _exc_kinds(rec["bwd_exc"]), tag, f"bwd: {rec['bwd_exc']}")
    cts = rec["cts"]
    if not (isinstance(cts, tuple) and len(cts) == len(GRADS[name])) or _tagged(cts, "<list>"):
        return v.fail(UNKNOWN, {"bwd_structure"}, tag, f"bwd returned {type(cts).__name__}")
    ones = answer(name, i, ones=True)[1] if np.any(dout != 1) else {}
    for g, got in zip(GRADS[name], cts):
        if g == "dt":
            ok = got is None or close(got, np.zeros_like(want[g])) or close(got, want[g])
            if not ok:
                v.fail({"dt"}, {"values"}, tag, "t's cotangent")
        elif not close(got, want[g]):
            kinds = value_kinds(got, want[g], pats.get(g, []), ones.get(g), n)
            v.fail({g}, kinds, tag, g)
    if "jit_exc" in rec and v.status == "pass":  # else most likely what failed already
        v.fail(UNKNOWN, _exc_kinds(rec["jit_exc"]), tag, f"jit: {rec['jit_exc']}")


def judge_net(obs):
    v = Verdict()
    if obs.get("missing") or obs.get("skipped"):
        v.status = "skip"
        return v
    if "died" in obs:
        v.fail(UNKNOWN, {obs["died"]}, why=obs["died"])
        return v
    if not obs.get("cases"):
        v.fail(UNKNOWN, {"signature"}, why="signature")
        return v
    for i, rec in enumerate(obs["cases"]):
        (p, x, t), _, tag = cases(NET)[i]
        if "exc" in rec:
            v.fail(UNKNOWN, _exc_kinds(rec["exc"]), tag, f"net: {rec['exc']}")
            continue
        g = rec["grads"]
        if not (_tagged(g, "<dict>") and set(g[1]) == set(KEYS)):
            v.fail(UNKNOWN, {"grads_structure"}, tag, "not the dict W1 b1 W2 b2")
            continue
        want = answer(NET, i)[1]
        for k in KEYS:
            if not close(g[1][k], want[k]):
                kinds = value_kinds(g[1][k], want[k], [], None, len(x))
                if np.any(want[k]) and isinstance(g[1][k], np.ndarray) and not np.any(g[1][k]):
                    kinds.add("bias_missing")
                v.fail({k}, kinds, tag, k)
    return v


# ---- expectations ----------------------------------------------------------------------
def expectations(path):
    """``(expects, notes, errors)``: ``[(exercise, kind, output)]``, ``{(exercise, note)}``."""
    expects, notes, errors = [], set(), []
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("# expect:"):
            words = line.split(":", 1)[1].split()
            if words == ["pass"]:
                continue
            ex, kind, output = (words + [None, None])[:3]
            ok = (ex == "file" and kind in FILE_KINDS) or (
                ex in (*RULES, NET) and (kind in KINDS or (ex == NET and kind == "*"))
            )
            if not ok or len(words) > 3:
                errors.append(f"bad expect line: {line.strip()}")
            expects.append((ex, kind, output))
        elif line.startswith("# note:"):
            words = line.split(":", 1)[1].split()
            if len(words) != 2 or words[1] not in NOTES:
                errors.append(f"bad note line: {line.strip()}")
            notes.add(tuple(words))
    return expects, notes, errors


def _kind_seen(ex, kind, v, verdicts):
    """Whether the disagreement seen for ``ex`` fits ``kind`` ('' if yes, else why not)."""
    if kind == "*":
        bad = [r for r in NET_RULES if verdicts[r].status == "fail"]
        return "" if bad else "the network fails, but no rule it uses does"
    if kind == "layers_order":  # seen as a shape error or wrong values, with every rule right
        bad = [r for r in NET_RULES if verdicts[r].status == "fail"]
        return f"rules {bad} fail too" if bad else ""
    if kind not in v.kinds:
        return f"looks like {sorted(v.kinds)}"
    if kind == "values" and v.kinds & (VALUES | SPECIFIC) - {"values", "wrong_shape"}:
        return f"a more specific kind fits: {sorted(v.kinds - {'values'})}"
    if kind == "relu_mask_strict" and v.tags != {"zero"}:
        return "differs away from 0 too"
    if kind == "unstable" and v.tags != {"large"}:
        return "differs on small logits too"
    return ""


def check_file(path, limit, cache=None):
    try:
        return _check_file(path, limit, cache)
    except Exception as e:  # a bug here must not lose the other files' lines
        return [f"checker error: {type(e).__name__}: {e}"], {}


def _check_file(path, limit, cache):
    expects, notes, errors = expectations(path)
    if not any(
        line.startswith("# expect:") for line in open(path, encoding="utf-8", errors="replace")
    ):
        errors.append("no # expect: line")
    event, obs = observe(path, limit, cache)
    if event is not None:
        kind, detail = event
        if kind == "import":
            typ = detail[0]
            kind = {"SyntaxError": "syntax_error", "IndentationError": "syntax_error",
                    "ModuleNotFoundError": "import_error", "ImportError": "import_error",
                    "SystemExit": "exited"}.get(typ, "raised")  # fmt: skip
        want = [k for e, k, _ in expects if e == "file"]
        if want != [kind]:
            errors.append(f"the file itself fails ({kind}: {detail}), expected {want or 'no'}")
        return errors, {"file": kind}
    verdicts = {name: judge_pair(name, obs[name]) for name in RULES}
    verdicts[NET] = judge_net(obs[NET])
    for e, k, _ in expects:
        if e == "file":
            errors.append(f"expected the file to fail ({k}), but it imports")
    for name, v in verdicts.items():
        mine = [(k, o) for e, k, o in expects if e == name]
        if v.status != "fail":
            if mine:
                errors.append(f"{name}: expected {mine}, but it {v.status}es")
        elif not mine:
            errors.append(f"{name}: fails unexpectedly ({sorted(v.kinds)}: {v.why})")
        else:
            outs, known = {o for _, o in mine if o}, v.outputs - UNKNOWN
            allowed = outs | (set(GRADS.get(name, KEYS)) if "out" in outs or name == NET else set())
            missed = outs - known if not v.outputs & UNKNOWN else set()
            if outs and (missed or known - allowed):
                errors.append(f"{name}: {sorted(v.outputs)} disagree, expected {sorted(outs)}")
            for k, _ in mine:
                why = _kind_seen(name, k, v, verdicts)
                if why:
                    errors.append(f"{name}: expected {k}, but {why}")
        for note in v.notes if v.status == "pass" else ():
            if (name, note) not in notes:
                errors.append(f"{name}: passes with a note {note} not in the file")
    for ex, note in notes:
        if note not in verdicts.get(ex, Verdict()).notes:
            errors.append(f"{ex}: note {note} expected but not seen")
    return errors, {n: _shown(v) for n, v in verdicts.items()}


def _shown(v):
    """``pass``, ``skip``, or ``fail(KIND,...)``: the kinds the disagreement looks like."""
    if v.status != "fail":
        return v.status
    return f"fail({','.join(sorted(v.kinds - {'values'}) or ['values'])})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="corpus files or folders")
    ap.add_argument("-j", type=int, default=2, help="files checked at once")
    ap.add_argument("--limit", type=float, default=30.0, help="seconds for one exercise")
    ap.add_argument("--cache", help="a folder to keep the children's observations in")
    args = ap.parse_args(argv)
    files = []
    for p in args.paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n.endswith(".py")]
        else:
            files.append(p)
    files.sort()
    tally = collections.Counter()
    bad = passes = 0
    with ThreadPoolExecutor(args.j) as pool:
        results = pool.map(lambda f: check_file(f, args.limit, args.cache), files)
        for path, (errors, statuses) in zip(files, results):
            name = os.path.relpath(path, os.path.commonpath(files) if len(files) > 1 else ".")
            summary = " ".join(f"{k}={s}" for k, s in statuses.items() if s != "pass")
            summary = summary.replace("two_layer_net_gradient", "net")
            line = f"{'ok' if not errors else 'MISMATCH':8} {name}: {summary or 'all pass'}"
            print(line + ("" if not errors else " | " + "; ".join(errors)), flush=True)
            bad += bool(errors)
            expects = expectations(path)[0]
            passes += not expects
            for e, k in {(e, k) for e, k, _ in expects}:
                tally[(e, k)] += 1
    print(f"{len(files)} files, {len(files) - bad} as expected, {bad} mismatched")
    per_ex = collections.Counter(e for e, _ in tally.elements())
    per_kind = collections.Counter(k for _, k in tally.elements())
    print(
        "files expecting a failure, per exercise:",
        ", ".join(f"{e} {n}" for e, n in per_ex.most_common()),
    )
    print("files per kind:", ", ".join(f"{k} {n}" for k, n in sorted(per_kind.items())))
    print(f"files marked pass: {passes}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4].split(","))
    else:
        sys.exit(main())
