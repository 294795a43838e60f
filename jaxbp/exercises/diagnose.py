"""Judge what a learner's functions returned: the verdict, and the mistake's name.

:mod:`jaxbp.exercises.runner` records what the learner's code returned (its
*observations*); this module compares them with the right answers, computed
by the grader itself (:mod:`jaxbp.exercises.expected`), and names what is
wrong as a student would say it: a known mistake of that exercise first
(``Pattern``: mul's inputs not swapped, ReLU's mask as ``x < 0``), then the
general kinds, tried in order (:func:`compare`): NaN where the answer is
finite, all zeros, transposed, not summed over the batch, summed over the
wrong axis, the wrong shape, the sign, a constant factor (``N``, ``1/N``),
``dout`` ignored, a missing or an extra factor (``y``, ``1 - y``), and last
"wrong values".  Each failing output is reported with the input, both
answers and the book's equation as the hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from jaxbp.exercises.items import ATOL, RTOL, Case, Exercise, Function, Network, Steps, Update
from jaxbp.exercises.messages import DERIVATION, KINDS, NOTES, UI, hint, say
from jaxbp.exercises.report import Result

__all__ = [
    "Finding",
    "compare",
    "judge_pair",
    "judge_function",
    "judge_update",
    "judge_net",
    "error_line",
    "describe",
]


@dataclass(frozen=True)
class Finding:
    """What is wrong with one output: ``kind`` (a key of ``KINDS``) and its fields;
    ``accepted`` marks a right answer written another way (a key of ``NOTES``)."""

    kind: str
    fields: dict = field(default_factory=dict)
    accepted: bool = False


# ---- values ---------------------------------------------------------------------------------
def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to rounding: within ``RTOL`` of each entry plus ``ATOL`` of the largest one
    (an entry near 0 that is a difference of O(1) numbers carries their rounding)."""
    if a.shape != b.shape:
        return False
    scale = float(np.max(np.abs(b), initial=0.0))
    return bool(np.all(np.abs(a - b) <= RTOL * np.abs(b) + ATOL * max(scale, 1e-6)))


def _ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """The constant ``r`` with ``got == r * want``, if there is one."""
    big = np.abs(want) > 1e-9
    if not big.any() or np.any(np.abs(got[~big]) > 1e-8):
        return None
    r = got[big] / want[big]
    return float(r[0]) if np.allclose(r, r[0], rtol=1e-5) else None


def _by_factor(got, want, factors: dict) -> Finding | None:
    """``got`` is ``want`` divided (missing) or multiplied (extra) by a named factor."""
    for name, q in factors.items():
        q = np.broadcast_to(np.asarray(q, np.float64), want.shape)
        if np.allclose(q, 1):
            continue
        if np.all(np.abs(q) > 1e-6) and _close(got, want / q):
            return Finding("missing_factor", {"q": name})
        if _close(got, want * q):
            return Finding("extra_factor", {"q": name})
    return None


def _by_shape(got, want, dout) -> Finding:
    """Why ``got`` has another shape than ``want``."""
    fields = {"got": tuple(got.shape), "want": tuple(want.shape)}
    if got.ndim == 2 and _close(got.T, want):
        return Finding("transposed")
    if got.ndim == want.ndim + 1 and _close(got.sum(axis=0), want):
        return Finding("not_summed", fields)
    d = np.asarray(dout, np.float64)
    sums = [d.sum(axis=a) for a in range(1, d.ndim)] + [d.sum()] * (d.ndim >= 1)
    if any(_close(got, s) for s in sums):  # over the features, or over everything
        return Finding("wrong_axis", {**fields, "message": "wrong_axis_sum"})
    return Finding("wrong_shape", fields)


