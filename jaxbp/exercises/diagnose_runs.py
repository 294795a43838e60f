"""Judge what ran over several steps or layers: an update rule (6.1), a network's gradient.

:mod:`jaxbp.exercises.diagnose` judges one rule at a time; this module judges
runs: an update rule over its steps, compared after every step, and a
network's gradient, every key compared, with the order the learner's rules
ran in (``layers_order``).
"""

from __future__ import annotations

import numpy as np

from jaxbp.exercises.compare import Finding, close, compare
from jaxbp.exercises.diagnose import (
    Verdict,
    block,
    describe,
    fail,
    finding_line,
    hints,
    is_error,
    judge_start,
    raised,
    show,
    unwritten,
)
from jaxbp.exercises.items import Network, Steps, Update
from jaxbp.exercises.messages import KINDS, NOTES, UI, hint, say
from jaxbp.exercises.report import Result

__all__ = ["judge_update", "judge_net"]


# ---- an update rule (6.1), over several steps ---------------------------------------------------
def same_run(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        set(g) == set(w) and all(close(np.asarray(g[k], np.float64), w[k]) for k in w)
        for g, w in zip(got, want)
    )


def _run_finding(up: Update, case: Steps, got: list, want: list) -> tuple[Finding, int, str]:
    """The finding for a run whose params differ: a known mistake of the whole run,
    else the general kind at its first differing step and key."""
    s, key = next(
        (s, k)
        for s, (g, w) in enumerate(zip(got, want))
        for k in w
        if not close(np.asarray(g[k], np.float64), w[k])
    )
    for p in up.patterns:
        with np.errstate(all="ignore"):
            run = p.value(case)
        if same_run(got, run[: len(got)]):
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
        if is_error(got):
            if unwritten(up.name, got["error"], written):
                line = say(UI, "not_written", lang, fn=up.name)
                raise Verdict(Result(up.name, "skipped", (line,)))
            raise raised(up.name, up.name, got["error"], lang)
        if not isinstance(got, dict) or "structure" in got or set(got) != set(case.params):
            shown = describe(got, lang) if not isinstance(got, dict) or "structure" in got else (
                say(UI, "dict", lang, keys=" ".join(got)))  # fmt: skip
            line = say(KINDS, "update_structure", lang, fn=up.name, keys=keys, got=shown)
            raise fail(up.name, [line, *hints(up.name, ["update_structure"], lang)],
                        "update_structure")  # fmt: skip
        bad = [k for k, v in got.items() if not isinstance(v, np.ndarray)]
        if bad:
            line = say(KINDS, "not_array", lang, what=bad[0], got=describe(got[bad[0]], lang))
            raise fail(up.name, [line], "not_array", bad[0])
    if same_run(steps, want):
        return []
    f, s, key = _run_finding(up, case, steps, want)
    if f.accepted:
        return [f.kind]
    label = f"{up.name}: {say(UI, 'step', lang, step=s + 1)}"
    lines = [
        finding_line(label, key, f, lang, steps[s][key], want[s][key]),
        f"    {say(UI, 'expected', lang)} {key} = {show(want[s][key])}",
        f"    {say(UI, 'got', lang)} {key} = {show(steps[s][key])}",
        _steps_shown(up, case, lang),
    ]
    raise fail(up.name, [*lines, *hints(up.name, [f.kind], lang)], f.kind, key)


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
        judge_start(up.name, obs, lang, {up.name: args})
        notes = []
        for case, rec, want in zip(cases, obs["cases"], wants):
            steps = rec["steps"] if isinstance(rec, dict) and "steps" in rec else [rec]
            notes += _check_steps(up, case, steps, want, written, lang)
    except Verdict as v:
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
        judge_start(net.name, obs, lang, {net.name: "params, x, t"})
        for (params, x, t), rec, want in zip(cases, obs["cases"], wants):
            order = _order_finding(net, rec.get("calls") or [], lang)
            _check_net_case(net, params, x, t, rec["grads"], want, order, written, lang)
    except Verdict as v:
        return v.result
    keys = " ".join(net.keys)
    return Result(net.name, "passed", (say(UI, "passed_net", lang, keys=keys, n=len(cases)),))


def _check_net_case(net, params, x, t, grads, want, order, written, lang) -> None:
    if is_error(grads):
        if order is not None:
            raise fail(net.name, [order, *hints(net.name, [], lang)], "layers_order")
        if unwritten(net.name, grads["error"], written):
            line = say(UI, "not_written", lang, fn=net.name)
            raise Verdict(Result(net.name, "skipped", (line,)))
        raise raised(net.name, net.name, grads["error"], lang)
    if not isinstance(grads, dict) or "structure" in grads or set(grads) != set(net.keys):
        got = (
            describe(grads, lang)
            if not isinstance(grads, dict) or "structure" in grads
            else (say(UI, "dict", lang, keys=" ".join(grads)))
        )
        line = say(KINDS, "grads_structure", lang, fn=net.name, keys=" ".join(net.keys), got=got)
        raise fail(net.name, [line], "grads_structure")
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
        lines += block(net.name, key, got, want[key], f, lang)
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
    raise fail(net.name, [*lines, *hints(net.name, kinds, lang)], kinds[0], pairs[0][0] or None,
                found)  # fmt: skip
