"""The benchmark's rows.  Each ``ROWS[name](spec) -> dict`` runs in its own process.

``spec``: ``iters``, ``batch_size``, ``hidden_size``, ``lr``, ``seed``, ``eval_every``,
``repeats``, ``warmup``, ``synthetic`` (``[n_train, n_test]`` or ``None`` for MNIST),
plus what a row names.  Every TwoLayerNet row starts from the trainer's initial
parameters and key (``jaxbp.train.fit``'s split of ``PRNGKey(seed)``), and the scan
rows draw the trainer's minibatch stream (``fold_in(key, i)``), so the final
accuracies of the JAX rows agree up to summation order.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from harness import HERE, interleaved, machine_info, matmul_peak, median

EXPERIMENTS = os.path.dirname(HERE)


def flops_per_step(batch_size: int, hidden_size: int = 50, n_in: int = 784, n_out: int = 10):
    """Minimal FLOPs of a step: forward ``2B(n_in H + H C)``, ``dW1`` ``2B n_in H``,
    ``dW2`` and ``dh`` ``2 * 2B H C`` (no input gradient); 15.98 MFLOP for the book's net."""
    return 2 * batch_size * (2 * n_in * hidden_size + 3 * hidden_size * n_out)


def load(spec) -> dict:
    """uint8 ``(N, 784)`` images and int32 labels: MNIST, or ``jaxbp.testing``'s."""
    if spec["synthetic"]:
        from jaxbp.testing import synthetic_mnist

        return synthetic_mnist(*spec["synthetic"], seed=0)
    from jaxbp.mnist import load_raw

    raw = load_raw(progress=False, download=False)
    return {k: v.reshape(len(v), -1) if k[0] == "x" else v.astype(np.int32) for k, v in raw.items()}


def config(spec, **kw):
    from jaxbp import train

    keys = ("iters", "batch_size", "lr", "hidden_size", "seed", "eval_every")
    return train.Config(**{**{k: spec[k] for k in keys}, **kw})


def start(spec, xla_defaults=False):
    """The trainer's initial parameters and data key, and jaxbp's compiler options
    (jaxbp's default path, as ``fit`` uses it) or XLA's defaults."""
    import jax

    from jaxbp import models, xla_options

    init_key, data_key = jax.random.split(jax.random.PRNGKey(spec["seed"]))
    choice = "xla-default" if xla_defaults else xla_options.DEFAULT
    path, options = xla_options.compiler_options(choice)
    return models.get(config(spec)).init(init_key)[0], data_key, path, options


def finish(data, params, times, compile_s, path, **extra) -> dict:
    """A row's result: steps-only times and accuracies after the last step."""
    from jaxbp.train import evaluate

    acc = {s: evaluate(params, data[f"x_{s}"], data[f"t_{s}"]) for s in ("train", "test")}
    return {
        "steps_s": median(times),
        "steps_s_all": times,
        "compile_s": compile_s,
        "train_acc": acc["train"],
        "test_acc": acc["test"],
        "cpu_matmul": path,
        **extra,
    }


def losses():
    from jaxbp import reference, two_layer_net

    return {"jax-grad": reference.loss, "jaxbp": two_layer_net.loss}


def compiled(jitted, options, *args, **kw):
    t0 = time.perf_counter()
    c = jitted.lower(*args, **kw).compile(compiler_options=options or None)
    return c, time.perf_counter() - t0


# ---- the rows ---------------------------------------------------------------------------
def book_numpy(spec):
    """The book's NumPy code (experiments/book_numpy.py), float64 weights, one run."""
    sys.path.insert(0, EXPERIMENTS)
    import book_numpy

    data, eye = load(spec), np.eye(10, dtype=np.float32)
    xs = {s: data[f"x_{s}"].astype(np.float32) / 255 for s in ("train", "test")}
    r = book_numpy.train(
        ((xs["train"], eye[data["t_train"]]), (xs["test"], eye[data["t_test"]])),
        iters_num=spec["iters"],
        batch_size=spec["batch_size"],
        learning_rate=spec["lr"],
        hidden_size=spec["hidden_size"],
        seed=spec["seed"],
        verbose=False,
        iter_per_epoch=spec["eval_every"],
    )
    return finish(
        data,
        r["network"].params,
        [r["steps_s"]],
        0.0,
        "numpy",
        eval_s=r["eval_s"],
        n_evals=len(r["train_acc"]),
    )


