"""5.7.4: the jitted trainer (library use): schedule, reproducibility, stop and resume,
divergence, evaluation and checkpoints, and the run's files on disk."""

import errno
import json
import os
import re
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from jaxbp import train
from jaxbp._files import OutputError
from jaxbp.mnist.synthetic import synthetic_mnist
from jaxbp.train import checkpoint, runs


def synthetic(n=600, seed=0):
    return synthetic_mnist(n, 100, seed)


QUIET = dict(log=lambda s: None, progress=False)
SMALL = train.Config(iters=250, batch_size=20, eval_every=100)


def test_short_run_on_real_mnist_reaches_90_percent(mnist_raw, tmp_path):
    """Two epochs (1200 steps) of the book's settings."""
    r = train.fit(train.Config(iters=1200), data=mnist_raw, out_dir=str(tmp_path), **QUIET)
    m = r["metrics"]
    assert m["eval_steps"] == [0, 600, 1200]
    assert m["test_acc"][-1] >= 0.90, m["test_acc"]
    assert m["train_acc"][-1] >= 0.90
    assert len(m["loss"]) == 1200 and np.all(np.isfinite(m["loss"]))
    assert np.mean(m["loss"][-100:]) < np.mean(m["loss"][:100])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_acc"] == m["test_acc"] and saved["steps_done"] == 1200
    assert (tmp_path / "training.png").stat().st_size > 10_000
    params, state, config, meta = train.load_params(tmp_path / "params.npz")
    assert meta["step"] == 1200 and config.iters == 1200
    acc = train.evaluate(params, mnist_raw["x_test"].reshape(10000, -1), mnist_raw["t_test"])
    assert acc == pytest.approx(m["test_acc"][-1])


def test_lr_that_kills_every_unit_warns_after_three_epochs(mnist_raw):
    """--lr 100 sat at loss 2.30 and chance accuracy without a word."""
    lines = []
    r = train.fit(train.Config(iters=1801, lr=100.0), data=mnist_raw, log=lines.append)
    assert max(r["metrics"]["train_acc"]) < 0.2
    assert any("still at chance after 3 epochs with lr 100.0" in s for s in lines), lines


def test_same_seed_same_metrics_and_book_schedule():
    a = train.fit(SMALL, data=synthetic(), **QUIET)["metrics"]
    b = train.fit(SMALL, data=synthetic(), **QUIET)["metrics"]
    assert a["eval_steps"] == [0, 100, 200, 250]  # i % every == 0, plus the end
    assert a["loss"] == b["loss"] and a["test_acc"] == b["test_acc"]
    c = train.fit(
        train.Config(iters=250, batch_size=20, eval_every=100, seed=1), data=synthetic(), **QUIET
    )["metrics"]
    assert c["loss"] != a["loss"]
    assert a["test_acc"][-1] > 0.5  # it learns the synthetic classes


def test_chunk_schedule_is_the_books_loop_from_any_step():
    """Evaluations after the update of each i % iter_per_epoch == 0, plus the end."""
    s = train.chunk_schedule(10000, 600)
    assert sum(n for n, _ in s) == 10000
    assert [at for _, at in s] == list(range(0, 10000, 600)) + [10000]  # 17 + 1
    assert s[0] == (1, 0) and s[-1] == (399, 10000)
    assert train.chunk_schedule(601, 600) == [(1, 0), (600, 600)]  # no duplicate at the end
    assert train.chunk_schedule(1000, 600, evaluate=False) == [(600, None), (400, None)]
    assert train.chunk_schedule(10000, 600, start=601) == s[2:]  # resume at a boundary
    assert train.chunk_schedule(20000, 600, start=10000)[0] == (201, 10200)  # extended run


def stop_after(n_chunks, signal_name="SIGTERM"):
    calls = []

    def should_stop():
        calls.append(1)
        return signal_name if len(calls) > n_chunks else None

    return should_stop


