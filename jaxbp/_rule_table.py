"""The text of a rule check (:func:`jaxbp.rule_check.check_rules`): its table, notes, verdict.

One row per rule application checked, in forward order; a ``note`` column (only
when a row has one) says where the application ran and what was not compared;
then the check's notes, and the verdict: the first wrong rule with the book's
formula, or that all agree.
"""

from __future__ import annotations

from typing import Any

_HEAD = ["node", "rule", "inputs", "dtype", "autodiff |diff|", "(rel)"]
_HEAD += ["numerical |diff|", "(rel)", "note", "result"]
_RIGHT = {0, 4, 5, 6, 7}


def note(row: Any) -> str:
    """What the row's ``note`` cell says: where it ran, what was not compared."""
    parts = [row.where] if row.where else []
    if row.parent is not None:
        parts.append(f"inside node {row.parent}")
    names = row.arg_names
    fixed = [names[i] if i < len(names) else f"input {i + 1}" for i in row.not_differentiated]
    if fixed and row.dtype != "-":
        parts.append(", ".join(fixed) + " not differentiated")
    if row.kinks:
        parts.append(f"{row.kinks} entries at a kink not compared")
    if row.dtype == "-" and not row.error:
        parts.append("no floating input: nothing to compare")
    return "; ".join(parts)


def _cells(row: Any) -> list[str]:
    shapes = " ".join(str(s) if len(s) != 1 else f"({s[0]},)" for s in row.shapes)
    result = "ok" if row.passed else "FAIL"
    if row.error or row.dtype == "-":
        return [str(row.node), row.name, shapes, row.dtype, "-", "-", "-", "-", note(row), result]
    diffs = (row.autodiff_abs, row.autodiff_rel, row.numerical_abs, row.numerical_rel)
    return [str(row.node), row.name, shapes, row.dtype, *(f"{d:.1e}" for d in diffs)] + [
        note(row),
        result,
    ]


def verdict(check: Any) -> str:
    """The last line: the first wrong rule (the innermost one), or that all agree."""
    bad = check.first_failure
    if bad is None:
        rules = "the rule agrees" if len(check) == 1 else f"all {len(check)} rules agree"
        return f"{rules} with autodiff and central differences"
    where = f" ({bad.book})" if bad.book else ""
    line = f"first wrong rule: node {bad.node}, {bad.name}{where}"
    return line + (f"\n  its backward raised {bad.error}" if bad.error else "")


def table(check: Any) -> str:
    """The whole text: a title line, the aligned table, the notes, the verdict."""
    rows = [_cells(r) for r in check]
    keep = [c for c in range(len(_HEAD)) if _HEAD[c] != "note" or any(r[c] for r in rows)]
    rows = [[r[c] for c in keep] for r in [_HEAD] + rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(keep))]
    lines = [
        f"rule check of {check.function}, in forward order: each custom_vjp backward against "
        f"JAX's autodiff of its forward and central differences, at its own inputs"
    ]
    for r in rows:
        cells = [
            c.rjust(w) if keep[i] in _RIGHT else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    lines += [f"note: {n}" for n in check.notes]
    return "\n".join(lines + [verdict(check)])
