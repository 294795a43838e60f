"""The benchmark's rows: ``python rows.py ROW SPEC_JSON`` prints ``RESULT {...}``, the result of
``ROWS[ROW](spec)`` and the process's peak resident memory.  The JAX rows start from the
parameters of ``jaxbp.train.fit``; the scan rows also draw its minibatches."""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import partial
from importlib.metadata import version
from statistics import median

import jax
import jax.numpy as jnp
import numpy as np

from bench import torch_peer as peers
from bench.harness import interleaved, timed
from jaxbp import reference, train, two_layer_net
from jaxbp.mnist.synthetic import synthetic_mnist
from jaxbp.train import models, xla_options
from jaxbp.train.devices import device_name
from jaxbp.train.evaluation import make_evaluation

ENV = ("XLA_", "JAX_", "OMP_", "OPENBLAS_", "MKL_")  # the environment variables recorded


def load(spec) -> dict:
    """uint8 ``(N, 784)`` images and int32 labels: MNIST, or ``jaxbp.mnist.synthetic``'s."""
    if spec["synthetic"]:
        return synthetic_mnist(*spec["synthetic"], seed=0)
    return train.load_data(progress=False)


def config(spec, **kw) -> train.Config:
    keys = ("iters", "batch_size", "lr", "hidden_size", "seed", "eval_every")
    return train.Config(**dict({k: spec[k] for k in keys}, **kw))


def fit(spec, data, **kw) -> dict:
    """``jaxbp.train.fit`` as users run it: ``{"params", "state", "metrics"}``."""
    return train.fit(config(spec, **kw), data=data, progress=False, log=lambda *a: None)


def start(spec, path=xla_options.DEFAULT):
    """The data, the trainer's initial parameters and data key, and ``path``'s compiler options."""
    cfg = config(spec)
    params, _, _, data_key = train.initial_state(models.get(cfg), models.optimizer(cfg), cfg.seed)
    return load(spec), params, data_key, *xla_options.compiler_options(path)


def compiled(jitted, options, *args, **kw):
    """``jitted`` compiled for ``args`` with ``options``, and the seconds that took."""
    return timed(lambda: jitted.lower(*args, **kw).compile(compiler_options=options or None))


def sgd_step(loss, lr):
    grad = jax.grad(loss)
    return lambda params, x, t: jax.tree.map(lambda p, d: p - lr * d, params, grad(params, x, t))


def make_scan(loss, spec, sampling="step"):
    """``run(params, key, x_uint8, t)``: all the SGD steps in one jitted ``lax.scan``.  Step ``i``
    draws ``randint(fold_in(key, i), (B,))`` as the trainer does, in the step or up front."""
    B, step = spec["batch_size"], sgd_step(loss, spec["lr"])

    def run(params, key, x, t):
        def draw(i):
            return jax.random.randint(jax.random.fold_in(key, i), (B,), 0, x.shape[0])

        def body(params, i_or_idx):
            idx = draw(i_or_idx) if sampling == "step" else i_or_idx
            return step(params, train.normalise(x[idx]), t[idx]), None

        steps = jnp.arange(spec["iters"])
        return jax.lax.scan(body, params, steps if sampling == "step" else jax.vmap(draw)(steps))[0]

    return jax.jit(run, donate_argnums=0)


def finish(data, params, times, compile_s, path, **extra) -> dict:
    """A training row's result: steps-only seconds, compile seconds, final accuracies."""
    out = dict(steps_s=median(times), steps_s_all=times, compile_s=compile_s, cpu_matmul=path)
    for s in ("train", "test"):
        out[f"{s}_acc"] = train.evaluate(params, data[f"x_{s}"], data[f"t_{s}"])
    return dict(out, **extra)


