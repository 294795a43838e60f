"""Regenerate the chapter-5 computational-graph figures with ``jaxbp.graph.draw``.

    python examples/ch05/draw_figures.py [--out DIR | --update-docs]

writes ``.svg`` and ``.png`` (and, for the first three, an ``.html`` page that steps
through forward and backward) of
  * ``apple``         figure 5-16: 2 apples at 100 each, 10% tax -> 220;
                      backward 1.1, 2.2, 110, 200;
  * ``apple_orange``  figure 5-17: plus 3 oranges at 150 -> 715; backward 1.1,
                      2.2, 110, 3.3, 165, 650;
  * ``sigmoid``       figures 5-19/5-20: ``1 / (1 + exp(-x))`` from
                      figure 5-19's nodes at x = 1 (x(-1), exp, +1, /);
  * ``two_layer_net`` section 5.7.2: Affine -> ReLU -> Affine ->
                      Softmax-with-Loss of a 784-50-10 net on a batch of 100.
into ``./figures`` (or ``--out DIR``; ``--update-docs``: the repository's
``docs/figures``, the files README shows), printing each path it writes.
The ``.svg`` and ``.png`` need Graphviz's ``dot`` program (``apt-get install graphviz``);
without it the script writes the ``.html`` pages (they need no Graphviz) and says in one
line what it skipped.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxbp import two_layer_net
from jaxbp.graph import buy_apple, buy_apple_orange, draw, explore


def sigmoid(x):
    """Equation 5.9 from figure 5-19's nodes: x(-1), exp, +1, / (figures 5-19, 5-20)."""
    return 1 / (1 + jnp.exp(x * -1))


DOCS_FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def output_dir(argv=None) -> Path:
    """The folder to write into: ``--out DIR`` (default ``./figures``) or ``--update-docs``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--out", default="figures", help="output folder (default: ./figures)")
    where.add_argument(
        "--update-docs",
        action="store_true",
        help="write into the repository's docs/figures (the files README shows)",
    )
    args = ap.parse_args(argv)
    return DOCS_FIGURES if args.update_docs else Path(args.out)


def main(argv=None):
    out = output_dir(argv)
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
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which("dot") is None:
        names = ", ".join(name for name, *_ in figures)
        print(
            f"skipped the pictures of {names} (.svg, .png): Graphviz's dot is not on PATH "
            "(apt-get install graphviz, brew install graphviz or conda install graphviz)"
        )
    else:
        for name, f, args, title in figures:
            label = title + "  (black: forward, red: backward)"
            for path in draw(f, *args, title=label, filename=out / name).files:
                print(f"wrote {Path(path).resolve()}")
    for name, f, args, title in figures[:3]:  # apple, apple_orange, sigmoid: step through them
        page = explore(f, *args, title=title).save(out / f"{name}.html")
        print(f"wrote {Path(page).resolve()}")


if __name__ == "__main__":
    main()
