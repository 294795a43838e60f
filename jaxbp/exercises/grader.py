"""Grade a learner's ``custom_vjp`` pairs: run them, judge them, report as it goes.

Two ways in, one grading loop (:func:`_grade`):

* :func:`grade_file` - the command line's: the learner's file runs in a child
  process (:mod:`jaxbp.exercises.sandbox`) with a time limit per exercise and
  a memory limit; the verdicts are computed here, from the right answers this
  process computes itself (:mod:`jaxbp.exercises.expected`), so nothing the
  learner's code does or prints can pass for one;
* :func:`grade` / :func:`check` - a notebook's: the learner's functions are
  already in its namespace and run in place (no time limit: interrupt the
  kernel), judged the same way.

For each exercise the runner (:mod:`jaxbp.exercises.runner`) records what the
learner's functions return on a few fixed inputs in float64, and the
diagnosis (:mod:`jaxbp.exercises.diagnose`) compares it with JAX's own
derivatives and names the mistake.  When a network's gradient fails, the
report also says which of the learner's rules it uses are wrong, and (for
TwoLayerNet) :func:`jaxbp.rule_check.check_rules`' first wrong node.

One chapter is graded at a time (:data:`jaxbp.exercises.spec.CHAPTERS`):
the one the exercise names belong to, else the one a file names in a line
``# jaxbp exercises: chapter N`` (the template's first line), else the one
whose exercises the file or namespace defines; code that defines exercises
of several chapters, and names none, is told so in one line.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Mapping
from dataclasses import replace

from jaxbp.exercises import diagnose, diagnose_runs, source
from jaxbp.exercises.chapters import (
    all_functions,
    chapter_from,
    choose,
    defined_chapters,
    header_chapter,
    is_there,
    mixed_report,
    namespace_chapter,
)
from jaxbp.exercises.messages import KINDS, NOTES, UI, choose_lang, hint, say, syntax_message
from jaxbp.exercises.report import Report, Result
from jaxbp.exercises.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Sandbox, Stopped
from jaxbp.exercises.spec import (
    CHAPTERS,
    Function,
    Network,
    Update,
    item,
    names_of,
)

__all__ = ["check", "grade", "grade_file", "load", "LoadError"]


class LoadError(Exception):
    """The learner's file does not import; ``str(e)`` is the one line to print."""


# ---- the two ways of running the learner's code -----------------------------------------
class _InProcess:
    """The learner's namespace, run in this process (a notebook's ``globals()``)."""

    def __init__(self, ns: Mapping):
        from jaxbp.exercises import runner

        self.ns, self.runner = ns, runner

    def run(self, it, cases) -> tuple[dict, str]:
        from jaxbp.numerical import enable_x64

        with enable_x64():  # float64, as in the child (which turns it on for good)
            return self.runner.observe(self.ns, it, cases), ""

    def rule_check(self, net: Network, case) -> tuple[dict, str]:
        return self.runner.rule_check(self.ns, net, case), ""


