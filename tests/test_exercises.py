"""The graded exercises: right answers pass, each planted mistake is named, bad files get one line.

The learner's files are the project's answers (``tests/exercise_answers.py``)
with one mistake planted by a text substitution, written into ``tmp_path``.
The command line runs in-process (``main(argv)``), plus one real subprocess.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types

import pytest

from jaxbp.exercises import check, grade, load, new, template_text
from jaxbp.exercises.__main__ import main
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


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_answers_pass_every_exercise(capsys):
    code, out = run(capsys, "check", ANSWERS, "--lang", "en")
    assert code == 0, out
    assert f"{len(NAMES)} passed, 0 failed, 0 skipped" in out
    assert "rule check of your TwoLayerNet loss" in out and "Traceback" not in out


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


def test_new_writes_a_template_that_imports_and_is_all_unwritten(tmp_path, capsys):
    path = str(tmp_path / "mine.py")
    code, out = run(capsys, "new", path)
    assert code == 0 and "check" in out
    text = open(path, encoding="utf-8").read()
    for line in ("# self.mask = (x <= 0)", "# self.x = x", "# self.W = W", "# self.out = out"):
        assert line in text
    report = grade(load(path), lang="en")
    assert [r.status for r in report.results] == ["skipped"] * len(NAMES)
    assert all("not written yet" in r.lines[0] for r in report.results)
    assert report.exit_code == 0
    # a second `new` onto it refuses, in one line, and leaves the file alone
    code, out = run(capsys, "new", path)
    assert code == 2 and len(out.strip().splitlines()) == 1 and "exists" in out
    assert open(path, encoding="utf-8").read() == text
    with pytest.raises(FileExistsError):
        new(path)


MISTAKES = [
    # (exercise, the right text, the mistake, the function named, the kind named)
    ("affine", "dout @ W.T,", "dout @ W,", "affine_bwd", "W^T, the transpose"),
    ("affine", "x.T @ dout,", "dout.T @ x,", "affine_bwd", "transposed"),
    ("affine", "jnp.sum(dout, axis=0)", "jnp.sum(dout, axis=1)", "affine_bwd", "axis 1"),
    ("softmax_with_loss", "(y - t) / t.shape[0]", "(y - t)", "softmax_with_loss_bwd", "= N"),
    ("relu", "jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)", "relu_bwd", "mask is"),
    ("sigmoid", "(dout * y * (1 - y),)", "(dout * y,)", "sigmoid_bwd", "dout * y instead"),
    ("mul", "dout * y, dout * x", "-dout * y, dout * x", "mul_bwd", "sign flipped"),
    ("mul", "dout * y, dout * x", "dout * x, dout * y", "mul_bwd", "not swapped"),
    ("relu", "jnp.where(mask, 0.0, x)", "jnp.where(mask, x, 0.0)", "relu_fwd", "mask is"),
    (
        "two_layer_net_gradient",
        "return jax.grad(loss)(params)",
        "return {k: 2 * g for k, g in jax.grad(loss)(params).items()}",
        "two_layer_net_gradient",
        "constant factor 2",
    ),
]


@pytest.mark.parametrize("name, old, wrong, fn, kind", MISTAKES, ids=[m[4] for m in MISTAKES])
def test_each_planted_mistake_is_named(tmp_path, capsys, name, old, wrong, fn, kind):
    code, out = run(capsys, "check", planted(tmp_path, old, wrong), name, "--lang", "en")
    assert code == 1, out
    failing = [line for line in out.splitlines() if kind in line]
    assert failing and fn in failing[0], out
    assert "input:" in out and "expected" in out and "hint:" in out
    assert "Traceback" not in out


def test_a_missing_transpose_with_unmatched_shapes_is_a_shape_error(tmp_path):
    path = planted(tmp_path, "x.T @ dout,", "x @ dout,")
    result = grade(load(path), ["affine"], lang="en").results[0]
    assert result.status == "failed"
    assert "inside affine_bwd" in result.lines[0] and "transpose" in result.lines[0]
    line = SOURCE.splitlines().index("    return dout @ W.T, x.T @ dout, jnp.sum(dout, axis=0)") + 1
    assert f"(line {line} of mine.py)" in result.lines[0]
    assert result.lines[1].startswith("hint: dx = dout . W^T")


def test_an_unwritten_backward_is_skipped_and_said(tmp_path, capsys):
    body = "    return (jnp.where(mask, 0.0, dout),)  # dout[self.mask] = 0"
    path = planted(tmp_path, body, "    raise NotImplementedError")
    code, out = run(capsys, "check", path, "relu", "sigmoid")
    assert code == 0, out
    assert "relu_bwd not written yet" in out and "sigmoid" in out
    assert "1 passed, 0 failed, 1 skipped" in out


ONE_LINERS = [
    ("def relu_fwd(x):", "def relu_fwd(x)", "syntax error"),
    ("def relu_fwd(x):", "def relu_fwd(x, y):", "relu_fwd(x, y) cannot be called as relu_fwd(x)"),
    ("return (jnp.where(mask, 0.0, dout),)", "return jnp.where(mask, 0.0, dout)", "(dx,)"),
    ("return x + y, None  #", "return x + y  #", "add_fwd must return a pair"),
    ("return dout * (y - t) / t.shape[0], None", "return dout * (y - t) / 2", "(dx, None)"),
    ("mask = x <= 0  #", "mask = x <= 0 / 0  #", "relu_fwd raised ZeroDivisionError"),
]


@pytest.mark.parametrize("old, bad, said", ONE_LINERS, ids=[b[2] for b in ONE_LINERS])
def test_a_broken_file_gets_one_line(tmp_path, capsys, old, bad, said):
    name = "relu" if "relu" in said or "syntax" in said or said == "(dx,)" else None
    name = name or ("add" if "add" in said else "softmax_with_loss")
    code, out = run(capsys, "check", planted(tmp_path, old, bad), name, "--lang", "en")
    assert code == 1, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if said in line]
    assert len(lines) == 1, out
    if "syntax" in said:
        assert out.strip() == lines[0] and "mine.py:" in lines[0]
    else:
        assert "FAILED" in out and len(out.strip().splitlines()) == 4  # header, name, line, total


def test_korean_report(tmp_path, capsys, monkeypatch):
    path = planted(tmp_path, "jnp.where(mask, 0.0, dout)", "jnp.where(mask, dout, 0.0)")
    code, out = run(capsys, "check", path, "relu", "--lang", "ko")
    assert code == 1
    assert "역전파" in out and "실패" in out and "mask가 반대" in out and "힌트" in out
    for k in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert "통과" in str(grade(load(ANSWERS), ["add"]))
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert "passed" in str(grade(load(ANSWERS), ["add"]))


def test_check_takes_a_module_a_dict_or_a_namespace(capsys):
    module = load(ANSWERS)
    for ns in (module, dict(vars(module)), types.SimpleNamespace(**vars(module))):
        report = check(ns, ["mul", "relu"], lang="en")
        assert report.passed and report.status("relu") == "passed"
    out = capsys.readouterr().out
    assert out.count("relu                    passed") == 3
    half = {"relu_fwd": module.relu_fwd}
    assert check(half, ["relu"], lang="en").status("relu") == "skipped"
    assert "relu_bwd is not defined" in capsys.readouterr().out
    with pytest.raises(TypeError, match="namespace"):
        check([module], ["relu"])
    with pytest.raises(ValueError, match="names: unknown exercise 'relux'"):
        check(module, ["relux"])
    with pytest.raises(ValueError, match="lang"):
        check(module, ["relu"], lang="fr")


def test_usage_errors_exit_2(tmp_path, capsys):
    assert run(capsys, "check", ANSWERS, "relux")[0] == 2
    assert run(capsys, "check", str(tmp_path / "none.py"))[0] == 2
    assert run(capsys, "check")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "new", str(tmp_path / "no" / "such" / "dir.py"))[0] == 2


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
    assert "1 passed, 1 failed, 0 skipped" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
