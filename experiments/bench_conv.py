"""Time per training step of SimpleConvNet (7.5): the book's NumPy, plain jax.grad, jaxbp.

    python experiments/bench_conv.py [--rounds 5] [--book-steps 20] [--steps 100]
                                     [--cpu-matmul eigen|xla-default]
Batch 100, Adam lr 0.001, minibatches drawn with replacement from MNIST
($JAXBP_DATA_DIR; random pixels if absent: times do not depend on values).
  book-numpy     experiments/book_numpy/ch7.py: the book's SimpleConvNet and Adam, float64
  jax-grad       jax.grad of plain JAX (lax.conv, lax.reduce_window; our tie-rule
                 twin pooling is far slower on CPU), steps in one jitted fori_loop
  jaxbp-im2col   the same program with our rules (simple_conv_net.train_loss), Conv1's
                 output computed as the book's col . col_W
  jaxbp-lax      the same rules, Conv1's output from lax.conv (Hyper.conv_forward="lax"; the
                 residuals col, col_W and the backward rule are the same)
  jaxbp          the one of those two the trainer runs on this machine (--conv-forward auto:
                 its recorded decision, else the faster here)
  torch-*        PyTorch on the CPU (eager, channels-last, torch.compile where it builds), with
                 --torch-python PY: the Python of an environment that has PyTorch (never a
                 dependency of jaxbp; e.g. python -m venv /tmp/torch && /tmp/torch/bin/pip
                 install torch numpy); --torch-threads (default: the CPU's cores)
The JAX rows are compiled with the trainer's CPU matmul path (--cpu-matmul, default
the trainer's: eigen; see jaxbp/train/xla_options.py).
Rows run interleaved (A B C D A B C D ...); medians per step and ratios.  On a
busy machine run with OPENBLAS_NUM_THREADS=1 (2-thread BLAS was 4x slower there).
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from bench import torch_peer
from bench.harness import interleaved
from book_numpy import ch7 as book

import jaxbp.simple_conv_net as net  # noqa: E402
from jaxbp import conv, reference  # noqa: E402
from jaxbp.train import xla_options  # noqa: E402

HYPER, BATCH = net.Hyper(), 100


def plain_loss(params, state, x, t, key, hyper):
    """SimpleConvNet as a JAX user writes it (lax.conv, lax.reduce_window), JAX's rules."""
    h = reference.relu(
        reference.convolution(x.reshape(-1, *hyper.input_dim), params["W1"], params["b1"])
    )
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    h = reference.relu(reference.affine(h, params["W2"], params["b2"]))
    return reference.softmax_with_loss(reference.affine(h, params["W3"], params["b3"]), t), state


def make_loop(loss_fn, steps, hyper=HYPER):
    """``steps`` Adam steps in one compiled fori_loop, images resident as uint8."""
    opt = optax.adam(1e-3)

    @jax.jit
    def run(params, opt_state, key, x_train, t_train):
        def step(i, carry):
            params, opt_state = carry
            idx = jax.random.randint(jax.random.fold_in(key, i), (BATCH,), 0, x_train.shape[0])
            x = x_train[idx].reshape(BATCH, -1).astype(jnp.float32) / 255
            grads = jax.grad(lambda p: loss_fn(p, {}, x, t_train[idx], None, hyper)[0])(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        return jax.lax.fori_loop(0, steps, step, (params, opt_state))

    return run, opt


def book_steps(network, optimizer, x_train, t_train, steps):
    for mask in np.random.choice(x_train.shape[0], (steps, BATCH)):  # ch07 Trainer.train_step
        optimizer.update(network.params, network.gradient(x_train[mask], t_train[mask]))


def load():
    d = os.environ.get("JAXBP_DATA_DIR")
    if d and os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")):
        from jaxbp.mnist import load_raw

        d = load_raw(data_dir=d, progress=False)
        return d["x_train"], d["t_train"].astype(np.int32), "MNIST"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (60000, 28, 28), np.uint8), rng.integers(0, 10, 60000), "random"


def compiled_loops(steps, x_dev, t_dev, cpu_matmul):
    options = xla_options.PATHS[cpu_matmul] if jax.default_backend() == "cpu" else {}
    loops = {}
    rows = [("jax-grad", plain_loss, HYPER)]
    rows += [(f"jaxbp-{f}", net.train_loss, net.Hyper(conv_forward=f)) for f in conv.FORWARDS]
    for name, fn, hyper in rows:
        run, opt = make_loop(fn, steps, hyper)
        params = net.init_params(0)
        state, t0 = (params, opt.init(params)), time.perf_counter()
        run = run.lower(*state, jax.random.PRNGKey(0), x_dev, t_dev).compile(
            compiler_options=options or None
        )
        state = jax.block_until_ready(run(*state, jax.random.PRNGKey(0), x_dev, t_dev))
        print(f"compile + first {steps} steps of {name}: {time.perf_counter() - t0:.1f} s")
        loops[name] = (run, state)
    return loops