def step_row(loss_name, xla_defaults):
    """One jitted call per step, minibatches drawn on the host (np.random.choice)."""

    def row(spec):
        import jax
        import jax.numpy as jnp

        data = load(spec)
        params0, _, path, options = start(spec, xla_defaults)
        loss, lr, B = losses()[loss_name], spec["lr"], spec["batch_size"]
        x, t = data["x_train"].astype(np.float32) / 255, data["t_train"]  # the book's arrays

        def step(params, xb, tb):
            g = jax.grad(loss)(params, xb, tb)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)

        c, compile_s = compiled(jax.jit(step, donate_argnums=0), options, params0, x[:B], t[:B])
        out = {}

        def run():
            np.random.seed(spec["seed"])
            params = jax.tree_util.tree_map(jnp.copy, params0)
            for _ in range(spec["iters"]):
                idx = np.random.choice(len(x), B)
                params = c(params, x[idx], t[idx])
            out["params"] = jax.block_until_ready(params)

        times = interleaved({"run": run}, spec["repeats"], spec["warmup"])["run"]
        return finish(data, out["params"], times, compile_s, path)

    return row


def make_scan(loss, spec, sampling="step"):
    """``run(params, key, x_uint8, t) -> params``: all the steps in one jitted ``lax.scan``.

    Step ``i`` draws ``randint(fold_in(key, i), (B,))`` as the trainer does, inside the
    step (``sampling="step"``) or for all the steps before the scan (``"chunk"``, the
    same bits); the minibatch is gathered and normalised in the step, plain SGD.
    """
    import jax
    import jax.numpy as jnp

    from jaxbp.train import normalise

    B, lr = spec["batch_size"], spec["lr"]
    grad = jax.grad(loss)

    def run(params, key, x, t):
        def draw(i):
            return jax.random.randint(jax.random.fold_in(key, i), (B,), 0, x.shape[0])

        def body(params, i_or_idx):
            idx = draw(i_or_idx) if sampling == "step" else i_or_idx
            g = grad(params, normalise(x[idx]), t[idx])
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g), None

        steps = jnp.arange(spec["iters"])
        return jax.lax.scan(body, params, steps if sampling == "step" else jax.vmap(draw)(steps))[0]

    return jax.jit(run, donate_argnums=0)


def scan_programs(spec, variants):
    """``{name: (call, compile_s)}`` for ``variants`` ``{name: (loss, options, sampling)}``."""
    import jax
    import jax.numpy as jnp

    data = load(spec)
    params0, key, _, _ = start(spec)
    x, t = jnp.asarray(data["x_train"]), jnp.asarray(data["t_train"])
    programs, out = {}, {}
    for name, (loss, options, sampling) in variants.items():
        c, s = compiled(make_scan(loss, spec, sampling), options, params0, key, x, t)
        programs[name] = (
            (
                lambda c=c: out.__setitem__(
                    "params",
                    jax.block_until_ready(c(jax.tree_util.tree_map(jnp.copy, params0), key, x, t)),
                )
            ),
            s,
        )
    return programs, data, out


def scan_row(loss_name, xla_defaults):
    """The whole run as one compiled ``lax.scan`` (:func:`make_scan`)."""

    def row(spec):
        path, options = start(spec, xla_defaults)[2:]
        programs, data, out = scan_programs(spec, {"run": (losses()[loss_name], options, "step")})
        call, compile_s = programs["run"]
        times = interleaved({"run": call}, spec["repeats"], spec["warmup"])["run"]
        return finish(data, out["params"], times, compile_s, path)

    return row


