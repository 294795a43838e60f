"""The first layer's 30 filters before and after training (book 7.6.1, figure 7-24).

    python examples/ch07/visualize_filter.py [--steps 600] [--out docs/figures/conv_filters.png]

Trains SimpleConvNet (7.5) for one epoch (600 Adam steps of batch 100, lr
0.001, one jitted ``lax.fori_loop``) on MNIST from $JAXBP_DATA_DIR and draws
W1 (30 x 1 x 5 x 5) as the book's ``ch07/visualize_filter.py`` does: each
filter a 5x5 grey image (``gray_r``: large weights dark), each scaled to its
own range.  Random filters show no structure; trained ones show edge and blob
detectors.
"""

from __future__ import annotations

import argparse
import functools
import os

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxbp import simple_conv_net as net  # noqa: E402
from jaxbp.mnist import load_raw  # noqa: E402


@functools.partial(jax.jit, static_argnums=(3,))
def train(params, x_train, t_train, steps, key):
    """``steps`` Adam steps (book 7.5: lr 0.001, batch 100, drawn with replacement)."""
    opt = optax.adam(net.TRAIN_DEFAULTS["lr"])
    batch = net.TRAIN_DEFAULTS["batch_size"]

    def step(i, carry):
        params, opt_state = carry
        idx = jax.random.randint(jax.random.fold_in(key, i), (batch,), 0, x_train.shape[0])
        x = x_train[idx].reshape(batch, -1).astype(jnp.float32) / 255
        loss = lambda p: net.train_loss(p, {}, x, t_train[idx], None, net.Hyper())[0]
        grads = jax.grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.lax.fori_loop(0, steps, step, (params, opt.init(params)))[0]


def draw_filters(fig, spec, W1, title):
    """One panel: the filters in rows of 10, as figure 7-24."""
    sub = spec.subgridspec(3, 10, wspace=0.1, hspace=0.1)
    for i, w in enumerate(np.asarray(W1)[:, 0]):
        ax = fig.add_subplot(sub[i // 10, i % 10], xticks=[], yticks=[])
        ax.imshow(w, cmap="gray_r", interpolation="nearest")
        if i == 0:
            ax.set_title(title, loc="left", fontsize=10, x=0, y=1.15)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", default="docs/figures/conv_filters.png")
    args = ap.parse_args(argv)
    data = load_raw(data_dir=os.environ.get("JAXBP_DATA_DIR"), progress=False)
    before = net.init_params(0)
    after = train(
        before,
        jnp.asarray(data["x_train"]),
        jnp.asarray(data["t_train"], jnp.int32),
        args.steps,
        jax.random.PRNGKey(0),
    )
    x_test = data["x_test"].reshape(10000, -1).astype(np.float32) / 255
    acc = float(net.accuracy(after, x_test, data["t_test"]))
    fig = plt.figure(figsize=(8, 5.2))
    outer = fig.add_gridspec(2, 1, hspace=0.35)
    draw_filters(fig, outer[0], before["W1"], "W1 at initialisation (std 0.01 normal)")
    draw_filters(
        fig, outer[1], after["W1"], f"W1 after {args.steps} Adam steps (test accuracy {acc:.3f})"
    )
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"test accuracy {acc:.4f}; saved {args.out}")


if __name__ == "__main__":
    main()