def book_numpy_row(spec):
    """The book's NumPy code (experiments/book_numpy), float64 weights, one run."""
    import book_numpy

    data, eye = load(spec), np.eye(10, dtype=np.float32)
    xt = [(data[f"x_{s}"].astype(np.float32) / 255, eye[data[f"t_{s}"]]) for s in ("train", "test")]
    kw = dict(iters_num=spec["iters"], learning_rate=spec["lr"], iter_per_epoch=spec["eval_every"])
    kw.update(batch_size=spec["batch_size"], hidden_size=spec["hidden_size"], seed=spec["seed"])
    r = book_numpy.train(xt, verbose=False, **kw)
    extra = {"eval_s": r["eval_s"], "n_evals": len(r["train_acc"])}
    return finish(data, r["network"].params, [r["steps_s"]], 0.0, "numpy", **extra)


def jax_row(spec, loss, loop, path):
    """SGD on ``loss`` with ``path``'s compiler options: one jitted call per step on
    minibatches drawn on the host as the book does (``loop="step"``), or :func:`make_scan`."""
    data, params0, key, path, options = start(spec, path)
    if loop == "scan":
        x, t = jnp.asarray(data["x_train"]), jnp.asarray(data["t_train"])
        c, compile_s = compiled(make_scan(loss, spec), options, params0, key, x, t)
        run = lambda: c(jax.tree.map(jnp.copy, params0), key, x, t)
    else:
        x, t, B = data["x_train"].astype(np.float32) / 255, data["t_train"], spec["batch_size"]
        step = jax.jit(sgd_step(loss, spec["lr"]), donate_argnums=0)
        c, compile_s = compiled(step, options, params0, x[:B], t[:B])

        def run():
            np.random.seed(spec["seed"])
            params = jax.tree.map(jnp.copy, params0)
            for _ in range(spec["iters"]):
                idx = np.random.choice(len(x), B)
                params = c(params, x[idx], t[idx])
            return params

    times, last = interleaved({"run": run}, spec["repeats"], spec["warmup"])
    return finish(data, last["run"], times["run"], compile_s, path)


def jaxbp_fit(spec):
    """``jaxbp.train.fit`` as users run it, steps only and with its evaluations, ``rounds``
    rounds interleaved: each run's loop seconds (steps + the evaluations waited for)."""
    data, last = load(spec), {}

    def loop_seconds(evaluate: bool):
        def call():
            last[evaluate] = r = fit(spec, data, evaluate=evaluate)
            return r["metrics"]["steps_s"] + r["metrics"]["eval_s"]

        return call

    calls = {"steps only": loop_seconds(False), "with evaluations": loop_seconds(True)}
    times = interleaved(calls, spec["rounds"], spec["warmup"], own_seconds=True)[0]
    steps, whole = times["steps only"], times["with evaluations"]
    m = last[True]["metrics"]
    extra = dict(eval_s=m["eval_s"], eval_run_steps_s=m["steps_s"], n_evals=len(m["test_acc"]))
    extra.update(fit_s=whole, fit_ratio=median(w / s for s, w in zip(steps, whole)))
    compile_s = last[False]["metrics"]["compile_s"]
    return finish(data, last[True]["params"], steps, compile_s, m["cpu_matmul"], **extra)


def eval_flops(data: dict, hidden: int) -> int:
    """FLOPs of one evaluation: TwoLayerNet's two matmuls over every training and test image."""
    n = data["x_train"].shape[0] + data["x_test"].shape[0]
    return 2 * n * (784 * hidden + hidden * 10)


def peak_calls(n: int) -> dict:
    """``{"peak jax": ..., "peak numpy": ...}``: an ``n x n`` float32 product in each."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a_dev, mm = jax.device_put(a), jax.jit(lambda x: x @ x)
    return {"peak jax": lambda: mm(a_dev), "peak numpy": lambda: a @ a}


def peak_of(times: dict, n: int) -> float:
    """GFLOP/s of the best ``n x n`` product of :func:`peak_calls`: JAX's or NumPy's on a CPU
    (the larger), JAX's on an accelerator (NumPy runs on the host)."""
    best = {k: 2 * n**3 / min(times[k]) / 1e9 for k in ("peak jax", "peak numpy")}
    return max(best.values()) if jax.default_backend() == "cpu" else best["peak jax"]


