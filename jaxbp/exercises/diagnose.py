"""Judge what a learner's functions returned: the verdict, and the mistake's name.

:mod:`jaxbp.exercises.runner` records what the learner's code returned (its
*observations*); this module compares them with the right answers, computed
by the grader itself (:mod:`jaxbp.exercises.expected`), and names what is
wrong as a student would say it: a known mistake of that exercise first
(``Pattern``: mul's inputs not swapped, ReLU's mask as ``x < 0``), then the
general kinds (:func:`jaxbp.exercises.compare.compare`).  Each failing output
is reported with the input, both answers and the book's equation as the hint.
"""

from __future__ import annotations

import numpy as np

from jaxbp.exercises.compare import Finding, close, compare
from jaxbp.exercises.items import Case, Exercise, Function
from jaxbp.exercises.messages import DERIVATION, KINDS, NOTES, UI, hint, say
from jaxbp.exercises.report import Result

__all__ = [
    "judge_pair",
    "judge_function",
    "error_line",
    "describe",
]


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


def show(a) -> str:
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


def hints(exercise: str, kinds: list[str], lang: str, equation: bool = True) -> list[str]:
    """``hint:`` lines: the book's equation and why (unless not ``equation``), then
    each kind's own hint (``dout``'s meaning when it was ignored)."""
    names = [exercise] + (["dout"] if "ignores_dout" in kinds else [])
    words = "; ".join(f"{DERIVATION[n][lang]['eq']}: {DERIVATION[n][lang]['why']}" for n in names)
    extra = [hint(KINDS, k, lang) for k in dict.fromkeys(kinds) if k in KINDS and k != "memory"]
    return [f"{say(UI, 'hint', lang)}: {h}" for h in [words] * equation + extra if h]


def finding_line(label: str, what: str, f: Finding, lang: str, got=None, want=None) -> str:
    fields = {"what": what, "got": _shape_of(got), "want": _shape_of(want), **f.fields}
    return f"{label}: {what}: {say(KINDS, fields.pop('message', f.kind), lang, **fields)}"


def _shape_of(a) -> tuple | str:
    return tuple(np.shape(a)) if isinstance(a, np.ndarray) else ""


# ---- a custom_vjp pair ----------------------------------------------------------------------
def is_error(v) -> bool:
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
    named = [f"{n} {show(v)}" for n, v in zip(ex.args, case.inputs)]
    named += [f"{n} {v!r}" for n, v in zip(getattr(ex, "static", ()), case.static)]
    dout = [] if case.dout is None else [f"dout {show(case.dout)}"]
    return f"{say(UI, 'input', lang)}: " + "; ".join([*named, *dout])


def _value_finding(ex, what, got, want, case, out) -> Finding | None:
    """The finding for one recorded value (an array, None or a description)."""
    if what in ex.labels:  # t is not differentiated: None, zeros or its true derivative
        if got is None or (isinstance(got, np.ndarray) and not np.any(got)):
            return None
        if isinstance(got, np.ndarray) and close(np.asarray(got, np.float64), want):
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


class Verdict(Exception):
    """Ends one exercise's judging with its :class:`Result`."""

    def __init__(self, result: Result):
        super().__init__(result.status)
        self.result = result


def fail(name: str, lines: list[str], kind: str, output: str | None = None,
          findings: tuple = ()) -> Verdict:  # fmt: skip
    """A failed verdict; ``output``: where the first mistake is; ``findings``:
    ``(output, kind)`` of each wrong output."""
    findings = tuple(findings) or (((output, kind),) if output else ())
    return Verdict(Result(name, "failed", tuple(lines), kind, output=output, findings=findings))


def block(label: str, what: str, got, want, f: Finding, lang: str) -> list[str]:
    """One wrong output's lines: what is wrong with it, then both answers."""
    if f.kind == "not_array":
        return [say(KINDS, "not_array", lang, what=what, got=describe(got, lang))]
    return [
        finding_line(label, what, f, lang, got, np.asarray(want)),
        f"    {say(UI, 'expected', lang)} {what} = {show(want)}",
        f"    {say(UI, 'got', lang)} {what} = {show(got)}",
    ]


def unwritten(fn: str, err: dict, written: dict | None) -> bool:
    """``fn`` raised ``NotImplementedError`` and is still the template's stub (judged in
    place: it raised the error itself)."""
    if err.get("cls") != "not_implemented":
        return False
    return not written.get(fn, True) if written is not None else err.get("fn") == fn


def raised(ex_name: str, fn: str, err: dict, lang: str) -> Verdict:
    """The verdict for a part that raised: ``incomplete`` for ``NotImplementedError`` (not
    finished yet), else failed with the error named."""
    kind, line = error_line(err, lang, fn)
    if kind == "not_implemented":
        return Verdict(Result(ex_name, "incomplete", (line,)))
    return fail(ex_name, [line, *hints(ex_name, [kind], lang, kind == "shape_error")], kind)


def _judge_value_list(ex, label, what_names, values, wants, case, out, lang):
    """Findings for each of ``values`` (``(what, Finding)`` pairs, accepted ones included)."""
    out_findings = []
    for what, got, want in zip(what_names, values, wants):
        if is_error(got):
            continue
        f = _value_finding(ex, what, got, np.asarray(want, np.float64), case, out)
        if f is not None:
            out_findings.append((label, what, got, want, f))
    return out_findings


