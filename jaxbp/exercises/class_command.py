"""``python -m jaxbp.exercises grade SUBMISSIONS --out REPORT``: grade a whole class.

Reads every ``.py`` file and ``.ipynb`` notebook in SUBMISSIONS (one per
student), grades the changed ones (:mod:`jaxbp.exercises.classroom`), ``--jobs``
at a time, with a progress bar (plain lines when the output is not a
terminal), and writes ``REPORT/scores.csv``, ``REPORT/index.html``
(:mod:`jaxbp.exercises.class_page`) and the saved grades ``REPORT/grades.json``.

Exit status: 0 the class was graded (whatever the students' results); 1 the
grader itself failed on a file; 2 a usage error (no such folder, no
submissions, an --out that cannot be written or is not a jaxbp report);
130 interrupted (Ctrl-C: what was graded is kept).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import TextIO

from jaxbp._files import OutputError
from jaxbp.exercises import class_page, classroom
from jaxbp.exercises.class_words import CLASS, kind_label
from jaxbp.exercises.classroom import CACHE, Graded, Settings
from jaxbp.exercises.messages import say
from jaxbp.exercises.submissions import Submission, find

__all__ = ["run", "Progress", "default_jobs"]


class UsageError(Exception):
    """One line for the teacher; exit status 2."""


def default_jobs() -> int:
    """The cores this process may run on.

    >>> default_jobs() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Progress:
    """Students done out of the total: a bar redrawn in place on a terminal, one
    plain line per student on a pipe or a file.

    >>> from jaxbp.exercises.report import Report
    >>> Progress(sys.stdout, 20, "en")(Graded("kim.py", "kim", "", Report(())), 1)
    1/20 kim: 0 passed, 0 failed, 0 incomplete, 0 skipped
    """

    def __init__(self, stream: TextIO, todo: int, lang: str, width: int = 30):
        self.stream, self.todo, self.lang, self.width = stream, todo, lang, width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.drawn = False

    def __call__(self, g: Graded, done: int) -> None:
        if self.tty:
            filled = self.width * done // max(self.todo, 1)
            bar = "#" * filled + "-" * (self.width - filled)
            word = say(CLASS, "progress", self.lang)
            self.stream.write(f"\r[{bar}] {word} {done}/{self.todo}  {g.student[:40]:<40}")
            self.drawn = True
        else:
            line = say(CLASS, "done_line", self.lang, done=done, todo=self.todo,
                       student=g.student, summary=_summary(g, self.lang))  # fmt: skip
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _summary(g: Graded, lang: str) -> str:
    if g.failure:
        return say(CLASS, "file_failed", lang, what=kind_label(g.failure, lang))
    return g.report.summary().splitlines()[0]


# ---- the folders --------------------------------------------------------------------------
def submissions_in(folder: str, lang: str) -> tuple[list[Submission], list[str]]:
    """The folder's submissions (and the names left out), or a :class:`UsageError`.

    >>> submissions_in("no-such-folder", "ko")
    Traceback (most recent call last):
    ...
    jaxbp.exercises.class_command.UsageError: no-such-folder: 폴더가 없습니다
    """
    if not os.path.exists(folder):
        raise UsageError(say(CLASS, "no_folder", lang, folder=folder))
    if not os.path.isdir(folder):
        raise UsageError(say(CLASS, "not_folder", lang, folder=folder))
    try:
        subs, other = find(folder)
    except OSError as e:
        raise UsageError(say(CLASS, "unreadable_folder", lang, folder=folder,
                             why=e.strerror or e)) from None  # fmt: skip
    if not subs:
        raise UsageError(say(CLASS, "empty", lang, folder=folder))
    return subs, other