def _by_values(got, want, dout, batch: int, factors: dict) -> Finding:
    """Why ``got`` differs from ``want`` of the same shape."""
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        return Finding("unstable")
    if not np.any(got) and np.any(want):
        return Finding("zeros")
    if got.ndim == 2 and not _close(want.T, want) and _close(got.T, want):
        return Finding("transposed")
    d = np.asarray(dout, np.float64)
    scale = float(np.max(np.abs(want), initial=0.0))
    worst = float(np.max(np.abs(got - want), initial=0.0))
    if worst <= 1e-3 * scale:  # close, but more than rounding: an epsilon, float16?
        return Finding("inexact", {"d": f"{worst:.2g}"})
    r = _ratio(got, want)
    if r is not None and np.isclose(r, -1):
        return Finding("sign")
    if r is not None and d.ndim == 0 and not np.isclose(d, 1) and np.isclose(r * d, 1):
        return Finding("ignores_dout")
    if d.shape == want.shape and np.all(np.abs(d) > 1e-6) and _close(got * d, want):
        return Finding("ignores_dout")
    named = _by_factor(got, want, factors)
    if named is not None:
        return named
    if r is not None and batch > 1 and np.isclose(r, batch):
        return Finding("factor_n", {"r": f"{r:.4g}"})
    if r is not None and batch > 1 and np.isclose(r, 1 / batch):
        return Finding("factor_inv_n", {"r": f"{r:.4g}"})
    if r is not None and (got.size > 1 or _simple(r)):  # any two numbers have some ratio
        return Finding("factor", {"r": f"{r:.4g}"})
    return Finding("values")


def _simple(r: float) -> bool:
    """``r`` is a small fraction (1/2, 3, 2/3): a factor, even between two single numbers."""
    f = Fraction(r).limit_denominator(12)
    return abs(f.numerator) <= 12 and abs(float(f) - r) <= 1e-9 * max(1.0, abs(r))


def compare(got, want, *, known=(), dout=1.0, batch=1, factors=None) -> Finding | None:
    """What is wrong with ``got`` against the right answer ``want`` (``None``: nothing).

    Args:
      got, want: arrays; ``got`` may have another shape.
      known: ``(kind, value, fields, accepted)`` of the exercise's known mistakes
        (and right answers written another way, ``accepted``), tried first.
      dout: the upstream derivative of the case; batch: its N; factors: named
        arrays a rule multiplies by (``{"y": y, "1 - y": 1 - y}``).

    >>> compare(np.array([2.0, 4.0]), np.array([1.0, 2.0]), batch=2).kind
    'factor_n'
    >>> compare(np.zeros(3), np.ones(3)).kind
    'zeros'
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if _close(got, want):
        return None
    for kind, value, fields, accepted in known:
        if value is not None and _close(got, np.asarray(value, np.float64)):
            return Finding(kind, dict(fields), accepted)
    if got.shape != want.shape:
        return _by_shape(got, want, dout)
    return _by_values(got, want, dout, batch, factors or {})


# ---- words ----------------------------------------------------------------------------------
def describe(v, lang: str) -> str:
    """A value the runner recorded, in words: an array's shape, or what else it was."""
    if isinstance(v, np.ndarray):
        return say(UI, "an_array", lang, shape=tuple(v.shape))
    if v is None:
        return "None"
    if isinstance(v, dict) and "structure" in v:
        v = v["structure"]
    if isinstance(v, dict) and v.get("desc") in ("tuple", "list", "dict", "array_of", "other"):
        fields = {k: (" ".join(x) if k == "keys" else x) for k, x in v.items() if k != "desc"}
        if "shape" in fields:
            fields["shape"] = tuple(fields["shape"])
        return say(UI, v["desc"], lang, **fields)
    return str(v)