def jaxbp_fit(spec):
    """``jaxbp.train.fit`` as users run it: steps only (``repeats``), then with evaluations."""
    from jaxbp import train

    data = load(spec)

    def fit(**kw):
        return train.fit(config(spec, **kw), data=data, progress=False, log=lambda *a: None)[
            "metrics"
        ]

    warm = int(spec["warmup"])
    runs = [fit(evaluate=False) for _ in range(spec["repeats"] + warm)][warm:]
    m = fit()
    return {
        "steps_s": median([r["steps_s"] for r in runs]),
        "steps_s_all": [r["steps_s"] for r in runs],
        "compile_s": median([r["compile_s"] for r in runs]),
        "cpu_matmul": m["cpu_matmul"],
        "eval_s": m["eval_s"],
        "eval_run_steps_s": m["steps_s"],
        "n_evals": len(m["test_acc"]),
        "train_acc": m["train_acc"][-1],
        "test_acc": m["test_acc"][-1],
    }


def rule_cost(spec):
    """Our loss against the plain-jnp twin in the same scan program, run interleaved.

    For each XLA CPU path, and with the minibatch indices drawn per step or for the
    whole run; plus the trainer's own chunk (``make_train_chunk``, optax SGD, per-step
    losses) with the chosen options.  Ratios are medians of the rounds' pairwise ratios.
    """
    import jax
    import jax.numpy as jnp

    from jaxbp import models, train, xla_options

    variants = {}
    for path, options in xla_options.PATHS.items():
        for name, loss in losses().items():
            variants[f"{name} {path}"] = (loss, options, "step")
        variants[f"jaxbp {path} indices-per-run"] = (losses()["jaxbp"], options, "chunk")
    programs, data, _ = scan_programs(spec, variants)
    params0, key, path, options = start(spec)
    cfg = config(spec, evaluate=False)
    opt = models.optimizer(cfg)
    chunk_args = (
        params0,
        {},
        opt.init(params0),
        key,
        jnp.asarray(data["x_train"]),
        jnp.asarray(data["t_train"]),
        jnp.int32(0),
        jnp.int32(cfg.iters),
    )
    chunk, _ = compiled(
        train.make_train_chunk(cfg, opt, models.get(cfg)), options, *chunk_args, max_n=cfg.iters
    )
    calls = {k: v[0] for k, v in programs.items()}
    calls[f"fit chunk {path}"] = lambda: jax.block_until_ready(chunk(*chunk_args))
    times = interleaved(calls, spec["repeats"], warmup=True)

    def ratio(a, b):  # median of the rounds' b / a
        return median([y / x for x, y in zip(times[a], times[b])])

    fit_chunk = ratio(f"jaxbp {path}", f"fit chunk {path}")
    out = {
        "times": times,
        "chosen": path,
        "ratio": ratio(f"jax-grad {path}", f"jaxbp {path}"),
        "ratios": {f"fit chunk / jaxbp scan, {path}": fit_chunk},
    }
    for q in xla_options.PATHS:
        out["ratios"].update(
            {
                f"jaxbp / jax-grad, {q}": ratio(f"jax-grad {q}", f"jaxbp {q}"),
                f"indices per run / per step, jaxbp {q}": ratio(
                    f"jaxbp {q}", f"jaxbp {q} indices-per-run"
                ),
            }
        )
        if q != "xla-default":
            out["ratios"][f"jax-grad {q} / jax-grad xla-default"] = ratio(
                "jax-grad xla-default", f"jax-grad {q}"
            )
    return out


def scaling(spec):
    """``fit`` steps only at other batch and hidden sizes."""
    from jaxbp import train

    data, rows = load(spec), []
    for B, H, iters in spec["scaling"]:
        cfg = config(spec, batch_size=B, hidden_size=H, iters=iters, evaluate=False)
        m = train.fit(cfg, data=data, progress=False, log=lambda *a: None)["metrics"]
        rows.append(
            {
                "batch_size": B,
                "hidden_size": H,
                "iters": iters,
                "steps_s": m["steps_s"],
                "compile_s": m["compile_s"],
                "flops_per_step": flops_per_step(B, H),
            }
        )
    return {"rows": rows}