def prepare_out(out: str, folder: str, force: bool, lang: str) -> None:
    """Make ``out`` ready: a new or empty folder, or a jaxbp report's (``--force``: any
    folder), and writable; else a :class:`UsageError`.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "mine.txt"), "w").write("x")
    >>> try:
    ...     prepare_out(d, ".", False, "en")
    ... except UsageError as e:
    ...     print(str(e).replace(d, "DIR").split(":")[0])
    --out DIR holds files but is not a jaxbp report (no grades.json)
    >>> prepare_out(os.path.join(d, "report"), ".", False, "en")   # a new folder: made
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(say(CLASS, "out_is_file", lang, out=out))
    if os.path.isdir(out) and os.path.samefile(out, folder):
        raise UsageError(say(CLASS, "out_is_input", lang, out=out))
    if os.path.isdir(out) and not force and not os.path.exists(os.path.join(out, CACHE)):
        if any(not name.startswith(".") for name in os.listdir(out)):
            raise UsageError(say(CLASS, "out_foreign", lang, out=out, cache=CACHE))
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jaxbp-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(say(CLASS, "out_unwritable", lang, out=out, why=e.strerror or e)) from None


# ---- the run ------------------------------------------------------------------------------
def _saved(args, settings: Settings, subs: list[Submission]) -> tuple[dict[str, Graded], list]:
    """The unchanged submissions' saved grades and the submissions to grade."""
    if args.force:
        return {}, subs
    cached, note = classroom.load_cache(args.out, settings)
    if note:
        print(note, file=sys.stderr)
    return classroom.reuse(subs, cached)


@dataclass
class _Run:
    """What this run did so far: every student's grades, and the counts the lines say."""

    graded: list[Graded] = field(default_factory=list)
    todo: int = 0
    fresh: int = 0
    interrupted: bool = False


def _grade(args, settings: Settings, subs: list[Submission], state: _Run) -> None:
    """Grade what changed into ``state``, saving the grades as each one is done."""
    hits, todo = _saved(args, settings, subs)
    lang, jobs, fresh = settings.lang, min(args.jobs, max(len(todo), 1)), {}
    state.todo = len(todo)
    state.graded = [hits[s.name] for s in subs if s.name in hits]
    if not todo:
        print(say(CLASS, "nothing_to_grade", lang, total=len(subs)), file=sys.stderr)
        return
    print(say(CLASS, "plan", lang, total=len(subs), cached=len(hits), todo=len(todo),
              jobs=jobs), file=sys.stderr)  # fmt: skip
    progress = Progress(sys.stderr, len(todo), lang)

    def done(g: Graded, count: int) -> None:
        fresh[g.name] = g
        every = {**hits, **fresh}
        classroom.save_cache(args.out, list(every.values()), settings)  # then the line says so
        state.graded, state.fresh = [every[s.name] for s in subs if s.name in every], count
        progress(g, count)

    try:
        _, state.interrupted = classroom.grade_all(todo, settings, jobs, done)
    finally:
        progress.close()
    classroom.save_cache(args.out, state.graded, settings)  # a Ctrl-C may have cut one short


def run(args, lang: str) -> int:
    """The ``grade`` command on parsed ``args``; returns the exit status.

    >>> from jaxbp.exercises.__main__ import parser
    >>> run(parser().parse_args(["grade", "no-such-folder", "--out", "report"]), "en")  # one line
    2
    """
    settings, state = Settings(lang, float(args.timeout), int(args.memory)), _Run()
    try:
        return _run(args, settings, state)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the grading itself (reading the folder, writing)
        return _interrupted(args, state, lang)


def _interrupted(args, state: _Run, lang: str) -> int:
    print(say(CLASS, "interrupted", lang, done=state.fresh, todo=state.todo, out=args.out),
          file=sys.stderr)  # fmt: skip
    return 130


def _run(args, settings: Settings, state: _Run) -> int:
    lang = settings.lang
    subs, other = submissions_in(args.submissions, lang)
    prepare_out(args.out, args.submissions, args.force, lang)
    if other:
        names = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        print(say(CLASS, "left_out", lang, names=names), file=sys.stderr)
    try:
        _grade(args, settings, subs, state)
        html_path, csv_path = class_page.write(args.out, state.graded, lang)
    except OutputError as e:
        print(e, file=sys.stderr)
        return 2
    if state.interrupted:
        return _interrupted(args, state, lang)
    print(say(CLASS, "wrote", lang, html=html_path, csv=csv_path))
    return 1 if any(g.failure == "grader_error" for g in state.graded) else 0
