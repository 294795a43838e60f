"""The graded exercises: right answers pass, each planted mistake is named, bad files get one line.

The learner's files are the project's answers (``tests/exercise_answers.py``)
with one mistake planted by a text substitution, written into ``tmp_path``.
Most are graded in this process (``grade(load(path))``: the diagnosis is the
same as the command line's); the command line itself, which runs the file in
a child process, is exercised here on the right answers and in
``tests/test_grader_sandbox.py`` on hostile files.
"""

from __future__ import annotations

import ast
import os
import re
import string
import subprocess
import sys
import types

import pytest

from jaxbp.exercises import check, grade, load, new, template_text
from jaxbp.exercises.__main__ import main
from jaxbp.exercises.messages import KINDS, NOTES, UI, particle
from jaxbp.exercises.spec import NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS = os.path.join(ROOT, "tests", "exercise_answers.py")
SOURCE = open(ANSWERS, encoding="utf-8").read()


def planted(tmp_path, old: str, new_text: str, name: str = "mine.py") -> str:
    """The answers with ``old`` replaced by ``new_text`` (which must occur once)."""
    assert SOURCE.count(old) == 1, old
    path = tmp_path / name
    path.write_text(SOURCE.replace(old, new_text), encoding="utf-8")
    return str(path)


def graded(tmp_path, old: str, new_text: str, *names: str, lang: str = "en"):
    """The report of the answers with one mistake planted, graded in this process."""
    return grade(load(planted(tmp_path, old, new_text)), list(names) or None, lang=lang)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_answers_pass_every_exercise(capsys):
    code, out = run(capsys, "check", ANSWERS, "--lang", "en")
    assert code == 0, out
    assert f"{len(NAMES)} passed, 0 failed, 0 incomplete, 0 skipped" in out
    assert "inputs exactly 0" in out and "logits near 1000" in out
    assert "Traceback" not in out


def test_the_answers_have_the_templates_signatures():
    def signatures(text):
        tree = ast.parse(text)
        return {
            f.name: [a.arg for a in f.args.args]
            for f in tree.body
            if isinstance(f, ast.FunctionDef)
        }

    template, answers = signatures(template_text()), signatures(SOURCE)
    assert template == answers
    assert {f"{n}_fwd" for n in NAMES[:-1]} | {f"{n}_bwd" for n in NAMES[:-1]} <= set(template)


def test_an_untouched_template_is_nothing_attempted_exit_3(tmp_path, capsys):
    path = str(tmp_path / "mine.py")
    code, out = run(capsys, "new", path)
    assert code == 0 and "check" in out
    text = open(path, encoding="utf-8").read()
    for line in ("# self.mask = (x <= 0)", "# self.x = x", "# self.W = W", "# self.out = out"):
        assert line in text
    assert "jax.debug.print" in text and "jnp.where(mask, 0.0, dout)" in text
    code, out = run(capsys, "check", path, "--lang", "en")
    assert code == 3, out  # not 0: a script trusting the exit status must not accept it
    assert out.count("skipped: not written yet") == len(NAMES)
    assert "nothing to grade yet" in out
    report = grade(load(path), lang="en")
    assert [r.status for r in report.results] == ["skipped"] * len(NAMES)
    assert report.exit_code == 3
    # a second `new` onto it refuses, in one line, and leaves the file alone
    code, out = run(capsys, "new", path)
    assert code == 2 and len(out.strip().splitlines()) == 1 and "exists" in out
    assert open(path, encoding="utf-8").read() == text
    with pytest.raises(FileExistsError):
        new(path)


