"""The command line as a user meets it: one-line errors with their exit codes, real
signals (SIGINT, SIGTERM) at any moment, --resume bit for bit, divergence."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from jaxbp.train.cli import EXIT_CODES

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def cli(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "jaxbp.train", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        timeout=300,
        **kw,
    )


def popen(*args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "jaxbp.train", *args],
        text=True,
        env={**ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_help_lists_flags_and_exit_codes():
    out = cli("--help")
    assert out.returncode == 0
    for text in (
        "--batch-size",
        "--seed",
        "--resume",
        "--model",
        "--no-compile-cache",
        "--distributed-timeout",
        "exit codes",
        "143 stopped by SIGTERM",
    ):
        assert text in out.stdout, text


def junk_data_dir(tmp_path):
    d = tmp_path / "corrupt"
    d.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (d / f"{name}.gz").write_bytes(b"\x1f\x8b not really gzip")
    return d


def truncated_checkpoint(tmp_path):
    p = tmp_path / "cut.npz"
    np.savez(p, W1=np.zeros((784, 50), np.float32))
    p.write_bytes(p.read_bytes()[:1000])
    return p


# (flags, environment, exit code, words the one line must contain)
CASES = {
    "data-dir missing": (["--data-dir", "{tmp}/nope"], {}, "data", "does not exist"),
    "env data dir missing": ([], {"JAXBP_DATA_DIR": "{tmp}/nope"}, "data", "JAXBP_DATA_DIR"),
    "corrupt data dir": (["--data-dir", "{junk}"], {}, "data", "{junk}"),
    "out-dir is a file": (["--out-dir", "{tmp}/file"], {}, "output", "not a folder"),
    "out-dir /dev/null": (["--out-dir", "/dev/null"], {}, "output", "not a folder"),
    "truncated checkpoint": (["--evaluate", "{cut}"], {}, "checkpoint", "cut.npz"),
    "malformed checkpoint": (["--evaluate", "{tmp}/file"], {}, "checkpoint", "not a readable"),
    "resume with nothing saved": (
        ["--resume", "--out-dir", "{tmp}/empty"],
        {},
        "checkpoint",
        "not found",
    ),
    "no such platform": ([], {"JAX_PLATFORMS": "cuda"}, "device", "cuda"),
    "bad process count": (
        [],
        {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "abc"},
        "device",
        "JAX_NUM_PROCESSES",
    ),
    "coordinator not up": (
        ["--distributed-timeout", "2"],
        {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"},
        "device",
        "did not answer within 2 s",
    ),
    "seed out of range": (["--seed", str(2**64)], {}, "usage", "seed must be"),
    "iters zero": (["--iters", "0"], {}, "usage", "iters must be a positive integer"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_expected_failures_are_one_line_with_their_exit_code(case, tmp_path):
    flags, env, kind, words = CASES[case]
    (tmp_path / "file").write_text("not a checkpoint")
    fill = {"tmp": tmp_path, "junk": junk_data_dir(tmp_path), "cut": truncated_checkpoint(tmp_path)}
    flags = [f.format(**fill) for f in flags]
    env = {k: v.format(**fill) for k, v in env.items()}
    env.setdefault("JAXBP_DATA_DIR", str(tmp_path / "nope"))
    if "--out-dir" not in flags:
        flags += ["--out-dir", str(tmp_path / "out")]
    out = cli(*flags, "--quiet", "--no-compile-cache", env=env)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == EXIT_CODES[kind], out.stderr
    assert "Traceback" not in out.stderr and len(lines) <= 2, out.stderr
    assert "error:" in lines[-1] and words.format(**fill) in lines[-1], lines


def test_debug_variable_shows_the_traceback(tmp_path):
    out = cli(
        "--data-dir",
        str(tmp_path / "nope"),
        "--out-dir",
        str(tmp_path / "o"),
        env={"JAXBP_DEBUG": "1"},
    )
    assert out.returncode == 1 and "Traceback" in out.stderr and "DatasetError" in out.stderr


def test_a_second_trainer_on_one_out_dir_exits_at_once(mnist_raw, tmp_path):
    out = tmp_path / "run"
    first = popen("--out-dir", str(out), "--no-gradient-check", "--quiet", "--iters", "30000")
    try:
        for line in first.stdout:
            if "train acc" in line:
                break
        second = cli("--out-dir", str(out), "--quiet")
        assert second.returncode == EXIT_CODES["output"]
        assert f"is in use by process {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()


def run_until(args, marker, sig, env=None):
    """Start the CLI, send ``sig`` once ``marker`` is printed; (returncode, output)."""
    p = popen(*args, env=env)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if marker in line:
            p.send_signal(sig)
            break
    rest, _ = p.communicate(timeout=300)
    return p.returncode, "".join(lines) + rest


@pytest.mark.parametrize("devices", ["1", "all"])
def test_sigterm_then_resume_twice_is_bit_identical(mnist_raw, tmp_path, devices):
    """SIGTERM lost up to an epoch and could not be continued."""
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"} if devices == "all" else None
    flags = ["--iters", "1500", "--devices", devices, "--no-gradient-check", "--quiet"]
    whole = cli(*flags, "--out-dir", str(tmp_path / "whole"), env=env)
    assert whole.returncode == 0, whole.stderr
    out = ["--out-dir", str(tmp_path / "cut")]
    code, text = run_until(flags + out, "step   600/", signal.SIGTERM, env)
    assert code == 143, text
    m = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert m["interrupted"] and m["stopped_by"] == "SIGTERM" and m["steps_done"] == 601
    code, text = run_until(out + ["--resume", "--quiet"], "step  1200/", signal.SIGTERM, env)
    assert code == 143, text
    done = cli(*out, "--resume", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    a, b = (np.load(tmp_path / d / "params.npz") for d in ("whole", "cut"))
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(a[k], b[k])
    clash = cli(*out, "--resume", "--seed", "3", "--quiet")
    assert clash.returncode == EXIT_CODES["checkpoint"] and "seed" in clash.stderr


def test_divergence_exits_3_with_strict_json(mnist_raw, tmp_path):
    out = cli("--lr", "1e30", "--out-dir", str(tmp_path), "--no-gradient-check", "--quiet")
    assert out.returncode == EXIT_CODES["diverged"], out.stderr
    assert "non-finite at step" in out.stderr and "lr 1e+30" in out.stderr
    m = json.loads(
        (tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}")
    )
    assert m["diverged_at"] <= 1


@pytest.mark.parametrize("delay", [0.5, 2.0, 3.5])
def test_ctrl_c_at_any_moment_exits_130_never_a_segfault(mnist_raw, tmp_path, delay):
    """Ctrl-C during the compile or the gradient check segfaulted (exit -11)."""
    import time

    p = popen("--out-dir", str(tmp_path), "--quiet", "--iters", "3000", "--no-compile-cache")
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    text, _ = p.communicate(timeout=300)
    assert p.returncode in (130, 0), text  # 0: it finished before the signal
    assert "Traceback" not in text


def test_exit_fast_flushes_runs_atexit_and_keeps_the_code(tmp_path):
    code = (
        "import atexit, threading, time\n"
        "from jaxbp.train.signals import exit_fast\n"
        "atexit.register(lambda: print('atexit ran', end=''))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread ', end=''))).start()\n"
        "print('buffered ', end='')\n"
        "exit_fast(5)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.returncode == 5 and out.stdout == "buffered thread atexit ran", out


# ---- output that streams --------------------------------------------------------------
STREAMING = """
import sys, time
import jaxbp.train.data as data
from jaxbp.mnist.synthetic import synthetic_mnist
data.load_data = lambda *a, **k: data.prepare_data(synthetic_mnist(600, 100))
from jaxbp.train.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_progress_lines_reach_a_pipe_as_they_are_printed(tmp_path):
    """With stdout a pipe and PYTHONUNBUFFERED unset, each line arrives while the run goes on."""
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}
    args = ["--iters", "4000000", "--eval-every", "400000", "--no-gradient-check"]
    p = subprocess.Popen(
        [sys.executable, "-c", STREAMING, *args, "--out-dir", str(tmp_path / "run")],
        text=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout], daemon=True).start()
    try:
        seen = []
        while not any("train acc" in x for x in seen):  # a buffered line would come at exit
            try:
                seen.append(lines.get(timeout=90))
            except queue.Empty:
                raise AssertionError(f"no progress line within 90 s; got {seen}") from None
        assert p.poll() is None, "the line came only when the run ended"
        assert seen[0].startswith("jaxbp.train: two_layer_net")
    finally:
        p.kill()
        p.wait()


