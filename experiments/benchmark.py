"""How fast is jaxbp, against the book's NumPy code, plain ``jax.grad`` and the hardware?

One command measures everything side by side in one run::

    python experiments/benchmark.py            # the full benchmark (minutes)
    python experiments/benchmark.py --quick    # tiny settings (CI smoke test)

The book's run (section 5.7.4): TwoLayerNet 784-50-10 on MNIST, minibatch 100
sampled with replacement, SGD lr 0.1, 10000 steps, full-set train and test
accuracy at steps 0, 600, ..., 9600 (``i % iter_per_epoch == 0``; 17 times).

Rows (each in its own subprocess, so that its peak resident memory is its own):

``book-numpy``
    The book's own NumPy code (``experiments/book_numpy.py``): float64 weights,
    the loss recomputed every step, one run (it is the slow one).
``jax-grad-step``
    Plain-jnp forward (:mod:`jaxbp.reference`), ``jax.grad``, one ``jax.jit``
    call per step; minibatches sampled on the host with
    ``np.random.choice`` from the book's float32 arrays.
``jax-grad-scan``
    Plain-jnp forward, ``jax.grad``, the whole loop in one jitted ``lax.scan``
    with the images on the device (:func:`make_scan_trainer`).
``jaxbp-step``
    Our custom-rule loss (:func:`jaxbp.two_layer_net.loss`), one jit per step.
``jaxbp-scan``
    :func:`make_scan_trainer` with our custom-rule loss: the same program as
    ``jax-grad-scan`` except the loss function, so the ratio of the two is the
    cost of the custom rules.
``jaxbp``
    Our trainer as users run it: :func:`jaxbp.train.fit`.

Per row: steps-only time of all the steps (median of ``--repeats`` for the JAX
rows), steps/s, the time with the evaluations ("with evals": the loop with its
full-set evaluations, compile and data loading excluded), compile time, final
train/test accuracy (after the last step, computed outside the timings), the
achieved GFLOP/s on the minimal FLOP count of a step
(:func:`flops_per_step`) and that as a percentage of this machine's float32
matmul peak, measured in the same run, and the peak resident memory (VmHWM) of
the row's process.  Also: a scaling table of ``jaxbp`` (batch and hidden
size) and the time of the float64 numerical gradient of all 39,760
parameters on 3 images (ours, and the book's Python loop).

Outputs: the table on stdout, ``--out`` (JSON) and ``--markdown``
(``BENCHMARKS.md``, with the machine, versions, date and the targets).

Without the MNIST files (``JAXBP_DATA_DIR`` unset or incomplete), ``--quick``
falls back to random synthetic data (and says so); the full benchmark refuses.

Speed notes for the scan trainer (what was tried, 10000 steps of the book's
run; 2-core AMD EPYC, jax 0.10.2; the machine was shared with other jobs, so
single timings scattered by +-10-40% and only repeated, interleaved
comparisons are trusted):

* images closed over by the jitted function (constants): compile 1.6-4.6 s,
  as XLA embeds the 47-188 MB constant; the data are arguments instead
  (compile 0.4-0.8 s);
* uint8 images on the device, normalised in-step (``x * (1/255)``), against
  float32 images: float32 was never faster (best 2.74 s against 2.15 s, in
  noisy runs), so uint8 (4x less memory, the same pipeline as jaxbp.train) is
  the default;
* minibatch indices precomputed for all steps in one ``jax.random.randint``
  ("pre", 4 MB) against ``fold_in(key, i)`` + ``randint`` in each step
  ("key"): no measurable difference; "key" is the default (as jaxbp.train);
* int labels against one-hot float rows: no consistent difference (one-hot
  helped the custom-rule loss in one noisy run, not in others); int labels are
  the default for every JAX row (as jaxbp.train);
* ``lax.scan(unroll=4)`` against ``unroll=1`` and against a ``fori_loop``
  with a dynamic trip count (what jaxbp.train used when this was written):
  interleaved medians 2.48 s (unroll 4), 2.64 s (unroll 1), 2.75 s (fori,
  dynamic count); unroll 4 is the default (it costs ~0.3 s more compile);
* XLA CPU flags: ``--xla_cpu_multi_thread_eigen=false`` (single-threaded
  matmuls) gives the same time as the default (2.2-2.4 s): at batch 100 the
  step is bound by one core, the second one idles (so the 2-core peak is out
  of reach without splitting the batch across devices);
  ``--xla_cpu_use_fusion_emitters=false``: no gain, slower compile;
  ``--xla_cpu_use_thunk_runtime=false``: no longer supported.  None is set;
  ``XLA_FLAGS`` from the environment is inherited by every child;
* the parameters are donated (``donate_argnums``), so the update is in place.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ROWS = ("book-numpy", "jax-grad-step", "jax-grad-scan", "jaxbp-step", "jaxbp-scan", "jaxbp")
REQUIRED_ROWS = ("book-numpy", "jax-grad-step", "jax-grad-scan", "jaxbp-step", "jaxbp")

N_IN, N_OUT = 784, 10


def flops_per_step(batch_size, hidden_size=50, n_in=N_IN, n_out=N_OUT):
    """Minimal FLOPs of one training step (multiply-add = 2 FLOPs).

    forward ``2 B (n_in H + H C)``; backward ``dW1 = x^T d`` ``2 B n_in H``,
    ``dW2`` and ``dh`` ``2 * 2 B H C``; the first layer's input gradient is not
    needed.  Total ``2 B (2 n_in H + 3 H C)``: 15.98 MFLOP for the book's net.
    Elementwise work (bias, ReLU, softmax, update) is not counted.
    """
    return 2 * batch_size * (2 * n_in * hidden_size + 3 * hidden_size * n_out)


# =============================================================================
# Helpers shared by parent and children
# =============================================================================
def _vmhwm_bytes():
    """Peak resident memory of this process (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def load_raw_data(synthetic, quick):
    """``(dict of uint8 x_* (N, 784), int32 t_*), source string)``."""
    import numpy as np
    if synthetic:
        rng = np.random.default_rng(0)
        n_train, n_test = (6000, 1000) if quick else (60000, 10000)
        d = {"x_train": rng.integers(0, 256, (n_train, N_IN), dtype=np.uint8),
             "t_train": rng.integers(0, 10, n_train).astype(np.int32),
             "x_test": rng.integers(0, 256, (n_test, N_IN), dtype=np.uint8),
             "t_test": rng.integers(0, 10, n_test).astype(np.int32)}
        return d, f"synthetic random data ({n_train} train / {n_test} test)"
    sys.path.insert(0, ROOT)
    from jaxbp.mnist import load_raw
    raw = load_raw(dataset="mnist", progress=False)
    d = {}
    for s in ("train", "test"):
        d[f"x_{s}"] = np.ascontiguousarray(raw[f"x_{s}"].reshape(raw[f"x_{s}"].shape[0], -1))
        d[f"t_{s}"] = raw[f"t_{s}"].astype(np.int32)
    return d, "MNIST (" + os.environ.get("JAXBP_DATA_DIR", "default search path") + ")"


def mnist_available():
    d = os.environ.get("JAXBP_DATA_DIR")
    if d:
        return all(os.path.exists(os.path.join(d, f + ".gz")) or os.path.exists(os.path.join(d, f))
                   for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    try:
        sys.path.insert(0, ROOT)
        from jaxbp import mnist
        return mnist._find_complete_dir(mnist._search_dirs("mnist", None)) is not None
    except Exception:
        return False


# =============================================================================
# The scan trainer (jax-grad-scan and jaxbp-scan): one builder, two losses
# =============================================================================
def make_scan_trainer(loss_fn, *, iters, batch_size, lr, eval_every, evaluate,
                      x_kind="u8", sampling="pre", labels="int", unroll=1):
    """``run(params, key, x, t, x_test, t_test) -> (params, accs)``, jitted.

    The whole training loop as one ``lax.scan`` over the steps; the host does
    nothing per step.  ``x`` is the training set on the device, uint8
    ``(N, 784)`` (``x_kind="u8"``: each minibatch is normalised in-step,
    ``x / 255``) or already-normalised float32 (``"f32"``); ``t`` int32
    labels ``(N,)`` (``labels="int"``) or float32 one-hot rows
    (``"onehot"``).  Minibatch indices (with replacement, as the book's
    ``np.random.choice``) come from ``jax.random``: all ``iters x batch``
    up front (``sampling="pre"``) or per step with ``fold_in`` (``"key"``).

    With ``evaluate`` the full-set train and test accuracies are taken inside
    the scan after the update of every step ``i % eval_every == 0`` (the
    book's placement), in a ``lax.cond``; ``accs`` is ``(n_evals, 2)``.
    ``loss_fn(params, x_batch, t_batch)`` is the only thing the two benchmark
    rows change.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    B = batch_size
    n_evals = -(-iters // eval_every) if evaluate else 0
    grad = jax.grad(loss_fn)

    def norm(xb):
        return xb.astype(jnp.float32) * (1.0 / 255.0) if xb.dtype == jnp.uint8 else xb

    def n_correct(params, x, t, chunk=2000):   # as jaxbp.train (cache-sized chunks)
        n = x.shape[0]
        chunk = min(chunk, n)
        pad = (-n) % chunk
        xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, chunk, x.shape[1])
        ts = jnp.pad(t, ((0, pad),) + ((0, 0),) * (t.ndim - 1),
                     constant_values=-1 if t.ndim == 1 else 0).reshape((-1, chunk) + t.shape[1:])

        def one(xt):
            xc, tc = xt
            h = jnp.maximum(norm(xc) @ params["W1"] + params["b1"], 0)
            y = jnp.argmax(h @ params["W2"] + params["b2"], -1)
            if tc.ndim == 2:
                tc = jnp.where(jnp.sum(tc, -1) > 0, jnp.argmax(tc, -1), -1)
            return jnp.sum(y == tc)

        return jnp.sum(lax.map(one, (xs, ts)))

    def run(params, key, x, t, x_test, t_test):
        N = x.shape[0]
        steps = jnp.arange(iters, dtype=jnp.int32)
        if sampling == "pre":
            xs = (steps, jax.random.randint(key, (iters, B), 0, N, dtype=jnp.int32))
        else:
            xs = (steps, steps)

        def body(carry, inp):
            params, accs = carry
            i, idx = inp
            if sampling != "pre":
                idx = jax.random.randint(jax.random.fold_in(key, i), (B,), 0, N, dtype=jnp.int32)
            g = grad(params, norm(x[idx]), t[idx])
            params = jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
            if evaluate:
                def do_eval(a):
                    acc = jnp.stack([n_correct(params, x, t) / N,
                                     n_correct(params, x_test, t_test) / x_test.shape[0]])
                    return a.at[i // eval_every].set(acc.astype(jnp.float32))
                accs = lax.cond(i % eval_every == 0, do_eval, lambda a: a, accs)
            return (params, accs), None

        accs0 = jnp.zeros((n_evals, 2), jnp.float32)
        (params, accs), _ = lax.scan(body, (params, accs0), xs, unroll=unroll)
        return params, accs

    return jax.jit(run, donate_argnums=0)


# =============================================================================
# Children: one row each
# =============================================================================
def _jax_setup():
    import jax
    return jax


def _accuracy_fn():
    import jax
    import jax.numpy as jnp

    @jax.jit
    def acc(params, x, t):
        if x.dtype == jnp.uint8:
            x = x.astype(jnp.float32) * (1.0 / 255.0)
        h = jnp.maximum(x @ params["W1"] + params["b1"], 0)
        return jnp.mean(jnp.argmax(h @ params["W2"] + params["b2"], -1) == t)
    return acc


def _final_acc(params, data):
    """Accuracy after the last step (outside every timing), float32 math."""
    import jax
    import numpy as np
    acc = _accuracy_fn()
    p = {k: np.asarray(v, np.float32) for k, v in params.items()}
    return (float(acc(p, data["x_train"], data["t_train"])),
            float(acc(p, data["x_test"], data["t_test"])))


def _loss_for(row):
    if row.startswith("jax-grad"):
        from jaxbp import reference
        return reference.loss
    from jaxbp import two_layer_net
    return two_layer_net.loss


def child_book_numpy(spec, data):
    import numpy as np
    sys.path.insert(0, HERE)
    import book_numpy
    x_tr = data["x_train"].astype(np.float32) / 255.0          # load_mnist(normalize=True,
    x_te = data["x_test"].astype(np.float32) / 255.0           # one_hot_label=True)
    eye = np.eye(N_OUT, dtype=np.float32)
    bd = ((x_tr, eye[data["t_train"]]), (x_te, eye[data["t_test"]]))
    r = book_numpy.train(bd, iters_num=spec["iters"], batch_size=spec["batch_size"],
                         learning_rate=spec["lr"], hidden_size=spec["hidden_size"],
                         seed=spec["seed"], evaluate=True, verbose=False,
                         iter_per_epoch=spec["eval_every"])
    net = r["network"]
    acc = (float(net.accuracy(x_tr, data["t_train"])), float(net.accuracy(x_te, data["t_test"])))
    return {"steps_s": r["steps_s"], "steps_s_all": [r["steps_s"]], "total_s": r["total_s"],
            "eval_s": r["eval_s"], "compile_s": 0.0, "n_evals": len(r["train_acc"]),
            "train_acc": acc[0], "test_acc": acc[1], "repeats": 1,
            "note": "one run; steps-only = loop time minus evaluation time; float64 weights"}


def child_step(spec, data):
    """jax-grad-step / jaxbp-step: one jitted call per step, host sampling."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jaxbp.two_layer_net import init_params

    loss = _loss_for(spec["row"])
    lr = spec["lr"]
    onehot = spec["labels"] == "onehot"

    def step(params, xb, tb):
        g = jax.grad(loss)(params, xb, tb)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)

    step = jax.jit(step, donate_argnums=0)
    acc = _accuracy_fn()
    x_tr = data["x_train"].astype(np.float32) / 255.0          # the book's float32 arrays
    t_tr = np.eye(N_OUT, dtype=np.float32)[data["t_train"]] if onehot else data["t_train"]
    xd_tr, td_tr = jnp.asarray(data["x_train"]), jnp.asarray(data["t_train"])
    xd_te, td_te = jnp.asarray(data["x_test"]), jnp.asarray(data["t_test"])
    N, B = x_tr.shape[0], spec["batch_size"]
    p0 = init_params(jax.random.PRNGKey(spec["seed"]), N_IN, spec["hidden_size"], N_OUT)

    t0 = time.perf_counter()
    compiled = step.lower(p0, x_tr[:B], t_tr[:B]).compile()
    acc.lower(p0, xd_tr, td_tr).compile()
    acc.lower(p0, xd_te, td_te).compile()
    compile_s = time.perf_counter() - t0

    def train(evaluate):
        np.random.seed(spec["seed"])
        params = jax.tree_util.tree_map(jnp.copy, p0)
        jax.block_until_ready(params)
        eval_s, n_ev = 0.0, 0
        t0 = time.perf_counter()
        for i in range(spec["iters"]):
            idx = np.random.choice(N, B)
            params = compiled(params, x_tr[idx], t_tr[idx])
            if evaluate and i % spec["eval_every"] == 0:
                te = time.perf_counter()
                float(acc(params, xd_tr, td_tr)), float(acc(params, xd_te, td_te))
                eval_s += time.perf_counter() - te
                n_ev += 1
        jax.block_until_ready(params)
        return params, time.perf_counter() - t0, eval_s, n_ev

    train(False) if spec["warmup"] else None
    times = []
    for _ in range(spec["repeats"]):
        params, t, _, _ = train(False)
        times.append(t)
    params, total_s, eval_s, n_ev = train(True)
    tr, te = _final_acc(params, data)
    return {"steps_s": _median(times), "steps_s_all": times, "total_s": total_s,
            "eval_s": eval_s, "compile_s": compile_s, "n_evals": n_ev, "train_acc": tr,
            "test_acc": te, "repeats": spec["repeats"]}


def _scan_inputs(spec, data):
    """``make_scan_trainer`` keywords, device arrays, data key and initial params."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jaxbp.two_layer_net import init_params
    kw = dict(iters=spec["iters"], batch_size=spec["batch_size"], lr=spec["lr"],
              eval_every=spec["eval_every"], x_kind=spec["scan_x"],
              sampling=spec["scan_sampling"], labels=spec["labels"], unroll=spec["scan_unroll"])
    x = data["x_train"] if spec["scan_x"] == "u8" else data["x_train"].astype(np.float32) / 255.0
    t, t_te = data["t_train"], data["t_test"]
    if spec["labels"] == "onehot":
        eye = np.eye(N_OUT, dtype=np.float32)
        t, t_te = eye[t], eye[t_te]
    args = [jnp.asarray(a) for a in (x, t, data["x_test"], t_te)]
    key = jax.random.PRNGKey(spec["seed"] + 1)
    p0 = init_params(jax.random.PRNGKey(spec["seed"]), N_IN, spec["hidden_size"], N_OUT)
    return kw, args, key, p0


def child_scan(spec, data):
    """jax-grad-scan / jaxbp-scan: make_scan_trainer with either loss."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    loss = _loss_for(spec["row"])
    kw, args, key, p0 = _scan_inputs(spec, data)

    fast = make_scan_trainer(loss, evaluate=False, **kw)
    t0 = time.perf_counter()
    fast_c = fast.lower(p0, key, *args).compile()
    compile_s = time.perf_counter() - t0
    slow = make_scan_trainer(loss, evaluate=True, **kw)
    t0 = time.perf_counter()
    slow_c = slow.lower(p0, key, *args).compile()
    compile_eval_s = time.perf_counter() - t0

    def run(c):
        p = jax.tree_util.tree_map(jnp.copy, p0)
        jax.block_until_ready(p)
        t0 = time.perf_counter()
        out = c(p, key, *args)
        jax.block_until_ready(out)
        return out, time.perf_counter() - t0

    run(fast_c) if spec["warmup"] else None
    times = [run(fast_c)[1] for _ in range(spec["repeats"])]
    (params, accs), total_s = run(slow_c)
    tr, te = _final_acc(params, data)
    return {"steps_s": _median(times), "steps_s_all": times, "total_s": total_s,
            "eval_s": total_s - _median(times), "compile_s": compile_s,
            "compile_eval_s": compile_eval_s, "n_evals": int(np.asarray(accs).shape[0]),
            "train_acc": tr, "test_acc": te, "repeats": spec["repeats"],
            "knobs": {k: spec[k] for k in ("scan_x", "scan_sampling", "labels", "scan_unroll")}}


def child_rule_cost(spec, data):
    """The custom rules' cost: make_scan_trainer with either loss, interleaved.

    Both programs live in one process and their steps-only runs alternate
    (plain, custom, plain, custom, ...), so a change in the machine's load
    hits both alike; the ratio of the medians is the cost of the rules.
    """
    import jax
    import jax.numpy as jnp
    from jaxbp import reference, two_layer_net
    kw, args, key, p0 = _scan_inputs(spec, data)
    progs = {name: make_scan_trainer(loss, evaluate=False, **kw).lower(p0, key, *args).compile()
             for name, loss in (("jax-grad", reference.loss), ("jaxbp", two_layer_net.loss))}
    calls = {name: (lambda c: lambda p: c(p, key, *args))(c) for name, c in progs.items()}
    fit_note = None
    try:   # jaxbp.train.fit's own compiled loop, all the steps in one chunk (no evaluation)
        import optax
        from jaxbp import train as jtrain
        if spec["scan_x"] == "u8" and spec["labels"] == "int":
            cfg = jtrain.Config(iters=spec["iters"], batch_size=spec["batch_size"], lr=spec["lr"],
                                hidden_size=spec["hidden_size"], seed=spec["seed"], evaluate=False)
            opt = optax.sgd(spec["lr"])
            chunk = jtrain.make_train_chunk(cfg, opt)
            n = jnp.int32(spec["iters"])
            fc = chunk.lower(p0, opt.init(p0), key, args[0], args[1], jnp.int32(0), n,
                             max_n=spec["iters"]).compile()
            calls["fit-chunk"] = lambda p: fc(p, opt.init(p), key, args[0], args[1], jnp.int32(0), n)
    except Exception as e:  # the trainer's internals may change: report, don't fail
        fit_note = f"jaxbp.train.make_train_chunk not timed: {type(e).__name__}: {e}"
    times = {name: [] for name in calls}
    n_rep = max(spec["repeats"], 5) if not spec["quick"] else 1
    for r in range(n_rep + (1 if spec["warmup"] else 0)):
        for name, c in calls.items():
            p = jax.tree_util.tree_map(jnp.copy, p0)
            jax.block_until_ready(p)
            t0 = time.perf_counter()
            jax.block_until_ready(c(p))
            if r or not spec["warmup"]:
                times[name].append(time.perf_counter() - t0)
    med = {k: _median(v) for k, v in times.items()}
    pair = [b / a for a, b in zip(times["jax-grad"], times["jaxbp"])]
    out = {"times": times, "median_s": med, "ratio_of_medians": med["jaxbp"] / med["jax-grad"],
           "pairwise_ratios": pair, "ratio": _median(pair), "fit_note": fit_note}
    if "fit-chunk" in times:
        fp = [b / a for a, b in zip(times["jaxbp"], times["fit-chunk"])]
        out["fit_chunk_vs_jaxbp_scan_pairwise"] = fp
        out["fit_chunk_vs_jaxbp_scan"] = _median(fp)
    return out


def _fit(spec, data, evaluate, batch_size=None, hidden_size=None, iters=None):
    from jaxbp import train as jtrain
    cfg = jtrain.Config(iters=iters or spec["iters"], batch_size=batch_size or spec["batch_size"],
                        lr=spec["lr"], hidden_size=hidden_size or spec["hidden_size"],
                        seed=spec["seed"], evaluate=evaluate, eval_every=spec["eval_every"])
    return jtrain.fit(cfg, data=data, progress=False, log=lambda *a, **k: None)


def child_jaxbp(spec, data):
    """jaxbp: jaxbp.train.fit as users run it."""
    import numpy as np
    raw = {k: v for k, v in data.items()}
    if spec["warmup"]:
        _fit(spec, raw, False)
    times, compiles = [], []
    for _ in range(spec["repeats"]):
        m = _fit(spec, raw, False)["metrics"]
        times.append(m["steps_s"])
        compiles.append(m["compile_s"])
    r = _fit(spec, raw, True)
    m = r["metrics"]
    tr, te = _final_acc(r["params"], data)
    return {"steps_s": _median(times), "steps_s_all": times,
            "total_s": m["steps_s"] + m["eval_s"], "eval_s": m["eval_s"],
            "compile_s": _median(compiles), "fit_total_s": m["total_s"],
            "n_evals": len(m["train_acc"]), "train_acc": tr, "test_acc": te,
            "repeats": spec["repeats"], "device": m.get("device"),
            "note": "jaxbp.train.fit; with-evals time = fit's steps_s + eval_s "
                    "(fit evaluates before steps 0, 600, ... and after the last step)"}


def child_peak(spec, data):
    """float32 matmul peak: jnp (jitted, warmed, median) and numpy."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    platform_ = jax.devices()[0].platform
    n = spec["peak_n"] or (2048 if platform_ == "cpu" else 8192)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2 * n ** 3
    mm = jax.jit(lambda x, y: x @ y)
    ad, bd = jnp.asarray(a), jnp.asarray(b)
    jax.block_until_ready(mm(ad, bd))
    ts = []
    for _ in range(spec["peak_reps"]):
        t0 = time.perf_counter()
        jax.block_until_ready(mm(ad, bd))
        ts.append(time.perf_counter() - t0)
    jt = min(ts)
    a @ b
    tn = []
    for _ in range(spec["peak_reps"]):
        t0 = time.perf_counter()
        a @ b
        tn.append(time.perf_counter() - t0)
    nt = min(tn)
    out = {"n": n, "jax_gflops": flop / jt / 1e9, "jax_gflops_median": flop / _median(ts) / 1e9,
           "numpy_gflops": flop / nt / 1e9, "numpy_gflops_median": flop / _median(tn) / 1e9,
           "platform": platform_}
    if platform_ == "cpu":
        out["peak_gflops"] = max(out["jax_gflops"], out["numpy_gflops"])
        out["peak_source"] = "jax" if out["jax_gflops"] >= out["numpy_gflops"] else "numpy"
    else:                                  # numpy runs on the host CPU: not this device's peak
        out["peak_gflops"], out["peak_source"] = out["jax_gflops"], "jax"
    out["peak_note"] = (f"best of {spec['peak_reps']} {n}x{n} float32 matmuls "
                        f"({out['peak_source']}, {platform_})")
    return out


def child_scaling(spec, data):
    """jaxbp.train.fit, steps only, at other batch and hidden sizes."""
    rows = []
    for B, H, iters in spec["scaling"]:
        if spec["warmup"]:
            _fit(spec, data, False, batch_size=B, hidden_size=H, iters=max(1, iters // 10))
        m = _fit(spec, data, False, batch_size=B, hidden_size=H, iters=iters)["metrics"]
        rows.append({"batch_size": B, "hidden_size": H, "iters": iters,
                     "steps_s": m["steps_s"], "compile_s": m["compile_s"],
                     "flops_per_step": flops_per_step(B, H)})
    return {"rows": rows}


def child_numgrad(spec, data):
    """float64 numerical gradient of all parameters on 3 images."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jaxbp import two_layer_net as net
    x = data["x_train"][:3].astype(np.float64) / 255.0
    t = data["t_train"][:3]
    p = net.init_params(jax.random.PRNGKey(0), N_IN, spec["hidden_size"], N_OUT, dtype=jnp.float64)
    n_params = sum(int(np.size(v)) for v in p.values())
    t0 = time.perf_counter()
    g = net.numerical_gradient(p, x, t)
    jax.block_until_ready(g)
    first_s = time.perf_counter() - t0
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(net.numerical_gradient(p, x, t))
        ts.append(time.perf_counter() - t0)
    bp = net.gradient(p, x, t)
    max_diff = max(float(jnp.max(jnp.abs(g[k] - bp[k]))) for k in g)
    out = {"n_params": n_params, "first_call_s": first_s, "steady_s": _median(ts),
           "max_abs_diff_vs_backprop": max_diff}
    if spec["book_numgrad"]:
        sys.path.insert(0, HERE)
        import book_numpy
        np.random.seed(0)
        bnet = book_numpy.TwoLayerNet(N_IN, spec["hidden_size"], N_OUT)
        tb = np.eye(N_OUT)[t]
        t0 = time.perf_counter()
        bnet.numerical_gradient(x, tb)
        out["book_numpy_s"] = time.perf_counter() - t0
    return out


CHILDREN = {"book-numpy": child_book_numpy, "jax-grad-step": child_step, "jaxbp-step": child_step,
            "jax-grad-scan": child_scan, "jaxbp-scan": child_scan, "jaxbp": child_jaxbp,
            "peak": child_peak, "rule-cost": child_rule_cost, "scaling": child_scaling, "numgrad": child_numgrad}


def child_main(spec_json):
    spec = json.loads(spec_json)
    sys.path.insert(0, ROOT)
    data, _ = load_raw_data(spec["synthetic"], spec["quick"])
    t0 = time.perf_counter()
    out = CHILDREN[spec["row"]](spec, data)
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_bytes"] = _vmhwm_bytes()
    print("BENCHMARK-RESULT " + json.dumps(out), flush=True)


# =============================================================================
# Parent
# =============================================================================
def run_child(spec, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if spec["row"] == "book-numpy" and spec.get("book_cpu"):
        env["JAX_PLATFORMS"] = "cpu"
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    for line in p.stdout.splitlines():
        if line.startswith("BENCHMARK-RESULT "):
            out = json.loads(line[len("BENCHMARK-RESULT "):])
            out["process_wall_s"] = wall
            return out
    raise RuntimeError(f"benchmark child {spec['row']} failed (exit {p.returncode}):\n"
                       f"{p.stdout[-3000:]}\n{p.stderr[-5000:]}")


def machine_info():
    import numpy as np
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    try:
        import jax
        import jaxlib
        info["jax"], info["jaxlib"] = jax.__version__, jaxlib.__version__
        d = jax.devices()[0]
        info["device"] = f"{d.platform}:{getattr(d, 'device_kind', d.platform)} x{jax.device_count()}"
    except Exception as e:  # pragma: no cover
        info["jax"] = f"unavailable ({e})"
    try:
        import optax
        info["optax"] = optax.__version__
    except Exception:
        pass
    info["env"] = {k: os.environ[k] for k in sorted(os.environ)
                   if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "XLA_", "JAX_", "TF_CPP"))}
    return info


