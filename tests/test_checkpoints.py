"""The trainer's guards (5.7.4): a checkpoint is checked in full before anything runs,
divergence is caught at the step where it happens and only finite arrays are saved,
and every expected failure is one line with its exit code.

The command-line cases run in one subprocess (:data:`DRIVER`): it calls
``jaxbp.train.cli.main`` once per case, with synthetic data in place of MNIST, and
reports each exit code, the stderr text, and whether any data was loaded.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxbp import train
from jaxbp.mnist.synthetic import synthetic_mnist
from jaxbp.train import checkpoint, models, runs, saved_run
from jaxbp.train.cli import EXIT_CODES
from jaxbp.train.step import initial_state, make_train_chunk

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
QUIET = dict(log=lambda s: None, progress=False)
TLN = train.Config(iters=30, batch_size=20, eval_every=10)
MLN = train.Config(
    model="multi_layer_net",
    batchnorm=True,
    optimizer="adam",
    lr=0.001,
    iters=40,
    batch_size=20,
    hidden_size=20,
    eval_every=20,
)
DRIVER = """
import contextlib, io, json, sys, traceback
import jaxbp.train.data as data
from jaxbp.mnist.synthetic import synthetic_mnist
loaded = []
def load(*a, **k):
    loaded.append(True)
    return data.prepare_data(synthetic_mnist(600, 100))
data.load_data = load
from jaxbp.train.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    loaded.clear()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except BaseException:
            code = None
            traceback.print_exc()
    out.append({"code": code, "stderr": err.getvalue(), "loaded": bool(loaded)})
