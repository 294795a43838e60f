"""Grading a class: ``python -m jaxbp.exercises grade SUBMISSIONS --out REPORT``.

A synthetic class of 24 submissions (:data:`PUPILS`: the project's answers,
``tests/exercise_answers.py``, with mistakes planted as ``test_exercises.py``
plants them; broken, hostile and hanging files; an untouched template; two
notebooks) is graded once, end to end, through the command line on 2 jobs.
The CSV must hold exactly the planned outcome of every exercise of every
student; the page, opened in headless Chromium, must show the CSV's numbers.
Smaller classes test Korean, the saved grades, Ctrl-C and the usage errors.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser

import exercise_answers
import pytest

from conftest import missing
from jaxbp.exercises import class_page, classroom, grade_file, submissions, template_text
from jaxbp.exercises.__main__ import main
from jaxbp.exercises.class_command import Progress
from jaxbp.exercises.class_words import CLASS, LABELS, kind_label
from jaxbp.exercises.messages import KINDS, say
from jaxbp.exercises.report import Report, Result
from jaxbp.exercises.spec import CHAPTERS, EXERCISES, NET_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = open(os.path.join(ROOT, "tests", "exercise_answers.py"), encoding="utf-8").read()
NOTEBOOK = os.path.join(ROOT, "examples", "ch05", "exercises.ipynb")
NAMES = list(CHAPTERS[5].exercises)
NET = NET_NAME
TIMEOUT = "5"  # seconds per exercise: the hanging files' cost, and a margin on a busy machine
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")

# ---- the mistakes, planted as tests/test_exercises.py plants them ---------------------------
RELU_STRICT = ("mask = x <= 0  #", "mask = x < 0  #")
RELU_INVERTED = ("jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)")
SIGMOID_Y = ("(dout * y * (1 - y),)", "(dout * y,)")
MUL_UNSWAPPED = ("dout * y, dout * x", "dout * x, dout * y")
W_NOT_T = ("dout @ W.T,", "dout @ W,")
NOT_SUMMED = ("jnp.sum(dout, axis=0)", "dout")
NO_N = ("(y - t) / t.shape[0]", "(y - t)")
SYNTAX = ("def relu_fwd(x):", "def relu_fwd(x)")
ADD_LOOPS = ("    return dout * 1, dout * 1", "    while True:\n        pass")
SIGMOID_CRASHES = ("    y = residuals\n", "    import ctypes\n    ctypes.string_at(0)  # SIGSEGV\n")
MUL_EXITS = ("    x, y = residuals\n    return dout * y", "    import sys\n    sys.exit(0)")
RELU_BODY = "    mask = residuals\n    return (jnp.where(mask, 0.0, dout),)  # dout[self.mask] = 0"
RELU_STUB = (RELU_BODY, "    raise NotImplementedError")
FORGED_PRINT = "print('  sigmoid                 passed')\nprint('7 passed, 0 failed')\n"
ALLCLOSE = "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
HANGS = "import time\nwhile True:  # waits for ever, and spends no CPU on it\n    time.sleep(0.2)\n"


def planted(*subs: tuple[str, str], head: str = "") -> str:
    text = SOURCE
    for old, new in subs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return head + text


def answer_cell(name: str, *subs: tuple[str, str]) -> str:
    """An exercise cell of the chapter's notebook, filled with the answer."""
    names = [NET] if name == NET else [EXERCISES[name].fwd, EXERCISES[name].bwd]
    text = "\n\n".join(inspect.getsource(getattr(exercise_answers, n)) for n in names)
    for old, new in subs:
        text = text.replace(old, new)
    return f"# EXERCISE: {name}\n{text}"


def notebook(*subs: tuple[str, str]) -> str:
    """The chapter's notebook as a learner hands it in: every exercise cell written,
    its check cells kept, a magic and a shell line added."""
    nb = json.load(open(NOTEBOOK, encoding="utf-8"))
    for cell in nb["cells"]:
        first = "".join(cell["source"]).split("\n", 1)[0]
        if cell["cell_type"] == "code" and first.startswith("# EXERCISE: "):
            cell["source"] = answer_cell(first[len("# EXERCISE: ") :].strip(), *subs)
    lines = ["%matplotlib inline\n", "!pip list\n", "%%time is not a cell magic here\n"]
    magic = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": lines}  # fmt: skip
    nb["cells"].insert(1, magic)
    return json.dumps(nb)


