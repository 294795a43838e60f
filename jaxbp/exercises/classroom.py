"""Grade a whole class: every submission in a child process of its own, several at once.

:func:`grade_all` runs :func:`jaxbp.exercises.grader.grade_file` on each
submission (:mod:`jaxbp.exercises.submissions`) in threads of this process,
``jobs`` at a time: each thread drives one learner's child process, with its
time and memory limits, and the verdicts are made here, so a submission that
hangs, exits, crashes or prints a verdict of its own is graded as such and the
others go on.  Ctrl-C stops the children and keeps what was graded.

The grades are saved in the report's folder (:data:`CACHE`), keyed by each
file's SHA-256, so that the next run grades only what changed
(:func:`load_cache` verifies the file before it trusts it: its format, the
jaxbp version and grader that wrote it, the settings, a checksum).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from jaxbp._files import write_json
from jaxbp.exercises import submissions
from jaxbp.exercises.class_words import CLASS
from jaxbp.exercises.messages import say
from jaxbp.exercises.report import STATUSES, Report, Result
from jaxbp.exercises.submissions import Submission, SubmissionError

__all__ = ["CACHE", "Graded", "Settings", "grade_all", "grade_one", "load_cache", "save_cache",
           "reuse", "grader_id", "file_failure", "outcome"]  # fmt: skip

CACHE = "grades.json"
_FORMAT, _VERSION = "jaxbp class grades", 1


@dataclass(frozen=True)
class Settings:
    """What a verdict depends on besides the file: the report's language and the limits."""

    lang: str
    timeout: float
    memory_mb: int


@dataclass(frozen=True)
class Graded:
    """One student's graded submission: the file (``name``, ``sha256``), its
    :class:`~jaxbp.exercises.report.Report`, and ``failure``, how the file failed
    as a whole (a key of :data:`jaxbp.exercises.class_words.FILE_KINDS`) or ``None``."""

    name: str
    student: str
    sha256: str
    report: Report
    failure: str | None = None


# ---- one submission -----------------------------------------------------------------------
_IMPORT = {"timeout": "import_timeout", "exited": "import_exited"}  # while importing it


def file_failure(report: Report) -> str | None:
    """How ``report``'s file failed as a whole (``"syntax_error"``, ``"import_error"``,
    ``"import_timeout"``, ``"import_exited"``, ``"unreadable"``), or ``None``.

    >>> file_failure(Report((), "ko", "kim.py", "", ("...",), file_kind="timeout"))
    'import_timeout'
    """
    if not report.file_lines:
        return None
    return _IMPORT.get(report.file_kind, report.file_kind or "unreadable")


def _failed(sub: Submission, failure: str, line: str, lang: str) -> Graded:
    report = Report((), lang, sub.name, "", (line,), failure)
    return Graded(sub.name, sub.student, sub.sha256, report, failure)


class _Cancelled(Exception):
    """Raised in a grading thread when the class's grading is stopped."""


def _unreadable(sub: Submission, e: SubmissionError, lang: str) -> Graded:
    why = say(CLASS, f"why_{e.why}", lang, detail=e.detail)
    return _failed(sub, "unreadable", say(CLASS, "unreadable", lang, file=sub.name, why=why), lang)