def _show(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    text = np.array2string(
        a, precision=4, separator=", ", threshold=24, suppress_small=True, max_line_width=10**6
    )
    return f"{tuple(a.shape)} {' '.join(text.split())}"


def _where(err: dict, lang: str) -> str:
    if not err.get("line"):
        return ""
    return say(UI, "where", lang, line=err["line"], file=err["file"])


def error_line(err: dict, lang: str, fn: str) -> tuple[str, str]:
    """``(kind, line)`` for what the learner's code raised (a runner error record)."""
    fields = dict(fn=err.get("fn") or fn, where=_where(err, lang), msg=err.get("msg", ""))
    kind = {
        "not_implemented": "not_implemented",
        "in_place": "in_place",
        "not_traceable": "not_traceable",
        "shape": "shape_error",
        "memory": "memory",
        "recursion": "recursion",
        "exit": "exited",
    }.get(err.get("cls"), "raised")
    if kind == "exited":
        return kind, say(KINDS, kind, lang, how=err.get("msg", ""), fn=fields["fn"])
    return kind, say(KINDS, kind, lang, exc=err.get("exc", ""), **fields)


def _hints(exercise: str, kinds: list[str], lang: str, equation: bool = True) -> list[str]:
    """``hint:`` lines: the book's equation and why (unless not ``equation``), then
    each kind's own hint (``dout``'s meaning when it was ignored)."""
    names = [exercise] + (["dout"] if "ignores_dout" in kinds else [])
    words = "; ".join(f"{DERIVATION[n][lang]['eq']}: {DERIVATION[n][lang]['why']}" for n in names)
    extra = [hint(KINDS, k, lang) for k in dict.fromkeys(kinds) if k in KINDS and k != "memory"]
    return [f"{say(UI, 'hint', lang)}: {h}" for h in [words] * equation + extra if h]


def _finding_line(label: str, what: str, f: Finding, lang: str, got=None, want=None) -> str:
    fields = {"what": what, "got": _shape_of(got), "want": _shape_of(want), **f.fields}
    return f"{label}: {what}: {say(KINDS, fields.pop('message', f.kind), lang, **fields)}"


def _shape_of(a) -> tuple | str:
    return tuple(np.shape(a)) if isinstance(a, np.ndarray) else ""


# ---- a custom_vjp pair ----------------------------------------------------------------------
def _is_error(v) -> bool:
    return isinstance(v, dict) and "error" in v


def _known(ex, what: str, case: Case) -> list:
    out = []
    for p in ex.patterns:
        if p.output == what:
            try:
                with np.errstate(all="ignore"):
                    value = p.value(case)
            except (ValueError, ArithmeticError, IndexError):  # the mistake cannot happen here:
                value = None  # dout . W without a transpose, a division by N - 1 for N = 1
            out.append((p.kind, value, p.fields, p.accept))
    return out


def _shown(ex, case: Case, lang: str) -> str:
    named = [f"{n} {_show(v)}" for n, v in zip(ex.args, case.inputs)]
    named += [f"{n} {v!r}" for n, v in zip(getattr(ex, "static", ()), case.static)]
    dout = [] if case.dout is None else [f"dout {_show(case.dout)}"]
    return f"{say(UI, 'input', lang)}: " + "; ".join([*named, *dout])


def _value_finding(ex, what, got, want, case, out) -> Finding | None:
    """The finding for one recorded value (an array, None or a description)."""
    if what in ex.labels:  # t is not differentiated: None, zeros or its true derivative
        if got is None or (isinstance(got, np.ndarray) and not np.any(got)):
            return None
        if isinstance(got, np.ndarray) and _close(np.asarray(got, np.float64), want):
            return Finding("labels_derivative", accepted=True)
    if got is None:
        return Finding("zeros")
    if not isinstance(got, np.ndarray) or not np.issubdtype(got.dtype, np.number):
        return Finding("not_array", {"got": got})
    batch = case.inputs[0].shape[0] if np.ndim(case.inputs[0]) else 1
    factors = ex.factors(case.inputs, out) if ex.factors else {}
    return compare(
        got, want, known=_known(ex, what, case), dout=case.dout, batch=batch, factors=factors
    )


class _Verdict(Exception):
    """Ends one exercise's judging with its :class:`Result`."""

    def __init__(self, result: Result):
        super().__init__(result.status)
        self.result = result


def _fail(name: str, lines: list[str], kind: str, output: str | None = None,
          findings: tuple = ()) -> _Verdict:  # fmt: skip
    """A failed verdict; ``output``: where the first mistake is; ``findings``:
    ``(output, kind)`` of each wrong output."""
    findings = tuple(findings) or (((output, kind),) if output else ())
    return _Verdict(Result(name, "failed", tuple(lines), kind, output=output, findings=findings))


def _block(label: str, what: str, got, want, f: Finding, lang: str) -> list[str]:
    """One wrong output's lines: what is wrong with it, then both answers."""
    if f.kind == "not_array":
        return [say(KINDS, "not_array", lang, what=what, got=describe(got, lang))]
    return [
        _finding_line(label, what, f, lang, got, np.asarray(want)),
        f"    {say(UI, 'expected', lang)} {what} = {_show(want)}",
        f"    {say(UI, 'got', lang)} {what} = {_show(got)}",
    ]


def _unwritten(fn: str, err: dict, written: dict | None) -> bool:
    """``fn`` raised ``NotImplementedError`` and is still the template's stub (judged in
    place: it raised the error itself)."""
    if err.get("cls") != "not_implemented":
        return False
    return not written.get(fn, True) if written is not None else err.get("fn") == fn


def _raised(ex_name: str, fn: str, err: dict, lang: str) -> _Verdict:
    """The verdict for a part that raised: ``incomplete`` for ``NotImplementedError`` (not
    finished yet), else failed with the error named."""
    kind, line = error_line(err, lang, fn)
    if kind == "not_implemented":
        return _Verdict(Result(ex_name, "incomplete", (line,)))
    return _fail(ex_name, [line, *_hints(ex_name, [kind], lang, kind == "shape_error")], kind)


def _judge_value_list(ex, label, what_names, values, wants, case, out, lang):
    """Findings for each of ``values`` (``(what, Finding)`` pairs, accepted ones included)."""
    out_findings = []
    for what, got, want in zip(what_names, values, wants):
        if _is_error(got):
            continue
        f = _value_finding(ex, what, got, np.asarray(want, np.float64), case, out)
        if f is not None:
            out_findings.append((label, what, got, want, f))
    return out_findings


def _report_findings(ex, case: Case, findings, lang: str) -> _Verdict:
    lines = [line for label, what, got, want, f in findings
             for line in _block(label, what, got, want, f, lang)]  # fmt: skip
    pairs = tuple((what, f.kind) for _, what, _, _, f in findings)
    kinds = [k for _, k in pairs]
    lines.append(_shown(ex, case, lang))
    return _fail(ex.name, [*lines, *_hints(ex.name, kinds, lang)], kinds[0], pairs[0][0], pairs)


def _check_pair_case(ex, k, case, rec, want, written, lang, missing_bwd: list) -> list:
    """The findings of case ``k``; notes of accepted alternatives are returned."""
    want_out, want_cots = want
    out = rec["out"]
    if _is_error(out):
        if _unwritten(ex.fwd, out["error"], written):
            raise _Verdict(Result(ex.name, "skipped", (say(UI, "not_written", lang, fn=ex.fwd),)))
        raise _raised(ex.name, ex.fwd, out["error"], lang)
    if isinstance(out, dict) and "structure" in out:
        line = say(KINDS, "fwd_structure", lang, fn=ex.fwd, got=describe(out, lang))
        raise _fail(ex.name, [line, *_hints(ex.name, [], lang)], "fwd_structure")
    label_f, label_b = say(UI, "forward", lang, fn=ex.fwd), say(UI, "backward", lang, fn=ex.bwd)
    out_arr = out if isinstance(out, np.ndarray) else None
    found = _judge_value_list(ex, label_f, ["out"], [out], [want_out], case, out_arr, lang)
    cots = rec.get("cots")
    if _is_error(cots):
        err = cots["error"]
        if err.get("cls") == "not_implemented":  # the forward is checked all the same
            missing_bwd.append(None if _unwritten(ex.bwd, err, written) else err)
        elif not [f for f in found if not f[4].accepted]:
            raise _raised(ex.name, ex.bwd, err, lang)
    elif isinstance(cots, dict) and "structure" in cots:
        want_text = "(" + ", ".join(ex.grads) + ("," if len(ex.grads) == 1 else "") + ")"
        got_text = describe(cots, lang)
        line = say(KINDS, "bwd_structure", lang, fn=ex.bwd, want=want_text, got=got_text)
        raise _fail(ex.name, [line, *_hints(ex.name, ["bwd_structure"], lang)], "bwd_structure")
    elif cots is not None:
        sig_out = out_arr if out_arr is not None else np.asarray(want_out)
        found += _judge_value_list(ex, label_b, ex.grads, cots, want_cots, case, sig_out, lang)
    wrong = [f for f in found if not f[4].accepted]
    if any(f[4].kind == "unstable" for f in wrong):  # what follows from the overflow
        wrong = [f for f in wrong if f[4].kind != "values"]
    if wrong:
        raise _report_findings(ex, case, wrong, lang)
    return [f[4].kind for f in found if f[4].accepted]


def _check_rule(ex: Exercise, obs, lang: str) -> None:
    """The pair, right when called directly, must also run as a ``custom_vjp`` rule."""
    for rec in obs["cases"]:
        rule = rec.get("rule")
        if rule == "ok":
            continue
        msg = rule["error"]["msg"] if _is_error(rule) else describe(rule, lang)
        line = f"{ex.name}: {say(KINDS, 'in_jax', lang, msg=msg)}"
        raise _fail(ex.name, [line, *_hints(ex.name, ["in_jax"], lang, equation=False)], "in_jax")


def _which_cases(ex) -> str:
    if ex.which:
        return ex.which
    return {"relu": "cases_relu", "softmax_with_loss": "cases_softmax"}.get(
        ex.name, "cases_affine" if ex.name == "affine" else "cases_pair"
    )


def _judge_start(name: str, obs: dict, lang: str, want_args: dict) -> None:
    """Verdicts that need no values: not defined, not callable, a wrong signature."""
    if "skip" in obs:
        skip = obs["skip"]
        key = "not_defined" if skip["why"] == "not_defined" else "not_callable"
        status = "skipped" if key == "not_defined" else "failed"
        raise _Verdict(Result(name, status, (say(UI, key, lang, fn=skip["fn"]),), None))
    if "signature" in obs:
        sig = obs["signature"]
        kind = "args_order" if sig["args_order"] else "signature"
        want = want_args.get(sig["fn"], "...")
        line = say(KINDS, kind, lang, fn=sig["fn"], sig=sig["sig"], want=want)
        raise _fail(name, [line], kind, sig["fn"])
    if "program" in obs:
        kind, line = error_line(obs["program"]["error"], lang, name)
        raise _fail(name, [line], kind)


def judge_pair(ex: Exercise, cases: list[Case], wants: list, obs: dict, lang: str,
               written: dict | None = None) -> Result:  # fmt: skip
    """The verdict on one ``custom_vjp`` pair from the runner's observations.

    Args:
      ex, cases: the exercise and the inputs it ran on.
      wants: per case ``(out, cotangents)``, the right answers.
      obs: :func:`jaxbp.exercises.runner.observe`'s record.
      written: per function name, whether the learner's file has written it
        (from its source); ``None``: judge from what ran.
    """
    try:
        want_args = {
            ex.fwd: ", ".join((*ex.args, *ex.static)),
            ex.bwd: ", ".join((*ex.static, "residuals", "dout")),
        }
        _judge_start(ex.name, obs, lang, want_args)
        notes, missing_bwd = [], []
        for k, (case, rec, want) in enumerate(zip(cases, obs["cases"], wants)):
            notes += _check_pair_case(ex, k, case, rec, want, written, lang, missing_bwd)
        if missing_bwd:
            err, n = missing_bwd[0], len(cases)
            line = (
                say(UI, "fwd_only", lang, fn=ex.bwd, n=n)
                if err is None
                else say(UI, "fwd_raised", lang, n=n, what=error_line(err, lang, ex.bwd)[1])
            )
            return Result(ex.name, "incomplete", (line,), notes=tuple(dict.fromkeys(notes)))
        _check_rule(ex, obs, lang)
    except _Verdict as v:
        return v.result
    notes = tuple(dict.fromkeys(notes))
    which = say(UI, _which_cases(ex), lang)
    lines = [say(UI, "passed_detail", lang, n=len(cases), which=which)]
    lines += [f"{say(UI, 'note', lang)}: {say(NOTES, n, lang)}" for n in notes]
    return Result(ex.name, "passed", tuple(lines), notes=notes)


# ---- a plain function (im2col, col2im, dropout's test mode) ------------------------------------
def judge_function(fn: Function, cases: list[Case], wants: list, obs: dict, lang: str,
                   written: dict | None = None) -> Result:  # fmt: skip
    """The verdict on a plain function ``NAME(*arrays, *static) -> out``.

    ``wants``: per case the right ``out``; ``obs``: the runner's record.
    """
    try:
        _judge_start(fn.name, obs, lang, {fn.name: ", ".join((*fn.args, *fn.static))})
        notes = []
        for case, rec, want in zip(cases, obs["cases"], wants):
            out = rec["out"]
            if _is_error(out):
                if _unwritten(fn.name, out["error"], written):
                    line = say(UI, "not_written", lang, fn=fn.name)
                    raise _Verdict(Result(fn.name, "skipped", (line,)))
                raise _raised(fn.name, fn.name, out["error"], lang)
            found = _judge_value_list(fn, fn.name, ["out"], [out], [want], case, None, lang)
            wrong = [f for f in found if not f[4].accepted]
            if wrong:
                raise _report_findings(fn, case, wrong, lang)
            notes += [f[4].kind for f in found]
    except _Verdict as v:
        return v.result
    which = say(UI, _which_cases(fn), lang)
    lines = [say(UI, "passed_function", lang, n=len(cases), which=which)]
    lines += [f"{say(UI, 'note', lang)}: {say(NOTES, n, lang)}" for n in dict.fromkeys(notes)]
    return Result(fn.name, "passed", tuple(lines), notes=tuple(dict.fromkeys(notes)))


# ---- an update rule (6.1), over several steps ---------------------------------------------------
def _same_run(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        set(g) == set(w) and all(_close(np.asarray(g[k], np.float64), w[k]) for k in w)
        for g, w in zip(got, want)
    )


def _run_finding(up: Update, case: Steps, got: list, want: list) -> tuple[Finding, int, str]:
    """The finding for a run whose params differ: a known mistake of the whole run,
    else the general kind at its first differing step and key."""
    s, key = next(
        (s, k)
        for s, (g, w) in enumerate(zip(got, want))
        for k in w
        if not _close(np.asarray(g[k], np.float64), w[k])
    )
    for p in up.patterns:
        with np.errstate(all="ignore"):
            run = p.value(case)
        if _same_run(got, run[: len(got)]):
            return Finding(p.kind, dict(p.fields), p.accept), s, key
    start = case.params[key] if s == 0 else np.asarray(got[s - 1][key], np.float64)
    f = compare(got[s][key] - start, want[s][key] - start)  # judge the step, not the params
    return f or Finding("values"), s, key


def _steps_shown(up: Update, case: Steps, lang: str) -> str:
    params = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in case.params.items())
    hyper = ", ".join(f"{n} {v:g}" for n, v in zip(up.hyper, case.hyper))
    words = say(UI, "steps_input", lang, params=params, steps=len(case.grads), hyper=hyper)
    return f"{say(UI, 'input', lang)}: {words}"


