"""5.7.4: the jitted trainer, its outputs and checkpoints."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxbp import train


def synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 10, size=n)
    x = np.zeros((n, 28, 28), np.uint8)
    for i, c in enumerate(t):                 # each class lights its own rows
        x[i, 2 * c:2 * c + 3] = 200
    x = np.clip(x + rng.integers(0, 50, size=x.shape), 0, 255).astype(np.uint8)
    return {"x_train": x, "t_train": t.astype(np.uint8), "x_test": x[:100], "t_test": t[:100]}


def test_short_run_on_real_mnist_reaches_90_percent(mnist_raw, tmp_path):
    """Two epochs (1200 steps) of the book's settings."""
    r = train.fit(train.Config(iters=1200), data=mnist_raw, out_dir=str(tmp_path), log=lambda s: None)
    m = r["metrics"]
    assert m["eval_steps"] == [0, 600, 1200]
    assert m["test_acc"][-1] >= 0.90, m["test_acc"]
    assert m["train_acc"][-1] >= 0.90
    assert len(m["loss"]) == 1200 and np.all(np.isfinite(m["loss"]))
    assert np.mean(m["loss"][-100:]) < np.mean(m["loss"][:100])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_acc"] == m["test_acc"] and saved["steps_done"] == 1200
    assert (tmp_path / "training.png").stat().st_size > 10_000
    params, meta = train.load_checkpoint(tmp_path / "params.npz")
    assert meta["step"] == 1200 and meta["config"]["iters"] == 1200
    acc = train.evaluate(params, mnist_raw["x_test"].reshape(10000, -1), mnist_raw["t_test"])
    assert acc == pytest.approx(m["test_acc"][-1])


def test_same_seed_same_metrics_and_book_schedule():
    cfg = train.Config(iters=250, batch_size=20, eval_every=100)
    a = train.fit(cfg, data=synthetic(), log=lambda s: None)["metrics"]
    b = train.fit(cfg, data=synthetic(), log=lambda s: None)["metrics"]
    assert a["eval_steps"] == [0, 100, 200, 250]        # i % every == 0, plus the end
    assert a["loss"] == b["loss"] and a["test_acc"] == b["test_acc"]
    c = train.fit(train.Config(iters=250, batch_size=20, eval_every=100, seed=1),
                  data=synthetic(), log=lambda s: None)["metrics"]
    assert c["loss"] != a["loss"]
    assert a["test_acc"][-1] > 0.5                       # it learns the synthetic classes


def test_checkpoint_round_trip_and_errors(tmp_path):
    params = train.fit(train.Config(iters=10, batch_size=10, evaluate=False),
                       data=synthetic(), log=lambda s: None)["params"]
    path = tmp_path / "p.npz"
    train.save_checkpoint(path, params, train.Config(), step=10)
    loaded, meta = train.load_checkpoint(path)
    for k in params:
        np.testing.assert_array_equal(loaded[k], params[k])
    assert meta["step"] == 10
    with pytest.raises(FileNotFoundError, match="not found"):
        train.load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        train.load_checkpoint(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", W1=np.ones(2))
    with pytest.raises(ValueError, match=r"lacks parameters \['b1', 'W2', 'b2'\]"):
        train.load_checkpoint(tmp_path / "partial.npz")


def test_bad_config_and_data_are_refused():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train.Config(batch_size=0).validate()
    with pytest.raises(ValueError, match="lr must be"):
        train.Config(lr=float("nan")).validate()
    with pytest.raises(ValueError, match="dtype must be one of"):
        train.Config(dtype="float16").validate()
    d = synthetic()
    d["t_train"] = d["t_train"].astype(np.int64) + 5
    with pytest.raises(ValueError, match=r"t_train must be integer labels in \[0, 9\]"):
        train.fit(train.Config(iters=1), data=d, log=lambda s: None)
    d = synthetic()
    d["x_train"] = d["x_train"].astype(np.float32)
    with pytest.raises(TypeError, match="x_train must be uint8"):
        train.fit(train.Config(iters=1), data=d, log=lambda s: None)


def test_cli_help_and_unknown_flag():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-m", "jaxbp.train", "--help"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0 and "--batch-size" in out.stdout and "--seed" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxbp.train", "--batchsize", "3"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "unrecognized arguments: --batchsize" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "jaxbp.train", "--iters", "0"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "iters must be a positive integer" in bad.stderr


def _cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-m", "jaxbp.train", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def test_ctrl_c_saves_what_was_done_and_evaluate_reloads_it(mnist_raw, tmp_path):
    """Ctrl-C after the first epoch: exit 130, metrics and params on disk,
    and ``--evaluate`` of the saved checkpoint reproduces the last accuracy."""
    import signal
    out = tmp_path / "run"
    p = _cli("--no-gradient-check", "--quiet", "--out-dir", str(out))
    lines = []
    for line in p.stdout:
        lines.append(line)
        if "step   600/" in line:
            p.send_signal(signal.SIGINT)
            break
    rest, _ = p.communicate(timeout=120)
    assert p.returncode == 130, "".join(lines) + rest
    assert "interrupted at step" in rest
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] and 600 <= m["steps_done"] < 10000
    assert (out / "training.png").exists()
    ev = _cli("--evaluate", str(out / "params.npz"), "--quiet")
    text, _ = ev.communicate(timeout=120)
    assert ev.returncode == 0, text
    saved_step = train.load_checkpoint(out / "params.npz")[1]["step"]
    assert saved_step == m["steps_done"]
    assert f"(step {saved_step})" in text


def test_chunk_schedule_is_the_books_loop():
    """Evaluations after the update of each i % iter_per_epoch == 0, plus the end."""
    s = train.chunk_schedule(10000, 600)
    assert sum(n for n, _ in s) == 10000
    assert [at for _, at in s] == list(range(0, 10000, 600)) + [10000]   # 17 + 1
    assert s[0] == (1, 0) and s[-1] == (399, 10000)
    assert train.chunk_schedule(601, 600) == [(1, 0), (600, 600)]        # no duplicate at the end
    assert train.chunk_schedule(1000, 600, evaluate=False) == [(600, None), (400, None)]