class _InChild:
    """The learner's file, run in a :class:`~jaxbp.exercises.sandbox.Sandbox`."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def run(self, it, cases) -> tuple[dict, str]:
        return self.sandbox.request("run", it.name, _wire_cases(it, cases))

    def rule_check(self, net: Network, case) -> tuple[dict, str]:
        return self.sandbox.request("rule_check", net.name, _wire_cases(net, [case]))


def _wire_cases(it, cases: list) -> list:
    if isinstance(it, Network):
        return [{"params": p, "x": x, "t": t} for p, x, t in cases]
    if isinstance(it, Update):
        return [{"params": c.params, "grads": list(c.grads), "hyper": list(c.hyper)} for c in cases]
    return [{"inputs": list(c.inputs), "dout": c.dout, "static": list(c.static)} for c in cases]


# ---- one exercise -----------------------------------------------------------------------
def _stopped(name: str, s: Stopped, lang: str, timeout: float, memory_mb: int) -> Result:
    """A failed result for a child that timed out, exited or died."""
    fn = s.fn or name
    if s.why == "timeout":
        lines = [say(KINDS, "timeout", lang, seconds=f"{timeout:g}", fn=fn)]
        lines.append(f"{say(UI, 'hint', lang)}: {hint(KINDS, 'timeout', lang)}")
    else:
        lines = [say(KINDS, s.why, lang, how=s.how, fn=fn)]
        if s.why == "exited":
            lines.append(f"{say(UI, 'hint', lang)}: {hint(KINDS, 'exited', lang)}")
        elif "SIGKILL" in s.how or "SIGABRT" in s.how or "bad_alloc" in s.stderr:
            lines.append(say(KINDS, "memory", lang, fn=fn, where=""))
            lines.append(f"{say(UI, 'hint', lang)}: {hint(KINDS, 'memory', lang, limit=memory_mb)}")
    return Result(name, "failed", tuple(lines), "timeout" if s.why == "timeout" else s.why)


def _printed(result: Result, printed: str, lang: str) -> Result:
    """``result`` with what the learner's code printed, fenced off, and a hint for
    a printed tracer."""
    text = printed.rstrip()
    if not text:
        return result
    lines = [say(UI, "printed", lang), *(f"  │ {line}" for line in text.splitlines()[:40])]
    if "Tracer" in text:
        lines.append(f"{say(UI, 'note', lang)}: {say(NOTES, 'printed_tracer', lang)}")
    return replace(result, lines=result.lines + tuple(lines))


_ANSWERS: dict[str, list] = {}  # the exercises' inputs are fixed: their answers are too


def _answers(*names: str) -> list:
    """The right answers of exercises ``names``; those not yet known are computed
    together, in one compiled program."""
    from jaxbp.exercises.expected import expected  # JAX: after the child has started

    todo = [n for n in dict.fromkeys(names) if n not in _ANSWERS]
    if todo:
        items = [item(n) for n in todo]
        _ANSWERS.update(zip(todo, expected(items, [it.cases() for it in items])))
    return [_ANSWERS[n] for n in names]


def _judge(it, cases, wants, obs, lang, written) -> Result:
    """The diagnosis's verdict; an answer it cannot read is a failure, never a pass."""
    judges = (
        (Network, diagnose_runs.judge_net),
        (Update, diagnose_runs.judge_update),
        (Function, diagnose.judge_function),
    )
    judge = next((j for kind, j in judges if isinstance(it, kind)), diagnose.judge_pair)
    try:
        return judge(it, cases, wants, obs, lang, written)
    except Exception as e:  # noqa: BLE001 - a forged or broken answer from the child
        line = say(KINDS, "died", lang, how=f"an unreadable answer: {type(e).__name__}", fn=it.name)
        return Result(it.name, "failed", (line,), "died")


