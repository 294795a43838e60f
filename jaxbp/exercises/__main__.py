"""``python -m jaxbp.exercises new FILE [--chapter N]`` | ``check FILE [NAME ...]`` |
``grade SUBMISSIONS --out REPORT``; each takes ``--lang en|ko``.

``new`` writes chapter N's template (5, 6 or 7; 5 by default).  ``check``
finds the chapter from the file (its first line, ``# jaxbp exercises:
chapter N``, else the exercises it defines), runs FILE in a child process
(``--timeout`` seconds per exercise, ``--memory`` MiB) and prints each
exercise's verdict as soon as it is known.  ``grade`` grades a class's folder
of files and notebooks, several at once, into REPORT/scores.csv and
REPORT/index.html (:mod:`jaxbp.exercises.class_command`, which gives its exit
statuses).

Exit status: 0 every attempted exercise passed; 1 one failed or is
incomplete, or the file does not import; 2 a usage error (bad arguments, an
unknown exercise, no such file, or ``new`` onto an existing file); 3 nothing
attempted yet (the untouched template); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys

from jaxbp.exercises.messages import LANGS, UI, choose_lang, say
from jaxbp.exercises.spec import ALL_NAMES, CHAPTERS, chapter_of, names_of

__all__ = ["main", "parser"]

EPILOG = (
    "exit status: 0 every attempted exercise passed, 1 one failed (or the file does not "
    "import), 2 usage error, 3 nothing attempted yet, 130 interrupted"
)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _megabytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of MiB, got {text!r}") from None
    if value < 2048:
        raise argparse.ArgumentTypeError(f"must be >= 2048 (JAX alone needs ~1.5 GiB), got {text}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


GRADE_EPILOG = (
    "exit status: 0 the class was graded, 1 the grader failed on a file, 2 usage error, "
    "130 interrupted (what was graded is kept)"
)


def _limits(p: argparse.ArgumentParser) -> None:
    from jaxbp.exercises.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

    seconds = f"time each exercise may take (default {DEFAULT_TIMEOUT:g})"
    p.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=seconds)  # fmt: skip
    memory = f"memory the file's process may use (default {DEFAULT_MEMORY_MB})"
    p.add_argument("--memory", type=_megabytes, default=DEFAULT_MEMORY_MB, metavar="MIB",
                   help=memory)  # fmt: skip


def _grade_parser(sub, lang: argparse.ArgumentParser) -> None:
    from jaxbp.exercises.class_command import default_jobs

    what = "grade a class: every .py file and .ipynb notebook in a folder"
    g = sub.add_parser("grade", parents=[lang], epilog=GRADE_EPILOG, help=what)
    g.add_argument("submissions", metavar="SUBMISSIONS", help="the folder, one file per student")
    g.add_argument("--out", required=True, metavar="REPORT",
                   help="the report's folder: scores.csv, index.html, grades.json")  # fmt: skip
    again = "grade every file again (and write into a folder that is not a report)"
    g.add_argument("--force", action="store_true", help=again)
    g.add_argument("--jobs", type=_jobs, default=default_jobs(), metavar="N",
                   help="files graded at once (default: the cores, here %(default)s)")  # fmt: skip
    _limits(g)


def parser() -> argparse.ArgumentParser:
    """The command line's parser: the subcommands ``new`` and ``check``.

    >>> parser().parse_args(["check", "mine.py", "relu"]).names
    ['relu']
    """
    p = argparse.ArgumentParser(
        prog="python -m jaxbp.exercises",
        description="The exercises of chapters 5-7: write each rule as a custom_vjp pair (or "
        "function), then check it.",
        epilog=EPILOG,
    )
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument("--lang", choices=LANGS, help="report language (default: from LANG)")
    sub = p.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", parents=[lang], help="write a chapter's template to FILE")
    new.add_argument("file", metavar="FILE")
    new.add_argument("--chapter", type=int, choices=sorted(CHAPTERS), default=5,
                     help="the book's chapter (default 5)")  # fmt: skip
    chk = sub.add_parser("check", parents=[lang], help="grade the exercises written in FILE",
                         epilog=EPILOG)  # fmt: skip
    chk.add_argument("file", metavar="FILE")
    chk.add_argument("names", metavar="NAME", nargs="*",
                     help=f"exercises of one chapter, any of: {' '.join(ALL_NAMES)}")  # fmt: skip
    _limits(chk)
    _grade_parser(sub, lang)
    return p


def _new(path: str, lang: str, chapter: int) -> int:
    from jaxbp.exercises.template import new

    try:
        new(path, chapter)
    except FileExistsError:
        print(say(UI, "exists", lang, file=path), file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{path}: {e.strerror}", file=sys.stderr)
        return 2
    print(say(UI, "wrote", lang, file=path))
    return 0


def _check(args, lang: str) -> int:
    from jaxbp.exercises.chapters import file_chapter
    from jaxbp.exercises.grader import grade_file
    from jaxbp.exercises.report import Report, format_result

    unknown = [n for n in args.names if n not in ALL_NAMES]
    if unknown:
        print(f"unknown exercise {unknown[0]!r}; choose from: {' '.join(ALL_NAMES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    chapters = sorted({chapter_of(n) for n in args.names})
    if len(chapters) > 1:
        print(f"{' '.join(args.names)}: exercises of chapters {' and '.join(map(str, chapters))}; "
              "check one chapter at a time", file=sys.stderr)  # fmt: skip
        return 2
    chapter = file_chapter(args.file, args.names or None) or 5
    done: list = []

    def show(result) -> None:
        if not done:
            print(Report((), lang, args.file, _title(lang, chapter)).header(), flush=True)
        done.append(result)
        print(format_result(result, lang), flush=True)

    try:
        report = grade_file(args.file, args.names or None, lang, timeout=args.timeout,
                            memory_mb=args.memory, on_result=show)  # fmt: skip
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        total = len(args.names or names_of(chapter))
        print(say(UI, "interrupted", lang, done=len(done), total=total), file=sys.stderr)
        return 130
    if not done:  # nothing streamed: the file failed as a whole, or nothing was graded
        print(report.header())
        print("\n".join(f"  {line}" for line in report.file_lines))
    print(report.summary(), flush=True)
    return report.exit_code


def _title(lang: str, chapter: int) -> str:
    return CHAPTERS[chapter].title[lang]


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    >>> main(["check", "no-such-file.py", "--lang", "en"])
    2
    """
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse's usage errors (2) and --help (0)
        return int(e.code or 0)
    lang = choose_lang(args.lang)
    if args.command == "new":
        return _new(args.file, lang, args.chapter)
    if args.command == "grade":
        from jaxbp.exercises.class_command import run

        return run(args, lang)
    return _check(args, lang)


if __name__ == "__main__":
    sys.exit(main())
