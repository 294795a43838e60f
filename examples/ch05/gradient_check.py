"""Book 5.7.3 (gradient_check.py), three ways, in float64.

    python examples/ch05/gradient_check.py [--n 3] [--data-dir DIR]

Compares, per parameter of a 784-50-10 TwoLayerNet on the first ``n`` MNIST
training images: (a) our hand-written custom_vjp backprop, (b) ``jax.grad`` of
the plain-jnp reference loss, (c) central differences; prints the mean absolute
difference of each pair, as the book prints ``W1:2.86e-13`` and so on.
"""

import argparse

from jaxbp.gradient import print_gradient_check
from jaxbp.mnist import load_raw

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=3, help="number of training images (default 3)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $JAXBP_DATA_DIR)")
    a = p.parse_args()
    raw = load_raw(data_dir=a.data_dir)
    print_gradient_check(raw["x_train"][: a.n], raw["t_train"][: a.n])