class _Grading:
    """One grading run: the learner's code, the answers, the limits, the results so far."""

    def __init__(self, runs, lang: str, written: dict | None, timeout: float, memory_mb: int):
        self.runs, self.lang, self.written = runs, lang, written
        self.timeout, self.memory_mb = timeout, memory_mb
        self.results: dict[str, Result] = {}
        # per function: written (not the template's stub); None: judged from what runs
        self.done = (
            None if written is None else {f: s == source.WRITTEN for f, s in written.items()}
        )

    def wants(self, it) -> list:
        return _answers(it.name)[0]

    def attempted(self, it) -> bool:
        return self.done is None or any(self.done.get(fn) for fn in it.functions)

    def unattempted(self, it) -> Result:
        fn = next(f for f in it.functions if self.written.get(f) != source.WRITTEN)
        key = "not_written" if self.written.get(fn) == source.STUB else "not_defined"
        return Result(it.name, "skipped", (say(UI, key, self.lang, fn=fn),))

    def one(self, it) -> Result:
        """Run, judge and (for a failing network) explain exercise ``it``."""
        if not self.attempted(it):
            return self.unattempted(it)
        cases = it.cases()
        try:
            obs, printed = self.runs.run(it, cases)
        except Stopped as s:
            return _stopped(it.name, s, self.lang, self.timeout, self.memory_mb)
        result = _judge(it, cases, self.wants(it), obs, self.lang, self.done)
        if result.kind == "memory" and self.memory_mb:
            limit = hint(KINDS, "memory", self.lang, limit=self.memory_mb)
            result = replace(
                result, lines=(*result.lines, f"{say(UI, 'hint', self.lang)}: {limit}")
            )
        if isinstance(it, Network) and result.status == "failed":
            result = replace(result, lines=result.lines + tuple(self.explain_net(it, cases)))
        return _printed(result, printed, self.lang)

    def explain_net(self, net: Network, cases: list) -> list[str]:
        """Which of the learner's rules the network uses fail, and the rule check's
        first wrong node."""
        rules = [self.results.get(r) or self.one(item(r)) for r in dict.fromkeys(net.rules)]
        words = ", ".join(f"{r.name} {say(UI, r.status, self.lang)}" for r in rules)
        lines = [say(UI, "rules_verdict", self.lang, rules=words)]
        lines += [f"  {r.name}: {r.lines[0]}" for r in rules if r.status == "failed"]
        if not net.rule_check:
            return lines
        try:
            check, _ = self.runs.rule_check(net, cases[0])
        except Stopped as s:
            return [*lines, say(UI, "rule_check_not_run", self.lang, why=s.why)]
        return [*lines, _rule_check_line(check, net, self.lang)]


def _rule_check_line(check, net: Network, lang: str) -> str:
    """The rule check's verdict on the learner's loss: its first wrong node, or why none."""
    check = check if isinstance(check, dict) else {}
    if check.get("not_run"):
        why = say(UI, "not_defined", lang, fn=check["not_run"])
        return say(UI, "rule_check_not_run", lang, why=why)
    if not isinstance(check.get("rows"), list):
        why = str((check.get("error") or {}).get("msg", ""))
        return say(UI, "rule_check_not_run", lang, why=why)
    bad = next((r for r in check["rows"] if not r.get("passed")), None)
    if bad is None:
        return say(UI, "rule_check_ok", lang, fn=net.name, net=net.title)
    return say(UI, "rule_check", lang, node=bad.get("node"), name=bad.get("name"), net=net.title)


def _grade(runs, todo, lang, written, timeout, memory_mb, on_result) -> list[Result]:
    grading = _Grading(runs, lang, written, timeout, memory_mb)
    for name in todo:
        result = grading.one(item(name))
        grading.results[name] = result
        if on_result is not None:
            on_result(result)
    return [grading.results[n] for n in todo]


# ---- the public entry points ------------------------------------------------------------
def _as_namespace(namespace) -> Mapping:
    if isinstance(namespace, Mapping):
        return namespace
    if isinstance(namespace, (types.ModuleType, types.SimpleNamespace)):
        return vars(namespace)
    raise TypeError(
        "namespace must be a module, a dict such as globals(), or a SimpleNamespace, "
        f"got {type(namespace).__name__}"
    )


