"""Which chapter a learner's code is: the names asked for, its header line, what it defines.

The template's first line says its chapter (``# jaxbp exercises: chapter 6``);
without it, the exercises a file (or a notebook's namespace) defines decide.
Code that defines exercises of two chapters is graded as neither: its report
is one line saying so (:func:`mixed_report`).
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterable, Mapping

from jaxbp.exercises import source
from jaxbp.exercises.messages import UI, say
from jaxbp.exercises.report import Report
from jaxbp.exercises.spec import ALL_NAMES, CHAPTERS, chapter_of, item, names_of

__all__ = ["file_chapter", "choose"]


def choose(names, chapter: int | None = None) -> tuple[int | None, tuple[str, ...]]:
    """``(chapter, exercises)`` to grade: those of ``names`` (all of one chapter), else all
    of ``chapter``; ``(None, ())`` when neither says (the code's chapter decides)."""
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {', '.join(map(str, CHAPTERS))}, got {chapter!r}")
    if names is None:
        return chapter, (names_of(chapter) if chapter is not None else ())
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Iterable):
        raise TypeError(f"names must be a list of exercise names, got {type(names).__name__}")
    names = list(names)
    unknown = [n for n in names if n not in ALL_NAMES]
    if unknown:
        raise ValueError(
            f"names: unknown exercise {unknown[0]!r}; choose from {', '.join(ALL_NAMES)}"
        )
    chapters = sorted({chapter_of(n) for n in names} | ({chapter} if chapter else set()))
    if len(chapters) > 1:
        raise ValueError(
            f"names: {', '.join(names)} are exercises of chapters "
            f"{' and '.join(map(str, chapters))}: grade one chapter at a time"
        )
    chapter = chapters[0] if chapters else 5
    return chapter, tuple(n for n in names_of(chapter) if n in names)


def defined_chapters(defined) -> list[int]:
    """The chapters with an exercise function ``defined(fn)`` says is there."""
    return [c for c in CHAPTERS if any(defined(f) for n in names_of(c) for f in item(n).functions)]


def chapter_from(header: int | None, chapters: list[int]) -> int | list[int]:
    """The chapter to grade: the header's, else the one defined; several: the list."""
    if header is not None:
        return header
    if len(chapters) > 1:
        return chapters
    return chapters[0] if chapters else 5


def mixed_report(where: str, chapters: list[int], defined, lang: str, path: str) -> Report:
    """The one-line report of code that defines exercises of several chapters."""
    firsts = [
        next(f for n in names_of(c) for f in item(n).functions if defined(f)) for c in chapters
    ]
    line = say(UI, "mixed_chapters", lang, file=where, chapters=", ".join(map(str, chapters)),
               names=", ".join(firsts))  # fmt: skip
    title = CHAPTERS[chapters[-1]].title[lang]
    return Report((), lang, path, title, (line,), "mixed_chapters", chapter=chapters[-1])


def all_functions() -> list[str]:
    return [f for n in ALL_NAMES for f in item(n).functions]


def file_chapter(path: str | os.PathLike[str], names=None) -> int | None:
    """The chapter :func:`jaxbp.exercises.grader.grade_file` grades for ``path`` (and
    ``names``): that of the names, else the file's ``# jaxbp exercises: chapter N`` line,
    else the one whose exercises it defines (5 if none); ``None`` if it defines several or
    cannot be read.

    >>> import tempfile
    >>> mine = os.path.join(tempfile.mkdtemp(), "mine.py")
    >>> _ = open(mine, "w").write("def im2col(x, fh, fw, stride, pad):\\n    return x\\n")
    >>> file_chapter(mine), file_chapter(mine, ["relu"])
    (7, 5)
    """
    chapter, _ = choose(names)
    if chapter is not None:
        return chapter
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    header = header_chapter(text)
    try:
        written = source.functions_in(text, all_functions())
    except (SyntaxError, ValueError):
        return header or 5
    found = chapter_from(header, defined_chapters(is_there(written)))
    return None if isinstance(found, list) else found


def header_chapter(text: str) -> int | None:
    """The chapter the file's header line names, if it is one of :data:`CHAPTERS`."""
    chapter = source.header_chapter(text)
    return chapter if chapter in CHAPTERS else None


def is_there(written: dict | None):
    return (lambda f: False) if written is None else (lambda f: written[f] != source.ABSENT)


def namespace_chapter(namespace, ns: Mapping) -> int | list[int]:
    """A namespace's chapter: its module file's header line, else the exercises defined."""
    header = None
    path = getattr(namespace, "__file__", None) if isinstance(namespace, types.ModuleType) else None
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                header = header_chapter(fh.read())
        except (OSError, UnicodeDecodeError):
            pass
    return chapter_from(header, defined_chapters(lambda f: callable(ns.get(f))))
