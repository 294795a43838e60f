"""Synthetic data of MNIST's shapes, for tests, benchmarks and rehearsals without MNIST."""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_mnist"]


def synthetic_mnist(n_train: int = 6000, n_test: int = 1000, seed: int = 0) -> dict:
    """Random images whose class is learnable, in the layout of :func:`jaxbp.mnist.load_raw`.

    Returns ``{"x_train": (n_train, 784) uint8, "t_train": (n_train,) int32,
    "x_test": (n_test, 784) uint8, "t_test": (n_test,) int32}``.  Each image is
    noise in 0..127 plus 120 on the pixels ``79 c .. 79 c + 78`` of its class
    ``c`` (0..9), so a linear layer separates the classes; the same ``seed`` gives
    the same bits.  Timings do not depend on the pixels, accuracies do.

    >>> d = synthetic_mnist(20, 5, seed=1)
    >>> d["x_train"].shape, d["x_train"].dtype.name, d["t_test"].shape
    ((20, 784), 'uint8', (5,))
    >>> bool(d["t_train"].min() >= 0 and d["t_train"].max() <= 9)
    True
    """
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        t = rng.integers(0, 10, n).astype(np.int32)
        x = rng.integers(0, 128, (n, 784), dtype=np.uint8)
        block = np.arange(784) // 79 == t[:, None]  # pixel j is in block j // 79
        x[block] += 120
        out[f"x_{split}"], out[f"t_{split}"] = x, t
    return out