def measure(
    steps: int, n_book: int, rounds: int, cpu_matmul: str, torch: torch_peer.TorchPeer | None = None
) -> tuple[dict, str]:
    """Seconds per step of each row in ``rounds`` interleaved rounds (after an untimed one):
    ``n_book`` steps of the book's NumPy, ``steps`` of each JAX row (and PyTorch row, with
    ``torch``); and the data's source."""
    x_np, t_np, source = load()
    x, t, key = jnp.asarray(x_np), jnp.asarray(t_np), jax.random.PRNGKey(1)
    x_book = x_np.reshape(-1, 1, 28, 28).astype(np.float32) / 255  # load_mnist(flatten=False)
    np.random.seed(0)
    network, optimizer = book.SimpleConvNet(), book.Adam(lr=0.001)
    calls = {"book-numpy": lambda: book_steps(network, optimizer, x_book, t_np, n_book)}
    for name, (run, state) in compiled_loops(steps, x, t, cpu_matmul).items():
        calls[name] = functools.partial(run, *state, key, x, t)
    for row in torch.rows if torch else ():
        if row.startswith("conv-"):
            calls["torch-" + row.removeprefix("conv-")] = torch.call(row, steps)
    times = interleaved(calls, rounds)[0]
    n = {k: n_book if k == "book-numpy" else steps for k in times}
    times = {k: [seconds / n[k] for seconds in v] for k, v in times.items()}
    return _with_chosen(times, cpu_matmul), source


def _with_chosen(times: dict, cpu_matmul: str) -> dict:
    """``times`` with row ``jaxbp``: the forward path the trainer runs here (its recorded
    ``--conv-forward auto`` decision, else the faster of the two here) and which it is."""
    key = xla_options.conv_forward_key("simple_conv_net", cpu_matmul)
    chosen = xla_options.fastest(xla_options.CONV_FORWARD_FILE, key, conv.FORWARDS, None)
    how = "the trainer's decision" if chosen else "the faster here, no decision recorded"
    chosen = chosen or min(conv.FORWARDS, key=lambda f: np.median(times[f"jaxbp-{f}"]))
    out = dict(times, jaxbp=times[f"jaxbp-{chosen}"])
    print(f"jaxbp row: conv forward {chosen} ({how})")
    return out


def report(times, args, source):
    med = {k: float(np.median(v)) for k, v in times.items()}
    col = jax.eval_shape(
        lambda x: conv.im2col(x, 5, 5), jax.ShapeDtypeStruct((BATCH, 1, 28, 28), jnp.float32)
    )
    print(
        f"\nSimpleConvNet step, batch {BATCH}, Adam; data: {source}; CPU: "
        f"{xla_options.cpu_model()} x{os.cpu_count()}; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, cpu matmul {args.cpu_matmul}"
    )
    print(
        f"book-numpy: {args.book_steps} steps per round (12000 steps would take "
        f"{med['book-numpy'] * 12000 / 60:.0f} min); JAX rows: {args.steps} steps per round; "
        f"{args.rounds} rounds interleaved"
    )
    torch_best = min((v for k, v in med.items() if k.startswith("torch-")), default=None)
    print(
        f"{'row':18s} {'ms/step (median)':>17s} {'min-max':>15s} {'book/row':>9s} "
        f"{'row/jax-grad':>13s}" + (f" {'row/best torch':>15s}" if torch_best else "")
    )
    for k, v in times.items():
        print(
            f"{k:18s} {med[k] * 1e3:17.2f} {min(v) * 1e3:7.2f}-{max(v) * 1e3:<7.2f} "
            f"{med['book-numpy'] / med[k]:9.1f} {med[k] / med['jax-grad']:13.3f}"
            + (f" {med[k] / torch_best:15.3f}" if torch_best else "")
        )
    print(
        f"col residual (self.col) of Conv1: shape {col.shape} {col.dtype}, "
        f"{col.size * col.dtype.itemsize:,} bytes per step"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--rounds", 5), ("--book-steps", 20), ("--steps", 100)):
        ap.add_argument(flag, type=int, default=default)
    ap.add_argument("--cpu-matmul", choices=list(xla_options.PATHS), default=xla_options.DEFAULT)
    ap.add_argument("--torch-python", help="a Python with PyTorch: add the PyTorch rows")
    ap.add_argument("--torch-threads", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    torch, why = torch_peer.start(args.torch_python, args.torch_threads)
    if torch:
        print(f"PyTorch {torch.version}, {args.torch_threads} threads; skipped: {torch.skipped}")
    elif args.torch_python:
        print(f"PyTorch rows skipped: {why}")
    try:
        times, source = measure(args.steps, args.book_steps, args.rounds, args.cpu_matmul, torch)
    finally:
        if torch:
            torch.close()
    report(times, args, source)


if __name__ == "__main__":
    main()