# (exercise, the right text, the mistake, the function named, words of the kind named)
MISTAKES = [
    ("affine", "dout @ W.T,", "dout @ W,", "affine_bwd", "W^T, the transpose"),
    ("affine", "x.T @ dout,", "dout.T @ x,", "affine_bwd", "dW: transposed"),
    ("affine", "jnp.sum(dout, axis=0)", "jnp.sum(dout, axis=1)", "affine_bwd", "wrong axis"),
    ("affine", "jnp.sum(dout, axis=0)", "dout", "affine_bwd", "not summed over the batch"),
    ("softmax_with_loss", "(y - t) / t.shape[0]", "(y - t)", "softmax_with_loss_bwd", "= N"),
    ("softmax_with_loss", "dout * (y - t)", "(y - t)", "softmax_with_loss_bwd", "dout is not"),
    ("relu", "jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)", "relu_bwd", "mask is"),
    ("sigmoid", "(dout * y * (1 - y),)", "(dout * y,)", "sigmoid_bwd", "dout * y instead"),
    ("sigmoid", "(dout * y * (1 - y),)", "(dout * y * y,)", "sigmoid_bwd", "dout * y * y"),
    ("sigmoid", "(dout * y * (1 - y),)", "(-dout * y * (1 - y),)", "sigmoid_bwd", "sign"),
    ("mul", "dout * y, dout * x", "-dout * y, dout * x", "mul_bwd", "dx: sign flipped"),
    ("mul", "dout * y, dout * x", "dout * x, dout * y", "mul_bwd", "dx: inputs not swapped"),
    # only dy wrong: the message speaks of dy, not dx
    ("mul", "dout * y, dout * x", "dout * y, dout * y", "mul_bwd", "dy: inputs not swapped"),
    ("add", "return dout * 1, dout * 1", "return dout, 0 * dout", "add_bwd", "dy: all zeros"),
    ("add", "return dout * 1, dout * 1", "return dout, None", "add_bwd", "dy: all zeros"),
    ("add", "return dout * 1, dout * 1", "return 1.0, 1.0", "add_bwd", "dout is not used"),
    ("relu", "jnp.where(mask, 0.0, x)", "jnp.where(mask, x, 0.0)", "relu_fwd", "mask is"),
    (
        "two_layer_net_gradient",
        "return jax.grad(loss)(params)",
        "return {k: 2 * g for k, g in jax.grad(loss)(params).items()}",
        "two_layer_net_gradient",
        "constant factor 2",
    ),
]


@pytest.mark.parametrize("name, old, wrong, fn, kind", MISTAKES, ids=[m[2] for m in MISTAKES])
def test_each_planted_mistake_is_named(tmp_path, name, old, wrong, fn, kind):
    result = graded(tmp_path, old, wrong, name).result(name)
    assert result.status == "failed", result
    text = "\n".join(result.lines)
    failing = [line for line in result.lines if kind in line]
    assert failing and fn in failing[0], text
    assert "expected" in text and "hint:" in text and "input:" in text


def test_classic_mistakes_need_the_right_inputs(tmp_path):
    """x < 0 for x <= 0 differs only at 0 (eq. 5.8); a softmax without the max only
    overflows for large logits: the inputs hold both."""
    strict = graded(tmp_path, "mask = x <= 0  #", "mask = x < 0  #", "relu").result("relu")
    assert strict.kind == "relu_mask_strict"
    assert "exactly 0" in strict.lines[0] and "x <= 0" in "\n".join(strict.lines)
    path = planted(tmp_path, "z = x - jnp.max(x, axis=-1, keepdims=True)", "z = x", "nomax.py")
    nomax = grade(load(path), ["softmax_with_loss"], lang="en").result("softmax_with_loss")
    assert nomax.kind == "unstable"
    assert "subtract the row's max" in "\n".join(nomax.lines)


def test_every_key_of_the_network_is_reported(tmp_path):
    """The bias left out of the loss: W1 wrong and b1 zero, both said."""
    text = 'h = relu(affine(x, params["W1"], params["b1"]))'
    wrong = 'h = relu(affine(x, params["W1"], 0 * params["b1"]))'
    result = graded(tmp_path, text, wrong, "two_layer_net_gradient").results[0]
    assert result.status == "failed"
    said = "\n".join(result.lines)
    assert "W1:" in said and "b1: the bias is left out of the forward pass" in said
    assert ("b1", "bias_missing") in result.findings
    assert "t (4, 3) one-hot" in said  # the labels as the learner has them


BOOK_BACKWARD = """def two_layer_net_gradient(params, x, t):
    a1, r1 = affine_fwd(x, params["W1"], params["b1"])
    h, r2 = relu_fwd(a1)
    a2, r3 = affine_fwd(h, params["W2"], params["b2"])
    loss, r4 = softmax_with_loss_fwd(a2, t)
    da2, _ = softmax_with_loss_bwd(r4, 1.0)
    {middle}
    dx, dW1, db1 = affine_bwd(r1, da1)
    return {{"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}}
"""
RIGHT_ORDER = "dh, dW2, db2 = affine_bwd(r3, da2)\n    (da1,) = relu_bwd(r2, dh)"
WRONG_ORDER = "(dh,) = relu_bwd(r2, da2)\n    da1, dW2, db2 = affine_bwd(r3, dh)"


def _net_source(body: str) -> str:
    start = SOURCE.index("def two_layer_net_gradient")
    return SOURCE[:start] + body