def evaluation(spec):
    """``jaxbp.train``'s compiled evaluation (every training and test image) on each XLA CPU
    matmul path, against the machine's float32 matmul peak, ``rounds`` rounds interleaved
    in this process; ``chosen``: the path the trainer evaluates with on this machine."""
    data, params, _, _, _ = start(spec)
    model = models.get(config(spec))
    arrays = [jnp.asarray(data[k]) for k in ("x_train", "t_train", "x_test", "t_test")]
    calls = {}
    for path in (p for p in xla_options.PATHS if xla_options.supported(p)):
        ev = compiled(make_evaluation(model), xla_options.PATHS[path], params, {}, *arrays)[0]
        calls[path] = lambda ev=ev: ev(params, {}, *arrays)
    paths = list(calls)
    calls.update(peak_calls(spec["peak_n"]))
    times = interleaved(calls, spec["rounds"])[0]
    peak, flops = peak_of(times, spec["peak_n"]), eval_flops(data, spec["hidden_size"])
    chosen = xla_options.compiler_options("auto", program="evaluation two_layer_net")[0]
    rows = {p: {"s": times[p], "gflops": flops / median(times[p]) / 1e9} for p in paths}
    share = rows[chosen]["gflops"] / peak
    return {"paths": rows, "gflop": flops / 1e9, "peak_gflops": peak, "chosen": chosen,
            "share": share}  # fmt: skip


def command(spec):
    """``python -m jaxbp.train`` (the book's defaults; the compile cache warm: after an untimed
    round), ``--iters 1`` (its start-up: the wall less its loop), ``fit``'s steps only and the
    matmul peak, ``rounds`` rounds interleaved: the command against its limit, start-up +
    steps only + the evaluations at the peak."""
    if spec["synthetic"]:
        return {"skipped": "the command trains on MNIST"}
    data, tmp, count = load(spec), tempfile.mkdtemp(prefix="jaxbp-bench-"), itertools.count()

    def cli(*flags):
        out = os.path.join(tmp, f"run{next(count)}")
        cmd = [sys.executable, "-m", "jaxbp.train", "--out-dir", out, "--quiet", *flags]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        if p.returncode:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as f:
            m = json.load(f)
        return {"wall": wall, "loop": m["steps_s"] + m["eval_s"], "n_evals": len(m["eval_steps"])}

    peak, rounds = peak_calls(spec["peak_n"]), []
    for r in range(spec["rounds"] + 1):
        one = {"command": cli(), "start-up": cli("--iters", "1")}
        one["steps only"] = fit(spec, data, evaluate=False)["metrics"]["steps_s"]
        one.update({k: timed(call)[1] for k, call in peak.items()})
        rounds += [one] if r else []  # the first round fills the compile cache
    top = peak_of({k: [r[k] for r in rounds] for k in peak}, spec["peak_n"])
    flops = eval_flops(data, spec["hidden_size"])
    for r in rounds:
        startup = r["start-up"]["wall"] - r["start-up"]["loop"]
        r["limit"] = startup + r["steps only"] + r["command"]["n_evals"] * flops / top / 1e9
        r["ratio"] = r["command"]["wall"] / r["limit"]
    med = lambda f: median(f(r) for r in rounds)
    return {"rounds": rounds, "peak_gflops": top, "wall_s": med(lambda r: r["command"]["wall"]),
            "limit_s": med(lambda r: r["limit"]), "ratio": med(lambda r: r["ratio"])}  # fmt: skip


