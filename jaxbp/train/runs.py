"""A folder per run: ``runs/MODEL-YYYYmmdd-HHMMSS``, with ``runs/latest`` pointing at the newest.

Each training command without ``--out-dir`` gets a folder of its own, so following the
tour (the book's run, then SimpleConvNet, then MultiLayerNetExtend) keeps every run;
``runs/latest`` is a symbolic link, replaced atomically, that ``--resume`` and
``--evaluate runs/latest`` use.  It moves to a run only once that run has saved
something (:func:`point_latest`), and only if it is a link jaxbp made: a file, a
folder or a link of the user's is left as it is.  A run folder that saved nothing (a
failed start) is removed (:func:`discard_unsaved`).  A run's folder is locked while a
trainer writes it (:func:`prepare_out_dir`): a second trainer on it stops at once.
Nothing here imports JAX.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time

from jaxbp._files import OutputError, atomic_write

__all__ = [
    "prepare_out_dir",
    "release_out_dir",
    "remove_stale_temps",
    "RUN_FILES",
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


# ---- the folder's lock ---------------------------------------------------------------
_LOCKS: dict[str, int] = {}  # out-dir -> open, flock'ed file descriptor


def prepare_out_dir(out_dir: str | os.PathLike) -> str:
    """Create ``out_dir``, check it is a writable folder, and lock it for this process.

    The lock (``fcntl.flock`` on ``out_dir/.lock``, released when the process
    ends, however it ends) keeps a second trainer out: it gets
    :class:`OutputError` ``"DIR is in use by process PID"`` at once.  Once the lock
    is held, the hidden temp files a killed trainer left (:func:`remove_stale_temps`)
    are removed.
    """
    out_dir = os.fspath(out_dir)
    if out_dir in _LOCKS:
        return out_dir
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        reason = "it is not a folder" if e.errno in (errno.EEXIST, errno.ENOTDIR) else e.strerror
        raise OutputError(f"cannot use --out-dir {out_dir}: {reason}") from e
    if not os.path.isdir(out_dir):
        raise OutputError(f"cannot use --out-dir {out_dir}: it is not a folder")
    try:
        fd = os.open(
            os.path.join(out_dir, ".lock"),
            os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
            0o644,
        )
    except OSError as e:
        raise OutputError(f"cannot write to --out-dir {out_dir}: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise OutputError(f"{out_dir} is in use by process {pid}") from None
    if not _still_the_lock_file(fd, os.path.join(out_dir, ".lock")):  # released meanwhile
        os.close(fd)
        return prepare_out_dir(out_dir)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _LOCKS[out_dir] = fd
    remove_stale_temps(out_dir)
    atomic_write(os.path.join(out_dir, ".write-test"), lambda f: f.write(b"ok"))
    os.unlink(os.path.join(out_dir, ".write-test"))
    return out_dir


#: The files a run writes; ``atomic_write`` names its temp files ``.NAME.XXXXXXXX.tmp``.
RUN_FILES = ("params.npz", "metrics.json", "training.png", ".write-test")


def remove_stale_temps(out_dir: str | os.PathLike) -> list[str]:
    """Remove the temp files of :data:`RUN_FILES` that a killed writer left in ``out_dir``.

    Only call it with the out-dir lock held (no writer of this folder is alive then).
    Returns the names removed; only regular files and symlinks are touched (a symlink
    is removed, never followed).

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, ".params.npz.k3_x9q2a.tmp"), "w")
    >>> remove_stale_temps(d)
    ['.params.npz.k3_x9q2a.tmp']
    """
    stale = re.compile("|".join(rf"\.{re.escape(n)}\.[A-Za-z0-9_]+\.tmp" for n in RUN_FILES))
    removed = []
    with os.scandir(out_dir) as entries:
        for entry in entries:
            if stale.fullmatch(entry.name) and not entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return sorted(removed)


def _still_the_lock_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except OSError:
        return False


def release_out_dir(out_dir: str | os.PathLike) -> None:
    """Drop this process's lock on ``out_dir`` and remove its ``.lock`` file.

    The file is removed while it is still locked; a process that opened it in the
    meantime sees, once it gets the lock, that the file is gone and locks afresh.
    (The lock also goes when the process ends, however it ends.)
    """
    fd = _LOCKS.pop(os.fspath(out_dir), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(os.fspath(out_dir), ".lock"))
        os.close(fd)