def test_a_book_style_backward_passes_and_the_wrong_order_is_named(tmp_path):
    right = tmp_path / "right.py"
    right.write_text(_net_source(BOOK_BACKWARD.format(middle=RIGHT_ORDER)), encoding="utf-8")
    assert grade(load(right), ["two_layer_net_gradient"], lang="en").passed
    wrong = tmp_path / "wrong.py"
    wrong.write_text(_net_source(BOOK_BACKWARD.format(middle=WRONG_ORDER)), encoding="utf-8")
    result = grade(load(wrong), ["two_layer_net_gradient"], lang="en").results[0]
    assert result.kind == "layers_order", result
    assert "SoftmaxWithLoss -> Relu1;" in result.lines[0]  # Relu1 before Affine2
    assert "SoftmaxWithLoss -> Affine2 -> Relu1 -> Affine1" in result.lines[0]
    assert "reverse order" in result.lines[0] and "transpose" not in result.lines[0]


def test_arguments_in_the_wrong_order_are_named(tmp_path):
    old = "def mul_bwd(residuals, dout):\n    x, y = residuals"
    result = graded(tmp_path, old, "def mul_bwd(dout, residuals):\n    x, y = residuals", "mul")
    assert result.results[0].kind == "args_order"
    assert "JAX calls mul_bwd(residuals, dout)" in result.results[0].lines[0]


def test_a_failing_network_names_the_faulty_rule(tmp_path):
    """Checked alone or after its rules: the rule verdicts and check_rules' first wrong node."""
    path = planted(tmp_path, "jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)")
    for names in (["two_layer_net_gradient"], None):
        report = grade(load(path), names, lang="en")
        net = report.result("two_layer_net_gradient")
        assert net.status == "failed"
        said = "\n".join(net.lines)
        assert "relu FAILED" in said and "affine passed" in said, said
        assert "first wrong rule: node 2, relu" in said, said


def test_the_books_epsilon_passes_with_a_note_alone_and_in_the_network(tmp_path):
    old = "    loss = -jnp.sum(t * log_y) / x.shape[0]  #"
    book = "    loss = -jnp.sum(t * jnp.log(jnp.exp(log_y) + 1e-7)) / x.shape[0]  #"
    report = graded(tmp_path, old, book)
    assert report.passed, str(report)
    softmax = report.result("softmax_with_loss")
    assert softmax.notes == ("book_epsilon",)
    assert "1e-7" in "\n".join(softmax.lines) and "log-softmax" in "\n".join(softmax.lines)


@pytest.mark.parametrize(
    "dt",
    ["None", "jnp.zeros_like(t)", "-dout * jnp.log(y) / t.shape[0]"],
    ids=["None", "zeros", "the true derivative"],
)
def test_labels_are_not_differentiated_any_answer_for_t_passes(tmp_path, dt):
    old = "return dout * (y - t) / t.shape[0], None"
    report = graded(tmp_path, old, f"return dout * (y - t) / t.shape[0], {dt}")
    assert report.passed, str(report)


def test_an_unwritten_backward_is_incomplete(tmp_path, capsys):
    stub = "def relu_bwd(residuals, dout):\n    raise NotImplementedError\n"
    start = SOURCE.index("def relu_bwd")
    end = SOURCE.index("# ---- sigmoid")
    path = tmp_path / "mine.py"
    path.write_text(SOURCE[:start] + stub + "\n\n" + SOURCE[end:], encoding="utf-8")
    code, out = run(capsys, "check", str(path), "relu", "sigmoid", "--lang", "en")
    assert code == 1, out  # not everything attempted passed
    assert "forward checked on 3 inputs; relu_bwd not written yet" in out
    assert "1 passed, 0 failed, 1 incomplete, 0 skipped" in out
    # begun, then NotImplementedError: where it was raised
    body = "    return (jnp.where(mask, 0.0, dout),)  # dout[self.mask] = 0"
    path = planted(tmp_path, body, "    raise NotImplementedError", "begun.py")
    code, out = run(capsys, "check", path, "relu", "--lang", "en")
    assert code == 1 and "relu_bwd raised NotImplementedError (line 40 of begun.py)" in out


ONE_LINERS = [
    ("def relu_fwd(x):", "def relu_fwd(x)", "relu", "syntax error"),
    ("def relu_fwd(x):", "def relu_fwd(x, y):", "relu", "relu_fwd(x, y) cannot be called as"),
    ("return (jnp.where(mask, 0.0, dout),)", "return jnp.where(mask, 0.0, dout)", "relu",
     "must return a tuple (dx,)"),
    ("return x + y, None  #", "return x + y  #", "add", "add_fwd must return a pair"),
    ("return dout * (y - t) / t.shape[0], None", "return dout * (y - t) / 2", "softmax_with_loss",
     "must return a tuple (dx, dt)"),
    ("mask = x <= 0  #", "mask = x <= 0 / 0  #", "relu", "relu_fwd raised ZeroDivisionError"),
    ("    return (jnp.where(mask, 0.0, dout),)  # dout[self.mask] = 0",
     "    dout[mask] = 0\n    return (dout,)", "relu", "assigns into a JAX array"),
    ("    mask = x <= 0  #", "    if x > 0:\n        pass\n    mask = x <= 0  #", "relu",
     "uses a traced value as a plain Python value"),
]  # fmt: skip


