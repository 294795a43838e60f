"""Regenerate the chapter-5 computational-graph figures with ``jaxbp.graph.draw``.

    python examples/ch05/draw_figures.py [--out docs/figures]

writes ``.svg`` and ``.png`` of
  * ``apple``         figure 5-16: 2 apples at 100 each, 10% tax -> 220;
                      backward 1.1, 2.2, 110, 200;
  * ``apple_orange``  figure 5-17: plus 3 oranges at 150 -> 715; backward 1.1,
                      2.2, 110, 3.3, 165, 650;
  * ``sigmoid``       figures 5-19/5-20: ``1 / (1 + exp(-x))`` in plain
                      ``jax.numpy`` at x = 1 (nodes -, exp, +, /);
  * ``two_layer_net`` section 5.7.2: Affine -> ReLU -> Affine ->
                      Softmax-with-Loss of a 784-50-10 net on a batch of 100.
Rendering needs Graphviz's ``dot`` program (``apt-get install graphviz``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from jaxbp import two_layer_net
from jaxbp.graph import buy_apple, buy_apple_orange, draw


def sigmoid(x):
    """Equation 5.9 with plain jnp ops, the graph of figures 5-19 and 5-20."""
    return 1 / (1 + jnp.exp(-x))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/figures", help="output folder")
    out = ap.parse_args(argv).out
    kx, kt = jax.random.split(jax.random.PRNGKey(0))
    params = two_layer_net.init_params(1, 784, 50, 10)
    x = jax.random.uniform(kx, (100, 784))
    t = jax.random.randint(kt, (100,), 0, 10)
    figures = [
        ("apple", buy_apple, (100.0, 2.0, 1.1), "Figure 5-16: buying 2 apples"),
        (
            "apple_orange",
            buy_apple_orange,
            (100.0, 2.0, 150.0, 3.0, 1.1),
            "Figure 5-17: buying 2 apples and 3 oranges",
        ),
        ("sigmoid", sigmoid, (1.0,), "Figures 5-19/5-20: sigmoid at x = 1"),
        (
            "two_layer_net",
            two_layer_net.loss,
            (params, x, t),
            "TwoLayerNet (5.7.2): 784-50-10, batch 100",
        ),
    ]
    for name, f, args, title in figures:
        drawing = draw(
            f, *args, title=title + "  (black: forward, red: backward)", filename=f"{out}/{name}"
        )
        print(*drawing.files)


if __name__ == "__main__":
    main()