def _check_steps(up: Update, case: Steps, steps: list, want: list, written, lang) -> list[str]:
    """The notes of a right run (accepted alternatives); raises the verdict otherwise."""
    keys = " ".join(case.params)
    for got in steps:
        if _is_error(got):
            if _unwritten(up.name, got["error"], written):
                line = say(UI, "not_written", lang, fn=up.name)
                raise _Verdict(Result(up.name, "skipped", (line,)))
            raise _raised(up.name, up.name, got["error"], lang)
        if not isinstance(got, dict) or "structure" in got or set(got) != set(case.params):
            shown = describe(got, lang) if not isinstance(got, dict) or "structure" in got else (
                say(UI, "dict", lang, keys=" ".join(got)))  # fmt: skip
            line = say(KINDS, "update_structure", lang, fn=up.name, keys=keys, got=shown)
            raise _fail(up.name, [line, *_hints(up.name, ["update_structure"], lang)],
                        "update_structure")  # fmt: skip
        bad = [k for k, v in got.items() if not isinstance(v, np.ndarray)]
        if bad:
            line = say(KINDS, "not_array", lang, what=bad[0], got=describe(got[bad[0]], lang))
            raise _fail(up.name, [line], "not_array", bad[0])
    if _same_run(steps, want):
        return []
    f, s, key = _run_finding(up, case, steps, want)
    if f.accepted:
        return [f.kind]
    label = f"{up.name}: {say(UI, 'step', lang, step=s + 1)}"
    lines = [
        _finding_line(label, key, f, lang, steps[s][key], want[s][key]),
        f"    {say(UI, 'expected', lang)} {key} = {_show(want[s][key])}",
        f"    {say(UI, 'got', lang)} {key} = {_show(steps[s][key])}",
        _steps_shown(up, case, lang),
    ]
    raise _fail(up.name, [*lines, *_hints(up.name, [f.kind], lang)], f.kind, key)