def test_stop_saves_and_resume_is_bit_identical(tmp_path):
    whole = train.fit(SMALL, data=synthetic(), out_dir=str(tmp_path / "a"), **QUIET)
    part = train.fit(
        SMALL, data=synthetic(), out_dir=str(tmp_path / "b"), should_stop=stop_after(2), **QUIET
    )["metrics"]
    assert part["interrupted"] and part["stopped_by"] == "SIGTERM"
    saved = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert saved["interrupted"] and saved["steps_done"] == part["steps_done"] == 101
    assert (tmp_path / "b" / "training.png").exists()
    again = train.fit(
        SMALL,
        data=synthetic(),
        out_dir=str(tmp_path / "b"),
        resume=True,
        should_stop=stop_after(1),
        **QUIET,
    )["metrics"]
    assert again["steps_done"] == 201
    done = train.fit(SMALL, data=synthetic(), out_dir=str(tmp_path / "b"), resume=True, **QUIET)
    a = np.load(tmp_path / "a" / "params.npz")
    b = np.load(tmp_path / "b" / "params.npz")
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(a[k], b[k])
    assert done["metrics"]["loss"] == whole["metrics"]["loss"]
    assert done["metrics"]["test_acc"] == whole["metrics"]["test_acc"]


def test_resume_refuses_other_flags_and_extends_with_more_iters(tmp_path):
    out = str(tmp_path)
    train.fit(SMALL, data=synthetic(), out_dir=out, **QUIET)
    for change in (
        {"seed": 1},
        {"lr": 0.5},
        {"batch_size": 10},
        {"hidden_size": 20},
        {"dtype": "bfloat16"},
    ):
        flag = "--" + next(iter(change)).replace("_", "-")
        with pytest.raises(checkpoint.CheckpointError, match=f"flags differ.*{flag} \\(saved"):
            train.fit(
                train.Config(**{**vars(SMALL), **change}),
                data=synthetic(),
                out_dir=out,
                resume=True,
                **QUIET,
            )
    with pytest.raises(checkpoint.CheckpointError, match="at step 250; --iters 100"):
        train.fit(
            train.Config(**{**vars(SMALL), "iters": 100}),
            data=synthetic(),
            out_dir=out,
            resume=True,
            **QUIET,
        )
    longer = train.Config(**{**vars(SMALL), "iters": 400})
    m = train.fit(longer, data=synthetic(), out_dir=out, resume=True, **QUIET)["metrics"]
    assert m["steps_done"] == 400 and m["eval_steps"] == [0, 100, 200, 250, 300, 400]
    assert len(m["loss"]) == 400


def test_divergence_stops_with_the_step_and_keeps_the_last_finite_state(tmp_path):
    """--lr 1e30 ran all steps with exit 0 and wrote bare NaN tokens into metrics.json."""
    cfg = train.Config(iters=250, batch_size=20, eval_every=100, lr=1e30)
    with pytest.raises(train.Diverged, match=r"non-finite at step \d+ with lr 1e\+30") as err:
        train.fit(cfg, data=synthetic(), out_dir=str(tmp_path), **QUIET)
    m = err.value.result["metrics"]
    assert m["diverged_at"] <= 1 and m["steps_done"] <= m["diverged_at"]
    text = (tmp_path / "metrics.json").read_text()
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    assert strict["diverged_at"] == m["diverged_at"]
    params, *_ = train.load_params(tmp_path / "params.npz")  # finite, or it would refuse
    assert all(np.all(np.isfinite(v)) for v in params.values())


def test_bad_config_and_data_are_refused():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train.Config(batch_size=0).validate()
    with pytest.raises(ValueError, match="lr must be"):
        train.Config(lr=float("nan")).validate()
    with pytest.raises(ValueError, match="dtype must be one of"):
        train.Config(dtype="float16").validate()
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        train.Config(seed=2**64).validate()
    d = synthetic()
    d["t_train"] = d["t_train"].astype(np.int64) + 5
    with pytest.raises(ValueError, match=r"labels for x_train must be integers in \[0, 9\]"):
        train.fit(train.Config(iters=1), data=d, **QUIET)
    d = synthetic()
    d["x_train"] = d["x_train"].astype(np.float32)
    with pytest.raises(TypeError, match="x_train must be uint8"):
        train.fit(train.Config(iters=1), data=d, **QUIET)