print(json.dumps(out))
"""


def synthetic():
    return synthetic_mnist(600, 100, 0)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def read(path) -> tuple[dict, dict]:
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "__meta__"}
        meta = json.loads(str(f["__meta__"]))
    return arrays, meta


def write(path, arrays: dict, meta: dict) -> None:
    """The checkpoint as given (not through save_checkpoint, which sets ``format``)."""
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)


def opt_index(config, field: str, param: str = "W1") -> str:
    """The checkpoint member of the optimizer leaf ``.field['param']`` (or ``.field``)."""
    params, _ = models.get(config).init(jax.random.PRNGKey(0))
    flat, _ = jax.tree_util.tree_flatten_with_path(models.optimizer(config).init(params))
    names = [jax.tree_util.keystr(k) for k, _ in flat]
    want = f".{field}['{param}']" if f".{field}" not in names else f".{field}"
    return f"opt_state.{names.index(want)}"


def put(name, value):
    return lambda a, m: a.__setitem__(name, value)


def meta_set(**kv):
    return lambda a, m: m.update(kv)


def metrics_set(**kv):
    return lambda a, m: m["metrics"].update(kv)


def adam_leaf(field, change):
    def tamper(a, m):
        k = opt_index(MLN, field)
        a[k] = change(a[k])

    return tamper


# name -> (which checkpoint, tamper(arrays, meta), words the one line must contain)
TAMPERED = {
    "W1 NaN": ("tln", lambda a, m: a["W1"].__setitem__((0, 0), np.nan), "W1 holds non-finite"),
    "running_var -1": (
        "mln",
        lambda a, m: a["state.BatchNorm1.running_var"].__setitem__(0, -1.0),
        "state.BatchNorm1.running_var holds negative variances",
    ),
    "batchnorm false on a batch-norm run": (
        "mln",
        lambda a, m: m["config"].update(batchnorm=False),
        "batchnorm False does not have",
    ),
    "batchnorm state missing": (
        "mln",
        lambda a, m: a.pop("state.BatchNorm2.running_mean"),
        "lacks state.BatchNorm2.running_mean",
    ),
    "extra member": ("tln", put("W9", np.zeros(3, np.float32)), "holds W9"),
    "step 29.5": ("tln", meta_set(step=29.5), "step must be an integer, got 29.5"),
    "step a string": ("tln", meta_set(step="29"), "step must be an integer"),
    "step null": ("tln", meta_set(step=None), "step is null"),
    "step a list": ("tln", meta_set(step=[29]), "step must be an integer"),
    "step true": ("tln", meta_set(step=True), "step must be an integer"),
    "step negative": ("tln", meta_set(step=-1), "step -1 is negative"),
    "step past iters": (
        "tln",
        lambda a, m: (m.update(step=31), m["metrics"]["loss"].append(1.0)),
        "step 31 is not in [0, iters = 30]",
    ),
    "format 99": ("tln", meta_set(format=99), "format 99 is not one this version reads"),
    "format true": ("tln", meta_set(format=True), "format True"),
    "config a list": ("tln", meta_set(config=[1, 2]), "config must be a JSON object"),
    "config a string": ("tln", meta_set(config="two_layer_net"), "config must be a JSON object"),
    "config lr negative": (
        "tln",
        lambda a, m: m["config"].update(lr=-1),
        "its config is not valid: lr must be",
    ),
    "metrics empty": ("tln", meta_set(metrics={}), "metrics lack eval_steps"),
    "metrics a list": ("tln", meta_set(metrics=[]), "metrics must be a JSON object"),
    "loss a string": ("tln", metrics_set(loss="low"), "metrics loss must be a list"),
    "accuracy 2": ("tln", metrics_set(train_acc=[2.0, 0.5, 0.5, 0.5]), "train_acc holds 2.0"),
    "losses short of the steps": (
        "tln",
        lambda a, m: m["metrics"]["loss"].pop(),
        "loss has 29 entries for 30 steps",
    ),
    "adam count 3.5": (
        "mln",
        adam_leaf("iter", lambda v: np.float32(3.5)),
        "has dtype float32, expected int32",
    ),
    "adam count negative": ("mln", adam_leaf("iter", lambda v: np.int32(-4)), "not a count"),
    "adam moment NaN": (
        "mln",
        adam_leaf("m", lambda v: np.full_like(v, np.nan)),
        "holds non-finite values",
    ),
    "adam second moment inf": (
        "mln",
        adam_leaf("v", lambda v: np.full_like(v, np.inf)),
        "holds non-finite values",
    ),
    "adam second moment negative": (
        "mln",
        adam_leaf("v", lambda v: v - 1.0),
        "impossible for a sum of squares",
    ),
    "adam moment of another shape": (
        "mln",
        adam_leaf("m", lambda v: v[:3]),
        "has shape (3, 20), expected (784, 20)",
    ),
    "optimizer leaf too many": (
        "mln",
        put("opt_state.999", np.zeros(2, np.float32)),
        "more optimizer state than adam keeps",
    ),
}

FLAGS = ["--quiet", "--no-compile-cache", "--no-gradient-check"]


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Write the two good checkpoints, the tampered copies, and run every CLI case once."""
    root = tmp_path_factory.mktemp("checkpoints")
    good = {}
    for name, config in (("tln", TLN), ("mln", MLN)):
        train.fit(config, data=synthetic(), out_dir=str(root / name), **QUIET)
        good[name] = root / name / "params.npz"
    good_sha = {k: sha(p) for k, p in good.items()}
    cases, files = {}, {}
    for case, (which, tamper, _) in TAMPERED.items():
        arrays, meta = read(good[which])
        tamper(arrays, meta)
        slug = case.replace(" ", "_")
        write(root / f"{slug}.npz", arrays, meta)
        run_dir = root / f"resume_{slug}"
        run_dir.mkdir()
        shutil.copy(root / f"{slug}.npz", run_dir / "params.npz")
        files[case] = (run_dir / "params.npz", sha(run_dir / "params.npz"))
        cases[("evaluate", case)] = ["--evaluate", str(root / f"{slug}.npz"), *FLAGS]
        cases[("resume", case)] = ["--resume", "--out-dir", str(run_dir), *FLAGS]
    conflict = root / "conflict"
    shutil.copytree(root / "tln", conflict)
    cases["conflict"] = ["--resume", "--out-dir", str(conflict), "--dataset", "fashion-mnist"]
    cases["conflict"] += FLAGS
    cases["good evaluate"] = ["--evaluate", str(good["mln"]), *FLAGS]
    extended = root / "extended"
    shutil.copytree(root / "mln", extended)
    cases["good resume"] = ["--resume", "--out-dir", str(extended), "--iters", "60", *FLAGS]
    out = lambda name: ["--out-dir", str(root / name), *FLAGS]  # noqa: E731
    cases["lr 1e39"] = ["--lr", "1e39", *out("lr39")]
    cases["bfloat16 multi_layer_net"] = ["--model", "multi_layer_net", "--dtype", "bfloat16"]
    cases["bfloat16 simple_conv_net"] = ["--model", "simple_conv_net", "--dtype", "bfloat16"]
    cases["weight-init-std elsewhere"] = ["--model", "multi_layer_net", "--weight-init-std", "0.1"]
    for k in ("bfloat16 multi_layer_net", "bfloat16 simple_conv_net", "weight-init-std elsewhere"):
        cases[k] += out(k.replace(" ", "_"))
    cases["lr 1e30"] = ["--lr", "1e30", "--iters", "50", *out("lr30")]
    cases["std 1e19"] = ["--weight-init-std", "1e19", "--iters", "50", *out("std19")]
    cases["no out-dir"] = ["--lr", "1e30", "--iters", "50", "--out-dir", "", *FLAGS]
    cases["out of memory"] = ["--batch-size", "100000000", "--iters", "2", *out("oom")]
    keys = list(cases)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([cases[k] for k in keys])],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = dict(zip(keys, json.loads(proc.stdout.strip().splitlines()[-1])))
    return {"results": results, "root": root, "good": good, "good_sha": good_sha, "files": files}


