"""Chapter 6 figures, from jaxbp's optimizers, weight inits, batch norm and MNIST.

    JAXBP_DATA_DIR=DIR python examples/ch06/figures.py [--out docs/figures]

writes
  * ``optimizers.png``            figure 6-9 (``ch06/optimizer_compare_mnist.py``):
                                  SGD, Momentum, AdaGrad and Adam (book defaults) on
                                  MNIST, 4 hidden layers of 100 ReLU units, He init,
                                  batch 128, 2000 iterations; minibatch loss per
                                  iteration, smoothed as the book's ``smooth_curve``;
  * ``activation_histograms.png`` figures 6-10, 6-11, 6-13 and 6-14
                                  (``weight_init_activation_histogram.py``): the
                                  activations of 5 layers of 100 units for 1000
                                  Gaussian inputs, weights of std 1, std 0.01,
                                  Xavier (sigmoid) and He (ReLU);
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
import os
import time

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
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- figures 6-10 .. 6-14: activation histograms ------------------------------------
HISTOGRAM_CASES = [
    ("std = 1, sigmoid", 1.0, sigmoid),
    ("std = 0.01, sigmoid", 0.01, sigmoid),
    ("Xavier, sigmoid", "xavier", sigmoid),
    ("He, ReLU", "he", relu),
]


def layer_activations(
    weight_init_std, activation, seed: int = 0, layers: int = 5, nodes: int = 100
) -> list:
    key_x, *keys = jax.random.split(jax.random.PRNGKey(seed), layers + 1)
    z = jax.random.normal(key_x, (1000, nodes))  # 1000 Gaussian inputs
    out = []
    for k in keys:
        W = init_std(weight_init_std, nodes) * jax.random.normal(k, (nodes, nodes))
        z = activation(z @ W)
        out.append(np.asarray(z).ravel())
    return out


def plot_histograms(path: str) -> None:
    fig, axes = plt.subplots(len(HISTOGRAM_CASES), 5, figsize=(11, 8.5), sharey="row")
    for row, (title, std, act) in zip(axes, HISTOGRAM_CASES):
        for i, (ax, a) in enumerate(zip(row, layer_activations(std, act))):
            ax.hist(a, 30, range=(0, 1))
            ax.set_title(f"{i + 1}-layer", fontsize=9)
            ax.tick_params(labelsize=7)
        row[0].set_ylabel(title, fontsize=9)
        if act is relu:  # the book's plt.ylim(0, 7000): half the ReLU outputs are 0
            row[0].set_ylim(0, 7000)
    fig.suptitle(
        "Figures 6-10, 6-11, 6-13, 6-14: activations of 5 layers x 100 units, "
        "1000 Gaussian inputs (ReLU row cut at 7000)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--iters", type=int, default=2000, help="figure 6-9 iterations")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    (x_train, t_train), _ = load_mnist(normalize=False, progress=False)
    x_u8, t = jnp.asarray(x_train), jnp.asarray(t_train, jnp.int32)

    start = time.perf_counter()
    plot_histograms(os.path.join(args.out, "activation_histograms.png"))
    curves = compare_optimizers(x_u8, t, args.iters)
    print("final smoothed loss:", {k: round(float(smoothed(v)[-1]), 3) for k, v in curves.items()})
    plot_optimizers(curves, os.path.join(args.out, "optimizers.png"))
    scales = np.logspace(0, -4, num=16)
    runs = [batch_norm_runs(x_u8[:1000], t[:1000], bn, scales) for bn in (True, False)]
    for label, run in zip(("with BN", "without BN"), runs):
        print(f"final train accuracy {label:10s}:", " ".join(f"{a:.2f}" for a in run[:, -1]))
    plot_batch_norm(scales, *runs, os.path.join(args.out, "batch_norm.png"))
    print(f"done in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
