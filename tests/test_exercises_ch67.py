"""Chapters 6 and 7's graded exercises: the answers pass, mistakes are named, chapters are found.

The learner's files are the project's answers (``tests/exercise_answers_ch6.py``,
``tests/exercise_answers_ch7.py``) with one mistake planted by a text
substitution.  Most are graded in this process (``grade(load(path))``); the
command line, which runs the file in a child process, is run on the answers,
on a planted mistake of each chapter and on an endless loop.  The corpus of
student files (``tests/test_corpus_ch67.py``) names every kind of mistake.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time

import pytest

from jaxbp.exercises import check, grade, load, template_text
from jaxbp.exercises.__main__ import main
from jaxbp.exercises.chapters import file_chapter
from jaxbp.exercises.spec import CHAPTERS, item, names_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS = {c: os.path.join(ROOT, "tests", f"exercise_answers_ch{c}.py") for c in (6, 7)}
SOURCE = {c: open(p, encoding="utf-8").read() for c, p in ANSWERS.items()}


def planted(tmp_path, chapter: int, *subs: tuple[str, str], name: str = "mine.py") -> str:
    """The chapter's answers with each ``old`` (which must occur once) replaced."""
    text = SOURCE[chapter]
    for old, new in subs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def env() -> dict:
    out = {**os.environ, "PYTHONPATH": ROOT, "LANG": "C.UTF-8"}
    out.pop("LC_ALL", None)
    out.pop("PYTHONUNBUFFERED", None)
    return out


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "jaxbp.exercises", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


# ---- the answers pass, through the command line and in place --------------------------------
@pytest.mark.parametrize("chapter", [6, 7])
def test_the_answers_pass_through_the_command_line(chapter):
    proc = cli("check", ANSWERS[chapter], "--lang", "en")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert proc.stdout.startswith(CHAPTERS[chapter].title["en"]), out
    n = len(names_of(chapter))
    assert f"{n} passed, 0 failed, 0 incomplete, 0 skipped" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("chapter", [6, 7])
def test_the_answers_pass_in_place(chapter, capsys):
    module = load(ANSWERS[chapter])
    report = grade(module, lang="en")
    assert report.passed and report.chapter == chapter, str(report)
    assert [r.name for r in report.results] == list(names_of(chapter))
    # a notebook's globals(): no file to read the chapter from, the names say it
    shown = check(dict(vars(module)), [names_of(chapter)[-1]], lang="en")
    assert shown.passed and CHAPTERS[chapter].title["en"] in capsys.readouterr().out


@pytest.mark.parametrize("chapter", [6, 7])
def test_the_answers_have_the_templates_signatures(chapter):
    def signatures(text):
        return {
            f.name: [a.arg for a in f.args.args]
            for f in ast.parse(text).body
            if isinstance(f, ast.FunctionDef)
        }

    template, answers = signatures(template_text(chapter)), signatures(SOURCE[chapter])
    assert template == answers
    for name in names_of(chapter):
        assert set(item(name).functions) <= set(template)


# ---- which chapter ----------------------------------------------------------------------------
@pytest.mark.parametrize("chapter", [5, 6, 7])
def test_new_writes_the_chapters_template_and_check_reads_its_chapter(tmp_path, capsys, chapter):
    path = str(tmp_path / "mine.py")
    args = ["new", path] + (["--chapter", str(chapter)] if chapter != 5 else [])
    code, out = run(capsys, *args)
    assert code == 0 and "check" in out
    text = open(path, encoding="utf-8").read()
    assert text.splitlines()[0] == f"# jaxbp exercises: chapter {chapter}"
    code, out = run(capsys, "check", path, "--lang", "en")
    assert code == 3, out  # nothing attempted yet
    assert out.startswith(CHAPTERS[chapter].title["en"]), out
    assert out.count("skipped: not written yet") == len(names_of(chapter)), out
    assert file_chapter(path) == chapter


