"""The command line grades a hostile or broken file and is neither hung nor fooled.

Each test runs ``python -m jaxbp.exercises check FILE NAME`` as a learner
would, on the project's answers with something planted: an endless loop, an
exit, a forged verdict, a patched ``np.allclose`` or ``jax.vjp``, garbage on
the grader's pipes.  The file runs in a child process with limits; the
verdicts are made in the grader's process, so a wrong rule is always flagged
and the exit status is never 0 for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = open(os.path.join(ROOT, "tests", "exercise_answers.py"), encoding="utf-8").read()
WRONG_SIGMOID = ("(dout * y * (1 - y),)", "(dout * y,)")  # flagged as sigmoid_dout_y
MUL_BODY = "    x, y = residuals\n    return dout * y, dout * x  # swap x and y"


def write(tmp_path, *subs: tuple[str, str], head: str = "", name: str = "mine.py") -> str:
    text = SOURCE
    for old, new in subs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(head + text, encoding="utf-8")
    return str(path)


def env(**extra) -> dict:
    out = {**os.environ, "PYTHONPATH": ROOT, "LANG": "C.UTF-8", **extra}
    out.pop("LC_ALL", None)
    out.pop("PYTHONUNBUFFERED", None)
    return out


def check(path: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "jaxbp.exercises", "check", path, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)


def assert_flagged(proc, exercise: str, words: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    line = next(line for line in proc.stdout.splitlines() if line.strip().startswith(exercise))
    assert "FAILED" in line, out
    assert words in out, out
    assert "Traceback" not in out, out


FORGERIES = {
    "np.allclose patched": "import numpy as np\nnp.allclose = lambda *a, **k: True\n",
    "the grader's functions replaced": (
        "import jaxbp.exercises.diagnose as _d, jaxbp.exercises.grader as _g\n"
        "_d.compare = lambda *a, **k: None\n"
        "_d.judge_pair = lambda ex, *a, **k: __import__('jaxbp.exercises.report').exercises"
        ".report.Result(ex.name, 'passed', ('ok',))\n"
    ),
    "jax.vjp wrapped": (
        "import jax\nfrom jaxbp import reference as _ref\n_vjp = jax.vjp\n"
        "jax.vjp = lambda f, *a, **k: _vjp(_ref.sigmoid if len(a) == 1 else f, *a, **k)\n"
    ),
    "atexit os._exit(0)": "import atexit, os\natexit.register(lambda: os._exit(0))\n",
    "a printed verdict": "print('  sigmoid                 passed')\nprint('7 passed, 0 failed')\n",
}


@pytest.mark.parametrize("head", list(FORGERIES.values()), ids=list(FORGERIES))
def test_a_wrong_rule_cannot_forge_a_pass(tmp_path, head):
    proc = check(write(tmp_path, WRONG_SIGMOID, head=head), "sigmoid", "mul")
    assert_flagged(proc, "sigmoid", "dout * y instead of dout * y * (1 - y)")
    assert "1 passed, 1 failed" in proc.stdout  # the real report, to its end


EXITS = {
    "sys.exit(0) in a rule": "    import sys\n    sys.exit(0)",
    "os._exit(0) in a rule": "    import os\n    os._exit(0)",
    "exit() in a rule": "    exit()",
}


@pytest.mark.parametrize("body", list(EXITS.values()), ids=list(EXITS))
def test_an_exit_inside_a_rule_fails_that_exercise_and_the_rest_go_on(tmp_path, body):
    proc = check(write(tmp_path, (MUL_BODY, body)), "mul", "add")
    assert_flagged(proc, "mul", "ended the grading process")
    assert "while running mul_bwd" in proc.stdout
    assert "1 passed, 1 failed" in proc.stdout  # add, graded in a fresh process


@pytest.mark.parametrize("head", ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n"])
def test_an_exit_at_import_is_one_line_for_the_file(tmp_path, head):
    proc = check(write(tmp_path, head=head), "mul")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "importing it ended the grading process (exit status 0)" in proc.stdout
    assert "passed" not in proc.stdout.splitlines()[1]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_garbage_on_the_graders_pipes_is_never_a_verdict(tmp_path):
    head = "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'JXBP' + b'\\xff' * 64)\n    except OSError:\n        pass\n"  # noqa: E501
    proc = check(write(tmp_path, WRONG_SIGMOID, head=head), "sigmoid")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "passed" not in proc.stdout.split("\n", 1)[1].split("\n")[0], out
    assert "Traceback" not in out


def test_an_endless_loop_in_a_rule_times_out_and_the_rest_go_on(tmp_path):
    started = time.monotonic()
    proc = check(write(tmp_path, (MUL_BODY, "    while True:\n        pass")), "mul", "add",
                 "--timeout", "3")  # fmt: skip
    assert_flagged(proc, "mul", "no answer within 3 s: mul_bwd was running (an endless loop?)")
    assert "add                     passed" in proc.stdout
    assert time.monotonic() - started < 90


def test_an_endless_loop_at_import_is_one_line_for_the_file(tmp_path):
    proc = check(write(tmp_path, head="while True:\n    pass\n"), "mul", "--timeout", "3")
    assert proc.returncode == 1
    assert "importing it did not finish within 3 s" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_memory_hog_is_stopped_at_the_limit(tmp_path):
    hog = "    import numpy as np\n    big = np.ones(6 * 2**30 // 8)\n    x, y = residuals"
    proc = check(write(tmp_path, ("    x, y = residuals", hog)), "mul", "--memory", "3000")
    assert_flagged(proc, "mul", "ran out of memory")
    assert "3000 MB" in proc.stdout


def _children(token: str) -> list[int]:
    """Processes whose environment holds ``token`` (the grader's child inherits it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if token.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the child process")
def test_verdicts_stream_and_ctrl_c_is_one_line_and_exit_130(tmp_path):
    path = write(tmp_path, ("    return x + y, None  #", "    while True:\n        pass  #"),
                 name="loops.py")  # fmt: skip
    token = f"JAXBP_TEST_{os.getpid()}_{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "jaxbp.exercises", "check", path, "mul", "add", "--timeout", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**{token: "1"}))  # fmt: skip
    try:
        first = [proc.stdout.readline(), proc.stdout.readline()]  # header, then mul's verdict
        assert "mul" in first[1] and "passed" in first[1], first  # printed while add still runs
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["interrupted: 1 of 2 exercises graded"], err
    assert "Traceback" not in out + err
    deadline = time.monotonic() + 10
    while _children(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children(token), "the learner's process outlived the grader"


def test_a_printed_tracer_gets_the_debug_print_hint(tmp_path):
    old = "    mask = residuals\n"
    proc = check(write(tmp_path, (old, old + "    print('mask is', mask)\n")), "relu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "│ mask is" in proc.stdout and "Tracer" in proc.stdout
    assert "jax.debug.print" in proc.stdout


def _landlock() -> bool:
    """Whether this machine's kernel has Landlock (the child forbids itself writes with it)."""
    code = "import sys, tempfile; from jaxbp.exercises.landlock import forbid_writes; "
    code += "sys.exit(0 if forbid_writes(tempfile.mkdtemp()) else 1)"
    return subprocess.run([sys.executable, "-c", code], env=env()).returncode == 0


@pytest.mark.skipif(not _landlock(), reason="no Landlock on this kernel: writes are not fenced")
def test_the_learners_code_cannot_write_outside_its_own_folder(tmp_path):
    """A file that rewrites what a grader or a teacher keeps (here: a report's saved grades
    and the grader's own module file, stood in for by two files) fails, and writes nothing."""
    grades, module = tmp_path / "grades.json", tmp_path / "diagnose.py"
    module.write_text("# the grader's code\n", encoding="utf-8")
    head = f"open({str(grades)!r}, 'w').write('forged')\n"
    proc = check(write(tmp_path, head=head), "mul")
    assert proc.returncode == 1 and "PermissionError" in proc.stdout, proc.stdout
    assert not grades.exists()
    inside = "    open(" + repr(str(module)) + ", 'a').write('patched')\n    x, y = residuals"
    proc = check(write(tmp_path, ("    x, y = residuals", inside), name="rule.py"), "mul")
    assert_flagged(proc, "mul", "PermissionError")
    assert module.read_text(encoding="utf-8") == "# the grader's code\n"
    scratch = "    import tempfile\n    open(tempfile.mkstemp()[1], 'w').write('ok')\n"
    scratch += "    x, y = residuals"
    proc = check(write(tmp_path, ("    x, y = residuals", scratch), name="tmp.py"), "mul")
    assert proc.returncode == 0, proc.stdout  # its own temporary folder stays writable
