"""A training run's state on disk: atomic files, the out-dir lock, checkpoints, metrics.

Nothing here knows about JAX beyond turning arrays into NumPy ones.  Every file is
written atomically (:func:`jaxbp._files.atomic_write`).

Checkpoint (``params.npz``): one ``.npy`` member per parameter (``W1``, ``b1``,
...), the optimizer state's leaves as ``opt_state.0``, ``opt_state.1``, ... and a
JSON string ``__meta__`` with ``{"format", "config", "step", "metrics"}``.  It is
read back with every size bounded by the shapes the reader expects before any
array is allocated (:func:`load_checkpoint`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from jaxbp._files import OutputError, atomic_write, strict_json

__all__ = [
    "CheckpointError",
    "prepare_out_dir",
    "release_out_dir",
    "remove_stale_temps",
    "RUN_FILES",
    "save_checkpoint",
    "read_checkpoint_meta",
    "load_checkpoint",
    "array_shapes",
    "FORMAT",
]

FORMAT = 2  # checkpoint format (1: params and meta only)
MAX_META_BYTES = 64 << 20  # the metrics of a very long run fit easily


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the expected network."""


# ---- the out-dir -------------------------------------------------------------------
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


# ---- checkpoints ----------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike, params: dict, opt_leaves: list | None = None, meta: dict | None = None
) -> None:
    """Atomically write ``params`` (a dict of arrays), optimizer leaves and ``meta``."""
    arrays = {k: np.asarray(v) for k, v in params.items()}
    arrays.update({f"opt_state.{i}": np.asarray(v) for i, v in enumerate(opt_leaves or [])})
    text = json.dumps(strict_json(dict(meta or {}, format=FORMAT)), allow_nan=False)
    arrays["__meta__"] = np.array(text)
    atomic_write(path, lambda f: np.savez(f, **arrays))


@contextlib.contextmanager
def _open_npz(path: str | os.PathLike) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(path) as z:
            yield z
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not an .npz file") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file: {e}") from None


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _npy_header(f: IO[bytes], name: str, path) -> tuple[tuple, bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of one ``.npy`` stream, read without its data."""
    version = np.lib.format.read_magic(f)
    read_header = _HEADER_READERS.get(version)
    if read_header is None:
        raise CheckpointError(f"checkpoint {path}: {name} has .npy version {version}")
    return read_header(f)


def _read_member(
    z: zipfile.ZipFile, name: str, check: Callable[[tuple, np.dtype], None], path
) -> np.ndarray:
    """One ``.npy`` member; ``check(shape, dtype)`` runs on its header before allocation."""
    try:
        with z.open(name + ".npy") as f:
            shape, fortran, dtype = _npy_header(f, name, path)
            check(tuple(shape), dtype)
            if dtype.hasobject:
                raise CheckpointError(f"checkpoint {path}: {name} holds Python objects")
            count = math.prod(shape)
            data = f.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise CheckpointError(f"checkpoint {path}: {name} is truncated")
    except KeyError:
        raise CheckpointError(f"checkpoint {path} lacks {name}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {path}: {name} is unreadable: {e}") from None
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype).reshape(shape, order=order).copy()


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's ``__meta__`` dict (``{}`` when it has none), size-bounded."""
    with _open_npz(path) as z:
        if "__meta__.npy" not in z.namelist():
            return {}

        def small_text(shape, dtype):
            if dtype.kind != "U" or shape != () or dtype.itemsize > MAX_META_BYTES:
                raise CheckpointError(f"checkpoint {path}: __meta__ is not a JSON string")

        text = str(_read_member(z, "__meta__", small_text, path)[()])
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: __meta__ is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: __meta__ is not a JSON object")
    return meta


def array_shapes(path: str | os.PathLike) -> dict[str, tuple]:
    """``{name: shape}`` of every ``.npy`` member, read from the headers alone."""
    shapes = {}
    with _open_npz(path) as z:
        for member in z.namelist():
            if member.endswith(".npy"):
                name = member[:-4]
                try:
                    with z.open(member) as f:
                        shapes[name] = tuple(_npy_header(f, name, path)[0])
                except CheckpointError:
                    raise
                except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
                    raise CheckpointError(f"checkpoint {path}: {name} is unreadable: {e}") from None
    return shapes


def load_checkpoint(
    path: str | os.PathLike,
    expected: dict[str, tuple[tuple, Any]],
    opt_expected: list | None = None,
) -> tuple[dict[str, np.ndarray], list[np.ndarray], dict]:
    """``(params, opt_leaves, meta)``, every array checked before it is allocated.

    ``expected``: ``{name: (shape, dtype)}`` of the parameters; each must be
    present with that shape, a floating dtype castable to ``dtype``, and only
    finite values.  ``opt_expected``: ``[(shape, dtype), ...]`` of the optimizer
    leaves (read only when given).  Raises :class:`CheckpointError`, one line.
    """
    meta = read_checkpoint_meta(path)
    with _open_npz(path) as z:
        params = {
            k: _read_member(z, k, _expect(k, shape, path), path)
            for k, (shape, _) in expected.items()
        }
        opt = [
            _read_member(
                z, f"opt_state.{i}", _expect(f"opt_state.{i}", s, path, any_dtype=True), path
            )
            for i, (s, _) in enumerate(opt_expected or [])
        ]
    for k, v in params.items():
        if not np.all(np.isfinite(v)):
            raise CheckpointError(
                f"checkpoint {path}: {k} holds non-finite values "
                f"(NaN or inf); it cannot be evaluated or resumed"
            )
        params[k] = v.astype(expected[k][1])
    return params, opt, meta


def _expect(name: str, shape: tuple, path, any_dtype: bool = False):
    def check(got_shape, dtype):
        if tuple(got_shape) != tuple(shape):
            raise CheckpointError(
                f"checkpoint {path}: {name} has shape {tuple(got_shape)}, expected {tuple(shape)}"
            )
        if not any_dtype and dtype.kind != "f":
            raise CheckpointError(
                f"checkpoint {path}: {name} has dtype {dtype}, expected floating point"
            )

    return check