def _fmt(v, spec):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def derive(res, iters, batch_size, hidden_size, peak):
    f = flops_per_step(batch_size, hidden_size)
    for name, r in res.items():
        r["steps_per_s"] = iters / r["steps_s"]
        r["gflops"] = f * iters / r["steps_s"] / 1e9
        r["pct_peak"] = 100 * r["gflops"] / peak
        r["eval_overhead"] = (r["total_s"] - r["steps_s"]) / r["steps_s"]
        r["devices"] = 1


def targets(res, numgrad, peak, rule_cost=None):
    """(description, measured, limit, met) for each target of the issue."""
    g = lambda row, k: res.get(row, {}).get(k, float("nan"))
    out = []

    def t(desc, val, lim, fmt=".3f", at_least=False):
        ok = (val >= lim if at_least else val <= lim) if math.isfinite(val) else None
        out.append({"target": desc, "measured": val, "limit": lim,
                    "met": None if ok is None else bool(ok), "fmt": fmt})

    t("jaxbp steps / book-numpy steps <= 1/8", g("jaxbp", "steps_s") / g("book-numpy", "steps_s"), 1 / 8)
    t("jaxbp steps / jax-grad-scan steps <= 1/1.2", g("jaxbp", "steps_s") / g("jax-grad-scan", "steps_s"), 1 / 1.2)
    if rule_cost:
        t(f"custom rules cost nothing: same scan program, our loss / plain loss <= 1.02 "
          f"(interleaved runs, median of {len(rule_cost['times']['jaxbp'])} pairwise ratios)",
          rule_cost["ratio"], 1.02)
    t("... the same from the separate rows: jaxbp-scan / jax-grad-scan <= 1.02",
      g("jaxbp-scan", "steps_s") / g("jax-grad-scan", "steps_s"), 1.02)
    t("custom rules, as run: jaxbp (fit) / jax-grad-scan <= 1.02",
      g("jaxbp", "steps_s") / g("jax-grad-scan", "steps_s"), 1.02)
    t("the full-set evaluations add <= 15% (jaxbp: (with evals - steps) / steps)", g("jaxbp", "eval_overhead"), 0.15)
    t("jaxbp compile time <= 1 s", g("jaxbp", "compile_s"), 1.0, ".2f")
    t("jaxbp peak resident memory <= 1 GiB", g("jaxbp", "peak_rss_bytes") / 2 ** 30, 1.0, ".2f")
    if numgrad:
        t("float64 numerical gradient, all parameters, 3 images <= 1 s (steady)",
          numgrad["steady_s"], 1.0, ".3f")
        t("... including its compile (first call) <= 1 s", numgrad["first_call_s"], 1.0, ".3f")
    t("stretch: jaxbp at >= 60% of the matmul peak (%)", g("jaxbp", "pct_peak"), 60.0, ".1f",
      at_least=True)
    return out