def rule_cost(spec):
    """Our loss against the plain-jnp twin in the same scan program, for each XLA CPU path and
    with the indices drawn per step or per run, and ``fit``'s own chunk; rounds interleaved."""
    data, params0, key, path, options = start(spec)
    x, t = jnp.asarray(data["x_train"]), jnp.asarray(data["t_train"])
    calls = {}
    for q, opts in xla_options.PATHS.items():
        for name, loss, sampling in (
            (f"jax-grad {q}", reference.loss, "step"),
            (f"jaxbp {q}", two_layer_net.loss, "step"),
            (f"jaxbp {q} indices-per-run", two_layer_net.loss, "run"),
        ):
            c = compiled(make_scan(loss, spec, sampling), opts, params0, key, x, t)[0]
            calls[name] = lambda c=c: c(jax.tree.map(jnp.copy, params0), key, x, t)
    cfg = config(spec, evaluate=False)
    opt = models.optimizer(cfg)
    args = (params0, {}, opt.init(params0), key, x, t, jnp.int32(0), jnp.int32(cfg.iters))
    chunk = train.make_train_chunk(cfg, opt, models.get(cfg))
    calls[f"fit chunk {path}"] = partial(compiled(chunk, options, *args, max_n=cfg.iters)[0], *args)
    times = interleaved(calls, spec["rounds"])[0]
    pairs = [(f"jaxbp {path}", f"fit chunk {path}")]
    for q in xla_options.PATHS:
        pairs += [(f"jax-grad {q}", f"jaxbp {q}"), (f"jaxbp {q}", f"jaxbp {q} indices-per-run")]
        pairs += [("jax-grad xla-default", f"jax-grad {q}")] if q != "xla-default" else []
    # medians of the rounds' ratios: a change in the machine's load hits both sides alike
    ratio = lambda a, b: median([tb / ta for ta, tb in zip(times[a], times[b])])
    ratios = {f"{b} / {a}": ratio(a, b) for a, b in pairs}
    cost = ratio(f"jax-grad {path}", f"jaxbp {path}")
    return {"times": times, "chosen": path, "ratio": cost, "ratios": ratios}


def scaling(spec):
    """``fit``'s steps-only seconds at other batch and hidden sizes."""
    data, out = load(spec), []
    for B, H, iters in spec["scaling"]:
        m = fit(spec, data, batch_size=B, hidden_size=H, iters=iters, evaluate=False)["metrics"]
        row = dict(batch_size=B, hidden_size=H, iters=iters)
        out.append(dict(row, steps_s=m["steps_s"], compile_s=m["compile_s"]))
    return {"rows": out}


def devices(spec):
    """``fit``'s steps only with ``Config(devices=n)``, batch 96 (the parent forces n devices)."""
    B, iters = 96, spec["devices_iters"]
    cfg = dict(devices=str(spec["devices"]), batch_size=B, iters=iters, evaluate=False)
    m = fit(spec, load(spec), **cfg)["metrics"]
    speed = {"steps_s": m["steps_s"], "samples_per_s": iters * B / m["steps_s"]}
    return {"devices": jax.device_count(), "iters": iters, "compile_s": m["compile_s"], **speed}


def numgrad(spec):
    """The float64 numerical gradient of all the parameters on 3 images: the first call, the
    steady state, its distance to backprop, and the book's loop (``book_numgrad``)."""
    jax.config.update("jax_enable_x64", True)
    net, data = two_layer_net, load(spec)
    x, t = data["x_train"][:3].astype(np.float64) / 255, data["t_train"][:3]
    p = net.init_params(jax.random.PRNGKey(0), 784, spec["hidden_size"], 10, dtype=jnp.float64)
    times, last = interleaved({"g": lambda: net.numerical_gradient(p, x, t)}, 4, warmup=False)
    g, bp, (first_s, *steady) = last["g"], net.gradient(p, x, t), times["g"]
    out = {
        "n_params": sum(int(v.size) for v in p.values()),
        "first_call_s": first_s,
        "steady_s": median(steady),
        "max_abs_diff_vs_backprop": max(float(jnp.max(jnp.abs(g[k] - bp[k]))) for k in g),
    }
    if spec["book_numgrad"]:
        import book_numpy

        np.random.seed(0)
        book = book_numpy.TwoLayerNet(784, spec["hidden_size"], 10)
        out["book_numpy_s"] = timed(lambda: book.numerical_gradient(x, np.eye(10)[t]))[1]
    return out


def torch_peer(spec) -> tuple[peers.TorchPeer | None, str | None]:
    """The PyTorch peer process of ``spec["torch"]`` (``python``, ``threads``), or why not."""
    t = spec.get("torch") or {}
    return peers.start(t.get("python"), t.get("threads", os.cpu_count()))


