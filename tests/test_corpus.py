"""The grader on a corpus of real student mistakes: each flagged on its exercise and named.

``tests/corpus/ch05/`` holds whole student files written from the chapter's
slides (``tests/corpus/README.md``), each starting with the grading it must
get: ``# expect: EXERCISE KIND [OUTPUT]`` per exercise that must fail,
``# expect: two_layer_net_gradient *`` where the network fails only through a
wrong rule, ``# expect: file KIND`` where the whole file fails, ``# expect:
pass``, and ``# note: EXERCISE NOTE`` for a pass with a note.  Every exercise
not listed must pass (or be skipped, when unwritten).

The ordinary files are graded in this process (``grade(load(path))``: the same
diagnosis as the command line, and fast); the hostile ones (they hang, exit,
forge) with ``grade_file``, each in a child process with limits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jaxbp.exercises import grade, grade_file, load
from jaxbp.exercises.grader import LoadError
from jaxbp.exercises.messages import KINDS, NOTES
from jaxbp.exercises.spec import NAMES

pytestmark = pytest.mark.usefixtures("jax_config_kept")  # a file may switch on x64

CORPUS = Path(__file__).parent / "corpus" / "ch05"


@dataclass
class Expect:
    fails: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    file: str | None = None
    passes: bool = False


def expectations(path: Path) -> Expect:
    """The ``# expect:`` and ``# note:`` lines at the top of a corpus file."""
    out = Expect()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        words = line[1:].split()
        if words[:1] == ["expect:"] and words[1:] == ["pass"]:
            out.passes = True
        elif words[:1] == ["expect:"] and words[1] == "file":
            out.file = words[2]
        elif words[:1] == ["expect:"]:
            output = words[3] if len(words) > 3 else None
            out.fails.setdefault(words[1], []).append((words[2], output))
        elif words[:1] == ["note:"]:
            out.notes.setdefault(words[1], []).append(words[2])
    assert out.passes or out.fails or out.file, f"{path.name} states no expectation"
    return out


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.py")) if folder.is_dir() else []


ORDINARY, HOSTILE = files(CORPUS), files(CORPUS / "hostile")


def test_the_corpus_is_there_and_its_kinds_are_the_graders():
    assert len(ORDINARY) + len(HOSTILE) >= 60
    known = set(KINDS) | {"syntax_error", "import_error", "timeout", "exited", "*"}
    for path in ORDINARY + HOSTILE:
        e = expectations(path)
        for name, wrongs in e.fails.items():
            assert name in NAMES, (path.name, name)
            assert {k for k, _ in wrongs} <= known, (path.name, wrongs)
        assert all(n in NOTES for ns in e.notes.values() for n in ns), path.name
    passes = [p for p in ORDINARY if expectations(p).passes]
    assert len(passes) >= 10, "correct alternatives: at least ten"


def check_report(path: Path, report, e: Expect) -> None:
    if e.file:
        assert report.file_kind == e.file, (path.name, report.file_kind, str(report))
        return
    assert not report.file_lines, (path.name, str(report))
    for r in report.results:
        said = "\n".join(r.lines)
        if r.name in e.fails:
            assert r.status == "failed", (path.name, r.name, said)
            named = {r.kind, *(k for _, k in r.findings)}
            for kind, output in e.fails[r.name]:
                if kind == "*":
                    continue
                if output is None or not r.findings:  # an error: no output to name
                    assert kind in named, (path.name, r.name, kind, r.findings, said)
                else:
                    assert (output, kind) in r.findings, (path.name, r.name, kind, output, said)
        else:
            assert r.status in ("passed", "skipped"), (path.name, r.name, said)
        for note in e.notes.get(r.name, []):
            assert note in r.notes, (path.name, r.name, r.notes, said)


@pytest.mark.parametrize("path", ORDINARY, ids=[p.stem for p in ORDINARY])
def test_an_ordinary_file(path):
    e = expectations(path)
    if e.file in ("syntax_error", "import_error"):
        with pytest.raises(LoadError):
            load(path, lang="en")
        return
    report = grade(load(path, lang="en"), lang="en", source=path.name)
    check_report(path, report, e)


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_a_hostile_file_in_a_child_process(path):
    e = expectations(path)
    names = None if e.file else [*e.fails, *e.notes] or None
    report = grade_file(path, names, "en", timeout=5)
    check_report(path, report, e)
    if not e.passes:
        assert report.exit_code != 0, str(report)


def test_the_corpus_graded_in_korean_says_it_in_korean():
    """Every ordinary failing file's first line, in Korean: no English kind words left."""
    for path in ORDINARY[:12]:
        report = grade(load(path, lang="ko"), lang="ko")
        for r in report.results:
            if r.status == "failed":
                assert not any(w in r.lines[0] for w in ("wrong", "missing", "instead")), (
                    path.name, r.lines[0])  # fmt: skip


def test_the_corpus_names_its_own_folder_only():
    """Corpus files are data: nothing in them imports the tests or reaches outside."""
    for path in ORDINARY:
        text = path.read_text(encoding="utf-8")
        assert "tests." not in text and os.sep + "work" not in text, path.name