def test_evaluate_checks_its_images():
    """Float images gave 0.136 instead of refusing; an empty split divided by zero."""
    params = train.fit(
        train.Config(iters=10, batch_size=10, evaluate=False), data=synthetic(), **QUIET
    )["params"]
    d = synthetic()
    with pytest.raises(TypeError, match="uint8"):
        train.evaluate(params, d["x_test"].astype(np.float32) / 255, d["t_test"])
    with pytest.raises(ValueError, match="the batch is empty"):
        train.evaluate(params, d["x_test"][:0], d["t_test"][:0])
    with pytest.raises(ValueError, match=r"shape \(100,\)"):
        train.evaluate(params, d["x_test"], d["t_test"][:50])
    assert 0.0 <= train.evaluate(params, d["x_test"], d["t_test"]) <= 1.0


def saved_run(tmp_path):
    r = train.fit(
        train.Config(iters=10, batch_size=10, evaluate=False),
        data=synthetic(),
        out_dir=str(tmp_path / "run"),
        **QUIET,
    )
    return r["params"], tmp_path / "run" / "params.npz"


def rewrite(src, dst, change):
    """Copy the checkpoint ``src`` to ``dst`` with ``change(arrays)`` applied."""
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(dst, **arrays)
    return dst


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda a: a.update(W1=np.full_like(a["W1"], np.nan)), "W1 holds non-finite values"),
        (
            lambda a: a.update(W2=a["W2"][:, :5], b2=a["b2"][:5]),
            r"W2 has shape \(50, 5\), "
            r"expected \(50, 10\)",
        ),
        (lambda a: a.pop("b1"), "lacks b1"),
        (lambda a: a.update(b2=a["b2"].astype(np.int32)), "b2 has dtype int32"),
        (lambda a: a.update(__meta__=np.array("{not json")), "not valid JSON"),
    ],
)
def test_checkpoints_are_checked_before_use(tmp_path, change, message):
    """NaN weights evaluated to the share of class 0; a 5-class one was accepted."""
    _, path = saved_run(tmp_path)
    bad = rewrite(path, tmp_path / "bad.npz", change)
    with pytest.raises(checkpoint.CheckpointError, match=message):
        train.load_params(bad)


