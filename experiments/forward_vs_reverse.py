"""Book 5.1.3 as a number: one backward pass against one pass per parameter.

    python experiments/forward_vs_reverse.py [--quick] [--float64] [--repeats 3] [--chunk 1000]

The whole gradient of TwoLayerNet's loss (784-50-10, 39,760 parameters, float32 unless
--float64) on a
batch of 100 images (the first 100 MNIST training images when $JAXBP_DATA_DIR is set,
else random pixels and labels: the times do not depend on the values), four ways:

  reverse      backprop: jax.grad of jaxbp.two_layer_net.loss (the custom_vjp rules), jitted
  forward      jaxbp.forward.loss's custom_jvp rules, one tangent per parameter: the columns
               of jax.jacfwd, a chunk of one-hot tangents at a time under vmap (lax.map with
               batch_size) so the tangents never need the 39,760 x 39,760 identity at once
  numerical    jaxbp.two_layer_net.numerical_gradient: central differences, each perturbed
               loss recomputing only what the entry moves (O(N*C) per entry)
  numerical,   jaxbp.numerical.numerical_gradient: central differences recomputing the whole
  book's way   network twice per entry, as the book's loop does; timed on a subset of the
               entries and extrapolated (said so in the output)

reverse and forward run interleaved (A B A B ...; reverse as the mean of a burst of calls)
and their medians are compared; the numerical rows run once after compiling.  --quick
times forward mode on a subset of the tangents too, and extrapolates (said so).  In float32
the numerical gradients differ from the exact ones by their rounding, about eps * L / h
(printed); --float64 shows the differences the book's gradient check shows (5.7.3).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from bench.harness import interleaved, timed  # experiments/ is the script's own folder
from jax.flatten_util import ravel_pytree

from jaxbp import forward, two_layer_net
from jaxbp.numerical import enable_x64, numerical_gradient
from jaxbp.train.xla_options import cpu_model

SIZES, BATCH = (784, 50, 10), 100


def batch(dtype, seed: int = 0) -> tuple[jax.Array, jax.Array, str]:
    """100 images ``(100, 784)`` in [0, 1] of ``dtype``, their labels, and where they came from."""
    data_dir = os.environ.get("JAXBP_DATA_DIR")
    if data_dir:
        from jaxbp.mnist import load_raw

        raw = load_raw(data_dir=data_dir, download=False, progress=False)
        x = raw["x_train"][:BATCH].reshape(BATCH, -1) / 255
        return jnp.asarray(x, dtype), jnp.asarray(raw["t_train"][:BATCH], jnp.int32), "MNIST"
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(BATCH, SIZES[0]))
    return jnp.asarray(x, dtype), jnp.asarray(rng.integers(0, SIZES[2], BATCH), jnp.int32), "random"


def programs(params, chunk: int):
    """The four gradients as jitted functions of the flat parameters ``(P,)`` and the batch."""
    flat, unravel = ravel_pytree(params)

    @jax.jit
    def reverse(w, x, t):
        return ravel_pytree(jax.grad(two_layer_net.loss)(unravel(w), x, t))[0]

    def forward_columns(w, x, t, columns):
        """dL/dw_i for each i in ``columns`` by forward mode: one tangent e_i each."""
        f = lambda w: forward.loss(unravel(w), x, t)
        col = lambda i: jax.jvp(f, (w,), (jax.nn.one_hot(i, w.size, dtype=w.dtype),))[1]
        return jax.lax.map(col, columns, batch_size=min(chunk, columns.size))

    @jax.jit
    def numerical(w, x, t):
        return ravel_pytree(two_layer_net.numerical_gradient(unravel(w), x, t))[0]

    @jax.jit
    def book_numerical(w, x, t, columns):
        """Central differences of the whole loss in the entries ``columns`` only."""
        at = lambda sub: two_layer_net.loss(unravel(w.at[columns].set(sub)), x, t)
        return numerical_gradient(at, w[columns])

    return flat, reverse, jax.jit(forward_columns), numerical, book_numerical


def measure(repeats: int, chunk: int, forward_n: int | None, book_n: int, dtype) -> dict:
    """Times (seconds) and gradients of the four ways; ``*_n``: entries timed (None: all)."""
    x, t, source = batch(dtype)
    params = two_layer_net.init_params(0, *SIZES, dtype=dtype)
    flat, reverse, forward_columns, numerical, book_numerical = programs(params, chunk)
    P = flat.size
    spread = lambda n: jnp.linspace(0, P - 1, n).astype(jnp.int32)  # entries of all 4 params
    fwd_cols = jnp.arange(P) if forward_n is None else spread(forward_n)
    book_cols = spread(book_n)
    burst = 50  # reverse is ~1 ms: time a burst of calls, report the mean

    def reverse_burst():
        for _ in range(burst - 1):
            reverse(flat, x, t)
        return reverse(flat, x, t)

    t0 = time.perf_counter()
    jax.block_until_ready(forward_columns(flat, x, t, fwd_cols))
    compile_forward = time.perf_counter() - t0
    times, last = interleaved(
        {"reverse": reverse_burst, "forward": lambda: forward_columns(flat, x, t, fwd_cols)},
        repeats,
    )
    jax.block_until_ready((numerical(flat, x, t), book_numerical(flat, x, t, book_cols)))
    g_num, s_num = timed(lambda: numerical(flat, x, t))
    g_book, s_book = timed(lambda: book_numerical(flat, x, t, book_cols))
    return {
        "source": source,
        "unravel": ravel_pytree(params)[1],
        "dtype": jnp.dtype(dtype).name,
        "loss": float(two_layer_net.loss(params, x, t)),
        "P": P,
        "reverse": statistics.median(times["reverse"]) / burst,
        "forward": statistics.median(times["forward"]) * P / fwd_cols.size,
        "forward_runs": times["forward"],
        "compile_forward": compile_forward,
        "numerical": s_num,
        "book": s_book * P / book_n,
        "grads": {"reverse": last["reverse"], "forward": last["forward"], "numerical": g_num},
        "book_grad": (book_cols, g_book),
        "fwd_n": fwd_cols.size,
        "fwd_cols": fwd_cols,
        "book_n": book_n,
    }


def on_common(a: jax.Array, b: jax.Array, cols: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``a`` and ``b`` on the entries both have (--quick: forward mode has ``cols`` only)."""
    if a.size == b.size:
        return a, b
    return (a if a.size == cols.size else a[cols]), (b if b.size == cols.size else b[cols])


