"""A folder per run: ``runs/MODEL-YYYYmmdd-HHMMSS``, with ``runs/latest`` pointing at the newest.

Each training command without ``--out-dir`` gets a folder of its own, so following the
tour (the book's run, then SimpleConvNet, then MultiLayerNetExtend) keeps every run;
``runs/latest`` is a symbolic link, replaced atomically, that ``--resume`` and
``--evaluate runs/latest`` use.  Nothing here imports JAX.
"""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["ROOT", "new_run_dir", "latest", "checkpoint_path", "describe"]

ROOT = "runs"


def new_run_dir(model: str, root: str = ROOT, now: float | None = None) -> str:
    """Create ``root/MODEL-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken) and point
    ``root/latest`` at it; returns its path.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = new_run_dir("two_layer_net", root, now=1e9)
    >>> os.path.basename(path) == os.readlink(os.path.join(root, "latest"))
    True
    >>> new_run_dir("two_layer_net", root, now=1e9) == path + "-2"   # the same second
    True
    """
    os.makedirs(root, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name, n = f"{model}-{stamp}", 1
    while True:
        try:
            os.mkdir(os.path.join(root, name))
            break
        except FileExistsError:
            n += 1
            name = f"{model}-{stamp}-{n}"
    _point_latest(root, name)
    return os.path.join(root, name)


def _point_latest(root: str, name: str) -> None:
    """``root/latest`` -> ``name``, atomically (a temp link renamed over the old one).

    A ``latest`` that is a real folder (the default out-dir of earlier versions) is
    left as it is.
    """
    link = os.path.join(root, "latest")
    if os.path.isdir(link) and not os.path.islink(link):
        return
    tmp = os.path.join(root, f".latest.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.symlink(name, tmp)
        os.replace(tmp, link)
    except OSError:  # a file system without symbolic links: no pointer, the run still goes on
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def latest(root: str = ROOT) -> str | None:
    """The folder ``root/latest`` points at (relative to the current folder), or None."""
    link = os.path.join(root, "latest")
    if not os.path.isdir(link):
        return None
    return os.path.relpath(os.path.realpath(link))


def checkpoint_path(run: str) -> str:
    """``run/params.npz`` for a run's folder (``runs/latest`` resolved), else ``run`` itself."""
    if os.path.isdir(run):
        return os.path.join(os.path.relpath(os.path.realpath(run)), "params.npz")
    return run


def describe(config, step: int | None = None) -> str:
    """One line naming a run's network and settings, e.g. for ``--evaluate`` and ``--resume``.

    >>> from types import SimpleNamespace as C
    >>> describe(C(model="simple_conv_net", dataset="mnist", optimizer="adam", lr=0.001,
    ...            seed=0, iters=12000), 12000)
    'simple_conv_net on mnist, adam lr 0.001, seed 0, step 12000 of 12000'
    """
    at = f", step {step} of {config.iters}" if step is not None else f", {config.iters} steps"
    return (
        f"{config.model} on {config.dataset}, {config.optimizer} lr {config.lr}, "
        f"seed {config.seed}{at}"
    )