def grade(namespace, names=None, lang: str | None = None, source: str = "namespace",
          chapter: int | None = None) -> Report:  # fmt: skip
    """Grade the exercises ``names`` (all of a chapter by default) found in ``namespace``.

    The learner's functions run in this process (a notebook's); nothing is
    printed.  For a file, :func:`grade_file` runs them in a child process
    with time limits.

    Args:
      namespace: a module, a dict such as ``globals()``, or a ``SimpleNamespace``
        holding the learner's functions (``NAME_fwd`` / ``NAME_bwd``, ...).
      names: exercise names of one chapter (see :func:`jaxbp.exercises.spec.names_of`)
        or ``None`` for all of the chapter.
      lang: ``"en"``, ``"ko"`` or ``None`` (from ``LANG``).
      source: what the report's header calls the learner's code.
      chapter: 5, 6 or 7; ``None``: that of ``names``, else of the module's
        ``# jaxbp exercises: chapter N`` line, else of the exercises defined.

    Returns:
      A :class:`~jaxbp.exercises.report.Report`: one result per exercise, in
      the chapter's order (or one line, ``file_kind`` ``mixed_chapters``, for
      a namespace that defines exercises of several chapters).

    >>> import types
    >>> mine = types.SimpleNamespace(
    ...     add_fwd=lambda x, y: (x + y, None), add_bwd=lambda res, dout: (dout, dout))
    >>> grade(mine, ["add", "mul"], lang="en").status("add")
    'passed'
    """
    ns, lang = _as_namespace(namespace), choose_lang(lang)
    chapter, todo = choose(names, chapter)
    if chapter is None:
        found = namespace_chapter(namespace, ns)
        if isinstance(found, list):
            return mixed_report(source, found, lambda f: callable(ns.get(f)), lang, source)
        chapter, todo = found, names_of(found)
    results = _grade(_InProcess(ns), todo, lang, None, 0.0, 0, None)
    return Report(tuple(results), lang, source, CHAPTERS[chapter].title[lang], chapter=chapter)


def check(namespace, names=None, lang: str | None = None, chapter: int | None = None) -> Report:
    """Grade and print the report: for notebooks (``check(globals(), ["relu"])``).

    Args and returns as :func:`grade`; the report goes to standard output (a
    notebook shows it once: the returned report does not print again).

    >>> import types, jax.numpy as jnp
    >>> mine = types.SimpleNamespace(relu_fwd=lambda x: (jnp.maximum(x, 0), x <= 0))
    >>> report = check(mine, ["relu"], lang="en")
    Chapter 5 exercises (backpropagation): namespace
      relu                    incomplete: forward checked on 3 inputs; relu_bwd not written yet
    0 passed, 0 failed, 1 incomplete, 0 skipped
    """
    report = grade(namespace, names, lang, chapter=chapter)
    print(report)
    return replace(report, shown=True)


def _file_report(path: str, lang: str, failure: tuple[str, list[str]], chapter: int) -> Report:
    """The report of a file that failed as a whole: ``failure`` is ``(kind, lines)``."""
    kind, lines = failure
    return Report((), lang, path, CHAPTERS[chapter].title[lang], tuple(lines), kind,
                  chapter=chapter)  # fmt: skip


def grade_file(
    path: str | os.PathLike[str],
    names=None,
    lang: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    on_result: Callable[[Result], None] | None = None,
    chapter: int | None = None,
) -> Report:
    """Grade the learner's file ``path`` in a child process; the verdicts are made here.

    Args:
      path: the learner's ``.py`` file (from ``python -m jaxbp.exercises new``).
      names, lang: as :func:`grade`.
      timeout: seconds each exercise (and importing the file) may take.
      memory_mb: the child's address-space limit in MiB (where the OS has one).
      on_result: called with each :class:`~jaxbp.exercises.report.Result` as
        soon as it is known (the command line prints it).
      chapter: as :func:`grade`; ``None``: that of ``names``, else the file's
        (:func:`jaxbp.exercises.chapters.file_chapter`).

    Raises:
      FileNotFoundError: no such file.
    """
    path, lang = os.fspath(path), choose_lang(lang)
    chapter, todo = choose(names, chapter)
    if not os.path.isfile(path):
        raise FileNotFoundError(say(UI, "no_file", lang, file=path))
    file = os.path.basename(path)
    header = None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        header = header_chapter(text)
        written = source.functions_in(text, all_functions())
    except SyntaxError as e:
        ch = chapter or header or 5
        return _file_report(path, lang, _syntax(file, e.lineno, e.msg, lang), ch)
    except (UnicodeDecodeError, ValueError) as e:
        ch = chapter or header or 5
        return _file_report(path, lang, ("unreadable", [f"{file}: {e}"]), ch)
    if chapter is None:
        found = chapter_from(header, defined_chapters(is_there(written)))
        if isinstance(found, list):
            return mixed_report(file, found, is_there(written), lang, path)
        chapter, todo = found, names_of(found)
    title = CHAPTERS[chapter].title[lang]
    grading = _Grading(None, lang, written, timeout, memory_mb)
    if not any(grading.attempted(item(n)) for n in todo):
        results = [grading.unattempted(item(n)) for n in todo]
        for r in results:
            if on_result is not None:
                on_result(r)
        return Report(tuple(results), lang, path, title, chapter=chapter)
    with Sandbox(path, timeout, memory_mb) as sandbox:
        _answers(*(n for n in todo if grading.attempted(item(n))))  # while the child starts
        failure = _load(sandbox, file, lang, timeout)
        if failure is not None:
            return _file_report(path, lang, failure, chapter)
        results = _grade(_InChild(sandbox), todo, lang, written, timeout, memory_mb, on_result)
    return Report(tuple(results), lang, path, title, chapter=chapter)