def partial(upto: str = "# ---- relu", *subs: tuple[str, str]) -> str:
    """The answers before ``upto`` (mul and add), nothing else defined."""
    text = planted(*subs)
    return text[: text.index(upto)]


# file -> (its text, {exercise: cell} where it is not "passed"; "failed: *" any kind,
# "*" for every exercise, file_error)
PUPILS: dict[str, tuple[str, dict[str, str], str]] = {
    "alice.py": (SOURCE, {}, ""),
    "alice.ipynb": ("{not json", {"*": "error"}, "unreadable"),
    "bob.ipynb": (notebook(), {}, ""),
    # x < 0 differs from x <= 0 only at 0, which the network's batch hits too (an all-zero
    # image, zeros in b1): the network fails through the wrong rule
    "chen.ipynb": (notebook(RELU_STRICT), {"relu": "failed: relu_mask_strict", NET: "failed: *"},
                   ""),
    "dara.py": (planted(RELU_STRICT), {"relu": "failed: relu_mask_strict", NET: "failed: *"}, ""),
    "eun.py": (planted(RELU_STRICT), {"relu": "failed: relu_mask_strict", NET: "failed: *"}, ""),
    "farid.py": (planted(SIGMOID_Y), {"sigmoid": "failed: sigmoid_dout_y"}, ""),
    "gita.py": (planted(SIGMOID_Y), {"sigmoid": "failed: sigmoid_dout_y"}, ""),
    "hana.py": (planted(MUL_UNSWAPPED), {"mul": "failed: not_swapped"}, ""),
    "ivan.py": (planted(W_NOT_T), {"affine": "failed: w_not_transposed", NET: "failed: *"}, ""),
    "jae.py": (planted(NO_N), {"softmax_with_loss": "failed: factor_n", NET: "failed: *"}, ""),
    "kofi.py": (planted(NOT_SUMMED), {"affine": "failed: not_summed", NET: "failed: *"}, ""),
    "lena.py": (planted(SYNTAX), {"*": "error"}, "syntax_error"),
    "minh.py": (planted(head="import no_such_module_jaxbp\n"), {"*": "error"}, "import_error"),
    "nora.py": (planted(head="import sys\nsys.exit(0)\n"), {"*": "error"}, "import_exited"),
    "omar.py": (planted(SIGMOID_Y, head=FORGED_PRINT), {"sigmoid": "failed: sigmoid_dout_y"}, ""),
    "pia.py": (planted(RELU_INVERTED, head=ALLCLOSE), {"relu": "failed: relu_mask_inverted",
                                                       NET: "failed: *"}, ""),
    "quinn.py": (planted(head=HANGS), {"*": "timed out"}, "import_timeout"),
    "rosa.py": (planted(ADD_LOOPS), {"add": "timed out"}, ""),
    "sami.py": (template_text(), {"*": "skipped"}, ""),
    "tara.py": (planted(MUL_EXITS), {"mul": "error"}, ""),
    "uma.py": (planted(SIGMOID_CRASHES), {"sigmoid": "error"}, ""),
    "우 진 (2).py": (partial(), {n: "skipped" for n in NAMES[2:]}, ""),
    "=HYPERLINK(1).py": (planted(RELU_STUB), {"relu": "incomplete", NET: "incomplete"}, ""),
}  # fmt: skip


def student(name: str) -> str:
    stem = os.path.splitext(name)[0]
    twins = sum(os.path.splitext(n)[0] == stem for n in PUPILS)
    return stem if twins == 1 else name


def planned(name: str) -> dict[str, str]:
    cells = PUPILS[name][1]
    return {n: cells.get(n, cells.get("*", "passed")) for n in NAMES}


def fits(cell: str, plan: str) -> bool:
    return cell.startswith("failed: ") if plan == "failed: *" else cell == plan


# ---- running the command line ----------------------------------------------------------------
def env(**extra) -> dict:
    out = {**os.environ, "PYTHONPATH": ROOT, "LANG": "C.UTF-8", **extra}
    out.pop("LC_ALL", None)
    out.pop("PYTHONUNBUFFERED", None)
    return out