def report(r: dict, repeats: int, chunk: int) -> None:
    P = r["P"]
    n_cpu = os.cpu_count()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"CPU: {cpu_model()}, {n_cpu} cores, load average {load} (jax {jax.__version__}, "
        f"{jax.devices()[0]})"
    )
    print(
        f"TwoLayerNet 784-50-10: {P} parameters, {r['dtype']}, batch {BATCH} ({r['source']} images)"
    )
    fwd_note = ""
    if r["fwd_n"] != P:
        fwd_note = f"  [timed on {r['fwd_n']} tangents, x{P / r['fwd_n']:.1f}: extrapolated]"
    book_note = f"  [timed on {r['book_n']} entries, x{P / r['book_n']:.1f}: extrapolated]"
    rows = [
        ("reverse (jax.grad, custom_vjp: 1 backward)", r["reverse"], ""),
        (f"forward (custom_jvp: {P} tangents)", r["forward"], fwd_note),
        ("numerical (two_layer_net.numerical_gradient)", r["numerical"], ""),
        ("numerical, book's way (2 full passes/entry)", r["book"], book_note),
    ]
    print(f"\n{'whole gradient':46s} {'seconds':>11s} {'x reverse':>10s}")
    for name, s, note in rows:
        print(f"{name:46s} {s:11.6f} {s / r['reverse']:10.0f}{note}")
    print(
        f"\nreverse: median of {repeats} rounds, each the mean of 50 calls; forward: median "
        f"of {repeats} (runs {', '.join(f'{s:.2f}' for s in r['forward_runs'])} s, "
        f"chunks of {chunk} tangents; compile + first run {r['compile_forward']:.1f} s); "
        "numerical rows: one run each after compiling"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"peak memory of this process: {peak:.2f} GiB")
    print_differences(r)


def print_differences(r: dict) -> None:
    """The largest difference between each pair of gradients, per parameter where all."""
    P, g = r["P"], r["grads"]
    scale = float(jnp.max(jnp.abs(g["reverse"])))
    print(f"\nmax |difference| between the gradients (max |gradient| = {scale:.3g}):")
    names = list(g)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = jnp.abs(jnp.subtract(*on_common(g[a], g[b], r["fwd_cols"])))
            if d.size == P:
                each = ", ".join(f"{k} {float(jnp.max(v)):.2g}" for k, v in r["unravel"](d).items())
                print(f"  {a:9s} vs {b:9s}  {float(jnp.max(d)):.3g}  ({each})")
            else:
                print(f"  {a:9s} vs {b:9s}  {float(jnp.max(d)):.3g}  (its {d.size} entries)")
    cols, g_book = r["book_grad"]
    d = float(jnp.max(jnp.abs(g_book - g["reverse"][cols])))
    print(f"  book's way vs reverse  {d:.3g}  (its {r['book_n']} entries)")
    eps = float(jnp.finfo(r["dtype"]).eps)
    print(
        f"  numerical: rounding about eps * L / h = {eps:.2g} * {r['loss']:.3g} / 1e-4 = "
        f"{eps * r['loss'] / 1e-4:.2g};\n  a W1 or b1 entry differs more where w +- h moves a "
        "ReLU input across 0 (the quotient straddles the kink)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few seconds: subsets, extrapolated")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--float64", action="store_true", help="float64 (the book's NumPy dtype)")
    p.add_argument("--chunk", type=int, default=1000, help="tangents per vmap chunk")
    a = p.parse_args()
    repeats = a.repeats or (2 if a.quick else 3)
    forward_n, book_n = (1000, 250) if a.quick else (None, 4000)
    with enable_x64() if a.float64 else contextlib.nullcontext():
        dtype = jnp.float64 if a.float64 else jnp.float32
        report(measure(repeats, a.chunk, forward_n, book_n, dtype), repeats, a.chunk)


if __name__ == "__main__":
    main()