def devices(spec):
    """``fit`` steps only with ``Config(devices=n)``; the parent forces ``n`` host devices."""
    import jax

    from jaxbp import train

    cfg = config(spec, devices=str(spec["devices"]), batch_size=96, evaluate=False)
    m = train.fit(cfg, data=load(spec), progress=False, log=lambda *a: None)["metrics"]
    return {
        "devices": jax.device_count(),
        "steps_s": m["steps_s"],
        "compile_s": m["compile_s"],
        "samples_per_s": cfg.iters * cfg.batch_size / m["steps_s"],
        "iters": cfg.iters,
    }


def numgrad(spec):
    """The float64 numerical gradient of all 39,760 parameters on 3 images."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from jaxbp import two_layer_net as net

    data = load(spec)
    x, t = data["x_train"][:3].astype(np.float64) / 255, data["t_train"][:3]
    p = net.init_params(jax.random.PRNGKey(0), 784, spec["hidden_size"], 10, dtype=jnp.float64)
    t0 = time.perf_counter()
    g = jax.block_until_ready(net.numerical_gradient(p, x, t))
    first_s = time.perf_counter() - t0
    times = interleaved({"g": lambda: jax.block_until_ready(net.numerical_gradient(p, x, t))}, 3)
    bp = net.gradient(p, x, t)
    out = {
        "n_params": sum(int(v.size) for v in p.values()),
        "first_call_s": first_s,
        "steady_s": median(times["g"]),
        "max_abs_diff_vs_backprop": max(float(jnp.max(jnp.abs(g[k] - bp[k]))) for k in g),
    }
    if spec["book_numgrad"]:
        sys.path.insert(0, EXPERIMENTS)
        import book_numpy

        np.random.seed(0)
        book = book_numpy.TwoLayerNet(784, spec["hidden_size"], 10)
        t0 = time.perf_counter()
        book.numerical_gradient(x, np.eye(10)[t])
        out["book_numpy_s"] = time.perf_counter() - t0
    return out


def conv(spec):
    """SimpleConvNet (7.5) steps: experiments/bench_conv.py's rows, interleaved."""
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, EXPERIMENTS)
    import bench_conv as bc

    steps, book_steps = spec["conv_steps"]
    x_np, t_np, source = bc.load()
    x_dev, t_dev = jnp.asarray(x_np), jnp.asarray(t_np)
    x_book = x_np.reshape(-1, 1, 28, 28).astype(np.float32) / 255
    np.random.seed(0)
    network, optimizer = bc.book.SimpleConvNet(), bc.book.Adam(lr=0.001)
    loops = bc.compiled_loops(steps, x_dev, t_dev)
    rnd = iter(range(1, 10**6))

    def jax_call(loop):
        def call():
            loop[1] = jax.block_until_ready(
                loop[0](*loop[1], jax.random.PRNGKey(next(rnd)), x_dev, t_dev)
            )

        return call

    calls = {
        "book-numpy": lambda: bc.book_steps(network, optimizer, x_book, t_np, book_steps),
        **{name: jax_call(loop) for name, loop in loops.items()},
    }
    times = interleaved(calls, spec["repeats"], warmup=True)
    per = {k: median(v) / (book_steps if k == "book-numpy" else steps) for k, v in times.items()}
    return {
        "ms_per_step": {k: 1e3 * v for k, v in per.items()},
        "data": source,
        "steps": {"book-numpy": book_steps, "jax": steps},
        "rounds": spec["repeats"],
    }


def peak(spec):
    return {"peak": matmul_peak(spec["peak_n"]), "machine": machine_info()}


ROWS = {
    "book-numpy": book_numpy,
    "jax-grad-step": step_row("jax-grad", xla_defaults=True),
    "jax-grad-scan": scan_row("jax-grad", xla_defaults=True),
    "jax-grad-scan-eigen": scan_row("jax-grad", xla_defaults=False),
    "jaxbp-step": step_row("jaxbp", xla_defaults=False),
    "jaxbp-scan": scan_row("jaxbp", xla_defaults=False),
    "jaxbp": jaxbp_fit,
    "rule-cost": rule_cost,
    "scaling": scaling,
    "devices": devices,
    "numgrad": numgrad,
    "conv": conv,
    "peak": peak,
}
