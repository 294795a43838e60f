"""Accuracy over a whole split (the book's ``accuracy`` at each epoch, 5.7.4), compiled.

The trainer evaluates the 60000 training and 10000 test images after every epoch;
here that is one jitted program that maps over chunks of rows, so the float32 pixels
of a chunk stay in cache and the whole split never exists as floats.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxbp._chunks import map_in_chunks
from jaxbp.labels import correct
from jaxbp.train import models
from jaxbp.train.config import Config
from jaxbp.train.data import check_images, normalise

__all__ = ["EVAL_CHUNK", "count_correct", "make_evaluation", "evaluate"]

EVAL_CHUNK = 2000


def count_correct(
    logits_fn: Callable,
    params: dict,
    state: dict,
    x: jax.Array,
    t: jax.Array,
    chunk: int = EVAL_CHUNK,
) -> jax.Array:
    """Correct predictions over a whole split, ``chunk`` rows at a time (traceable).

    Chunks of 2000 images (6 MB of float32 pixels) ran 20% faster than 10000 and 2.5x
    faster than the whole 60000 at once on a 2-core CPU (cache).  A row whose logits
    are not finite counts as wrong.
    """
    logits = map_in_chunks(lambda xc: logits_fn(params, state, normalise(xc)), x, chunk)
    return jnp.sum(correct(logits, t))


def make_evaluation(model: models.Model) -> Callable[..., jax.Array]:
    """``correct(params, state, x_train, t_train, x_test, t_test) -> [n_train, n_test]``, jitted."""

    def correct(params, state, *splits):
        return jnp.stack(
            [
                count_correct(model.logits, params, state, x, t)
                for x, t in zip(splits[::2], splits[1::2])
            ]
        )

    return jax.jit(correct)


def evaluate(
    params: dict,
    x: ArrayLike,
    t: ArrayLike,
    config: Config | None = None,
    state: dict | None = None,
) -> float:
    """Accuracy of ``params`` on uint8 images ``x`` ``(N, 784)`` with labels ``t`` ``(N,)``."""
    x, t = np.asarray(x), np.asarray(t)
    check_images("x", x, t)
    model = models.get(config or Config(hidden_size=int(np.shape(params["b1"])[0])))
    correct = make_evaluation(model)(
        params, state or {}, x.reshape(x.shape[0], -1), t.astype(np.int32)
    )
    return float(correct[0]) / x.shape[0]