def table_rows(res):
    hdr = ["row", "devices", "steps-only s", "steps/s", "with evals s", "evals add", "compile s",
           "train acc", "test acc", "GFLOP/s", "% peak", "peak RSS MiB", "repeats"]
    rows = []
    for name in ROWS:
        if name not in res:
            continue
        r = res[name]
        rows.append([name, str(r["devices"]), _fmt(r["steps_s"], ".3f"), _fmt(r["steps_per_s"], ".0f"),
                     _fmt(r["total_s"], ".3f"), _fmt(100 * r["eval_overhead"], ".0f") + "%",
                     _fmt(r["compile_s"], ".2f"), _fmt(r["train_acc"], ".4f"),
                     _fmt(r["test_acc"], ".4f"), _fmt(r["gflops"], ".1f"), _fmt(r["pct_peak"], ".1f"),
                     _fmt(r["peak_rss_bytes"] / 2 ** 20, ".0f"), str(r["repeats"])])
    return hdr, rows


def text_table(hdr, rows):
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    line = lambda cells: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(cells))
    return "\n".join([line(hdr), line(["-" * x for x in w])] + [line(r) for r in rows])


def md_table(hdr, rows):
    out = ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(hdr))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def scaling_rows(sc, peak):
    hdr = ["batch", "hidden", "steps", "steps-only s", "samples/s", "MFLOP/step", "GFLOP/s", "% peak", "compile s"]
    rows = []
    for r in sc["rows"]:
        gf = r["flops_per_step"] * r["iters"] / r["steps_s"] / 1e9
        r["samples_per_s"] = r["batch_size"] * r["iters"] / r["steps_s"]
        r["gflops"], r["pct_peak"] = gf, 100 * gf / peak
        rows.append([str(r["batch_size"]), str(r["hidden_size"]), str(r["iters"]),
                     _fmt(r["steps_s"], ".3f"), _fmt(r["samples_per_s"], ".3g"),
                     _fmt(r["flops_per_step"] / 1e6, ".2f"), _fmt(gf, ".1f"),
                     _fmt(r["pct_peak"], ".1f"), _fmt(r["compile_s"], ".2f")])
    return hdr, rows