def test_the_chapter_comes_from_the_names_when_the_line_is_missing(tmp_path):
    no_line = SOURCE[7].replace("# jaxbp exercises: chapter 7\n", "")
    path = tmp_path / "conv.py"
    path.write_text(no_line, encoding="utf-8")
    assert file_chapter(path) == 7 and file_chapter(path, ["relu"]) == 5
    # chapter 5's rules kept in a chapter 7 file: the line decides
    both = tmp_path / "both.py"
    both.write_text(SOURCE[7] + "\n\ndef relu_fwd(x):\n    return x, x\n", encoding="utf-8")
    assert file_chapter(both) == 7
    mixed = tmp_path / "mixed.py"
    mixed.write_text(no_line + "\n\ndef relu_fwd(x):\n    return x, x\n", encoding="utf-8")
    assert file_chapter(mixed) is None


def test_a_file_mixing_chapters_without_the_line_is_one_line(tmp_path, capsys):
    text = SOURCE[6].replace("# jaxbp exercises: chapter 6\n", "")
    path = tmp_path / "mixed.py"
    path.write_text(text + "\n\ndef relu_fwd(x):\n    return x, x\n", encoding="utf-8")
    code, out = run(capsys, "check", str(path), "--lang", "en")
    assert code == 1, out
    said = [line for line in out.splitlines() if "defines exercises of chapters 5, 6" in line]
    assert len(said) == 1 and "# jaxbp exercises: chapter N" in said[0], out
    assert "relu_fwd" in said[0] and "sgd_update" in said[0]
    assert "Traceback" not in out
    report = grade(load(str(path)), lang="en")  # in place: the same line
    assert report.file_kind == "mixed_chapters" and report.exit_code == 1
    code, out = run(capsys, "check", str(path), "--lang", "ko")
    assert "5, 6장의 연습문제를 함께 정의합니다" in out, out


def test_names_of_two_chapters_are_refused_in_one_line(capsys):
    code, out = run(capsys, "check", ANSWERS[6], "relu", "batch_norm")
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "chapters 5 and 6" in out
    with pytest.raises(ValueError, match="chapters 5 and 6"):
        grade(load(ANSWERS[6]), ["relu", "batch_norm"])
    with pytest.raises(ValueError, match="chapter must be one of 5, 6, 7"):
        grade(load(ANSWERS[6]), chapter=8)
    assert run(capsys, "new", "x.py", "--chapter", "8")[0] == 2


# ---- mistakes, named, with the book's equation as the hint -----------------------------------
# (chapter, exercise, the right text, the mistake, kind, output, words of the line and hint)
MISTAKES = [
    (6, "momentum_update", "return {key: params[key] + v[key] for key in params}, v",
     "return {key: params[key] + v[key] for key in params}, state", "state_not_kept", "W",
     "every step behaves as the first", "v <- momentum * v - lr * dL/dW"),
    (6, "adagrad_update", "(jnp.sqrt(h[key]) + 1e-7)", "jnp.sqrt(h[key] + 1e-7)", "eps_in_sqrt",
     "W", "1e-7 is inside the square root", "sqrt(h) + 1e-7"),
    (6, "batch_norm", "    dx = dxc - dmu / n\n", "    dx = dxc\n", "bn_mean_path_forgotten", "dx",
     "the mean's path is forgotten", "figure 6-17"),
    (6, "batch_norm", "std = jnp.sqrt(var + 10e-7)", "std = jnp.sqrt(var) + 10e-7",
     "eps_outside_sqrt", "out", "eps is outside the square root", "sqrt(var + 10e-7)"),
    (6, "dropout", "mask = u > ratio", "mask = u >= ratio", "dropout_mask_ge", "out",
     "u equals the ratio exactly", "mask = u > ratio"),
    (7, "col2im", ".add(col[:, :, y, x, :, :])", ".set(col[:, :, y, x, :, :])",
     "col2im_assign_not_add", "out", "= where += belongs", "img[:, :, y:y_max:stride"),
    (7, "max_pooling", "arg_max = jnp.argmax(col, axis=1)",
     "arg_max = jnp.argsort(col, axis=1)[:, -1]", "pool_ties_last", "dx",
     "the last one gets dout", "np.argmax keeps the first"),
    (7, "convolution", "dW = (col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)",
     "dW = (col.T @ dout).reshape(FN, C, FH, FW)", "conv_dw_not_transposed", "dW",
     "must be transposed before the reshape", "transpose(1, 0).reshape(FN, C, FH, FW)"),
]  # fmt: skip