def _report_findings(ex, case: Case, findings, lang: str) -> Verdict:
    lines = [line for label, what, got, want, f in findings
             for line in block(label, what, got, want, f, lang)]  # fmt: skip
    pairs = tuple((what, f.kind) for _, what, _, _, f in findings)
    kinds = [k for _, k in pairs]
    lines.append(_shown(ex, case, lang))
    return fail(ex.name, [*lines, *hints(ex.name, kinds, lang)], kinds[0], pairs[0][0], pairs)


def _check_pair_case(ex, k, case, rec, want, written, lang, missing_bwd: list) -> list:
    """The findings of case ``k``; notes of accepted alternatives are returned."""
    want_out, want_cots = want
    out = rec["out"]
    if is_error(out):
        if unwritten(ex.fwd, out["error"], written):
            raise Verdict(Result(ex.name, "skipped", (say(UI, "not_written", lang, fn=ex.fwd),)))
        raise raised(ex.name, ex.fwd, out["error"], lang)
    if isinstance(out, dict) and "structure" in out:
        line = say(KINDS, "fwd_structure", lang, fn=ex.fwd, got=describe(out, lang))
        raise fail(ex.name, [line, *hints(ex.name, [], lang)], "fwd_structure")
    label_f, label_b = say(UI, "forward", lang, fn=ex.fwd), say(UI, "backward", lang, fn=ex.bwd)
    out_arr = out if isinstance(out, np.ndarray) else None
    found = _judge_value_list(ex, label_f, ["out"], [out], [want_out], case, out_arr, lang)
    cots = rec.get("cots")
    if is_error(cots):
        err = cots["error"]
        if err.get("cls") == "not_implemented":  # the forward is checked all the same
            missing_bwd.append(None if unwritten(ex.bwd, err, written) else err)
        elif not [f for f in found if not f[4].accepted]:
            raise raised(ex.name, ex.bwd, err, lang)
    elif isinstance(cots, dict) and "structure" in cots:
        want_text = "(" + ", ".join(ex.grads) + ("," if len(ex.grads) == 1 else "") + ")"
        got_text = describe(cots, lang)
        line = say(KINDS, "bwd_structure", lang, fn=ex.bwd, want=want_text, got=got_text)
        raise fail(ex.name, [line, *hints(ex.name, ["bwd_structure"], lang)], "bwd_structure")
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
        msg = rule["error"]["msg"] if is_error(rule) else describe(rule, lang)
        line = f"{ex.name}: {say(KINDS, 'in_jax', lang, msg=msg)}"
        raise fail(ex.name, [line, *hints(ex.name, ["in_jax"], lang, equation=False)], "in_jax")


def _which_cases(ex) -> str:
    if ex.which:
        return ex.which
    return {"relu": "cases_relu", "softmax_with_loss": "cases_softmax"}.get(
        ex.name, "cases_affine" if ex.name == "affine" else "cases_pair"
    )


def judge_start(name: str, obs: dict, lang: str, want_args: dict) -> None:
    """Verdicts that need no values: not defined, not callable, a wrong signature."""
    if "skip" in obs:
        skip = obs["skip"]
        key = "not_defined" if skip["why"] == "not_defined" else "not_callable"
        status = "skipped" if key == "not_defined" else "failed"
        raise Verdict(Result(name, status, (say(UI, key, lang, fn=skip["fn"]),), None))
    if "signature" in obs:
        sig = obs["signature"]
        kind = "args_order" if sig["args_order"] else "signature"
        want = want_args.get(sig["fn"], "...")
        line = say(KINDS, kind, lang, fn=sig["fn"], sig=sig["sig"], want=want)
        raise fail(name, [line], kind, sig["fn"])
    if "program" in obs:
        kind, line = error_line(obs["program"]["error"], lang, name)
        raise fail(name, [line], kind)


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
        judge_start(ex.name, obs, lang, want_args)
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
    except Verdict as v:
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
        judge_start(fn.name, obs, lang, {fn.name: ", ".join((*fn.args, *fn.static))})
        notes = []
        for case, rec, want in zip(cases, obs["cases"], wants):
            out = rec["out"]
            if is_error(out):
                if unwritten(fn.name, out["error"], written):
                    line = say(UI, "not_written", lang, fn=fn.name)
                    raise Verdict(Result(fn.name, "skipped", (line,)))
                raise raised(fn.name, fn.name, out["error"], lang)
            found = _judge_value_list(fn, fn.name, ["out"], [out], [want], case, None, lang)
            wrong = [f for f in found if not f[4].accepted]
            if wrong:
                raise _report_findings(fn, case, wrong, lang)
            notes += [f[4].kind for f in found]
    except Verdict as v:
        return v.result
    which = say(UI, _which_cases(fn), lang)
    lines = [say(UI, "passed_function", lang, n=len(cases), which=which)]
    lines += [f"{say(UI, 'note', lang)}: {say(NOTES, n, lang)}" for n in dict.fromkeys(notes)]
    return Result(fn.name, "passed", tuple(lines), notes=tuple(dict.fromkeys(notes)))
