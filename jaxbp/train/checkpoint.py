"""A run's checkpoint file, ``params.npz``: written atomically, read back bounded, verified.

One ``.npy`` member per parameter (``W1``, ``b1``, ...), the optimizer state's
leaves as ``opt_state.0``, ``opt_state.1``, ... and a JSON string ``__meta__``
with ``{"format", "config", "step", "metrics"}``.  It is written atomically
(:func:`jaxbp._files.atomic_write`) and read back with every size bounded by the
shapes the reader expects before any array is allocated
(:func:`load_checkpoint`).  Nothing here knows about JAX beyond turning arrays
into NumPy ones; :mod:`jaxbp.train.saved_run` knows what a run's files mean.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from jaxbp._files import atomic_write, strict_json

__all__ = [
    "CheckpointError",
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