def judge_update(up: Update, cases: list[Steps], wants: list, obs: dict, lang: str,
                 written: dict | None = None) -> Result:  # fmt: skip
    """The verdict on an update rule run over several steps from ``state=None``.

    ``wants``: per case the right params after each step; ``obs``: the
    runner's record (per case the learner's params after each step).  A run
    that matches a known mistake is named as such (the state not kept, 1e-7
    inside the square root, a hyperparameter ignored); else the first step
    and key that differ, judged by the step taken.
    """
    try:
        args = ", ".join(("params", "grads", "state", *up.hyper))
        _judge_start(up.name, obs, lang, {up.name: args})
        notes = []
        for case, rec, want in zip(cases, obs["cases"], wants):
            steps = rec["steps"] if isinstance(rec, dict) and "steps" in rec else [rec]
            notes += _check_steps(up, case, steps, want, written, lang)
    except _Verdict as v:
        return v.result
    notes = list(dict.fromkeys(notes))
    steps = sum(len(c.grads) for c in cases)
    lines = [say(UI, "passed_update", lang, n=len(cases), steps=steps)]
    lines += [f"{say(UI, 'note', lang)}: {say(NOTES, n, lang)}" for n in notes]
    return Result(up.name, "passed", tuple(lines), notes=tuple(notes))