def grade_one(sub: Submission, folder: str, settings: Settings,
              stop: threading.Event | None = None) -> Graded | None:  # fmt: skip
    """Grade ``sub`` in a child process; ``None`` if ``stop`` was set meanwhile.

    The code to grade (:func:`jaxbp.exercises.submissions.script`) is written
    alone into the new folder ``folder``, so that no other student's file can
    be imported from beside it.  The report's lines name the file as collected.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "kim.ipynb"), "w").write("{not json")
    >>> g = grade_one(submissions.find(d)[0][0], os.path.join(d, "work"), Settings("en", 10, 4096))
    >>> g.failure, g.report.file_lines
    ('unreadable', ('kim.ipynb: not a Jupyter notebook (JSONDecodeError); nothing was graded',))
    """
    from jaxbp.exercises.grader import grade_file

    try:
        code = submissions.script(sub)
    except SubmissionError as e:
        return _unreadable(sub, e, settings.lang)

    def cancel(_result: Result) -> None:
        if stop is not None and stop.is_set():
            raise _Cancelled

    try:
        os.makedirs(folder)
        path = os.path.join(folder, sub.script_name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(code)
        report = grade_file(path, None, settings.lang, timeout=settings.timeout,
                            memory_mb=settings.memory_mb, on_result=cancel)  # fmt: skip
    except _Cancelled:
        return None
    except Exception as e:  # noqa: BLE001 - the grader's own failure must not stop the class
        line = say(CLASS, "grader_failed", settings.lang, exc=type(e).__name__, msg=e)
        return _failed(sub, "grader_error", line, settings.lang)
    if stop is not None and stop.is_set():
        return None  # its child may have been stopped under it
    report = replace(report, source=sub.name)
    return Graded(sub.name, sub.student, sub.sha256, report, file_failure(report))


def outcome(g: Graded, exercise: str) -> tuple[str, str | None]:
    """Exercise ``exercise`` of ``g`` as ``(outcome, kind)``: the outcome is one of
    passed, failed, incomplete, skipped, timed_out, error (``""`` if not graded).

    >>> r = Report((Result("relu", "failed", ("...",), "timeout"),))
    >>> outcome(Graded("kim.py", "kim", "0" * 64, r), "relu")
    ('timed_out', 'timeout')
    """
    if g.failure:
        return ("timed_out" if g.failure == "import_timeout" else "error"), g.failure
    r = next((r for r in g.report.results if r.name == exercise), None)
    if r is None:
        return "", None
    if r.status != "failed":
        return r.status, None
    if r.kind == "timeout":
        return "timed_out", r.kind
    return ("error" if r.kind in ("exited", "died") else "failed"), r.kind


# ---- the class, several at once -----------------------------------------------------------
def _worker(todo: queue.SimpleQueue, done: queue.SimpleQueue, stop: threading.Event,
            workdir: str, settings: Settings) -> None:  # fmt: skip
    while not stop.is_set():
        try:
            i, sub = todo.get_nowait()
        except queue.Empty:
            return
        try:
            g = grade_one(sub, os.path.join(workdir, str(i)), settings, stop)
        except Exception as e:  # noqa: BLE001 - one file's trouble must not lose the others
            line = say(CLASS, "grader_failed", settings.lang, exc=type(e).__name__, msg=e)
            g = _failed(sub, "grader_error", line, settings.lang)
        done.put((i, g))


def _stop(threads: list[threading.Thread], seconds: float = 30.0) -> None:
    """Kill the children until the threads have ended (each ends at its next result)."""
    from jaxbp.exercises.sandbox import stop_all

    deadline = time.monotonic() + seconds
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        stop_all()  # again: a thread may have started a fresh child since
        for t in threads:
            t.join(0.2)


def _ignoring_ctrl_c():
    """SIGINT ignored (while the threads are stopped); returns what restores it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    return lambda: signal.signal(signal.SIGINT, old)


def grade_all(
    subs: list[Submission],
    settings: Settings,
    jobs: int,
    on_done: Callable[[Graded, int], None] | None = None,
) -> tuple[list[Graded], bool]:
    """Grade ``subs``, ``jobs`` at a time; returns the graded ones (in ``subs``'
    order) and whether Ctrl-C stopped it.

    ``on_done(graded, count)`` is called in this thread as each one is done.
    A submission being graded when Ctrl-C comes is dropped (and its process
    killed): it is graded next time.

    >>> import tempfile
    >>> from jaxbp.exercises.template import new
    >>> d = tempfile.mkdtemp()
    >>> _ = new(os.path.join(d, "kim.py"))              # nothing written: no process to start
    >>> graded, stopped = grade_all(submissions.find(d)[0], Settings("en", 10, 4096), jobs=2)
    >>> graded[0].report.summary().splitlines()[0], stopped
    ('0 passed, 0 failed, 0 incomplete, 7 skipped', False)
    """
    todo, done = queue.SimpleQueue(), queue.SimpleQueue()
    for i, sub in enumerate(subs):
        todo.put((i, sub))
    stop, got, interrupted = threading.Event(), {}, False
    workdir = tempfile.mkdtemp(prefix="jaxbp-class-")
    work = (todo, done, stop, workdir, settings)
    threads = [threading.Thread(target=_worker, args=work, daemon=True)
               for _ in range(max(1, min(jobs, len(subs))))]  # fmt: skip
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) or not done.empty():
            try:
                i, g = done.get(timeout=0.2)
            except queue.Empty:
                continue
            if g is not None:
                got[i] = g
                if on_done is not None:
                    on_done(g, len(got))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        restore = _ignoring_ctrl_c()
        try:
            if any(t.is_alive() for t in threads):  # stopped early (Ctrl-C, or on_done raised)
                _stop(threads)
        finally:
            restore()
            shutil.rmtree(workdir, ignore_errors=True)
    return [got[i] for i in sorted(got)], interrupted


# ---- the saved grades ---------------------------------------------------------------------
def grader_id() -> str:
    """The jaxbp version and a SHA-256 of the grader's source: grades saved by another
    version or another grader are not trusted.

    >>> from jaxbp import __version__
    >>> grader_id().split()[0] == __version__, len(grader_id().split()[1])
    (True, 64)
    """
    from jaxbp import __version__

    h = hashlib.sha256()
    folder = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read() + b"\0")
    return f"{__version__} {h.hexdigest()}"


def _entry(g: Graded) -> dict:
    r = g.report
    results = [{"name": x.name, "status": x.status, "lines": list(x.lines), "kind": x.kind,
                "notes": list(x.notes)} for x in r.results]  # fmt: skip
    return {"name": g.name, "sha256": g.sha256, "failure": g.failure, "title": r.title,
            "file_lines": list(r.file_lines), "file_kind": r.file_kind,
            "results": results}  # fmt: skip


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{what}: not a list of strings")
    return tuple(value)


def _result(d) -> Result:
    if not isinstance(d, dict) or not isinstance(d.get("name"), str):
        raise ValueError("a result without a name")
    if d.get("status") not in STATUSES or not isinstance(d.get("kind"), (str, type(None))):
        raise ValueError(f"{d['name']}: a status or kind that is not one")
    return Result(d["name"], d["status"], _strings(d.get("lines"), "lines"), d["kind"],
                  _strings(d.get("notes"), "notes"))  # fmt: skip


def _graded(d, lang: str) -> Graded:
    """A saved entry, checked field by field (``ValueError`` saying what is wrong)."""
    if not isinstance(d, dict):
        raise ValueError("an entry that is not an object")
    name, digest, failure = d.get("name"), d.get("sha256"), d.get("failure")
    if not isinstance(name, str) or not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
        raise ValueError("an entry without a file name or SHA-256")
    if not isinstance(failure, (str, type(None))) or not isinstance(d.get("title"), str):
        raise ValueError(f"{name}: a failure or title that is not text")
    results = d.get("results")
    if not isinstance(results, list):
        raise ValueError(f"{name}: no list of results")
    file_kind = d.get("file_kind")
    if not isinstance(file_kind, (str, type(None))):
        raise ValueError(f"{name}: a file kind that is not text")
    report = Report(tuple(_result(r) for r in results), lang, name, d["title"],
                    _strings(d.get("file_lines"), "file_lines"), file_kind)  # fmt: skip
    return Graded(name, name, digest, report, failure)


def _digest(entries: list) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


def save_cache(out: str, graded: list[Graded], settings: Settings) -> None:
    """Write ``out/grades.json`` atomically (a grader's own failure is not saved).

    >>> import tempfile
    >>> d, settings = tempfile.mkdtemp(), Settings("en", 10.0, 4096)
    >>> g = Graded("kim.py", "kim", "a" * 64, Report((Result("mul", "passed", ("ok",)),)))
    >>> save_cache(d, [g], settings)
    >>> cached, note = load_cache(d, settings)
    >>> cached["kim.py"].report.status("mul"), note
    ('passed', None)
    """
    entries = [_entry(g) for g in graded if g.failure != "grader_error"]
    write_json(os.path.join(out, CACHE), {
        "format": _FORMAT, "version": _VERSION, "grader": grader_id(),
        "settings": {"lang": settings.lang, "timeout": settings.timeout,
                     "memory_mb": settings.memory_mb},
        "digest": _digest(entries), "entries": entries,
    })  # fmt: skip


def _checked(data, settings: Settings) -> list[Graded]:
    """The saved grades in ``data``, or ``ValueError`` whose message is a key of CLASS."""
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError("why_foreign")
    if data.get("version") != _VERSION or data.get("grader") != grader_id():
        raise ValueError("why_version")
    want = {"lang": settings.lang, "timeout": settings.timeout, "memory_mb": settings.memory_mb}
    if data.get("settings") != want:
        raise ValueError("why_settings")
    entries = data.get("entries")
    if not isinstance(entries, list) or data.get("digest") != _digest(entries):
        raise ValueError("why_digest")
    return [_graded(e, settings.lang) for e in entries]


def load_cache(out: str, settings: Settings) -> tuple[dict[str, Graded], str | None]:
    """The grades saved in ``out`` by file name, and a one-line note when the file is
    there but not trusted (then no grades).  No file: no grades and no note.

    >>> import tempfile
    >>> d, settings = tempfile.mkdtemp(), Settings("en", 10.0, 4096)
    >>> load_cache(d, settings)
    ({}, None)
    >>> _ = open(os.path.join(d, CACHE), "w").write('{"format": "something else"}')
    >>> load_cache(d, settings)[1].split("(")[1]
    'not a jaxbp grades file); every submission is graded again'

    """
    path = os.path.join(out, CACHE)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError):
        return {}, say(CLASS, "cache_ignored", settings.lang, cache=path,
                       why=say(CLASS, "why_json", settings.lang))  # fmt: skip
    try:
        graded = _checked(data, settings)
    except ValueError as e:
        key = str(e)
        why = say(CLASS, key, settings.lang) if key in CLASS else say(
            CLASS, "why_malformed", settings.lang, what=key)  # fmt: skip
        return {}, say(CLASS, "cache_ignored", settings.lang, cache=path, why=why)
    return {g.name: g for g in graded}, None


def reuse(subs: list[Submission], cached: dict[str, Graded]) -> tuple[dict[str, Graded], list]:
    """The saved grades of the unchanged submissions (same name, same SHA-256), shown
    under today's student names, and the submissions to grade.

    >>> same = Submission("kim.py", "kim", "", "a" * 64)
    >>> new = Submission("lee.py", "lee", "", "b" * 64)
    >>> saved = {"kim.py": Graded("kim.py", "kim", "a" * 64, Report(()))}
    >>> hits, todo = reuse([same, new], saved)
    >>> list(hits), [s.name for s in todo]
    (['kim.py'], ['lee.py'])
    """
    hits, todo = {}, []
    for sub in subs:
        g = cached.get(sub.name)
        if g is not None and g.sha256 == sub.sha256:
            hits[sub.name] = replace(g, student=sub.student)
        else:
            todo.append(sub)
    return hits, todo