# ---- a folder per run -------------------------------------------------------------------
def synthetic_cli(*args, cwd, env=None):
    """The CLI on synthetic data (no MNIST needed), in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", STREAMING, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        timeout=300,
    )


def test_each_run_gets_its_own_folder_and_latest_points_at_the_newest(tmp_path):
    """Before, every command wrote runs/latest: the tour's second command erased the first."""
    quick = ["--iters", "30", "--eval-every", "10", "--no-gradient-check"]
    first = synthetic_cli(*quick, cwd=tmp_path)
    second = synthetic_cli("--model", "multi_layer_net", *quick, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir() if not p.is_symlink())
    assert [f.rsplit("-", 2)[0] for f in folders] == ["multi_layer_net", "two_layer_net"]
    latest = tmp_path / "runs" / "latest"
    assert latest.is_symlink() and os.readlink(latest).startswith("multi_layer_net-")
    for f in folders:
        assert (tmp_path / "runs" / f / "params.npz").is_file()
        assert not (tmp_path / "runs" / f / ".lock").exists()  # released at the end
    ev = synthetic_cli("--evaluate", "runs/latest", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert (
        "evaluating runs/multi_layer_net-" in ev.stdout and "multi_layer_net on mnist" in ev.stdout
    )
    res = synthetic_cli("--resume", "--iters", "40", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "resuming runs/multi_layer_net-" in res.stdout and "whole run:" in res.stdout


# ---- nothing lost: a run's folder, runs/latest, runs/ itself -----------------------------
QUICK = ["--iters", "30", "--eval-every", "10", "--no-gradient-check"]


def sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(result, kind: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == EXIT_CODES[kind], result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("jaxbp.train: error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    "held", ["a finished run", "a foreign params.npz", "a foreign metrics.json"]
)
def test_a_folder_holding_a_run_is_never_overwritten(tmp_path, held):
    """--out-dir X without --resume replaced X's finished run (and any params.npz or
    metrics.json in X) and exited 0."""
    out = tmp_path / "X"
    if held == "a finished run":
        assert synthetic_cli(*QUICK, "--out-dir", str(out), cwd=tmp_path).returncode == 0
    else:
        out.mkdir()
        name = held.split()[-1]
        (out / name).write_bytes(b"the user's own " + name.encode())
    before = {p.name: sha(p) for p in out.iterdir() if p.is_file()}
    again = synthetic_cli("--iters", "10", "--lr", "0.3", "--out-dir", str(out), cwd=tmp_path)
    line = one_error_line(again, "output")
    assert str(out) in line and "--resume" in line and "new folder" in line, line
    assert {p.name: sha(p) for p in out.iterdir() if p.is_file()} == before
    assert not (tmp_path / "runs").exists()
    forced = synthetic_cli(*QUICK, "--out-dir", str(out), "--overwrite", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps_done"] == 30 and m["config"]["iters"] == 30


@pytest.mark.parametrize("kind", ["a file of notes", "a folder", "a foreign symlink"])
def test_a_latest_that_jaxbp_did_not_make_is_left_alone_with_a_warning(tmp_path, kind):
    """A regular file runs/latest (the user's notes) was replaced by the symlink."""
    runs = tmp_path / "runs"
    runs.mkdir()
    latest = runs / "latest"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if kind == "a file of notes":
        latest.write_text("my notes about the runs\n")
    elif kind == "a folder":
        latest.mkdir()
        (latest / "keep.txt").write_text("keep")
    else:
        latest.symlink_to(elsewhere)
    snapshot = lambda: (
        os.readlink(latest) if latest.is_symlink() else None,
        latest.read_text() if latest.is_file() and not latest.is_symlink() else None,
        sorted(os.listdir(latest)) if latest.is_dir() else None,
    )
    before = snapshot()
    r = synthetic_cli(*QUICK, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert snapshot() == before
    warnings = [x for x in r.stderr.splitlines() if "runs/latest" in x]
    assert len(warnings) == 1 and "warning" in warnings[0] and "left" in warnings[0], r.stderr
    made = [p for p in runs.iterdir() if p.name.startswith("two_layer_net-")]
    assert len(made) == 1 and (made[0] / "params.npz").is_file()
    assert made[0].name in warnings[0]  # where this run went instead


UNUSABLE_RUNS = (
    """
import errno, os, sys
real_mkdir = os.mkdir
def read_only(path, *a, **k):  # what a read-only runs/ answers (root ignores chmod)
    if os.path.basename(os.path.dirname(os.path.abspath(path))) == "runs":
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    return real_mkdir(path, *a, **k)
os.mkdir = read_only
"""
    + STREAMING
)


@pytest.mark.parametrize("how", ["a file in its place", "read-only"])
def test_an_unusable_runs_folder_is_exit_5_in_one_line(tmp_path, how):
    """A read-only runs/ gave a PermissionError traceback and exit 1."""
    if how == "a file in its place":
        (tmp_path / "runs").write_text("not a folder")
        r = synthetic_cli(*QUICK, cwd=tmp_path)
    else:
        (tmp_path / "runs").mkdir()
        r = subprocess.run(
            [sys.executable, "-c", UNUSABLE_RUNS, *QUICK],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=ENV,
            timeout=300,
        )
    line = one_error_line(r, "output")
    assert "runs" in line and "--out-dir" in line, line


def test_a_failed_start_leaves_no_folder_and_keeps_latest(tmp_path):
    """A failed start left a run folder holding only .lock and moved runs/latest to it:
    --evaluate runs/latest then said 'checkpoint not found'."""
    never = cli("--data-dir", str(tmp_path / "nonexistent"), "--quiet", cwd=tmp_path)
    assert never.returncode == EXIT_CODES["data"], never.stderr
    assert not (tmp_path / "runs").exists()
    good = synthetic_cli(*QUICK, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    runs = tmp_path / "runs"
    target = os.readlink(runs / "latest")
    failed = [
        cli("--data-dir", str(tmp_path / "nonexistent"), "--quiet", cwd=tmp_path),
        synthetic_cli(
            *QUICK,
            "--devices",
            "all",
            "--batch-size",
            "7",
            cwd=tmp_path,
            env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
        ),
    ]
    assert [f.returncode for f in failed] == [EXIT_CODES["data"], EXIT_CODES["usage"]]
    assert sorted(p.name for p in runs.iterdir()) == sorted([target, "latest"])
    assert os.readlink(runs / "latest") == target
    ev = synthetic_cli("--evaluate", "runs/latest", cwd=tmp_path)
    assert ev.returncode == 0 and f"evaluating runs/{target}" in ev.stdout, ev.stderr
    # the folder a user named is removed too when the command made it and saved nothing
    named = cli("--data-dir", "nowhere", "--out-dir", "fresh", "--quiet", cwd=tmp_path)
    assert named.returncode == EXIT_CODES["data"] and not (tmp_path / "fresh").exists()


# ---- messages in the user's words ----------------------------------------------------
FLAG_DRIVER = """
import contextlib, io, json, sys
from jaxbp.mnist import download, files
def offline(url, out, progress):
    raise OSError("no network here")
download.fetch = offline
files.SYSTEM_DIRS = {"mnist": (), "fashion-mnist": ()}
from jaxbp.train.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = "SystemExit %s" % e.code
    out.append({"code": code, "stderr": err.getvalue()})
print(json.dumps(out))
"""

MLN = ["--model", "multi_layer_net"]
# (flags, the flag the message must name, the Config field it must not name bare)
VALUE_ERRORS = {
    "lr negative": (["--lr", "-1"], "--lr", "lr"),
    "lr inf in float32": (["--lr", "1e39"], "--lr", "lr"),
    "iters zero": (["--iters", "0"], "--iters", "iters"),
    "batch size zero": (["--batch-size", "0"], "--batch-size", "batch_size"),
    "hidden size zero": (["--hidden-size", "0"], "--hidden-size", "hidden_size"),
    "std zero": (["--weight-init-std", "0"], "--weight-init-std", "weight_init_std"),
    "seed negative": (["--seed", "-1"], "--seed", "seed"),
    "eval every negative": (["--eval-every", "-1"], "--eval-every", "eval_every"),
    "dropout 1.5": (MLN + ["--dropout", "1.5"], "--dropout", "dropout"),
    "weight decay negative": (MLN + ["--weight-decay", "-1"], "--weight-decay", "weight_decay"),
    "devices word": (["--devices", "x"], "--devices", "devices"),
    "devices too many": (["--devices", "9"], "--devices", "devices="),
    "batch over devices": (["--devices", "all", "--batch-size", "7"], "--batch-size", "batch_size"),
    "dtype elsewhere": (MLN + ["--dtype", "bfloat16"], "--dtype", "dtype"),
    "std elsewhere": (MLN + ["--weight-init-std", "0.1"], "--weight-init-std", "weight_init_std"),
    "no data offline": ([], "--data-dir", "data_dir"),
}


def test_every_value_error_names_the_flag_typed(tmp_path):
    """--lr -1 said 'lr', --iters 0 'iters', --batch-size 7 'batch_size', and offline
    with no flag the message ended '(or use data_dir)'."""
    import re

    argvs = [
        flags + ["--out-dir", str(tmp_path / f"out{i}"), "--quiet", "--no-compile-cache"]
        for i, (flags, _, _) in enumerate(VALUE_ERRORS.values())
    ]
    env = {k: v for k, v in ENV.items() if k != "JAXBP_DATA_DIR"}
    env.update(
        XLA_FLAGS="--xla_force_host_platform_device_count=4", XDG_CACHE_HOME=str(tmp_path / "c")
    )
    p = subprocess.run(
        [sys.executable, "-c", FLAG_DRIVER, json.dumps(argvs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads(p.stdout.strip().splitlines()[-1])
    for (case, (_, flag, field)), r in zip(VALUE_ERRORS.items(), results):
        lines = r["stderr"].strip().splitlines()
        assert r["code"] in (EXIT_CODES["usage"], EXIT_CODES["data"]), (case, r)
        assert len(lines) == 1 and lines[0].startswith("jaxbp.train: error: "), (case, r)
        assert re.search(rf"{re.escape(flag)}\b", lines[0]), (case, lines[0])
        bare = re.findall(rf"(?<![\w-]){re.escape(field)}(?![\w-])", lines[0])
        assert not bare, (case, lines[0])


def test_resume_with_no_runs_says_there_is_no_latest_run(tmp_path):
    r = synthetic_cli("--resume", cwd=tmp_path)
    line = one_error_line(r, "usage")
    assert "no runs/latest here" in line and "--out-dir" in line, line


def test_help_names_the_program_as_it_was_invoked():
    """jaxbp-train --help said 'usage: python -m jaxbp.train'."""
    assert cli("--help").stdout.startswith("usage: python -m jaxbp.train ")
    script = os.path.join(os.path.dirname(sys.executable), "jaxbp-train")
    if not os.path.exists(script):
        pytest.skip(f"no console script next to {sys.executable} (jaxbp not pip-installed)")
    out = subprocess.run([script, "--help"], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: jaxbp-train "), out.stdout[:200]


@pytest.mark.parametrize(
    "typed,meant", [("--batchsize", "--batch-size"), ("--lrr", "--lr"), ("--itters", "--iters")]
)
def test_a_flag_typo_is_one_line_with_the_nearest_flag(typed, meant):
    """A typo printed 10 lines of usage and no suggestion."""
    r = cli(typed, "3")
    line = one_error_line(r, "usage")
    assert typed in line and f"did you mean {meant}?" in line, line