def write_markdown(path, report):
    a = report["settings"]
    m = report["machine"]
    pk = report["peak"]
    L = ["# Benchmarks", "",
         "Generated by `python experiments/benchmark.py"
         + (" " + " ".join(report["argv"]) if report["argv"] else "") + "`; do not edit by hand.", "",
         f"* date: {report['date']} (wall {report['wall_s']:.0f} s; load average "
         f"{report['loadavg_start']} at start, {report['loadavg_end']} at end: the machine "
         "may have been shared with other jobs, which makes every time noisier)",
         f"* machine: {m.get('cpu', '?')}, {m.get('cpu_count')} CPUs, {m.get('mem_gib', '?')} GiB; "
         f"{m['platform']}; JAX device `{m.get('device')}`",
         f"* versions: Python {m['python']}, jax {m.get('jax')}, jaxlib {m.get('jaxlib')}, "
         f"numpy {m['numpy']}, optax {m.get('optax')}",
         "* environment: " + (", ".join(f"`{k}={v}`" for k, v in m["env"].items()) or "none of "
                              "OPENBLAS_*/OMP_*/XLA_*/JAX_* set")
         + "; OPENBLAS_CORETYPE " + ("set" if "OPENBLAS_CORETYPE" in m["env"] else "unset")
         + ", OPENBLAS_L2_SIZE " + ("set" if "OPENBLAS_L2_SIZE" in m["env"] else "unset")
         + " (left as they are: the book's NumPy baseline uses whatever BLAS setup the machine has)",
         f"* data: {report['data']}",
         f"* run: {a['iters']} steps of batch {a['batch_size']}, hidden {a['hidden_size']}, "
         f"lr {a['lr']}, evaluations every {a['eval_every']} steps; median of {a['repeats']} "
         f"repeats for the JAX rows (one run of book-numpy)",
         f"* FLOPs per step (minimal, `2 B (2 n_in H + 3 H C)`): "
         f"{flops_per_step(a['batch_size'], a['hidden_size']) / 1e6:.2f} MFLOP",
         f"* float32 matmul peak: **{pk['peak_gflops']:.1f} GFLOP/s** ({pk['peak_note']}; "
         f"jax {pk['jax_gflops']:.1f}, numpy {pk['numpy_gflops']:.1f})",
         f"* scan knobs (both scan rows): {json.dumps(report['scan_knobs'])}", "",
         "## Rows", "",
         md_table(*table_rows(report["rows"])), "",
         "*steps-only*: all the steps, no evaluation, compile excluded. *with evals*: the "
         "training loop with its full-set train+test evaluations (17 for the book's run; "
         "`jaxbp.train.fit` evaluates at the same steps plus once after the last step, 18 times). "
         "*train/test acc*: after the last step. *% peak*: achieved GFLOP/s on the minimal "
         "FLOP count over the matmul peak above. *peak RSS*: VmHWM of the row's own process.", ""]
    L += ["Rows: `book-numpy` the book's NumPy code (`experiments/book_numpy.py`, float64 "
          "weights); `jax-grad-step` plain jnp + `jax.grad`, one jit per step, host sampling; "
          "`jax-grad-scan` plain jnp + `jax.grad`, the whole loop in one jitted `lax.scan`; "
          "`jaxbp-step` our custom-rule loss, one jit per step; `jaxbp-scan` the same scan "
          "program as `jax-grad-scan` with our loss; `jaxbp` `jaxbp.train.fit` as users run it.", ""]
    L += ["## Targets", "", "| target | measured | limit | met |", "|---|---:|---:|:---:|"]
    for t in report["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        L.append(f"| {t['target']} | {_fmt(t['measured'], t['fmt'])} | {_fmt(t['limit'], t['fmt'])} | {met} |")
    rc = report.get("rule_cost")
    if rc:
        L += ["", "## The custom rules' cost, interleaved", "",
              "`make_scan_trainer` compiled twice in one process, with `jax.grad` of the plain-jnp "
              "loss and with our custom-rule loss, steps-only runs alternating:", "",
              "| program | runs (s) | median s |", "|---|---|---:|"]
        for k in rc["times"]:
            L.append(f"| {k} | {', '.join(f'{v:.3f}' for v in rc['times'][k])} | {rc['median_s'][k]:.3f} |")
        L += ["", f"jaxbp / jax-grad: median of the pairwise ratios **{rc['ratio']:.3f}** ("
              + ", ".join(f"{v:.3f}" for v in rc["pairwise_ratios"])
              + f"); ratio of the medians {rc['ratio_of_medians']:.3f}."]
        if "fit_chunk_vs_jaxbp_scan" in rc:
            L += ["", "`fit-chunk`: `jaxbp.train.make_train_chunk` (the loop `fit` runs: "
                  "`fori_loop` with a dynamic trip count, loss recorded per step, optax SGD), "
                  "all the steps in one call, same loss; against `jaxbp` above (pairwise): "
                  f"median ratio **{rc['fit_chunk_vs_jaxbp_scan']:.3f}** ("
                  + ", ".join(f"{v:.3f}" for v in rc["fit_chunk_vs_jaxbp_scan_pairwise"]) + ")."]
        if rc.get("fit_note"):
            L += ["", rc["fit_note"]]
    if report.get("scaling"):
        L += ["", "## Scaling of `jaxbp` (steps only)", "",
              md_table(*scaling_rows(report["scaling"], pk["peak_gflops"]))]
    if report.get("numgrad"):
        ng = report["numgrad"]
        L += ["", "## Numerical gradient (float64, all parameters, 3 images)", "",
              f"* `jaxbp.two_layer_net.numerical_gradient`: {ng['n_params']} parameters, "
              f"{ng['steady_s']:.3f} s per call (median of 3), first call including compile "
              f"{ng['first_call_s']:.3f} s; max |numerical - backprop| = "
              f"{ng['max_abs_diff_vs_backprop']:.2e}"]
        if "book_numpy_s" in ng:
            L.append(f"* the book's `TwoLayerNet.numerical_gradient` (Python loop, full "
                     f"forward per entry): {ng['book_numpy_s']:.2f} s")
    if report.get("devices"):
        dv = report["devices"]
        L += ["", "## Data parallel over devices (`jaxbp.train --devices N`, steps only)", "",
              f"Batch {dv[0]['batch_size']}, {dv[0]['iters']} steps, sharded over a 1-D mesh. "
              "On the CPU these are forced host devices "
              "(`--xla_force_host_platform_device_count`) sharing 2 cores: a check that "
              "the sharded program runs, not a speed-up.", "",
              "| devices | platform | device | samples/s | steps s | compile s |",
              "|---:|---|---|---:|---:|---:|"]
        for r in dv:
            L.append(f"| {r['devices']} | {r['platform']} | {r['device_kind']} | "
                     f"{r['samples_per_s']:.3g} | {r['steps_s']:.2f} | {r['compile_s']:.2f} |")
    if report.get("notes"):
        L += ["", "## Notes", ""] + [f"* {n}" for n in report["notes"]]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=None, help="steps per run (default 10000; --quick 200)")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of the steps-only run of the JAX rows, median reported (default 3; --quick 1)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--hidden-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=None,
                   help="steps between evaluations (default train_size // batch_size = 600; --quick 50)")
    p.add_argument("--synthetic", action="store_true",
                   help="random data of MNIST's shapes instead of MNIST (timings only)")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings for the CI smoke test (synthetic data without MNIST)")
    p.add_argument("--out", default=os.path.join(HERE, "results", "benchmark.json"), help="JSON output")
    p.add_argument("--markdown", default=os.path.join(ROOT, "BENCHMARKS.md"),
                   help="Markdown output ('' for none)")
    p.add_argument("--skip", action="append", default=[],
                   help="rows or sections to skip (repeatable, or comma separated): "
                        + ", ".join(ROWS + ("scaling", "numgrad", "devices")))
    p.add_argument("--only", default=None, help="comma-separated rows to run (others skipped)")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="no untimed warm-up run before the timed repeats")
    p.add_argument("--scan-x", choices=["u8", "f32"], default="u8")
    p.add_argument("--scan-sampling", choices=["pre", "key"], default="key")
    p.add_argument("--labels", choices=["int", "onehot"], default="int",
                   help="label format of the jax-grad-* / jaxbp-step / jaxbp-scan rows")
    p.add_argument("--scan-unroll", type=int, default=4)
    p.add_argument("--peak-n", type=int, default=0, help="matmul size for the peak (0: auto)")
    p.add_argument("--timeout", type=float, default=1800, help="per child process, seconds")
    p.add_argument("--no-book-numgrad", dest="book_numgrad", action="store_false",
                   help="skip timing the book's Python-loop numerical gradient")
    p.add_argument("--book-cpu", action="store_true",
                   help="run book-numpy with JAX_PLATFORMS=cpu (GPU machines)")
    p.add_argument("--devices-platform", choices=["cpu", "default"], default="cpu",
                   help="devices table: cpu = 1, 2, 4, 8 forced host devices; default = the "
                        "accelerator JAX finds (1 and all of its devices)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a.child:
        return child_main(a.child)
    t_start = time.perf_counter()
    loadavg_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    quick = a.quick
    iters = a.iters or (100 if quick else 10000)
    repeats = a.repeats or (1 if quick else 3)
    skip = {s for x in a.skip for s in x.split(",") if s}
    if a.only:
        keep = set(a.only.split(","))
        skip |= set(ROWS + ("scaling", "numgrad", "devices")) - keep
    notes = []
    synthetic = a.synthetic
    if synthetic:
        print("benchmark: --synthetic: random data (accuracies are meaningless)", flush=True)
        notes.append("--synthetic: random data of MNIST's shapes (accuracies meaningless)")
    elif not mnist_available():
        if not quick:
            sys.exit("benchmark: MNIST not found (set JAXBP_DATA_DIR); only --quick runs on synthetic data")
        synthetic = True
        print("benchmark: MNIST not found: --quick runs on SYNTHETIC random data "
              "(accuracies are meaningless)", flush=True)
        notes.append("MNIST was not found: synthetic random data (accuracies meaningless)")
    n_train = (6000 if quick else 60000) if synthetic else 60000
    eval_every = a.eval_every or (25 if quick else max(n_train // a.batch_size, 1))
    base = {"quick": quick, "synthetic": synthetic, "iters": iters, "repeats": repeats,
            "batch_size": a.batch_size, "hidden_size": a.hidden_size, "lr": a.lr, "seed": a.seed,
            "eval_every": eval_every, "warmup": a.warmup and not quick, "scan_x": a.scan_x,
            "scan_sampling": a.scan_sampling, "labels": a.labels, "scan_unroll": a.scan_unroll,
            "peak_n": a.peak_n or (512 if quick else 0), "peak_reps": 3 if quick else 7,
            "book_cpu": a.book_cpu, "book_numgrad": a.book_numgrad and not quick}
    if quick:
        base["scaling"] = [[100, 50, 20], [1000, 50, 5], [100, 200, 5]]
    else:
        base["scaling"] = [[100, 50, 10000], [1000, 50, 2000], [10000, 50, 200],
                           [100, 1000, 2000], [1000, 1000, 300]]
    flop = flops_per_step(a.batch_size, a.hidden_size)
    print(f"benchmark: {iters} steps, batch {a.batch_size}, hidden {a.hidden_size}, "
          f"{flop / 1e6:.2f} MFLOP per step (2 B (2 n_in H + 3 H C)), evaluations every "
          f"{eval_every} steps, {repeats} repeat(s)", flush=True)

    def go(row, **kw):
        spec = dict(base, row=row, **kw)
        t0 = time.perf_counter()
        print(f"  running {row} ...", end="", flush=True)
        out = run_child(spec, a.timeout)
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)
        return out

    peak = go("peak")
    print(f"  matmul peak: {peak['peak_gflops']:.1f} GFLOP/s ({peak['peak_note']}; "
          f"jax {peak['jax_gflops']:.1f}, numpy {peak['numpy_gflops']:.1f})", flush=True)
    res = {}
    for row in ROWS:
        if row not in skip:
            res[row] = go(row)
    derive(res, iters, a.batch_size, a.hidden_size, peak["peak_gflops"])
    rule_cost = go("rule-cost") if not {"jax-grad-scan", "jaxbp-scan"} & skip else None
    if rule_cost:
        print(f"  custom rules' cost (interleaved): medians {rule_cost['median_s']['jaxbp']:.3f} s / "
              f"{rule_cost['median_s']['jax-grad']:.3f} s; median pairwise ratio "
              f"{rule_cost['ratio']:.3f}", flush=True)
        if "fit_chunk_vs_jaxbp_scan" in rule_cost:
            print(f"  jaxbp.train's compiled loop / make_scan_trainer (same loss, interleaved): "
                  f"{rule_cost['fit_chunk_vs_jaxbp_scan']:.3f}", flush=True)
    scaling = go("scaling") if "scaling" not in skip else None
    numgrad = go("numgrad") if "numgrad" not in skip else None
    devices = None
    if "devices" not in skip:                # issue 5's column: data parallel throughput
        from devices_benchmark import device_rows
        counts = ("1", "2", "4", "8") if a.devices_platform == "cpu" else ("1", "all")
        t0 = time.perf_counter()
        print("  running devices ...", end="", flush=True)
        devices = device_rows(iters=50 if quick else 2000, batch_size=96, counts=counts,
                              platform=a.devices_platform,
                              dataset="synthetic" if synthetic else "mnist")
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)
    peak_end = None
    if not quick:                            # the machine's state may change during the run
        peak_end = go("peak")
        notes.append(f"matmul peak re-measured at the end: {peak_end['peak_gflops']:.1f} GFLOP/s "
                     f"(start {peak['peak_gflops']:.1f}); percentages use the start value")

    import datetime
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "argv": argv, "machine": machine_info(), "data": ("synthetic" if synthetic else
                                                               load_data_source()),
              "settings": {k: base[k] for k in ("iters", "repeats", "batch_size", "hidden_size",
                                                "lr", "seed", "eval_every", "quick")},
              "flops_per_step": flop, "peak": peak, "peak_end": peak_end,
              "scan_knobs": {k: base[k] for k in ("scan_x", "scan_sampling", "labels", "scan_unroll")},
              "rows": res, "rule_cost": rule_cost, "scaling": scaling, "numgrad": numgrad,
              "devices": devices, "notes": notes}
    notes.extend(analysis_notes(res, peak["peak_gflops"], n_train, eval_every, iters,
                                a.batch_size, a.hidden_size))
    report["targets"] = targets(res, numgrad, peak["peak_gflops"], rule_cost)
    report["loadavg_start"] = loadavg_start
    report["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report["wall_s"] = time.perf_counter() - t_start

    hdr, rows = table_rows(res)
    print()
    print(text_table(hdr, rows))
    if scaling:
        print("\nscaling of jaxbp (steps only):")
        print(text_table(*scaling_rows(scaling, peak["peak_gflops"])))
    if numgrad:
        print(f"\nfloat64 numerical gradient of {numgrad['n_params']} parameters on 3 images: "
              f"{numgrad['steady_s']:.3f} s (first call {numgrad['first_call_s']:.3f} s)"
              + (f"; the book's loop {numgrad['book_numpy_s']:.2f} s" if "book_numpy_s" in numgrad else ""))
    if devices:
        from devices_benchmark import format_rows
        print("\ndata parallel over devices (jaxbp.train, batch 96, steps only):")
        print(format_rows(devices))
    print("\ntargets:")
    for t in report["targets"]:
        met = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        print(f"  [{met:7s}] {t['target']}: {_fmt(t['measured'], t['fmt'])} (limit {_fmt(t['limit'], t['fmt'])})")

    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1, default=str)
        print(f"\nwrote {a.out}")
    if a.markdown:
        write_markdown(a.markdown, report)
        print(f"wrote {a.markdown}")
    return 0


