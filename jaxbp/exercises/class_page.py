"""A graded class, written down: ``scores.csv`` and ``index.html``.

``scores.csv`` has one row per student and one column per exercise (the
exercises the reports hold, in the chapter's order): ``passed``,
``failed: KIND`` (a key of :data:`jaxbp.exercises.messages.KINDS`),
``incomplete``, ``skipped``, ``timed out`` or ``error``; then how many
passed, and ``file_error``, how the file failed as a whole (empty when it
ran).  It is UTF-8 with a byte-order mark, so that spreadsheets read Korean
names.

``index.html`` is one self-contained page (inline CSS and SVG, no script, no
network): the pass rate per exercise, the most common kinds of mistake per
exercise as bar charts labelled in words, the files that did not run, and each
student's report.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections import Counter
from dataclasses import dataclass

from jaxbp._files import atomic_write
from jaxbp.exercises.class_words import CLASS, kind_label
from jaxbp.exercises.classroom import Graded, outcome
from jaxbp.exercises.messages import say

__all__ = ["OUTCOMES", "Stats", "exercises", "stats", "csv_cell", "csv_text", "page", "write"]

OUTCOMES = ("passed", "failed", "incomplete", "timed_out", "error", "skipped")
_COLORS = {"passed": "#2e7d32", "failed": "#c62828", "incomplete": "#f9a825",
           "timed_out": "#6a1b9a", "error": "#37474f", "skipped": "#bdbdbd"}  # fmt: skip
_MARKS = {"passed": "✓", "failed": "✗", "incomplete": "◐", "timed_out": "⏱", "error": "!",
          "skipped": "–", "": ""}  # fmt: skip
_TOP = 5  # kinds of mistake shown per exercise


def _example() -> list[Graded]:
    """Two students for the examples: kim passes mul, lee's file does not parse."""
    from jaxbp.exercises.report import Report, Result

    kim = Report((Result("mul", "passed", ("ok",)), Result("relu", "failed", ("x < 0",),
                                                           "relu_mask_strict")))  # fmt: skip
    lee = Report((), "en", "lee.py", "", ("lee.py:1: syntax error: expected ':'",))
    return [Graded("kim.py", "kim", "a" * 64, kim), Graded("lee.py", "lee", "b" * 64, lee,
                                                             "syntax_error")]  # fmt: skip


def exercises(graded: list[Graded]) -> list[str]:
    """The exercises the reports hold, in the order they come (the chapter's).

    >>> exercises(_example())
    ['mul', 'relu']
    """
    return list(dict.fromkeys(r.name for g in graded for r in g.report.results))


@dataclass(frozen=True)
class Stats:
    """One exercise across the class: students per outcome, and per kind of mistake."""

    name: str
    outcomes: Counter
    kinds: Counter


def stats(graded: list[Graded], names: list[str]) -> list[Stats]:
    """Per exercise: students per outcome, and per kind of mistake (a file that did not
    run at all is counted as an error, its reason apart: :func:`page` shows them).

    >>> relu = stats(_example(), ["mul", "relu"])[1]
    >>> dict(relu.outcomes), dict(relu.kinds)
    ({'failed': 1, 'error': 1}, {'relu_mask_strict': 1})
    """
    out = []
    for name in names:
        seen = [(outcome(g, name), g.failure) for g in graded]
        kinds = Counter(kind for (_, kind), failure in seen if kind and not failure)
        out.append(Stats(name, Counter(o for (o, _), _ in seen), kinds))
    return out


# ---- scores.csv ---------------------------------------------------------------------------
def csv_cell(outcome_: str, kind: str | None) -> str:
    """The CSV's word for an outcome.

    >>> csv_cell("failed", "relu_mask_strict"), csv_cell("timed_out", "timeout")
    ('failed: relu_mask_strict', 'timed out')
    """
    if outcome_ == "failed":
        return f"failed: {kind}" if kind else "failed"
    return "timed out" if outcome_ == "timed_out" else outcome_