def test_checkpoint_files_that_are_not_checkpoints(tmp_path):
    params, path = saved_run(tmp_path)
    loaded, _, config, meta = train.load_params(path)
    for k in params:
        np.testing.assert_array_equal(loaded[k], params[k])
    assert meta["step"] == 10 and config.batch_size == 10
    with pytest.raises(checkpoint.CheckpointError, match="not found"):
        train.load_params(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        train.load_params(tmp_path / "junk.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(checkpoint.CheckpointError):
        train.load_params(truncated)


def test_huge_declared_array_is_refused_without_allocating_it(tmp_path):
    """A 2 MB checkpoint declaring a huge array made --evaluate use 2.3 GB."""
    path = tmp_path / "huge.npz"
    header = {"descr": "<f4", "fortran_order": False, "shape": (784, 1 << 20)}
    with zipfile.ZipFile(path, "w") as z:
        with z.open("W1.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\0" * (2 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(checkpoint.CheckpointError):
            train.load_params(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak


def test_outputs_never_follow_planted_symlinks(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for name in ("metrics.json.tmp", "params.npz.tmp.npz", "training.png.tmp.png"):
        (out / name).symlink_to(victim)
    train.fit(SMALL, data=synthetic(), out_dir=str(out), **QUIET)
    assert victim.read_text() == "keep me"
    assert json.loads((out / "metrics.json").read_text())["steps_done"] == 250


def test_full_disk_is_one_line_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    params, path = saved_run(tmp_path)
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OutputError, match="No space left on device") as err:
        checkpoint.save_checkpoint(path, params)
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if "tmp" in p.name) == []


def test_out_dir_is_checked_and_locked(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for bad in (a_file, "/dev/null", a_file / "sub"):
        with pytest.raises(OutputError, match="cannot use --out-dir"):
            runs.prepare_out_dir(bad)
    out = tmp_path / "locked"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from jaxbp.train import runs; "
            "runs.prepare_out_dir(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(OutputError, match=f"in use by process {holder.pid}"):
            runs.prepare_out_dir(out)
    finally:
        holder.kill()
        holder.wait()
    assert runs.prepare_out_dir(out) == str(out)  # free again once it is gone
    runs.release_out_dir(out)


def test_multi_layer_net_with_batchnorm_and_dropout_resumes_bit_for_bit(tmp_path):
    """Batch-norm running statistics and dropout keys survive a stop and --resume."""
    cfg = train.Config(
        model="multi_layer_net",
        iters=120,
        batch_size=20,
        eval_every=50,
        lr=0.001,
        optimizer="adam",
        hidden_size=16,
        batchnorm=True,
        dropout=0.2,
        weight_decay=1e-4,
    )
    whole = train.fit(cfg, data=synthetic(), out_dir=str(tmp_path / "a"), **QUIET)
    train.fit(
        cfg, data=synthetic(), out_dir=str(tmp_path / "b"), should_stop=stop_after(2), **QUIET
    )
    done = train.fit(cfg, data=synthetic(), out_dir=str(tmp_path / "b"), resume=True, **QUIET)
    assert done["metrics"]["loss"] == whole["metrics"]["loss"]
    a, b = (np.load(tmp_path / d / "params.npz") for d in "ab")
    assert "state.BatchNorm1.running_mean" in a.files
    for k in a.files:
        if k != "__meta__":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    params, state, config, _ = train.load_params(tmp_path / "b" / "params.npz")
    assert config.batchnorm and set(state) == {f"BatchNorm{i}" for i in range(1, 5)}


def test_cpu_matmul_paths_give_the_same_run_up_to_rounding(tmp_path, monkeypatch):
    """--cpu-matmul changes how XLA computes the dots, not what is computed; auto
    decides once per machine and then always gives the same answer."""
    from jaxbp.train import xla_options

    runs = {
        p: train.fit(train.Config(**{**vars(SMALL), "cpu_matmul": p, "eval_matmul": p}),
                     data=synthetic(), **QUIET)
        for p in ("eigen", "xla-default")
    }  # fmt: skip
    assert {p: r["metrics"]["cpu_matmul"] for p, r in runs.items()} == {
        "eigen": "eigen",
        "xla-default": "xla-default",
    }
    assert all(r["metrics"]["eval_matmul"] == p for p, r in runs.items())  # one path for all
    accuracies = {p: (r["metrics"]["train_acc"], r["metrics"]["test_acc"]) for p, r in runs.items()}
    np.testing.assert_allclose(accuracies["eigen"], accuracies["xla-default"], atol=2 / 600)
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(
            runs["eigen"]["params"][k], runs["xla-default"]["params"][k], atol=1e-4
        )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    timed = []

    def make(options):
        timed.append(options)
        return lambda: None

    first = xla_options.compiler_options("auto", make)
    assert len(timed) == 2 and first[0] in xla_options.PATHS
    assert xla_options.compiler_options("auto", make) == first and len(timed) == 2
    saved = json.loads((tmp_path / "jaxbp" / "cpu-matmul.json").read_text())
    assert saved == {xla_options.machine_key(): first[0]}
    # the evaluation's path is decided apart from the steps', once, and both are recorded
    auto = train.Config(**{**vars(SMALL), "cpu_matmul": "auto", "eval_matmul": "auto"})
    m = train.fit(auto, data=synthetic(), **QUIET)["metrics"]
    saved = json.loads((tmp_path / "jaxbp" / "cpu-matmul.json").read_text())
    key = f"{xla_options.machine_key()} | evaluation two_layer_net"
    assert saved == {xla_options.machine_key(): first[0], key: m["eval_matmul"]}
    assert m["cpu_matmul"] == first[0] and m["eval_matmul"] in xla_options.PATHS


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"optimizer": "adam", "dtype": "bfloat16"},
        {"model": "multi_layer_net"},
        {"model": "simple_conv_net"},
    ],
)
def test_initial_state_is_the_eager_init_bit_for_bit(flags):
    import jax

    from jaxbp.train import models

    config = train.Config(**flags)
    model, optimizer = models.get(config), models.optimizer(config)
    init_key, data_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params, state = model.init(init_key)  # eagerly, op by op
    eager = (params, state, optimizer.init(params), data_key)
    leaves = jax.tree_util.tree_leaves
    compiled = leaves(train.initial_state(model, optimizer, config.seed))
    assert len(compiled) == len(leaves(eager))
    for a, b in zip(leaves(eager), compiled):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))