# ---- the network -----------------------------------------------------------------------------
def _order_finding(net: Network, calls: list[str], lang: str) -> str | None:
    """The layers_order line when the learner's backward ran the layers out of order.

    ``calls``: the runner's log, ``NAME_fwd#k`` and ``NAME_bwd#k`` (``k``: the
    forward call whose residuals the backward got, ``?`` if unknown).
    """
    split = [c.rsplit("#", 1) for c in calls if "#" in c]
    fwd = [(n[: -len("_fwd")], k) for n, k in split if n.endswith("_fwd")]
    bwd = [(n[: -len("_bwd")], k) for n, k in split if n.endswith("_bwd")]
    if not bwd or len(fwd) < len(net.rules):
        return None
    fwd, first = fwd[: len(net.rules)], int(fwd[0][1])
    layer = {str(first + p): name for p, name in enumerate(net.layers or net.rules)}
    want = [layer[k] for _, k in reversed(fwd)]
    if all(k in layer for _, k in bwd):  # each backward traced to its forward call
        got_layers = [layer[k] for _, k in bwd]
    else:  # by name only: two affine layers look alike
        got_layers = [n for n, _ in bwd]
        want = [n for n, _ in reversed(fwd)]
    if got_layers == want[: len(got_layers)]:
        return None
    got, want_text = " -> ".join(got_layers), " -> ".join(want)
    return (
        say(KINDS, "layers_order", lang, got=got)
        + "; "
        + hint(KINDS, "layers_order", lang, want=want_text)
    )