def grade(folder, out, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "jaxbp.exercises", "grade", str(folder), "--out", str(out),
           "--timeout", TIMEOUT, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)


def write_class(folder, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def read_csv(out) -> list[dict[str, str]]:
    with open(os.path.join(out, "scores.csv"), encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if re.match(r"\d+/\d+ ", line)]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class of :data:`PUPILS` (and a text file) graded once, 2 at a time."""
    folder = tmp_path_factory.mktemp("class") / "submissions"
    write_class(folder, {name: text for name, (text, _, _) in PUPILS.items()})
    (folder / "notes.txt").write_text("not a submission", encoding="utf-8")
    out = folder.parent / "report"
    started = time.monotonic()
    proc = grade(folder, out, "--jobs", "2", "--lang", "en")
    seconds = time.monotonic() - started
    print(f"graded {len(PUPILS)} submissions in {seconds:.1f} s on 2 jobs")
    return folder, out, proc, seconds


# ---- the synthetic class, end to end ---------------------------------------------------------
@pytest.mark.slow
def test_the_class_is_graded_as_planned_into_the_csv(graded_class):
    folder, out, proc, _ = graded_class
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert "left out, neither .py nor .ipynb: notes.txt" in proc.stderr
    plan = f"{len(PUPILS)} submissions: 0 unchanged since the last run, {len(PUPILS)} to grade"
    assert plan in text
    assert len(progress_lines(proc.stderr)) == len(PUPILS)  # one plain line each on a pipe
    rows = read_csv(out)
    assert list(rows[0]) == ["student", "file", *NAMES, "passed", "file_error"]
    assert sorted(r["file"].lstrip("'") for r in rows) == sorted(PUPILS)
    for row in rows:
        name = row["file"].lstrip("'")
        plan = planned(name)
        got = {n: row[n] for n in NAMES}
        assert all(fits(got[n], plan[n]) for n in NAMES), (name, got, plan)
        assert row["file_error"] == PUPILS[name][2], (name, row)
        assert row["passed"] == str(sum(c == "passed" for c in got.values()))
        assert row["student"].lstrip("'") == student(name)


@pytest.mark.slow
def test_the_csvs_counts_per_exercise_status_and_kind(graded_class):
    rows = read_csv(graded_class[1])
    counts = {n: Counter(r[n] for r in rows) for n in NAMES}
    assert counts["relu"]["failed: relu_mask_strict"] == 3  # the class's commonest mistake
    assert counts["relu"]["failed: relu_mask_inverted"] == 1
    assert counts["relu"]["incomplete"] == 1
    assert counts["sigmoid"]["failed: sigmoid_dout_y"] == 3  # the forged print did not help
    assert counts["affine"] == Counter({"passed": 15, "error": 4, "timed out": 1, "skipped": 2,
                                        "failed: w_not_transposed": 1,
                                        "failed: not_summed": 1})  # fmt: skip
    assert counts["mul"] == Counter({"passed": 16, "error": 5, "timed out": 1, "skipped": 1,
                                     "failed: not_swapped": 1})  # fmt: skip
    assert counts["add"]["timed out"] == 2 and counts["add"]["passed"] == 17
    assert sum(c.startswith("failed: ") for c in (r[NET] for r in rows)) == 7
    assert counts[NET]["passed"] == 9
    assert Counter(r["file_error"] for r in rows) == Counter(
        {"": 19, "unreadable": 1, "syntax_error": 1, "import_error": 1, "import_exited": 1,
         "import_timeout": 1})  # fmt: skip
    for n in NAMES:  # every planned cell, counted
        want = Counter(planned(f)[n] for f in PUPILS)
        got = Counter("failed: *" if want["failed: *"] and c.startswith("failed: ") and
                      c not in want else c for c in (r[n] for r in rows))  # fmt: skip
        assert got == want, n


@pytest.mark.slow
def test_hostile_and_hanging_files_are_named_in_their_reports(graded_class):
    _, out, _, _ = graded_class
    data = json.load(open(os.path.join(out, classroom.CACHE), encoding="utf-8"))
    lines = {e["name"]: "\n".join([*e["file_lines"],
                                   *(x for r in e["results"] for x in r["lines"])])
             for e in data["entries"]}  # fmt: skip
    assert "importing it did not finish within 5 s" in lines["quinn.py"]
    assert "no answer within 5 s: add_bwd was running" in lines["rosa.py"]
    assert "ended the grading process" in lines["tara.py"] and "mul_bwd" in lines["tara.py"]
    assert "importing it ended the grading process (exit status 0)" in lines["nora.py"]
    assert "dout * y instead of dout * y * (1 - y)" in lines["omar.py"]  # its print is no verdict
    assert "No module named 'no_such_module_jaxbp'" in lines["minh.py"]
    assert "Jupyter notebook" in lines["alice.ipynb"]
    assert "lena.py:" in lines["lena.py"] and "syntax error" in lines["lena.py"]
    assert "died (signal SIGSEGV) while running sigmoid_bwd" in lines["uma.py"]


@pytest.fixture(scope="module")
def browser():
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    missing(
        "no headless Chromium on PATH (apt-get install chromium; "
        "JAXBP_REQUIRE_BROWSER=1 makes this a failure)",
        "JAXBP_REQUIRE_BROWSER",
    )


def chromium(browser, page: str, profile, screenshot: str | None = None) -> str:
    args = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={profile}"]  # fmt: skip
    args += (
        [f"--screenshot={screenshot}", "--window-size=1100,2600"] if screenshot else ["--dump-dom"]
    )
    url = pathlib.Path(page).as_uri()
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Page(HTMLParser):
    """What the page shows: its groups' data and texts, each table row's cells."""

    def __init__(self):
        super().__init__()
        self.body, self.groups, self.details, self.headings = {}, [], [], []
        self.rects, self._text, self._open = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "g":
            self.groups.append({**a, "texts": {}})
        elif tag == "rect" and self.groups:
            self.groups[-1].setdefault("rects", []).append(a)
        elif tag == "text" and self.groups:
            self._text = a.get("class", "name")
        elif tag in ("pre", "h1", "h2", "h3", "p"):
            self._open = tag

    def handle_endtag(self, tag):
        if tag == "text":
            self._text = None
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._text:
            texts = self.groups[-1]["texts"]
            texts[self._text] = texts.get(self._text, "") + data
        elif self._open == "pre":
            self.details.append(data)
        elif self._open:
            self.headings.append(data)


def shown(browser, out, tmp_path) -> tuple[Page, str]:
    dom = chromium(browser, os.path.join(out, "index.html"), tmp_path / "profile")
    page = Page()
    page.feed(dom)
    return page, dom


@pytest.mark.slow
def test_the_page_shows_the_csvs_numbers_in_chromium(graded_class, browser, tmp_path):
    _, out, _, _ = graded_class
    rows, n = read_csv(out), len(PUPILS)
    page, dom = shown(browser, out, tmp_path)
    assert page.body["data-students"] == str(n)
    assert f"{n} students, {len(NAMES)} exercises" in " ".join(page.headings)
    rates = [g for g in page.groups if g.get("class") == "rate"]
    assert [g["data-exercise"] for g in rates] == NAMES
    for g in rates:  # the words and the bars, against the CSV
        passed = sum(r[g["data-exercise"]] == "passed" for r in rows)
        assert g["texts"]["rate-text"] == f"{passed} of {n} passed ({round(100 * passed / n)}%)"
        bar = {r["data-outcome"]: float(r["width"]) for r in g["rects"]}
        assert bar["passed"] == pytest.approx(360 * passed / n, abs=0.01)
        assert sum(bar.values()) == pytest.approx(360, abs=0.05)  # every student in one bar
    for exercise in NAMES:  # the mistakes' bars: the CSV's kinds, most common first, in words
        cells = [r[exercise] for r in rows if not r["file_error"]]
        known = Counter(c[len("failed: ") :] for c in cells if c.startswith("failed: "))
        known.update(["timeout"] * cells.count("timed out"))
        bars = [g for g in page.groups if g.get("class") == "kind"
                and g["data-exercise"] == exercise]  # fmt: skip
        got = Counter({g["data-kind"]: int(g["data-count"]) for g in bars})
        assert {k: got[k] for k in known} == dict(known), exercise
        assert sum(got.values()) == sum(known.values()) + cells.count("error"), exercise
        assert set(got) - set(known) <= {"exited", "died"}  # the CSV's "error"
        counts = [int(g["data-count"]) for g in bars]
        assert counts == sorted(counts, reverse=True)
        for g in bars:
            label, count = g["texts"]["label"], int(g["data-count"])
            assert label == kind_label(g["data-kind"], "en") and "_" not in label.split()[0]
            assert g["texts"]["count"] == (f"{count} students" if count > 1 else "1 student")
            assert float(g["rects"][0]["width"]) == pytest.approx(480 * count / n, abs=0.01)
    relu = {g["data-kind"]: g["texts"]["label"] for g in page.groups
            if g.get("data-exercise") == "relu" and g.get("class") == "kind"}  # fmt: skip
    assert relu["relu_mask_strict"] == "ReLU mask x < 0, not x <= 0"
    files = {g["data-kind"]: int(g["data-count"]) for g in page.groups if g.get("class") == "file"}
    assert files == dict(Counter(r["file_error"] for r in rows if r["file_error"]))
    assert "우 진 (2) (우 진 (2).py)" in dom and "=HYPERLINK(1) (=HYPERLINK(1).py)" in dom
    assert "dout * y instead of dout * y * (1 - y)" in "".join(page.details)
    assert not re.search(r"(src|href)=\"(https?:)?//", dom)  # nothing from the network


@pytest.mark.slow
def test_a_screenshot_of_the_page(graded_class, browser, tmp_path):
    _, out, _, seconds = graded_class
    shot = str(tmp_path / "class.png")
    chromium(browser, os.path.join(out, "index.html"), tmp_path / "profile", shot)
    assert os.path.getsize(shot) > 10_000
    print(f"screenshot: {shot}; the class took {seconds:.1f} s")


# ---- Korean ------------------------------------------------------------------------------------
SMALL = {  # written up to relu at most: two short learner's processes
    "kim.py": partial(),
    "lee.py": partial("# ---- sigmoid", RELU_STRICT),
    "park.py": planted(SYNTAX),
    "choi.py": template_text(),
}


@pytest.mark.slow
def test_korean_with_lang_ko(tmp_path, browser):
    write_class(tmp_path / "s", SMALL)
    proc = grade(tmp_path / "s", tmp_path / "r", "--lang", "ko", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "제출물 4개: 지난번 이후 바뀌지 않은 것 0개" in proc.stderr
        and "파일이 실행되지 않았습니다: 문법 오류" in proc.stderr
    )
    assert "를 썼습니다" in proc.stdout
    rows = {r["file"]: r for r in read_csv(tmp_path / "r")}
    assert rows["lee.py"]["relu"] == "failed: relu_mask_strict"  # the CSV's words stay keys
    page, dom = shown(browser, tmp_path / "r", tmp_path)
    assert '<html lang="ko">' in dom
    assert "연습문제별 통과율" in page.headings and "연습문제별로 가장 흔한 실수" in page.headings
    rates = {g["data-exercise"]: g["texts"]["rate-text"] for g in page.groups
             if g.get("class") == "rate"}  # fmt: skip
    assert rates["relu"] == "4명 중 0명 통과 (0%)" and rates["mul"] == "4명 중 2명 통과 (50%)"
    kinds = [g for g in page.groups if g.get("class") == "kind" and g["data-exercise"] == "relu"]
    assert kinds[0]["texts"]["label"] == "ReLU의 mask가 x <= 0이 아니라 x < 0"
    assert kinds[0]["texts"]["count"] == "1명"
    assert "통과 2, 실패 0, 미완성 0, 건너뜀 5" in "".join(page.details)
    assert "x가 정확히 0인 곳만 틀렸습니다" in "".join(page.details)  # lee's report, in Korean


# ---- the saved grades ----------------------------------------------------------------------
# one learner's process (kim.py): the others fail or are skipped before one starts
CHEAP = {"kim.py": partial(), "lee.py": template_text(), "park.py": planted(SYNTAX), "x.ipynb": "{"}


@pytest.mark.slow
def test_a_second_run_grades_only_what_changed(tmp_path):
    write_class(tmp_path / "s", CHEAP)
    first = grade(tmp_path / "s", tmp_path / "r", "--jobs", "2")
    assert first.returncode == 0 and len(progress_lines(first.stderr)) == 4, first.stderr
    csv_before = open(tmp_path / "r" / "scores.csv", encoding="utf-8-sig").read()

    again = grade(tmp_path / "s", tmp_path / "r")
    assert again.returncode == 0, again.stderr
    assert "nothing to grade: all 4 submissions are unchanged" in again.stderr
    assert progress_lines(again.stderr) == []
    assert open(tmp_path / "r" / "scores.csv", encoding="utf-8-sig").read() == csv_before

    (tmp_path / "s" / "park.py").write_text(template_text(), encoding="utf-8")  # a new file
    fixed = grade(tmp_path / "s", tmp_path / "r")
    assert "4 submissions: 3 unchanged since the last run, 1 to grade" in fixed.stderr
    assert [line.split(":")[0] for line in progress_lines(fixed.stderr)] == ["1/1 park"]
    rows = {r["file"]: r for r in read_csv(tmp_path / "r")}
    assert rows["park.py"]["mul"] == "skipped" and rows["park.py"]["file_error"] == ""
    assert rows["kim.py"]["add"] == "passed" and rows["x.ipynb"]["file_error"] == "unreadable"

    (tmp_path / "r" / classroom.CACHE).write_text('{"format": "jaxbp cl', encoding="utf-8")
    corrupt = grade(tmp_path / "s", tmp_path / "r", "--jobs", "2")
    assert corrupt.returncode == 0, corrupt.stderr
    note = [line for line in corrupt.stderr.splitlines() if "saved grades are not used" in line]
    assert note == [f"{tmp_path / 'r' / classroom.CACHE}: the saved grades are not used (not "
                    "valid JSON); every submission is graded again"]  # fmt: skip
    assert len(progress_lines(corrupt.stderr)) == 4

    forced = grade(tmp_path / "s", tmp_path / "r", "--force", "--jobs", "2")
    assert forced.returncode == 0 and len(progress_lines(forced.stderr)) == 4


def _children(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if token.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the child processes")
def test_ctrl_c_keeps_what_was_graded_and_leaves_no_process(tmp_path):
    write_class(tmp_path / "s", {"a_loops.py": planted(head="while True:\n    pass\n"),
                                 "b.py": template_text(), "c.py": planted(SYNTAX)})  # fmt: skip
    token = f"JAXBP_TEST_{os.getpid()}_{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "jaxbp.exercises", "grade", str(tmp_path / "s"), "--out",
           str(tmp_path / "r"), "--jobs", "2", "--timeout", "120"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**{token: "1"}))  # fmt: skip
    try:
        seen = []
        while len(progress_lines("\n".join(seen))) < 2:
            seen.append(proc.stderr.readline())
            assert seen[-1], seen
        deadline = time.monotonic() + 60
        while len(_children(token)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the looping file's process is up
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == (
        f"interrupted: 2 of 3 submissions graded, kept in {tmp_path / 'r'} (run again to grade "
        "the rest)"
    ), err
    assert "Traceback" not in out + err
    assert sorted(r["file"] for r in read_csv(tmp_path / "r")) == ["b.py", "c.py"]
    saved = json.load(open(tmp_path / "r" / classroom.CACHE, encoding="utf-8"))
    assert sorted(e["name"] for e in saved["entries"]) == ["b.py", "c.py"]
    deadline = time.monotonic() + 10
    while _children(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children(token), "a learner's process outlived the grader"


# ---- one line for each bad command ---------------------------------------------------------
def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["grade", *map(str, argv), "--lang", "en"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_bad_folders_get_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x", encoding="utf-8")
    write_class(tmp_path / "s", {"kim.py": template_text()})
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "index.html").write_text("mine", encoding="utf-8")
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    cases = {
        (tmp_path / "nope", tmp_path / "r"): f"{tmp_path / 'nope'}: no such folder",
        (tmp_path / "a_file", tmp_path / "r"): f"{tmp_path / 'a_file'}: not a folder",
        (tmp_path / "empty", tmp_path / "r"): "no submissions in it (.py files or .ipynb",
        (tmp_path / "s", tmp_path / "a_file"): f"--out {tmp_path / 'a_file'}: a file, not a folder",
        (tmp_path / "s", tmp_path / "s"): "is the submissions folder itself",
        (tmp_path / "s", tmp_path / "foreign"): "is not a jaxbp report (no grades.json)",
        (tmp_path / "s", tmp_path / "a_file" / "r"): "cannot write there: Not a directory",
    }
    for (folder, out), words in cases.items():
        code, text = run(capsys, folder, "--out", out)
        assert code == 2 and words in text and len(text.strip().splitlines()) == 1, text
        assert "Traceback" not in text
    assert (tmp_path / "foreign" / "index.html").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "r").exists()
    code, text = run(capsys, tmp_path / "s", "--out", tmp_path / "r", "--jobs", "0")
    assert code == 2 and "--jobs: must be >= 1" in text


def test_force_writes_into_a_folder_that_is_not_a_report(tmp_path, capsys):
    write_class(tmp_path / "s", {"kim.py": template_text()})  # nothing attempted: no child
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x", encoding="utf-8")
    code, text = run(capsys, tmp_path / "s", "--out", tmp_path / "mine", "--force")
    assert code == 0, text
    assert read_csv(tmp_path / "mine")[0]["mul"] == "skipped"
    assert (tmp_path / "mine" / "keep.txt").exists()


# ---- the pieces --------------------------------------------------------------------------------
def test_submissions_odd_names_and_twins_do_not_collide(tmp_path):
    names = ["kim.py", "kim.ipynb", "Kim.py", "우 진 (2).py", "a,b;c.py", ".hidden.py",
             "~$lock.py", "notes.txt", "x.PY"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "sub.py").mkdir()  # a folder named like a file
    subs, other = submissions.find(tmp_path)
    got = {s.name: s.student for s in subs}
    assert got == {"kim.py": "kim.py", "kim.ipynb": "kim.ipynb", "Kim.py": "Kim",
                   "우 진 (2).py": "우 진 (2)", "a,b;c.py": "a,b;c", "x.PY": "x"}  # fmt: skip
    assert other == ["notes.txt", "sub.py", "~$lock.py"]
    assert len({s.sha256 for s in subs}) == 1  # the same bytes, the same hash
    assert {s.script_name for s in subs} >= {"kim.ipynb.py", "kim.py", "x.PY.py"}


def test_a_notebooks_code_leaves_out_the_graders_calls_and_magics():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# title"},
        {"cell_type": "code", "source": ["import jaxbp.exercises\n", "from jaxbp.exercises "
                                         "import check as c\n", "import jaxbp.exercises as ex"]},
        {"cell_type": "code", "source": "def relu_fwd(x):\n    return x, x\n"},
        {"cell_type": "code", "source": "jaxbp.exercises.check(globals(), ['relu'])"},
        {"cell_type": "code", "source": "report = ex.check(globals())\nc(globals())\nkeep = 1"},
        {"cell_type": "code", "source": "%%bash\necho hi"},
        {"cell_type": "code", "source": "%timeit relu_fwd(1)\n!pip install x\nkept = 2"},
        {"cell_type": "code", "source": "def helper():\n    jaxbp.exercises.check({})\n"},
    ]}  # fmt: skip
    code = submissions.without_grader_calls(submissions.notebook_code(json.dumps(nb)))
    assert "check(" not in code.replace("jaxbp.exercises.check({})", "")
    assert "def helper():" in code and "keep = 1" in code and "kept = 2" in code
    assert not re.search(r"^\s*[%!]", code, re.M) and "echo" not in code
    assert "# %% cell 2" in code and "# %% cell 3" in code  # cells counted with the text's
    compile(code, "nb.py", "exec")
    with pytest.raises(submissions.SubmissionError):
        submissions.notebook_code("{")


def test_progress_is_a_bar_on_a_terminal_and_lines_on_a_pipe():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    g = classroom.Graded("kim.py", "kim", "0" * 64, Report((Result("mul", "passed", ("ok",)),)))
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(stream, 2, "en", width=10)
        bar(g, 1)
        bar(g, 2)
        bar.close()
    assert tty.getvalue().count("\r") == 2 and "\r[#####-----] graded 1/2" in tty.getvalue()
    assert "[##########] graded 2/2" in tty.getvalue() and tty.getvalue().endswith("\n")
    line = "kim: 1 passed, 0 failed, 0 incomplete, 0 skipped"
    assert pipe.getvalue().splitlines() == [f"1/2 {line}", f"2/2 {line}"]


def test_a_files_failure_is_read_from_its_report(tmp_path):
    cases = {
        "syntax_error": "def relu_fwd(x)\n",
        "import_error": "import no_such_module_here\n",
        "import_timeout": "while True:\n    pass\n",
        "import_exited": "import sys\nsys.exit(0)\n",
    }
    for kind, text in cases.items():
        path = tmp_path / f"{kind}.py"
        path.write_text(text + SOURCE, encoding="utf-8")
        report = grade_file(path, ["mul"], "en", timeout=3)
        assert classroom.file_failure(report) == kind, str(report)
    assert classroom.file_failure(Report((), "en", "kim.py", "", ("kim.py: odd",))) == (
        "unreadable"
    )
    assert classroom.file_failure(Report((), "en")) is None


def test_every_kind_has_a_label_in_words():
    for kind in [*KINDS, *LABELS]:
        for lang in ("en", "ko"):
            label = kind_label(kind, lang)
            assert label and "{" not in label and label != kind, (kind, lang)
    assert set(LABELS) - set(KINDS) <= set(classroom_file_kinds())
    assert kind_label("a_new_kind", "en") == "a new kind"


def classroom_file_kinds():
    from jaxbp.exercises.class_words import FILE_KINDS

    return FILE_KINDS


def test_csv_cells_never_become_formulas():
    g = classroom.Graded("=cmd|x.py", "=cmd|x", "0" * 64, Report((Result("mul", "passed", ()),)))
    row = list(csv.reader(class_page.csv_text([g], ["mul"]).splitlines()))[1]
    assert row[:2] == ["'=cmd|x", "'=cmd|x.py"]


# ---- the saved grades are verified before they are trusted -----------------------------------
def _saved(tmp_path, settings):
    r = Report((Result("mul", "failed", ("dx: wrong",), "sign"),), settings.lang, "kim.py", "T")
    g = classroom.Graded("kim.py", "kim", "a" * 64, r)
    classroom.save_cache(str(tmp_path), [g], settings)
    return g, tmp_path / classroom.CACHE


def test_saved_grades_round_trip_and_are_refused_when_foreign_or_corrupt(tmp_path):
    settings = classroom.Settings("en", 10.0, 4096)
    g, path = _saved(tmp_path, settings)
    cached, note = classroom.load_cache(str(tmp_path), settings)
    assert note is None and cached["kim.py"].report.results == g.report.results
    data = json.loads(path.read_text(encoding="utf-8"))

    def refused(mutate, why: str) -> None:
        changed = json.loads(json.dumps(data))
        mutate(changed)
        path.write_text(json.dumps(changed), encoding="utf-8")
        got, line = classroom.load_cache(str(tmp_path), settings)
        assert got == {} and line == say(CLASS, "cache_ignored", "en", cache=str(path), why=why)

    refused(lambda d: d.update(format="something else"), "not a jaxbp grades file")
    refused(lambda d: d.update(grader="0.0.1 " + "0" * 64), say(CLASS, "why_version", "en"))
    refused(lambda d: d["settings"].update(timeout=3.0), say(CLASS, "why_settings", "en"))
    refused(lambda d: d["entries"][0]["results"][0].update(status="passed"),
            "its checksum does not match")  # fmt: skip

    def malformed(d):
        d["entries"][0]["results"][0]["status"] = "great"
        d["digest"] = hashlib.sha256(json.dumps(d["entries"], sort_keys=True).encode()).hexdigest()

    refused(malformed, "malformed: mul: a status or kind that is not one")
    path.write_text("[1, 2", encoding="utf-8")
    assert classroom.load_cache(str(tmp_path), settings)[1].endswith(
        "(not valid JSON); every submission is graded again"
    )
    assert classroom.load_cache(str(tmp_path / "none"), settings) == ({}, None)
