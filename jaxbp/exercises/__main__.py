"""``python -m jaxbp.exercises new FILE`` | ``check FILE [NAME ...]`` [``--lang en|ko``].

Exit status: 0 when every written exercise passes (or the template was
written), 1 when one fails or the file does not import, 2 for a usage error
(bad arguments, an unknown exercise, no such file, or ``new`` onto an
existing file).
"""

from __future__ import annotations

import argparse
import sys

from jaxbp.exercises.messages import LANGS, UI, choose_lang, say
from jaxbp.exercises.spec import NAMES

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The command line's parser: the subcommands ``new`` and ``check``.

    >>> parser().parse_args(["check", "mine.py", "relu"]).names
    ['relu']
    """
    p = argparse.ArgumentParser(
        prog="python -m jaxbp.exercises",
        description="Chapter 5's exercises: write each rule as a custom_vjp pair, then check it.",
        epilog="exit status: 0 all written exercises pass, 1 something fails, 2 usage error",
    )
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument("--lang", choices=LANGS, help="report language (default: from LANG)")
    sub = p.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", parents=[lang], help="write the template to FILE")
    new.add_argument("file", metavar="FILE")
    chk = sub.add_parser("check", parents=[lang], help="grade the exercises written in FILE")
    chk.add_argument("file", metavar="FILE")
    chk.add_argument("names", metavar="NAME", nargs="*", help=f"any of: {' '.join(NAMES)}")
    return p


def _new(path: str, lang: str) -> int:
    from jaxbp.exercises.template import new

    try:
        new(path)
    except FileExistsError:
        print(say(UI, "exists", lang, file=path), file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{path}: {e.strerror}", file=sys.stderr)
        return 2
    print(say(UI, "wrote", lang, file=path))
    return 0


def _check(path: str, names: list[str], lang: str) -> int:
    from jaxbp.exercises.grader import LoadError, grade, load

    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"unknown exercise {unknown[0]!r}; choose from: {' '.join(NAMES)}", file=sys.stderr)
        return 2
    try:
        module = load(path, lang)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    except LoadError as e:
        print(e)
        return 1
    report = grade(module, names or None, lang, source=path)
    print(report)
    return report.exit_code


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
        return _new(args.file, lang)
    return _check(args.file, args.names, lang)


if __name__ == "__main__":
    sys.exit(main())
