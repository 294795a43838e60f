"""Files written safely, for the data loader and the trainer alike.

Every file is written the same way (:func:`atomic_write`): a fresh temp file in the
target's folder, created with ``O_EXCL`` (so a planted name or symlink is never
followed), flushed and ``fsync``'d, renamed over the target, and the folder
``fsync``'d; on any failure the temp file is removed and the previous file stays as
it was.  JSON is strict (:func:`write_json`); the per-user cache folder is
:func:`user_cache_dir`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["OutputError", "atomic_write", "strict_json", "write_json", "user_cache_dir"]


class OutputError(OSError):
    """A file or folder cannot be written (one line, for the CLI)."""


# ---- atomic files -------------------------------------------------------------
def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` atomically: ``write(f)`` into a fresh temp file, then rename.

    Raises :class:`OutputError` (one line naming the file and the reason, e.g.
    "No space left on device") and leaves no temp file behind.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
        raise


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Atomically write ``value`` as strict JSON (``NaN``/``inf`` become ``null``)."""
    text = json.dumps(strict_json(value), indent=1, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def user_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/jaxbp/...`` when that is an absolute path, else ``~/.cache/jaxbp/...``.

    The one per-user folder: MNIST downloads and parsed cache, compiled programs,
    the ``--cpu-matmul auto`` decision.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base.joinpath("jaxbp", *parts)