def _syntax(file: str, line, msg: str, lang: str) -> tuple[str, list[str]]:
    return "syntax_error", [say(UI, "syntax_error", lang, file=file, line=line,
                                msg=syntax_message(msg, lang))]  # fmt: skip


def _load(sandbox: Sandbox, file: str, lang: str, timeout: float) -> tuple[str, list[str]] | None:
    """Import the file in the child: ``None``, or the file's failure, ``(kind, lines)``."""
    try:
        error = sandbox.load()
    except Stopped as s:
        if s.why == "timeout":
            return "timeout", [say(UI, "import_timeout", lang, file=file, seconds=f"{timeout:g}")]
        return "exited", [say(UI, "import_exited", lang, file=file, how=s.how)]
    if error is None:
        return None
    if error.get("cls") == "exit":
        return "exited", [say(UI, "import_exited", lang, file=file, how=error.get("msg", ""))]
    if error.get("cls") == "syntax":
        return _syntax(file, error.get("line"), str(error.get("msg", "")), lang)
    where = say(UI, "where", lang, line=error["line"], file=error["file"]) if error.get(
        "line") else ""  # fmt: skip
    line = say(UI, "import_error", lang, file=file, exc=error.get("exc", ""),
               msg=error.get("msg", ""), where=where)  # fmt: skip
    printed = sandbox.printed.rstrip()
    return "import_error", [line, *([say(UI, "printed", lang)] if printed else []),
                            *(f"  │ {x}" for x in printed.splitlines()[:40])]  # fmt: skip


def load(path: str | os.PathLike[str], lang: str | None = None) -> types.ModuleType:
    """Import the learner's file ``path`` in *this* process (for :func:`grade`).

    The command line does not use this: it grades files in a child process
    (:func:`grade_file`).

    Raises:
      LoadError: it does not import; ``str(e)`` is one line (a syntax error
        with its line, or what importing it raised).
      FileNotFoundError: there is no such file.

    >>> import tempfile
    >>> bad = os.path.join(tempfile.mkdtemp(), "bad.py")
    >>> _ = open(bad, "w").write("def relu_fwd(x)\\n")
    >>> load(bad, lang="en")
    Traceback (most recent call last):
    ...
    jaxbp.exercises.grader.LoadError: bad.py:1: syntax error: expected ':'
    """
    import importlib.util

    from jaxbp.exercises.errors import describe_error

    path, lang = os.fspath(path), choose_lang(lang)
    if not os.path.isfile(path):
        raise FileNotFoundError(say(UI, "no_file", lang, file=path))
    name = f"_jaxbp_exercise_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    file = os.path.basename(path)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise LoadError(_syntax(file, e.lineno, e.msg, lang)[1][0]) from None
    except Exception as e:  # the learner's module-level code
        err = describe_error(e, "<module>")
        where = say(UI, "where", lang, line=err["line"], file=err["file"]) if err["line"] else ""
        raise LoadError(
            say(UI, "import_error", lang, file=file, exc=err["exc"], msg=err["msg"], where=where)
        ) from None
    return module