def one_line(result, kind: str) -> str:
    """The single error line of a case that must exit with ``EXIT_CODES[kind]``."""
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == EXIT_CODES[kind], result
    assert "Traceback" not in result["stderr"] and len(lines) == 1, result["stderr"]
    assert lines[0].startswith("jaxbp.train: error: "), lines
    return lines[0]


@pytest.mark.parametrize("mode", ["evaluate", "resume"])
@pytest.mark.parametrize("case", TAMPERED, ids=list(TAMPERED))
def test_tampered_checkpoint_is_one_line_exit_6_before_data(cli_results, case, mode):
    """A running_var of -1 evaluated to 0.0000; batchnorm false on a batch-norm run
    evaluated without it; step 199.5 resumed from 199; bad meta gave tracebacks."""
    result = cli_results["results"][(mode, case)]
    line = one_line(result, "checkpoint")
    assert TAMPERED[case][2] in line, line
    assert not result["loaded"], "the checkpoint must be refused before the data is loaded"
    path, before = cli_results["files"][case]
    assert sha(path) == before, "a refused checkpoint must stay as it was"
    assert not (path.parent / "metrics.json").exists()


def test_good_checkpoints_pass_the_checks_and_stay_untouched(cli_results):
    r = cli_results["results"]
    assert r["good evaluate"]["code"] == 0, r["good evaluate"]
    assert r["good resume"]["code"] == 0, r["good resume"]
    for name, path in cli_results["good"].items():
        assert sha(path) == cli_results["good_sha"][name], f"{name} was rewritten"
    m = json.loads((cli_results["root"] / "extended" / "metrics.json").read_text())
    assert m["steps_done"] == 60 and m["eval_steps"] == [0, 20, 40, 40, 60]
    assert m["eval_steps_done"] == [1, 21, 40, 41, 60]  # 40 twice: two states, each named
    assert m["eval_final"] == [False, False, True, False, True]


def test_resume_flag_conflict_is_found_before_any_data_is_loaded(cli_results):
    """--resume --dataset fashion-mnist reported a failed download (exit 4)."""
    result = cli_results["results"]["conflict"]
    line = one_line(result, "checkpoint")
    assert "flags differ" in line and "dataset (saved 'mnist', now 'fashion-mnist')" in line
    assert not result["loaded"]


@pytest.mark.parametrize(
    "case,words",
    [
        ("lr 1e39", "lr must be finite in float32"),
        ("bfloat16 multi_layer_net", "dtype bfloat16 is not offered for multi_layer_net"),
        ("bfloat16 simple_conv_net", "dtype bfloat16 is not offered for simple_conv_net"),
        ("weight-init-std elsewhere", "--weight-init-std is an option of two_layer_net"),
    ],
)
def test_flags_that_cannot_work_are_exit_2(cli_results, case, words):
    """lr 1e39 (inf in float32) ran and saved NaN; bfloat16 elsewhere was a traceback;
    --weight-init-std was silently ignored by the other networks."""
    result = cli_results["results"][case]
    assert words in one_line(result, "usage")
    assert not result["loaded"]