def judge_net(net: Network, cases: list, wants: list, obs: dict, lang: str,
              written: dict | None = None) -> Result:  # fmt: skip
    """The verdict on the network's gradient: every key compared, each mistake named.

    ``wants``: per case the right gradients ``{key: array}``; ``obs``: the
    runner's record (with ``calls``: the order the learner's rules ran in).
    """
    try:
        _judge_start(net.name, obs, lang, {net.name: "params, x, t"})
        for (params, x, t), rec, want in zip(cases, obs["cases"], wants):
            order = _order_finding(net, rec.get("calls") or [], lang)
            _check_net_case(net, params, x, t, rec["grads"], want, order, written, lang)
    except _Verdict as v:
        return v.result
    keys = " ".join(net.keys)
    return Result(net.name, "passed", (say(UI, "passed_net", lang, keys=keys, n=len(cases)),))


def _check_net_case(net, params, x, t, grads, want, order, written, lang) -> None:
    if _is_error(grads):
        if order is not None:
            raise _fail(net.name, [order, *_hints(net.name, [], lang)], "layers_order")
        if _unwritten(net.name, grads["error"], written):
            line = say(UI, "not_written", lang, fn=net.name)
            raise _Verdict(Result(net.name, "skipped", (line,)))
        raise _raised(net.name, net.name, grads["error"], lang)
    if not isinstance(grads, dict) or "structure" in grads or set(grads) != set(net.keys):
        got = (
            describe(grads, lang)
            if not isinstance(grads, dict) or "structure" in grads
            else (say(UI, "dict", lang, keys=" ".join(grads)))
        )
        line = say(KINDS, "grads_structure", lang, fn=net.name, keys=" ".join(net.keys), got=got)
        raise _fail(net.name, [line], "grads_structure")
    lines, pairs = [], []
    for key in net.keys:
        got = grads[key]
        if not isinstance(got, np.ndarray):
            f = Finding("not_array")
        else:
            f = compare(got, want[key], batch=x.shape[0])
        if f is None:
            continue
        if f.kind == "zeros" and key.startswith("b"):
            f = Finding("bias_missing")
        lines += _block(net.name, key, got, want[key], f, lang)
        pairs.append((key, f.kind))
    if not lines:
        return
    if order is not None:
        lines.insert(0, order)
        pairs.insert(0, ("", "layers_order"))
    kinds = [k for _, k in pairs]
    shapes = [f"{k} {tuple(np.shape(v))}" for k, v in params.items()]
    one_hot = say(UI, "one_hot", lang)
    shown = "; ".join([*shapes, f"x {tuple(x.shape)}", f"t {tuple(t.shape)} {one_hot}"])
    lines.append(f"{say(UI, 'input', lang)}: {shown}")
    found = tuple(p for p in pairs if p[0])
    raise _fail(net.name, [*lines, *_hints(net.name, kinds, lang)], kinds[0], pairs[0][0] or None,
                found)  # fmt: skip