def analysis_notes(res, peak, n_train, eval_every, iters, B, H):
    """Bounds that put the targets in perspective."""
    notes = []
    n_ev = -(-iters // eval_every)
    n_test = 10000 if n_train == 60000 else n_train // 6
    ev_flop = n_ev * (n_train + n_test) * 2 * (N_IN * H + H * N_OUT)
    if "jaxbp" in res:
        st = res["jaxbp"]["steps_s"]
        notes.append(
            f"the {n_ev} full-set evaluations are {ev_flop / 1e9:.0f} GFLOP of matmul "
            f"({n_train + n_test} images each); even at the {peak:.0f} GFLOP/s matmul peak they "
            f"take {ev_flop / peak / 1e9:.2f} s, {100 * ev_flop / peak / 1e9 / st:.0f}% of "
            f"jaxbp's steps-only time, so '<= 15%' needs steps this slow or evaluations "
            f"faster than the peak")
    if "jax-grad-scan" in res and "jaxbp-scan" in res:
        notes.append(
            "jax-grad-scan and jaxbp-scan are one program (make_scan_trainer) that differs "
            "only in the loss; if the custom rules cost nothing (ratio ~1), jaxbp cannot also "
            "be 1.2x faster than jax-grad-scan: the two targets exclude each other unless "
            "the plain-JAX loop is written less well than ours")
    return notes


def load_data_source():
    return "MNIST from " + (os.environ.get("JAXBP_DATA_DIR") or "jaxbp.mnist's default search path")


if __name__ == "__main__":
    sys.exit(main())
