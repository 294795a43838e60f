"""A folder per run: ``runs/MODEL-YYYYmmdd-HHMMSS``, with ``runs/latest`` pointing at the newest.

Each training command without ``--out-dir`` gets a folder of its own, so following the
tour (the book's run, then SimpleConvNet, then MultiLayerNetExtend) keeps every run;
``runs/latest`` is a symbolic link, replaced atomically, that ``--resume`` and
``--evaluate runs/latest`` use.  It moves to a run only once that run has saved
something (:func:`point_latest`), and only if it is a link jaxbp made: a file, a
folder or a link of the user's is left as it is.  A run folder that saved nothing (a
failed start) is removed (:func:`discard_unsaved`).  Nothing here imports JAX.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time

from jaxbp._files import OutputError

__all__ = [
    "ROOT",
    "SAVED",
    "new_run_dir",
    "point_latest",
    "discard_unsaved",
    "latest",
    "checkpoint_path",
    "describe",
]

ROOT = "runs"
#: What :func:`new_run_dir` names a folder: ``runs/latest`` pointing at such a name is jaxbp's.
_RUN_NAME = re.compile(r"[a-z_]+-\d{8}-\d{6}(-\d+)?")
#: The files that make a folder a saved run (the trainer writes both at every save).
SAVED = ("params.npz", "metrics.json")


def new_run_dir(model: str, root: str = ROOT, now: float | None = None) -> str:
    """Create ``root/MODEL-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken); returns its path.

    ``root/latest`` is not moved here: :func:`point_latest` does it once the run has
    saved something.  A ``root`` that cannot hold a new folder (a file in its place,
    read-only) is :class:`jaxbp._files.OutputError`, one line.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = new_run_dir("two_layer_net", root, now=1e9)
    >>> os.path.basename(path) == "two_layer_net-" + time.strftime("%Y%m%d-%H%M%S",
    ...     time.localtime(1e9))
    True
    >>> new_run_dir("two_layer_net", root, now=1e9) == path + "-2"   # the same second
    True
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name, n = f"{model}-{stamp}", 1
    try:
        os.makedirs(root, exist_ok=True)
        while True:
            try:
                os.mkdir(os.path.join(root, name))
                return os.path.join(root, name)
            except FileExistsError:
                n += 1
                name = f"{model}-{stamp}-{n}"
    except OSError as e:
        not_folder = e.errno in (errno.EEXIST, errno.ENOTDIR) or not os.path.isdir(root)
        why = "it is not a folder" if not_folder else (e.strerror or str(e)).lower()
        raise OutputError(
            f"cannot make a run folder in {root}/ ({why}); give --out-dir, a folder you can write"
        ) from None


def point_latest(run_dir: str, root: str = ROOT) -> str | None:
    """Point ``root/latest`` at ``run_dir`` (a folder in ``root``), atomically: a temp
    link renamed over the old one.  Returns ``None``, or a one-line warning when
    ``latest`` is not a link jaxbp made (a file, a folder, a link elsewhere): it is
    left as it is.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> point_latest(new_run_dir("two_layer_net", root, now=1e9), root)
    >>> os.readlink(os.path.join(root, "latest")).startswith("two_layer_net-")
    True
    >>> os.unlink(os.path.join(root, "latest"))
    >>> with open(os.path.join(root, "latest"), "w") as notes:   # the user's own file
    ...     _ = notes.write("my notes")
    >>> point_latest(new_run_dir("two_layer_net", root, now=2e9), root)
    'warning: .../latest is a file, not a link jaxbp made; left as it is (this run is ...)'
    """
    link = os.path.join(root, "latest")
    what = _not_ours(link)
    if what:
        return (
            f"warning: {link} is {what}, not a link jaxbp made; left as it is "
            f"(this run is {run_dir})"
        )
    tmp = os.path.join(root, f".latest.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.symlink(os.path.basename(run_dir), tmp)
        os.replace(tmp, link)
    except OSError:  # a file system without symbolic links: no pointer, the run still goes on
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return None


def _not_ours(link: str) -> str | None:
    """What ``link`` is when it is not absent or a link to a run folder's name."""
    if os.path.islink(link):
        target = os.readlink(link)
        return None if _RUN_NAME.fullmatch(target) else f"a link to {target}"
    if os.path.isdir(link):
        return "a folder"
    return "a file" if os.path.lexists(link) else None


def discard_unsaved(run_dir: str, root: str | None = None) -> bool:
    """Remove ``run_dir`` if it holds no saved run (only a lock file, or nothing), then
    ``root``, when given (a ``runs/`` this command made), if that is left empty;
    returns whether ``run_dir`` went.  For a folder this
    command made and whose start failed: no empty run is left behind, and
    ``runs/latest`` never pointed at it.  (The caller releases its lock first.)

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> discard_unsaved(new_run_dir("two_layer_net", root), root), os.path.exists(root)
    (True, False)
    """
    try:
        left = set(os.listdir(run_dir)) - {".lock"}
        if left:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(run_dir, ".lock"))
        os.rmdir(run_dir)
    except OSError:
        return False
    if root is not None:
        with contextlib.suppress(OSError):
            os.rmdir(root)  # only if empty
    return True


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