@pytest.mark.parametrize("case,hint", [("lr 1e30", "--lr"), ("std 1e19", "--weight-init-std")])
def test_a_diverged_run_saves_only_finite_arrays(cli_results, case, hint):
    line = one_line(cli_results["results"][case], "diverged")
    assert f"try a smaller {hint}" in line and "is saved in" in line, line
    out = {"lr 1e30": "lr30", "std 1e19": "std19"}[case]
    path = cli_results["root"] / out / "params.npz"
    with np.load(path) as f:
        bad = [k for k in f.files if k != "__meta__" and not np.isfinite(f[k]).all()]
    assert bad == []
    m = json.loads((path.parent / "metrics.json").read_text())
    assert m["steps_done"] <= m["diverged_at"] and len(m["loss"]) == m["steps_done"]
    train.load_params(path)  # and the saved state passes every check


def test_divergence_without_out_dir_says_nothing_is_saved(cli_results):
    line = one_line(cli_results["results"]["no out-dir"], "diverged")
    assert "Nothing is saved (no --out-dir" in line and "is saved in" not in line


def test_out_of_memory_is_one_line_naming_the_batch_size(cli_results):
    """--batch-size 100000000 ended in a RESOURCE_EXHAUSTED traceback."""
    line = one_line(cli_results["results"]["out of memory"], "device")
    assert "out of memory" in line and "--batch-size 100000000" in line


# ---- library use --------------------------------------------------------------------
def test_a_step_whose_update_is_non_finite_is_the_diverged_one():
    """Only the loss (computed before the update) was checked: an update to inf was
    adopted, evaluated and saved as 'the last finite state'."""
    cfg = train.Config(iters=30, batch_size=20, eval_every=10, lr=3e38, weight_init_std=1.0)
    model, optimizer = models.get(cfg), models.optimizer(cfg)
    params, state, opt_state, key = initial_state(model, optimizer, cfg.seed)
    d = train.prepare_data(synthetic())
    chunk = make_train_chunk(cfg, optimizer, model)
    x, t = d["x_train"], d["t_train"]
    new, _, _, losses = chunk(params, state, opt_state, key, x, t, np.int32(0), np.int32(1), 1)
    assert not all(np.isfinite(v).all() for v in new.values())  # the update overflowed
    first = model.train_loss(params, state, x[:20] / 255.0, t[:20], key)[0]
    assert np.isfinite(first) and np.isnan(losses[0])  # its loss was finite, flagged NaN
    with pytest.raises(train.Diverged, match="at step 0 .*the initial state") as err:
        train.fit(cfg, data=synthetic(), **QUIET)
    kept = err.value.result
    assert kept["metrics"]["diverged_at"] == 0 and kept["metrics"]["steps_done"] == 0
    for k in params:
        np.testing.assert_array_equal(kept["params"][k], params[k])


def test_weight_decay_hint():
    cfg = train.Config(
        model="multi_layer_net", weight_decay=1e30, iters=20, batch_size=20, hidden_size=10
    )
    with pytest.raises(train.Diverged, match=r"try a smaller --weight-decay \(1e\+30"):
        train.fit(cfg, data=synthetic(), **QUIET)


def test_resume_with_nan_adam_moments_keeps_the_good_checkpoint(tmp_path):
    """It overwrote the step-200 checkpoint with a step-201 one of NaN W1."""
    train.fit(MLN, data=synthetic(), out_dir=str(tmp_path), **QUIET)
    path = tmp_path / "params.npz"
    good = sha(path)
    arrays, meta = read(path)
    arrays[opt_index(MLN, "v", "W2")][:] = np.nan
    write(path, arrays, meta)
    tampered = sha(path)
    longer = train.Config(**{**vars(MLN), "iters": 60})
    with pytest.raises(checkpoint.CheckpointError, match="holds non-finite values"):
        saved_run.check_resume(str(tmp_path), longer)
    with pytest.raises(checkpoint.CheckpointError, match="holds non-finite values"):
        train.fit(longer, data=synthetic(), out_dir=str(tmp_path), resume=True, **QUIET)
    assert sha(path) == tampered != good


