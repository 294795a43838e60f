"""The images and labels as the trainer holds them: uint8 ``(N, 784)`` and int32 ``(N,)``.

Checked once on the host (dtype, shape, label range), kept as uint8 on the device,
and normalised per minibatch inside the compiled steps (:func:`normalise`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["load_data", "check_images", "prepare_data", "normalise"]


def load_data(
    dataset: str = "mnist",
    data_dir: str | None = None,
    progress: bool = True,
    given_as: str = "data_dir",
) -> dict:
    """uint8 images ``(N, 784)`` and int32 labels ``(N,)``, validated once.

    ``given_as`` names ``data_dir`` in messages as the user gave it (``--data-dir``).
    """
    from jaxbp import mnist

    raw = mnist.load_raw(dataset=dataset, data_dir=data_dir, progress=progress, given_as=given_as)
    return prepare_data(raw)


def check_images(name: str, x: np.ndarray, t: np.ndarray | None = None) -> None:
    """uint8 pixels ``(N, 784)`` (or ``(N, 28, 28)``), ``N > 0``; labels ``(N,)`` in 0..9."""
    if x.dtype != np.uint8:
        raise TypeError(
            f"{name} must be uint8 pixels 0..255, got {x.dtype} "
            f"(the trainer normalises x / 255 itself)"
        )
    if x.ndim < 2 or math.prod(x.shape[1:]) != 784:
        raise ValueError(
            f"{name} must be a batch of 784-pixel images (N, 784), got shape {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (N = 0)")
    if t is not None:
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"labels for {name} must have shape ({x.shape[0]},), got {t.shape}")
        if not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > 9:
            raise ValueError(
                f"labels for {name} must be integers in [0, 9], got "
                f"{t.dtype} in [{t.min()}, {t.max()}]"
            )


def prepare_data(raw: dict) -> dict:
    """Flatten and check a dict ``x_train, t_train, x_test, t_test``."""
    out = {}
    for split in ("train", "test"):
        x, t = np.asarray(raw[f"x_{split}"]), np.asarray(raw[f"t_{split}"])
        check_images(f"x_{split}", x, t)
        out[f"x_{split}"], out[f"t_{split}"] = x.reshape(x.shape[0], -1), t.astype(np.int32)
    return out


def normalise(x_uint8: jax.Array) -> jax.Array:
    """uint8 pixels to float32 in [0, 1] (the book's ``normalize=True``)."""
    return x_uint8.astype(jnp.float32) * (1.0 / 255.0)