def test_evaluations_in_the_background_change_no_line_and_no_number(tmp_path, monkeypatch):
    """Each evaluation runs while the next chunk's steps do; the lines, their order, the
    counts and the saved run are those of evaluating in place, one after the other."""
    from jaxbp.train import loop, run

    def fit(folder):
        lines = []
        result = train.fit(
            SMALL, data=synthetic(), out_dir=str(tmp_path / folder), log=lines.append
        )
        return lines, result["metrics"], np.load(tmp_path / folder / "params.npz")

    background = fit("background")
    in_place = run.start_eval

    def evaluated_at_once(r, at):
        started = in_place(r, at)
        started[1].result()  # finished before the next chunk is dispatched
        return started

    monkeypatch.setattr(loop, "start_eval", evaluated_at_once)
    sequential = fit("sequential")
    # every line but the start line, without the rates (times differ, nothing else may)
    strip = lambda lines: [re.sub(r"\s+\d* ?steps/s|\s+\[.*\]$|\s+$", "", x) for x in lines[1:]]
    assert strip(background[0]) == strip(sequential[0])
    assert sum(x.startswith("train acc, test acc") for x in background[0]) == 4
    for k in ("eval_steps", "train_acc", "test_acc", "loss"):
        assert background[1][k] == sequential[1][k]
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(background[2][k], sequential[2][k])
    assert background[1]["eval_steps"] == [0, 100, 200, 250]


@pytest.mark.parametrize("model", ["two_layer_net", "multi_layer_net", "simple_conv_net"])
def test_evaluation_time_is_counted_for_every_network(model, monkeypatch):
    """``eval_s`` holds the evaluations' seconds whether they run beside the next chunk
    or in place (SimpleConvNet's run reported ``evaluations 0.00s``), and is never also
    counted in ``steps_s``: every evaluation is made 0.3 s slower, and the two still add
    up to no more than the run's wall time."""
    import time

    from jaxbp.train import run

    pause, make = 0.3, run.make_evaluation

    class Slower:  # the compiled evaluation, 0.3 s slower per call
        def __init__(self, f):
            self.f = f

        def lower(self, *args):
            return Slower(self.f.lower(*args))

        def compile(self, **kw):
            return Slower(self.f.compile(**kw))

        def __call__(self, *args):
            time.sleep(pause)
            return self.f(*args)

    monkeypatch.setattr(run, "make_evaluation", lambda m: Slower(make(m)))
    config = train.Config(model=model, iters=4, batch_size=10, eval_every=2, hidden_size=20)
    t0 = time.perf_counter()
    m = train.fit(config, data=synthetic(200), **QUIET)["metrics"]
    wall = time.perf_counter() - t0
    assert m["eval_steps"] == [0, 2, 4]
    assert m["eval_s"] >= 3 * pause * 0.9, m["eval_s"]
    assert m["steps_s"] + m["eval_s"] <= wall, (m["steps_s"], m["eval_s"], wall)