EVAL_LISTS = ("eval_steps", "eval_steps_done", "eval_final", "train_acc", "test_acc")


def evaluations(metrics: dict) -> list[tuple]:
    """Each evaluation as ``(label, steps done, final, train acc, test acc)``."""
    return list(zip(*(metrics[k] for k in EVAL_LISTS)))


def test_extending_a_finished_run_keeps_each_evaluation_with_its_state(tmp_path):
    """Extending a finished 100-step run to 150 steps (--eval-every 100) rewrote its
    "step 100" entry (after 100 steps) with the numbers of another state (after 101)."""
    short = train.Config(iters=100, batch_size=20, eval_every=100)
    longer = train.Config(iters=150, batch_size=20, eval_every=100)
    whole = train.fit(longer, data=synthetic(), **QUIET)["metrics"]
    first = train.fit(short, data=synthetic(), out_dir=str(tmp_path), **QUIET)["metrics"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    done = train.fit(longer, data=synthetic(), out_dir=str(tmp_path), resume=True, **QUIET)
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluations(m) == evaluations(done["metrics"])
    # the finished run's evaluations stay as they were, the last one marked as its end
    assert [e[:3] for e in evaluations(first)] == [(0, 1, False), (100, 100, True)]
    assert evaluations(m)[:2] == evaluations(saved) == evaluations(first)
    # then the extension's, exactly those of the uninterrupted run
    assert [e[:3] for e in evaluations(whole)] == [
        (0, 1, False),
        (100, 101, False),
        (150, 150, True),
    ]
    assert evaluations(m)[2:] == evaluations(whole)[1:]
    # one label, one state
    labels = [e[:3] for e in evaluations(m)]
    assert len({(step, final) for step, _, final in labels}) == len(labels)
    assert len({done for _, done, _ in labels}) == len(labels)


def test_a_run_saved_before_the_states_were_recorded_resumes_with_them(tmp_path):
    """metrics of an earlier version lack eval_steps_done and eval_final: they are
    rebuilt from the labels (a label equal to its run's step count is a final one)."""
    short = train.Config(iters=100, batch_size=20, eval_every=100)
    train.fit(short, data=synthetic(), out_dir=str(tmp_path), **QUIET)
    arrays, meta = read(tmp_path / "params.npz")
    for k in ("eval_steps_done", "eval_final"):
        del meta["metrics"][k]
    write(tmp_path / "params.npz", arrays, meta)
    longer = train.Config(iters=150, batch_size=20, eval_every=100)
    m = train.fit(longer, data=synthetic(), out_dir=str(tmp_path), resume=True, **QUIET)
    assert [e[:3] for e in evaluations(m["metrics"])] == [
        (0, 1, False),
        (100, 100, True),
        (100, 101, False),
        (150, 150, True),
    ]


def test_stale_temp_files_are_removed_once_the_lock_is_held(tmp_path):
    stale = [".metrics.json.a1b2c3d4.tmp", ".params.npz.x_y9zz01.tmp", ".training.png.q.tmp"]
    kept = [".notes.tmp", "params.npz.tmp", ".params.npz.backup"]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    runs.prepare_out_dir(tmp_path)
    try:
        assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".lock") == sorted(kept)
    finally:
        runs.release_out_dir(tmp_path)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"lr": 1e39}, r"lr must be finite in float32 \(at most 3.4028235e\+38\), got 1e\+39"),
        ({"lr": 1e-50}, "lr must be positive in float32"),
        ({"weight_init_std": 1e39}, "weight_init_std must be finite in float32"),
        ({"model": "multi_layer_net", "weight_decay": 1e300}, "weight_decay must be finite"),
        ({"model": "multi_layer_net", "weight_init_std": 0.1}, "is an option of two_layer_net"),
        ({"model": "multi_layer_net", "dtype": "bfloat16"}, "not offered for multi_layer_net"),
        ({"weight_decay": 0.5}, "are options of multi_layer_net, not of two_layer_net"),
    ],
)
def test_config_refuses_what_float32_or_the_network_cannot_take(change, message):
    with pytest.raises(ValueError, match=message):
        train.Config(**change).validate()
    assert train.Config(lr=3.4e38).validate().lr == 3.4e38  # the largest finite ones pass