def torch_row(spec):
    """TwoLayerNet steps only: PyTorch eager (bench/torch_peer.py) and ``jaxbp.train.fit``,
    ``repeats`` rounds interleaved after an untimed one; each side's own step seconds."""
    peer, why = torch_peer(spec)
    if peer is None:
        return {"skipped": why}
    data = load(spec)
    sides = {
        "jaxbp": lambda: fit(spec, data, evaluate=False)["metrics"]["steps_s"],
        "torch-eager": peer.call("two_layer_net", spec["iters"]),
    }
    try:
        times = interleaved(sides, spec["repeats"], own_seconds=True)[0]
    finally:
        peer.close()
    ratio = median(t / j for t, j in zip(times["torch-eager"], times["jaxbp"]))
    return {"times": times, "torch": peer.version, "threads": spec["torch"]["threads"],
            "ratio": ratio, "skipped_rows": peer.skipped}  # fmt: skip


def conv(spec):
    """SimpleConvNet (7.5) ms per step: experiments/bench_conv.py's rows, rounds interleaved
    (with the PyTorch rows when ``spec["torch"]`` names a Python that has PyTorch)."""
    import bench_conv

    steps, n_book = spec["conv_steps"]
    peer, why = torch_peer(spec)
    try:
        times, source = bench_conv.measure(steps, n_book, spec["rounds"], xla_options.DEFAULT, peer)
    finally:
        if peer:
            peer.close()
    ms = {k: 1e3 * median(v) for k, v in times.items()}
    out = {"ms_per_step": ms, "data": source, "cpu_matmul": xla_options.DEFAULT}
    return dict(out, torch_skipped=why or (peer.skipped or None))


def peak(spec):
    """The machine, and its float32 matmul peak: the best of 7 ``n x n`` products in JAX (jitted)
    and in NumPy, the larger on a CPU, JAX's on an accelerator (NumPy runs on the host)."""
    n = spec["peak_n"]
    times = interleaved(peak_calls(n), 7)[0]
    best = {f"{k.split()[1]}_gflops": 2 * n**3 / min(ts) / 1e9 for k, ts in times.items()}
    top = peak_of(times, n)
    versions = ", ".join(f"{k} {version(k)}" for k in ("jax", "jaxlib", "numpy", "optax"))
    env = ", ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(ENV))
    machine = {
        "cpu": xla_options.cpu_model(),
        "isa": xla_options.cpu_isa(),
        "jax": version("jax"),
        "cores": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "versions": f"python {platform.python_version()}, {versions}",
        "device": device_name(),
        "env": env or "no XLA_/JAX_/BLAS variables",
    }
    return {"peak": {"n": n, **best, "peak_gflops": top}, "machine": machine}


ROWS = {
    "peak": peak,
    "book-numpy": book_numpy_row,
    "jax-grad-step": partial(jax_row, loss=reference.loss, loop="step", path="xla-default"),
    "jax-grad-scan": partial(jax_row, loss=reference.loss, loop="scan", path="xla-default"),
    "jax-grad-scan-eigen": partial(jax_row, loss=reference.loss, loop="scan", path="eigen"),
    "jaxbp-step": partial(jax_row, loss=two_layer_net.loss, loop="step", path=xla_options.DEFAULT),
    "jaxbp-scan": partial(jax_row, loss=two_layer_net.loss, loop="scan", path=xla_options.DEFAULT),
    "jaxbp": jaxbp_fit,
    "evaluation": evaluation,
    "command": command,
    "rule-cost": rule_cost,
    "scaling": scaling,
    "devices": devices,
    "numgrad": numgrad,
    "conv": conv,
    "torch": torch_row,
}

if __name__ == "__main__":
    out = ROWS[sys.argv[1]](json.loads(sys.argv[2]))
    with open("/proc/self/status") as f:  # VmHWM: the process's peak resident memory
        out["peak_rss_bytes"] = next(int(s.split()[1]) * 1024 for s in f if s.startswith("VmHWM:"))
    print("RESULT " + json.dumps(out), flush=True)