def test_a_chunk_is_timed_to_its_end_not_less_an_evaluation_running_beside_it(monkeypatch):
    """The first epoch's line showed about 6294 steps/s against about 2000 after it: the
    wait for the evaluation that ran beside a chunk was taken off that chunk's time, so
    a chunk that outlasted the evaluation counted only its last part."""
    import time

    from jaxbp.train import run

    chunk_s, eval_s = 0.4, 0.3

    class Late:
        """A chunk's losses, ready ``chunk_s`` after the chunk was dispatched."""

        def __init__(self, losses, ready=None):
            self.losses, self.ready = losses, ready or time.perf_counter() + chunk_s

        def __getitem__(self, k):
            return Late(self.losses[k], self.ready)

        def block_until_ready(self):
            time.sleep(max(0.0, self.ready - time.perf_counter()))
            return self

        def __array__(self, dtype=None, copy=None):
            return np.asarray(self.block_until_ready().losses, dtype)

    compile_run = run._compile

    def slow(r, t_start, *rest):
        compile_run(r, t_start, *rest)
        chunk, correct = r.chunk, r.correct
        r.chunk = lambda *a: (*chunk(*a)[:3], Late(chunk(*a)[3]))
        r.correct = lambda *a: (time.sleep(eval_s), correct(*a))[1]

    monkeypatch.setattr(run, "_compile", slow)
    m = train.fit(SMALL, data=synthetic(), **QUIET)["metrics"]
    assert m["eval_steps"] == [0, 100, 200, 250]
    assert min(m["epoch_wall_s"]) >= chunk_s, m["epoch_wall_s"]
    assert m["steps_s"] >= 4 * chunk_s


def test_conv_forward_auto_is_decided_once_per_machine_and_recorded(tmp_path, monkeypatch):
    """``--conv-forward auto`` times both ways of computing SimpleConvNet's Conv1 once per
    machine, keeps the answer, records the path in the run's metrics; each path gives the
    same parameters bit for bit run after run, and the two agree up to rounding."""
    from jaxbp.conv import FORWARDS
    from jaxbp.train import xla_options

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    small = dict(model="simple_conv_net", iters=4, batch_size=10, eval_every=2, hidden_size=10)
    small["eval_matmul"] = "eigen"  # the evaluation's path is timed apart: not here
    timed = []
    measure = xla_options.measure
    monkeypatch.setattr(xla_options, "measure", lambda p, *a: timed.append(set(p)) or measure(p))

    def run(forward):
        r = train.fit(train.Config(**small, conv_forward=forward), data=synthetic(200), **QUIET)
        return r["metrics"]["conv_forward"], r["params"]

    chosen, first = run("auto")
    assert timed == [set(FORWARDS)] and chosen in FORWARDS
    path = tmp_path / "jaxbp" / "conv-forward.json"
    key = xla_options.conv_forward_key("simple_conv_net", "eigen")
    assert json.loads(path.read_text()) == {key: chosen}
    other = next(f for f in FORWARDS if f != chosen)
    path.write_text(json.dumps({key: other}))  # a decision recorded: used, nothing timed
    second = run("auto")
    assert second[0] == other and len(timed) == 1
    # each path named outright runs the same program as auto's: bit for bit
    runs = {chosen: (first, run(chosen)[1]), other: (second[1], run(other)[1])}
    for a, b in runs.values():
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    im2col, lax = runs["im2col"][0], runs["lax"][0]
    for k in im2col:
        np.testing.assert_allclose(im2col[k], lax[k], rtol=1e-4, atol=1e-6)
    assert "conv_forward" not in train.fit(SMALL, data=synthetic(), **QUIET)["metrics"]


def test_machine_key_names_the_vector_isa_and_a_pinned_one(monkeypatch):
    """A decision made with AVX-512 is not taken for a CPU of the same name without it, nor
    under ``XLA_FLAGS=--xla_cpu_max_isa=...``."""
    from jaxbp.train import xla_options

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    isa = xla_options.cpu_isa()
    assert isa.startswith("avx512f") != ("no avx512f" in isa) or isa == "flags unknown"
    assert f"({isa})" in xla_options.machine_key()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    assert xla_options.cpu_isa() == f"{isa}, XLA max ISA AVX2"
    assert f"({isa}, XLA max ISA AVX2)" in xla_options.machine_key()