@pytest.mark.parametrize(
    "chapter, name, old, wrong, kind, output, line, equation",
    MISTAKES,
    ids=[m[4] for m in MISTAKES],
)
def test_each_planted_mistake_is_named_with_the_books_equation(
    tmp_path, chapter, name, old, wrong, kind, output, line, equation
):
    report = grade(load(planted(tmp_path, chapter, (old, wrong))), [name], lang="en")
    result = report.result(name)
    assert (result.status, result.kind, result.output) == ("failed", kind, output), result
    assert (output, kind) in result.findings
    text = "\n".join(result.lines)
    assert line in result.lines[0], text
    assert "expected" in text and "input:" in text
    hints = [h for h in result.lines if h.startswith("hint:")]
    assert any(equation in h for h in hints), text


def test_an_update_rules_failure_says_the_step_and_the_run(tmp_path):
    path = planted(tmp_path, 6, ("lr_t = lr * jnp.sqrt", "lr_t = 0.001 * jnp.sqrt"))
    result = grade(load(path), ["adam_update"], lang="en").result("adam_update")
    assert result.kind == "hyper_ignored", result
    first, said = result.lines[0], "\n".join(result.lines)
    assert first.startswith("adam_update: step 1: W:"), said
    assert "the argument lr is not used: the book's default 0.001 was used instead" in first
    assert "input: W (3, 2), b (2,); 4 steps of gradients; lr 0.05, beta1 0.8, beta2 0.95" in said


def test_the_korean_report_is_korean_with_particles_by_sound(tmp_path):
    path = planted(tmp_path, 6, ("lr_t = lr * jnp.sqrt", "lr_t = 0.001 * jnp.sqrt"))
    said = "\n".join(grade(load(path), ["adam_update"], lang="ko").result("adam_update").lines)
    assert "1번째 단계" in said and "인수 lr을 쓰지 않았습니다" in said, said
    assert "책의 기본값 0.001이 대신 쓰였습니다" in said and "힌트" in said
    assert not re.search(r"[이을은과]\([가를는와]\)", said)
    path = planted(tmp_path, 7, (".add(col[:, :, y, x, :, :])", ".set(col[:, :, y, x, :, :])"),
                   name="ko.py")  # fmt: skip
    said = "\n".join(grade(load(path), ["col2im"], lang="ko").result("col2im").lines)
    assert "윈도우가 겹치는 곳에서 마지막 윈도우의 값만 남습니다" in said, said
    assert "덧셈 노드" in said


@pytest.mark.parametrize("chapter", [6, 7])
def test_a_planted_mistake_is_named_through_the_command_line(tmp_path, chapter):
    sub, name, words = {
        6: (("dxn = gamma * dout", "dxn = dout"), "batch_norm", "a factor is missing"),
        7: (("    dout = dout.transpose(0, 2, 3, 1)\n    pool_size", "    pool_size"),
            "max_pooling", "dout was flattened without dout.transpose(0, 2, 3, 1)"),
    }[chapter]  # fmt: skip
    proc = cli("check", planted(tmp_path, chapter, sub), name, "--lang", "en")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert words in out and "FAILED" in out and "hint:" in out, out
    assert "0 passed, 1 failed, 0 incomplete, 0 skipped" in out
    assert "Traceback" not in out


def test_an_endless_loop_in_a_function_times_out_and_the_rest_go_on(tmp_path):
    loop = "    N, C, H, W = input_data.shape\n    while True:\n        pass\n"
    path = planted(tmp_path, 7, ("    N, C, H, W = input_data.shape\n", loop))
    started = time.monotonic()
    proc = cli("check", path, "im2col", "col2im", "--timeout", "5")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "no answer within 5 s: im2col was running" in out, out
    assert re.search(r"col2im +passed", out), out
    assert time.monotonic() - started < 150


# ---- the network ----------------------------------------------------------------------------
def test_a_failing_network_says_which_of_the_learners_rules_fail(tmp_path):
    path = planted(tmp_path, 7, (".transpose(1, 0).reshape(FN", ".reshape(FN"))
    for names in (["simple_conv_net_gradient"], None):
        net = grade(load(path), names, lang="en").result("simple_conv_net_gradient")
        assert net.status == "failed" and net.output == "W1", net
        said = "\n".join(net.lines)
        assert "your rules in this network: convolution FAILED, max_pooling passed" in said, said
        assert "must be transposed before the reshape" in said
        # no rule check: autodiff of the learner's jnp.max splits ties, the book's rule does not
        assert "rule check" not in said
