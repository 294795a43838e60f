"""Each student file of chapters 6 and 7's corpus is graded as its expectation lines say.

``tests/corpus/ch06`` and ``tests/corpus/ch07`` hold files written as students
write them from the book (the mistakes students make, and right answers
written other ways).  Each starts with expectation lines:

    # expect: EXERCISE KIND [OUTPUT]    that exercise fails with KIND (at OUTPUT)
    # expect: EXERCISE *                it fails because a rule it uses fails
    # expect: file KIND                 the file fails as a whole (mixed_chapters, ...)
    # expect: pass                      every written exercise passes
    # note: EXERCISE NOTE               that exercise passes, with NOTE said

An exercise with no line must pass or be skipped (not written).  The files are
graded in this process (``grade(load(path))``: the same diagnosis as the
command line's, which runs them in a child process); they hold no hostile code.
"""

from __future__ import annotations

import os

import pytest

from jaxbp.exercises import grade, load, words6, words7
from jaxbp.exercises.grader import LoadError
from jaxbp.exercises.messages import KINDS, NOTES

pytestmark = pytest.mark.usefixtures("jax_config_kept")  # a file may switch on x64

ROOT = os.path.dirname(os.path.abspath(__file__))
DIRS = {6: os.path.join(ROOT, "corpus", "ch06"), 7: os.path.join(ROOT, "corpus", "ch07")}
FILES = [
    (chapter, name)
    for chapter, folder in DIRS.items()
    for name in sorted(os.listdir(folder))
    if name.endswith(".py") and name != "conftest.py"
]


def expectations(path: str) -> list[tuple[str, ...]]:
    """The file's leading ``# expect:`` and ``# note:`` lines, split into words."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            for tag in ("# expect:", "# note:"):
                if line.startswith(tag):
                    out.append((tag[2:-1], *line[len(tag) :].split()))
    return out


def graded(path: str):
    """``(report, file_kind)``: the report of the file graded in this process."""
    try:
        module = load(path, lang="en")
    except LoadError as e:
        return None, "syntax_error" if "syntax error" in str(e) else "import_error"
    report = grade(module, lang="en", source=os.path.basename(path))
    return report, report.file_kind


def _matches(result, kind: str, output: str | None) -> bool:
    if result.status != "failed":
        return False
    if output is None:
        return result.kind == kind or any(k == kind for _, k in result.findings)
    return (output, kind) in result.findings or (result.kind, result.output) == (kind, output)


@pytest.mark.parametrize("chapter, name", FILES, ids=[f"ch{c:02d}/{n}" for c, n in FILES])
def test_each_file_is_graded_as_its_expectation_lines_say(chapter, name):
    path = os.path.join(DIRS[chapter], name)
    expect = expectations(path)
    assert expect, f"{name} has no expectation lines"
    report, file_kind = graded(path)
    said = str(report) if report is not None else file_kind
    files = [e[2] for e in expect if e[:2] == ("expect", "file")]
    if files:
        assert file_kind == files[0], said
        return
    assert file_kind is None, said
    assert report.chapter == chapter, said
    named: set[str] = set()
    for tag, *words in expect:
        if tag == "note":
            exercise, note = words
            result = report.result(exercise)
            assert result.status == "passed" and note in result.notes, said
            named.add(exercise)
        elif words == ["pass"]:
            assert report.passed, said
        elif words[1:] == ["*"]:
            result = report.result(words[0])
            assert result.status == "failed", said
            named.add(words[0])
        else:
            exercise, kind, *output = words
            assert kind in KINDS, f"{name}: unknown kind {kind}"
            assert _matches(report.result(exercise), kind, output[0] if output else None), said
            named.add(exercise)
    for result in report.results:  # the others: right, or not written
        if result.name not in named:
            assert result.status in ("passed", "skipped"), said


def test_the_corpus_has_twenty_files_a_chapter_and_names_every_new_kind():
    """Every kind of mistake chapters 6 and 7 added is expected by some file, and every
    note; a kind nobody makes would be untested."""
    for chapter in DIRS:
        assert sum(c == chapter for c, _ in FILES) >= 20
    expected: set[str] = set()
    for chapter, name in FILES:
        for tag, *words in expectations(os.path.join(DIRS[chapter], name)):
            expected.update(words[1:2] if tag == "expect" else words[1:])
    missing = sorted((set(words6.KINDS) | set(words7.KINDS)) - expected)
    assert not missing, f"no corpus file expects {missing}"
    assert set(words6.NOTES) <= expected
    assert set(words6.NOTES) <= set(NOTES)