def _text_cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula (``=cmd|...``)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(graded: list[Graded], names: list[str]) -> str:
    """``scores.csv``'s text: student, file, one column per exercise, passed, file_error.

    >>> print(csv_text(_example(), ["mul", "relu"]), end="")
    student,file,mul,relu,passed,file_error
    kim,kim.py,passed,failed: relu_mask_strict,1,
    lee,lee.py,error,error,0,syntax_error
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "file", *names, "passed", "file_error"])
    for g in graded:
        cells = [outcome(g, n) for n in names]
        w.writerow([_text_cell(g.student), _text_cell(g.name), *(csv_cell(*c) for c in cells),
                    sum(o == "passed" for o, _ in cells), g.failure or ""])  # fmt: skip
    return buf.getvalue()


# ---- index.html ---------------------------------------------------------------------------
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans KR","Malgun Gothic",sans-serif;
 margin:2em auto;max-width:1000px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin:1.2em 0 .2em}
svg text{font:13px system-ui,-apple-system,"Segoe UI","Noto Sans KR",sans-serif;fill:#222}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;
 height:.9em;margin-right:.3em;vertical-align:-.1em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:center}
td.name{text-align:left}pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}
""" + "".join(f".o-{o}{{color:{c}}}" for o, c in _COLORS.items())


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _legend(lang: str) -> str:
    items = "".join(f'<span><i style="background:{_COLORS[o]}"></i>{_e(say(CLASS, o, lang))}'
                    "</span>" for o in OUTCOMES)  # fmt: skip
    return f'<p class="legend">{items}</p>'


def _rates(all_stats: list[Stats], n: int, lang: str) -> str:
    """The pass rate per exercise: one bar per exercise, split by outcome."""
    row, x0, width = 30, 210, 360
    rows = []
    for k, s in enumerate(all_stats):
        y, x, segs = k * row, x0, []
        for o in OUTCOMES:
            w = width * s.outcomes[o] / n if n else 0.0
            if w:
                segs.append(f'<rect data-outcome="{o}" data-count="{s.outcomes[o]}" '
                            f'x="{x:.2f}" y="{y + 6}" width="{w:.2f}" height="16" '
                            f'fill="{_COLORS[o]}"/>')  # fmt: skip
            x += w
        passed = s.outcomes["passed"]
        pct = round(100 * passed / n) if n else 0
        text = say(CLASS, "rate", lang, passed=passed, students=n, pct=pct)
        rows.append(f'<g class="rate" data-exercise="{_e(s.name)}" data-passed="{passed}">'
                    f'<text x="0" y="{y + 19}">{_e(s.name)}</text>{"".join(segs)}'
                    f'<text class="rate-text" x="{x0 + width + 10}" y="{y + 19}">{_e(text)}'
                    "</text></g>")  # fmt: skip
    height = max(row * len(all_stats), row)
    return (f'<svg class="rates" width="900" height="{height}" role="img" '
            f'aria-label="{_e(say(CLASS, "rates_h", lang))}">{"".join(rows)}</svg>')  # fmt: skip


def _color(kind: str, cls: str) -> str:
    """A bar's colour: the outcome's that the kind of mistake gives (the legend's)."""
    if kind in ("timeout", "import_timeout"):
        return _COLORS["timed_out"]
    return _COLORS["error" if cls == "file" or kind in ("exited", "died") else "failed"]


def _bars(counts: Counter, n: int, lang: str, cls: str, exercise: str = "") -> str:
    """A bar chart of ``counts`` (kind -> students), most common first, in words."""
    row, width = 42, 480
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kind_label(kv[0], lang)))[:_TOP]
    rows = []
    for k, (kind, count) in enumerate(top):
        y, w = k * row, width * count / n if n else 0.0
        label = kind_label(kind, lang)
        many = say(CLASS, "students_1" if count == 1 else "students_n", lang, n=count)
        rows.append(f'<g class="{cls}" data-exercise="{_e(exercise)}" data-kind="{_e(kind)}" '
                    f'data-count="{count}"><text class="label" x="0" y="{y + 14}">{_e(label)}'
                    f'</text><rect x="0" y="{y + 20}" width="{w:.2f}" height="14" '
                    f'fill="{_color(kind, cls)}"/><text class="count" x="{w + 6:.2f}" y="{y + 32}">'
                    f"{_e(many)}</text></g>")  # fmt: skip
    more = len(counts) - len(top)
    extra = f"<p>{_e(say(CLASS, 'more_kinds', lang, n=more))}</p>" if more > 0 else ""
    return (f'<svg class="bars" width="900" height="{row * len(top)}" role="img">'
            f'{"".join(rows)}</svg>{extra}')  # fmt: skip


