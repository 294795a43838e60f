"""A graded file's report: one :class:`Result` per exercise, printed as it comes.

Statuses: ``passed``; ``failed`` (wrong, raised, timed out, exited, ...);
``incomplete`` (part written, and right so far: the forward without its
backward); ``skipped`` (not written yet).  The command line's exit status is
:attr:`Report.exit_code`: 0 when every attempted exercise passed, 1 when one
did not (or the file itself failed), 3 when nothing was attempted yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jaxbp.exercises.messages import UI, say

__all__ = ["Result", "Report", "STATUSES", "format_result"]

STATUSES = ("passed", "failed", "incomplete", "skipped")


@dataclass(frozen=True)
class Result:
    """One exercise's outcome.

    ``status``: one of :data:`STATUSES`; ``lines``: what the report prints under
    it; ``kind``: the first mistake's key in
    :data:`jaxbp.exercises.messages.KINDS` (``None`` unless failed); ``notes``:
    keys of :data:`jaxbp.exercises.messages.NOTES` said beside a pass;
    ``output``: where the first mistake is (``"dx"``, ``"out"``, a parameter's
    key such as ``"W1"``), ``None`` when the kind concerns the whole exercise;
    ``findings``: ``(output, kind)`` of every wrong output found.
    """

    name: str
    status: str
    lines: tuple[str, ...]
    kind: str | None = None
    notes: tuple[str, ...] = ()
    output: str | None = None
    findings: tuple[tuple[str, str], ...] = ()


def format_result(r: Result, lang: str) -> str:
    """The report's lines for ``r``: the name and status, then its lines indented.

    >>> print(format_result(Result("relu", "passed", ("agrees",)), "en"))
      relu                    passed: agrees
    """
    word, name = say(UI, r.status, lang), r.name + " "  # a long name keeps a space
    if r.status != "failed" and len(r.lines) == 1:
        return f"  {name:<24}{word}: {r.lines[0]}"
    return "\n".join([f"  {name:<24}{word}", *(f"      {line}" for line in r.lines)])


@dataclass(frozen=True)
class Report:
    """Every graded exercise, in order; ``str(report)`` is the printed report.

    ``file_lines``: what went wrong with the file as a whole (it does not
    import, it hung or exited while importing, it mixes chapters),
    ``file_kind`` its key (also ``mixed_chapters``); then no exercise was graded.
    """

    results: tuple[Result, ...]
    lang: str = "en"
    source: str = "namespace"
    title: str = ""
    file_lines: tuple[str, ...] = field(default=())
    file_kind: str | None = None  # syntax_error, import_error, timeout, exited, unreadable
    shown: bool = field(default=False, compare=False, repr=False)  # printed by check()
    chapter: int = 5  # the chapter whose exercises were graded

    @property
    def passed(self) -> bool:
        """Something was attempted and every attempted exercise passed."""
        attempted = [r for r in self.results if r.status != "skipped"]
        return (
            not self.file_lines and bool(attempted) and all(r.status == "passed" for r in attempted)
        )

    @property
    def exit_code(self) -> int:
        """0 every attempted exercise passed; 1 one did not; 3 nothing attempted."""
        if self.passed:
            return 0
        if not self.file_lines and all(r.status == "skipped" for r in self.results):
            return 3
        return 1

    def status(self, name: str) -> str:
        """The status of exercise ``name``."""
        return next(r.status for r in self.results if r.name == name)

    def result(self, name: str) -> Result:
        """The :class:`Result` of exercise ``name``."""
        return next(r for r in self.results if r.name == name)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def header(self) -> str:
        return f"{self.title}: {self.source}" if self.title else self.source

    def summary(self) -> str:
        line = say(UI, "summary", self.lang, **{s: self.count(s) for s in STATUSES})
        if self.exit_code == 3:
            line += "\n" + say(UI, "nothing", self.lang)
        return line

    def __str__(self) -> str:
        body = [f"  {line}" for line in self.file_lines]
        body += [format_result(r, self.lang) for r in self.results]
        return "\n".join([self.header(), *body, self.summary()])

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={self.count(s)}" for s in STATUSES)
        return f"<exercises report: {counts}>"

    def _ipython_display_(self) -> None:
        """A notebook shows the report once: not again after :func:`check` printed it."""
        if not self.shown:
            print(self)
