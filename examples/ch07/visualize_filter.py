"""The first layer's 30 filters before and after training (book 7.6.1, figure 7-24).

    python examples/ch07/visualize_filter.py [--steps 600] [--out DIR | --update-docs]

Trains SimpleConvNet (7.5) for one epoch (600 Adam steps of batch 100, lr
0.001, one jitted ``lax.fori_loop``) on MNIST from $JAXBP_DATA_DIR and draws
W1 (30 x 1 x 5 x 5) as the book's ``ch07/visualize_filter.py`` does: each
filter a 5x5 grey image (``gray_r``: large weights dark), each scaled to its
own range.  Random filters show no structure; trained ones show edge and blob
detectors.

Writes ``conv_filters.png`` into ``./figures`` (or ``--out DIR``; ``--update-docs``:
the repository's ``docs/figures``, the file README shows) and prints its path.
``--test-images N`` measures the accuracy in the title on the first N test images
(default all 10000).
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

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


DOCS_FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
# no "Software: Matplotlib version ..." text: the same figure gives the same bytes
PNG_METADATA = {"Software": None}


def parse_args(argv=None) -> argparse.Namespace:
    """The command line: training steps, test images, and the output folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="Adam steps (600: one epoch)")
    ap.add_argument("--test-images", type=int, default=10000, help="images for the accuracy")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--out", default="figures", help="output folder (default: ./figures)")
    where.add_argument(
        "--update-docs",
        action="store_true",
        help="write into the repository's docs/figures (the file README shows)",
    )
    args = ap.parse_args(argv)
    if args.steps < 0:
        ap.error("--steps must be at least 0")
    if not 1 <= args.test_images <= 10000:
        ap.error("--test-images must be between 1 and 10000")
    args.out = DOCS_FIGURES if args.update_docs else Path(args.out)
    return args


def main(argv=None) -> Path:
    """Train, draw figure 7-24, print and return the path written."""
    args = parse_args(argv)
    data = load_raw(data_dir=os.environ.get("JAXBP_DATA_DIR"), progress=False)
    before = net.init_params(0)
    after = train(
        before,
        jnp.asarray(data["x_train"]),
        jnp.asarray(data["t_train"], jnp.int32),
        args.steps,
        jax.random.PRNGKey(0),
    )
    n = args.test_images
    x_test = data["x_test"][:n].reshape(n, -1).astype(np.float32) / 255
    acc = float(net.accuracy(after, x_test, data["t_test"][:n]))
    fig = plt.figure(figsize=(8, 5.2))
    outer = fig.add_gridspec(2, 1, hspace=0.35)
    draw_filters(fig, outer[0], before["W1"], "W1 at initialisation (std 0.01 normal)")
    draw_filters(
        fig, outer[1], after["W1"], f"W1 after {args.steps} Adam steps (test accuracy {acc:.3f})"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "conv_filters.png"
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    print(f"test accuracy {acc:.4f} on {n} test images")
    print(f"wrote {path.resolve()}")
    return path


if __name__ == "__main__":
    main()