def _mistakes(all_stats: list[Stats], n: int, lang: str) -> str:
    parts = [f"<h2>{_e(say(CLASS, 'mistakes_h', lang))}</h2>",
             f"<p>{_e(say(CLASS, 'mistakes_lead', lang))}</p>"]  # fmt: skip
    failing = [s for s in all_stats if s.kinds]
    for s in failing:
        parts.append(f'<h3 id="m-{_e(s.name)}">{_e(s.name)}</h3>')
        parts.append(_bars(s.kinds, n, lang, "kind", s.name))
    if not failing:
        parts.append(f"<p>{_e(say(CLASS, 'no_mistakes', lang))}</p>")
    return "".join(parts)


def _files(graded: list[Graded], n: int, lang: str) -> str:
    failures = Counter(g.failure for g in graded if g.failure)
    if not failures:
        return ""
    return f"<h2>{_e(say(CLASS, 'files_h', lang))}</h2>" + _bars(failures, n, lang, "file")


def _cell(g: Graded, name: str, lang: str) -> str:
    o, kind = outcome(g, name)
    words = say(CLASS, o, lang) if o else ""
    if kind:
        words += f": {kind_label(kind, lang)}"
    return f'<td class="o-{o}" data-outcome="{o}" title="{_e(words)}">{_MARKS[o]}</td>'


def _students(graded: list[Graded], names: list[str], lang: str) -> str:
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows, details = [], []
    for k, g in enumerate(graded):
        passed = sum(outcome(g, n)[0] == "passed" for n in names)
        cells = "".join(_cell(g, n, lang) for n in names)
        rows.append(f'<tr class="student" data-file="{_e(g.name)}"><td class="name">'
                    f'<a href="#s-{k}">{_e(g.student)}</a></td><td>{passed}/{len(names)}</td>'
                    f"{cells}</tr>")  # fmt: skip
        summary = g.report.summary().splitlines()[0]
        if g.failure:
            summary = say(CLASS, "file_failed", lang, what=kind_label(g.failure, lang))
        details.append(f'<details open id="s-{k}"><summary>{_e(g.student)} ({_e(g.name)}): '
                       f"{_e(summary)}</summary><pre>{_e(str(g.report))}</pre>"
                       "</details>")  # fmt: skip
    return (f"<h2>{_e(say(CLASS, 'students_h', lang))}</h2>"
            f'<table><tr><th>{_e(say(CLASS, "student", lang))}</th>'
            f'<th>{_e(say(CLASS, "score", lang))}</th>{head}</tr>{"".join(rows)}</table>'
            f'{"".join(details)}')  # fmt: skip


def _title(graded: list[Graded]) -> str:
    titles = Counter(g.report.title for g in graded if g.report.title)
    return titles.most_common(1)[0][0] if titles else ""


def page(graded: list[Graded], names: list[str], lang: str) -> str:
    """``index.html``'s text for the class ``graded`` (in ``lang``).

    >>> html_text = page(_example(), ["mul", "relu"], "en")
    >>> "1 of 2 passed (50%)" in html_text, "ReLU mask x &lt; 0, not x &lt;= 0" in html_text
    (True, True)
    """
    from jaxbp import __version__

    n, all_stats = len(graded), stats(graded, names)
    title = say(CLASS, "page_title", lang, title=_title(graded)).rstrip(": ")
    lead = say(CLASS, "lead", lang, students=n, exercises=len(names), version=__version__)
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f'<meta name="generator" content="jaxbp {_e(__version__)}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body data-students="{n}"><h1>{_e(title)}</h1><p class="lead">{_e(lead)}</p>'
        f"<h2>{_e(say(CLASS, 'rates_h', lang))}</h2>{_legend(lang)}{_rates(all_stats, n, lang)}"
        f"{_mistakes(all_stats, n, lang)}{_files(graded, n, lang)}"
        f"{_students(graded, names, lang)}</body></html>\n"
    )


def write(out: str, graded: list[Graded], lang: str) -> tuple[str, str]:
    """Write ``out/index.html`` and ``out/scores.csv`` atomically; returns their paths.

    >>> import tempfile
    >>> [os.path.basename(p) for p in write(tempfile.mkdtemp(), _example(), "ko")]
    ['index.html', 'scores.csv']
    """
    names = exercises(graded)
    html_path, csv_path = os.path.join(out, "index.html"), os.path.join(out, "scores.csv")
    text = csv_text(graded, names)
    atomic_write(csv_path, lambda f: f.write(text.encode("utf-8-sig")))
    body = page(graded, names, lang)
    atomic_write(html_path, lambda f: f.write(body.encode("utf-8")))
    return html_path, csv_path
