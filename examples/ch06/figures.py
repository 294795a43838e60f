"""Chapter 6 figures, from jaxbp's optimizers, weight inits, batch norm and MNIST.

    JAXBP_DATA_DIR=DIR python examples/ch06/figures.py [--out DIR | --update-docs]
        [--only histograms|optimizers|batch_norm] [--iters 2000] [--epochs 20] [--quick]

writes into ``./figures`` (or ``--out DIR``; ``--update-docs``: the repository's
``docs/figures``, the files README shows) and prints each path it writes:
  * ``optimizers.png``            figure 6-9 (``ch06/optimizer_compare_mnist.py``):
                                  SGD, Momentum, AdaGrad and Adam (book defaults) on
                                  MNIST, 4 hidden layers of 100 ReLU units, He init,
                                  batch 128, 2000 iterations; minibatch loss per
                                  iteration, smoothed as the book's ``smooth_curve``;
  * ``activation_histograms.png`` figures 6-10, 6-11, 6-13 and 6-14
                                  (``weight_init_activation_histogram.py``): the
                                  activations of 5 layers of 100 units for 1000
                                  Gaussian inputs; sigmoid with weights of std 1,
                                  std 0.01 and Xavier, then ReLU with std 0.01,
                                  Xavier and He (figure 6-14's three rows); needs
                                  no MNIST (``--only histograms``);
  * ``batch_norm.png``            figure 6-18 (``batch_norm_test.py``): training
                                  accuracy with and without batch norm, 5 hidden
                                  layers of 100 ReLU units, SGD lr 0.01, batch 100,
                                  the first 1000 training images, 20 epochs, for the
                                  book's 16 initial weight scales logspace(0, -4, 16).

Each training run is one jitted ``lax.scan`` over the iterations with the
images resident as uint8; the 16 batch-norm runs of each kind are one
``vmap``.  Minibatches are drawn with replacement, as the book's
``np.random.choice``.  The loss curve records each step's training loss
(before its update; the book recomputes it after).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxbp import multi_layer_net as mln  # noqa: E402
from jaxbp import optimizer  # noqa: E402
from jaxbp.layers import relu, sigmoid  # noqa: E402
from jaxbp.mnist import load_mnist  # noqa: E402
from jaxbp.weight_init import init_std  # noqa: E402

# no "Software: Matplotlib version ..." text: the same figure gives the same bytes
PNG_METADATA = {"Software": None}


def smoothed(values, window: int = 11, beta: float = 2.0):
    """Kaiser-window moving average with mirrored ends (the book's ``smooth_curve``)."""
    values = np.asarray(values)
    pad = window - 1
    padded = np.concatenate([values[pad:0:-1], values, values[-1:-window:-1]])
    w = np.kaiser(window, beta)
    out = np.convolve(w / w.sum(), padded, mode="valid")
    return out[window // 2 : len(out) - window // 2]


def make_step(hyper: mln.Hyper, tx: optax.GradientTransformation, x_u8, t, batch_size: int):
    """One SGD-family step on a random minibatch: carry (params, state, opt_state)."""

    def step(carry, key):
        params, state, opt_state = carry
        k_batch, k_drop = jax.random.split(key)
        idx = jax.random.randint(k_batch, (batch_size,), 0, x_u8.shape[0])
        xb, tb = x_u8[idx].astype(jnp.float32) / 255.0, t[idx]
        (loss, state), grads = jax.value_and_grad(mln.train_loss, has_aux=True)(
            params, state, xb, tb, k_drop, hyper
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), state, opt_state), loss

    return step


# ---- figure 6-9: the four update rules on MNIST --------------------------------------
def compare_optimizers(x_u8, t, iters: int = 2000, seed: int = 0) -> dict:
    hyper = mln.Hyper(hidden_size_list=(100, 100, 100, 100))
    curves = {}
    for name in ("sgd", "momentum", "adagrad", "adam"):
        tx = optimizer.get(name)  # the book's default lr
        params = mln.init_params(jax.random.PRNGKey(seed), hyper)
        carry = (params, mln.init_state(params), tx.init(params))
        run = jax.jit(
            lambda c, keys, x, t, tx=tx: jax.lax.scan(make_step(hyper, tx, x, t, 128), c, keys)
        )  # the data as arguments
        _, losses = run(carry, jax.random.split(jax.random.PRNGKey(seed + 1), iters), x_u8, t)
        curves[name] = np.asarray(losses)
    return curves


def plot_optimizers(curves: dict, path: str) -> None:
    labels = {"sgd": "SGD", "momentum": "Momentum", "adagrad": "AdaGrad", "adam": "Adam"}
    markers = {"sgd": "o", "momentum": "x", "adagrad": "s", "adam": "D"}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, loss in curves.items():
        ax.plot(smoothed(loss), marker=markers[name], markevery=100, label=labels[name])
    ax.set(
        xlabel="iterations",
        ylabel="loss",
        ylim=(0, 1),
        title="Figure 6-9: update rules on MNIST (4 x 100 ReLU, He init, batch 128)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


# ---- figures 6-10 .. 6-14: activation histograms ------------------------------------
# (book figure, row label, weight_init_std, activation): 6-10, 6-11 and 6-13 for the
# sigmoid, then figure 6-14's three rows for ReLU (std 0.01, Xavier, He).
HISTOGRAM_CASES = [
    ("6-10", "std 1, sigmoid", 1.0, sigmoid),
    ("6-11", "std 0.01, sigmoid", 0.01, sigmoid),
    ("6-13", "Xavier, sigmoid", "xavier", sigmoid),
    ("6-14", "std 0.01, ReLU", 0.01, relu),
    ("6-14", "Xavier, ReLU", "xavier", relu),
    ("6-14", "He, ReLU", "he", relu),
]
RELU_YLIM = 7000  # the book's plt.ylim(0, 7000) for ReLU: half the outputs are exactly 0


def layer_activations(
    weight_init_std, activation, seed: int = 0, layers: int = 5, nodes: int = 100
) -> list:
    """Each layer's activations, flattened (the book's ``weight_init_activation_histogram.py``).

    ``layers`` layers of ``nodes`` units, ``W = init_std(weight_init_std, nodes) * randn``,
    applied to 1000 Gaussian samples of ``nodes`` features.  Returns ``layers`` arrays
    of shape ``(1000 * nodes,)``.  The same ``seed`` gives every case the same inputs
    and the same standard-normal draws, so the rows differ only by the scale.

    >>> [a.shape for a in layer_activations("he", relu, layers=2, nodes=10)]
    [(10000,), (10000,)]
    """
    key_x, *keys = jax.random.split(jax.random.PRNGKey(seed), layers + 1)
    z = jax.random.normal(key_x, (1000, nodes))  # 1000 Gaussian inputs
    out = []
    for k in keys:
        W = init_std(weight_init_std, nodes) * jax.random.normal(k, (nodes, nodes))
        z = activation(z @ W)
        out.append(np.asarray(z).ravel())
    return out


def plot_histograms(path: str) -> None:
    """Figures 6-10, 6-11, 6-13 and 6-14: one row per case, one column per layer."""
    fig, axes = plt.subplots(len(HISTOGRAM_CASES), 5, figsize=(11, 13), sharey="row")
    for row, (figure, label, std, act) in zip(axes, HISTOGRAM_CASES):
        for i, (ax, a) in enumerate(zip(row, layer_activations(std, act))):
            ax.hist(a, 30, range=(0, 1))
            ax.set_title(f"{i + 1}-layer", fontsize=9)
            ax.tick_params(labelsize=7)
        row[0].set_ylabel(f"Figure {figure}\n{label}", fontsize=9)
        if act is relu:
            row[0].set_ylim(0, RELU_YLIM)
    fig.suptitle(
        "Activations of 5 layers x 100 units for 1000 Gaussian inputs, by initial weights\n"
        f"(sigmoid: figures 6-10, 6-11, 6-13; ReLU: figure 6-14, cut at {RELU_YLIM} as the book)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


# ---- figure 6-18: with and without batch norm ----------------------------------------
def batch_norm_runs(
    x_u8, t, use_batchnorm: bool, scales, epochs: int = 20, iters_per_epoch: int = 10, seed: int = 0
):
    """Train accuracy (epochs,) per weight scale, one vmap over the scales."""
    base = mln.Hyper(hidden_size_list=(100,) * 5, use_batchnorm=use_batchnorm)
    tx = optimizer.get("sgd", 0.01)
    inits = [
        mln.init_params(jax.random.PRNGKey(seed + i), base, weight_init_std=float(w))
        for i, w in enumerate(scales)
    ]
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *inits)

    def runs(params, keys, x_u8, t):
        step = make_step(base, tx, x_u8, t, 100)
        x_all = x_u8.astype(jnp.float32) / 255.0

        def accuracy(params, state):
            return jnp.mean(jnp.argmax(mln.predict(params, x_all, state, base), -1) == t)

        def epoch(carry, key):
            # As the book: update, measure (after updates 1, 11, 21, ...), 9 more updates.
            keys = jax.random.split(key, iters_per_epoch)
            carry, _ = step(carry, keys[0])
            acc = accuracy(carry[0], carry[1])
            carry, _ = jax.lax.scan(step, carry, keys[1:])
            return carry, acc

        def one_run(params, key):
            carry = (params, mln.init_state(params), tx.init(params))
            return jax.lax.scan(epoch, carry, jax.random.split(key, epochs))[1]

        return jax.vmap(one_run)(params, keys)

    # the same minibatches with and without batch norm (the book's shared batch_mask)
    keys = jnp.stack([jax.random.PRNGKey(1000 + i) for i in range(len(scales))])
    return np.asarray(jax.jit(runs)(params, keys, x_u8, t))


def plot_batch_norm(scales, with_bn, without_bn, path: str) -> None:
    fig, axes = plt.subplots(4, 4, figsize=(10, 9), sharex=True, sharey=True)
    epochs = np.arange(with_bn.shape[1])
    for i, ax in enumerate(axes.flat):
        ax.plot(epochs, with_bn[i], label="Batch Normalization")
        ax.plot(epochs, without_bn[i], "--", label="Normal (without BatchNorm)")
        ax.set_title(f"W: {scales[i]:.3g}", fontsize=9)
        ax.set_ylim(0, 1.0)
    for ax in axes[-1]:
        ax.set_xlabel("epochs")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes[-1, -1].legend(loc="lower right", fontsize=7)
    fig.suptitle(
        "Figure 6-18: training accuracy with and without batch norm "
        "(1000 MNIST images, 5 x 100 ReLU, SGD lr 0.01)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


FIGURES = ("histograms", "optimizers", "batch_norm")
DOCS_FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def parse_args(argv=None) -> argparse.Namespace:
    """The command line: which figures, where, and how long to train."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", default="figures", help="output folder (default: ./figures)")
    where.add_argument(
        "--update-docs",
        action="store_true",
        help="write into the repository's docs/figures (the files README shows)",
    )
    parser.add_argument(
        "--only", choices=FIGURES, action="append", help="draw only this figure (repeatable)"
    )
    parser.add_argument("--iters", type=int, default=2000, help="figure 6-9 iterations")
    parser.add_argument("--epochs", type=int, default=20, help="figure 6-18 epochs")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 iterations, 2 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.iters, args.epochs = 20, 2
    for name in ("iters", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.out = DOCS_FIGURES if args.update_docs else Path(args.out)
    args.only = tuple(dict.fromkeys(args.only or FIGURES))
    return args


def main(argv=None) -> list:
    """Draw the chosen figures; print and return the paths written."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    def wrote(name):
        path = args.out / name
        written.append(path)
        print(f"wrote {path.resolve()}", flush=True)

    start = time.perf_counter()
    if "histograms" in args.only:
        plot_histograms(args.out / "activation_histograms.png")
        wrote("activation_histograms.png")
    if "optimizers" in args.only or "batch_norm" in args.only:
        (x_train, t_train), _ = load_mnist(normalize=False, progress=False)
        x_u8, t = jnp.asarray(x_train), jnp.asarray(t_train, jnp.int32)
    if "optimizers" in args.only:
        curves = compare_optimizers(x_u8, t, args.iters)
        final = {k: round(float(smoothed(v)[-1]), 3) for k, v in curves.items()}
        print("final smoothed loss:", final)
        plot_optimizers(curves, args.out / "optimizers.png")
        wrote("optimizers.png")
    if "batch_norm" in args.only:
        scales = np.logspace(0, -4, num=16)
        runs = [
            batch_norm_runs(x_u8[:1000], t[:1000], bn, scales, epochs=args.epochs)
            for bn in (True, False)
        ]
        for label, run in zip(("with BN", "without BN"), runs):
            print(f"final train accuracy {label:10s}:", " ".join(f"{a:.2f}" for a in run[:, -1]))
        plot_batch_norm(scales, *runs, args.out / "batch_norm.png")
        wrote("batch_norm.png")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return written


if __name__ == "__main__":
    main()