@pytest.mark.parametrize("old, bad, name, said", ONE_LINERS, ids=[b[3] for b in ONE_LINERS])
def test_a_broken_file_gets_one_line(tmp_path, capsys, old, bad, name, said):
    code, out = run(capsys, "check", planted(tmp_path, old, bad), name, "--lang", "en")
    assert code == 1, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if said in line]
    assert len(lines) == 1, out
    if "syntax" in said:
        assert "mine.py:" in lines[0] and len(out.strip().splitlines()) == 3  # head, line, total
    else:
        assert "FAILED" in out


def test_the_korean_report_is_korean_with_particles_by_sound(tmp_path, capsys, monkeypatch):
    path = planted(tmp_path, "jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)")
    code, out = run(capsys, "check", path, "relu", "--lang", "ko")
    assert code == 1
    assert "역전파" in out and "실패" in out and "mask가 반대" in out and "힌트" in out
    assert "(가)" not in out and "(를)" not in out and "(는)" not in out
    code, out = run(capsys, "check", planted(tmp_path, "def relu_fwd(x):", "def relu_fwd(x)",
                                            "syn.py"), "--lang", "ko")  # fmt: skip
    assert "문법 오류" in out
    for k in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert "통과" in str(grade(load(ANSWERS), ["add"]))
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert "passed" in str(grade(load(ANSWERS), ["add"]))


@pytest.mark.parametrize("table", [KINDS, NOTES, UI], ids=["KINDS", "NOTES", "UI"])
def test_every_message_says_the_same_in_english_and_korean(table):
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}
    for key, words in table.items():
        assert words["en"].strip() and words["ko"].strip(), key
        assert fields(words["en"]) == fields(words["ko"]), key  # the same facts, both languages
        assert ("hint_en" in words) == ("hint_ko" in words), key
        assert not re.search(r"[이을은과]\([가를는와]\)", words["ko"]), key


def test_particles_follow_the_last_sound():
    assert particle("relu_bwd", "을") == "relu_bwd를"
    assert particle("W1", "이") == "W1이"  # 일
    assert particle("b2", "이") == "b2가"  # 이
    assert particle("형상", "은") == "형상은" and particle("배치", "은") == "배치는"


def test_check_takes_a_module_a_dict_or_a_namespace(capsys):
    module = load(ANSWERS)
    for ns in (module, dict(vars(module)), types.SimpleNamespace(**vars(module))):
        report = check(ns, ["mul", "relu"], lang="en")
        assert report.passed and report.status("relu") == "passed"
    out = capsys.readouterr().out
    assert out.count("relu                    passed") == 3
    half = {"relu_fwd": module.relu_fwd}
    assert check(half, ["relu"], lang="en").status("relu") == "incomplete"
    assert "relu_bwd not written yet" in capsys.readouterr().out
    with pytest.raises(TypeError, match="namespace"):
        check([module], ["relu"])
    with pytest.raises(ValueError, match="names: unknown exercise 'relux'"):
        check(module, ["relux"])
    with pytest.raises(ValueError, match="lang"):
        check(module, ["relu"], lang="fr")


def test_a_notebook_shows_a_checked_report_once(capsys):
    report = check(load(ANSWERS), ["add"], lang="en")
    assert capsys.readouterr().out.count("add ") == 1
    report._ipython_display_()  # what a notebook does with the cell's value
    assert capsys.readouterr().out == ""
    grade(load(ANSWERS), ["add"], lang="en")._ipython_display_()
    assert "add " in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys):
    assert run(capsys, "check", ANSWERS, "relux")[0] == 2
    assert run(capsys, "check", str(tmp_path / "none.py"))[0] == 2
    assert run(capsys, "check")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "new", str(tmp_path / "no" / "such" / "dir.py"))[0] == 2
    assert run(capsys, "check", ANSWERS, "--timeout", "0")[0] == 2
    assert run(capsys, "check", ANSWERS, "--memory", "100")[0] == 2


def test_the_command_in_a_subprocess(tmp_path):
    path = planted(tmp_path, "(dout * y * (1 - y),)", "(dout * y,)")
    env = {**os.environ, "PYTHONPATH": ROOT, "LANG": "C.UTF-8"}
    env.pop("LC_ALL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "jaxbp.exercises", "check", path, "sigmoid", "mul"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "sigmoid_bwd" in proc.stdout and "dout * y instead of dout * y * (1 - y)" in proc.stdout
    assert "1 passed, 1 failed, 0 incomplete, 0 skipped" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("__pycache__")), "the grader leaves nothing beside the file"
