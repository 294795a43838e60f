"""Training on MNIST (book section 5.7.4), compiled, and everything around a run.

    step        the book's step (sample, normalise, backprop, update) as one compiled chunk
    loop        the book's loop over those chunks: :func:`fit`
    schedule    where the loop stops to evaluate
    run         a run in progress: start, train a chunk, evaluate, save
    config      :class:`Config`, the hyperparameters, declared once
    models      the registry of networks and the protocol the trainer relies on
    data        the images and labels as the trainer holds them
    evaluation  accuracy over a whole split, compiled
    saved_run   what a run's files mean: save, ``--evaluate``, ``--resume``
    checkpoint  the ``params.npz`` file: written atomically, read back bounded, verified
    runs        a run's folder, its lock, and ``runs/latest``
    devices     the backend, the data-parallel mesh, several hosts
    xla_options XLA's CPU matmul path
    compile_cache the compiled programs kept between runs, signed
    plot        ``training.png``
    cli         the command line, ``python -m jaxbp.train`` and ``jaxbp-train``
    signals     SIGINT/SIGTERM as a flag read between phases, and the quick exit

The names below are this package's face; each is imported on first use, so that
``python -m jaxbp.train`` notes SIGINT/SIGTERM before JAX is imported.

>>> from jaxbp.train import Config, fit                     # doctest: +SKIP
>>> result = fit(Config(iters=600), out_dir="runs/short")   # doctest: +SKIP
"""

from __future__ import annotations

import typing as _typing

from jaxbp import _lazy

_FACE = {
    "fit": "loop",
    "chunk_schedule": "schedule",
    "Diverged": "run",
    "make_train_chunk": "step",
    "initial_state": "step",
    "Config": "config",
    "DTYPES": "models",
    "load_data": "data",
    "prepare_data": "data",
    "check_images": "data",
    "normalise": "data",
    "evaluate": "evaluation",
    "load_params": "saved_run",
    "main": "cli",
}
__all__ = list(_FACE)

if _typing.TYPE_CHECKING:  # what type checkers and IDEs see
    from jaxbp.train.cli import main as main
    from jaxbp.train.config import Config as Config
    from jaxbp.train.data import check_images as check_images
    from jaxbp.train.data import load_data as load_data
    from jaxbp.train.data import normalise as normalise
    from jaxbp.train.data import prepare_data as prepare_data
    from jaxbp.train.evaluation import evaluate as evaluate
    from jaxbp.train.loop import fit as fit
    from jaxbp.train.models import DTYPES as DTYPES
    from jaxbp.train.run import Diverged as Diverged
    from jaxbp.train.saved_run import load_params as load_params
    from jaxbp.train.schedule import chunk_schedule as chunk_schedule
    from jaxbp.train.step import initial_state as initial_state
    from jaxbp.train.step import make_train_chunk as make_train_chunk


__getattr__, __dir__ = _lazy.face(__name__, _FACE)
