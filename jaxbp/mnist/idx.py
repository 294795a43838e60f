"""The IDX file format of MNIST and Fashion-MNIST, read so that nothing unverified gets out.

Pure functions of bytes and files: where the files come from (search order,
downloads, the parsed cache) is :mod:`jaxbp.mnist`'s concern (with
:mod:`jaxbp.mnist.download` and :mod:`jaxbp.mnist.cache`).  An IDX file is
a big-endian header (magic number, then one ``uint32`` per dimension) followed
by the ``uint8`` payload; images are ``(N, 28, 28)`` (magic 2051), labels
``(N,)`` (magic 2049) with values 0..9.  Files are gzip-compressed (``.gz``)
or raw.

:func:`read` checks one file against what the caller expects of it
(:class:`Expected`):

* its SHA-256 is that of the *decompressed* bytes (the ``.gz`` wrapper of a
  recompressed copy differs while the payload is the same), hashed while it is
  decompressed in chunks; optionally the MD5 of the ``.gz`` bytes is accepted
  instead (a published checksum of an upstream wrapper);
* decompression stops as soon as the output exceeds the expected size, so a
  small ``.gz`` that would inflate to gigabytes costs a few megabytes;
* the payload is then parsed strictly: magic number, declared dimensions
  (28x28 images), payload size exactly equal to the product of the dimensions,
  labels in 0..9.

Any failure raises :class:`DatasetError` (one line, naming the file); partial
data is never returned.  :func:`check_splits` then checks that the four arrays
of a dataset fit together (the loader's and the parsed cache's last check).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

__all__ = [
    "DatasetError",
    "Expected",
    "read",
    "parse",
    "file_sha256",
    "idx_sha256",
    "check_splits",
    "one_line",
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "ROWS",
    "COLS",
    "NUM_CLASSES",
    "MAX_BYTES",
]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
ROWS = COLS = 28
NUM_CLASSES = 10
MAX_BYTES = 64 << 20  # bound for a file without a known expected size
_CHUNK = 1 << 20  # bytes read from a file at a time


class DatasetError(RuntimeError):
    """A dataset folder or file is missing, unreadable, corrupt, fails its
    checksum or cannot be downloaded.  The message is one line naming the path."""


class Expected(NamedTuple):
    """What one IDX file must be: at most ``size`` decompressed bytes, whose
    SHA-256 is ``sha256`` (None: not checked, the structure checks still
    apply), or else whose ``.gz`` bytes have the MD5 ``gz_md5``; ``name`` says
    which file it should be in the checksum message."""

    size: int = MAX_BYTES
    sha256: str | None = None
    gz_md5: str | None = None
    name: str = "expected file"


def one_line(e: BaseException) -> str:
    """``Type: message`` of an exception, on one line."""
    return " ".join(f"{type(e).__name__}: {e}".split())


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {one_line(e)}") from e


def _chunks(f: BinaryIO, path: Path | str, hashes: list) -> Iterator[bytes]:
    """The bytes of ``f`` in chunks, each fed to every hash in ``hashes``."""
    while True:
        try:
            chunk = f.read(_CHUNK)
        except OSError as e:
            raise DatasetError(f"cannot read {path}: {one_line(e)}") from e
        if not chunk:
            return
        for h in hashes:
            h.update(chunk)
        yield chunk


def _inflate(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Gunzip ``chunks`` (one or more gzip members), yielding the output.

    zlib is never asked for more than ``limit + 1`` bytes in all, so a gzip
    bomb stops one byte past the limit.  Raises ``zlib.error`` for corrupt
    data and ``EOFError`` when the stream ends early.
    """
    d = zlib.decompressobj(wbits=31)  # gzip wrapper, CRC-32 and length checked
    produced = 0
    for data in chunks:
        while data:
            if d.eof:  # another gzip member follows, or zero padding
                if not data.strip(b"\0"):
                    break
                d = zlib.decompressobj(wbits=31)
            out = d.decompress(data, limit + 1 - produced)
            produced += len(out)
            yield out
            if produced > limit:
                return
            data = d.unused_data if d.eof else d.unconsumed_tail
    if not d.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def _collect(pieces: Iterator[bytes], path: Path | str, limit: int, payload_hash) -> bytearray:
    """Join ``pieces`` (hashing them), stopping with an error past ``limit`` bytes."""
    out = bytearray()
    for piece in pieces:
        if len(out) + len(piece) > limit:
            raise DatasetError(
                f"{path}: data longer than the expected {limit} bytes; stopped reading "
                "(not the expected file, or corrupt)"
            )
        payload_hash.update(piece)
        out += piece
    return out


def _read_payload(
    f: BinaryIO, path: Path | str, limit: int, gzipped: bool, want_md5: bool
) -> tuple[bytearray, dict[str, str]]:
    """The (decompressed) bytes of the open file ``f`` (named ``path`` in
    messages), at most ``limit``, and hex digests: ``file`` (SHA-256 of the
    bytes on disk), ``payload`` (SHA-256 of the decompressed bytes) and, when
    ``want_md5``, ``md5`` (of the bytes on disk)."""
    file_h, payload_h = hashlib.sha256(), hashlib.sha256()
    hashes = [file_h] + ([hashlib.md5()] if want_md5 else [])
    chunks = _chunks(f, path, hashes)
    if not gzipped:
        payload = _collect(chunks, path, limit, payload_h)
    else:
        try:
            payload = _collect(_inflate(chunks, limit), path, limit, payload_h)
        except (zlib.error, EOFError) as e:
            raise DatasetError(
                f"{path}: truncated or corrupt gzip file ({one_line(e)}); "
                "delete it and download it again"
            ) from e
    digests = {"file": file_h.hexdigest(), "payload": payload_h.hexdigest()}
    if want_md5:
        digests["md5"] = hashes[1].hexdigest()
    return payload, digests


def _verify_checksum(path: Path | str, expected: Expected, digests: dict[str, str]) -> None:
    if expected.sha256 is None or digests["payload"] == expected.sha256:
        return
    if expected.gz_md5 is not None and digests.get("md5") == expected.gz_md5:
        return
    raise DatasetError(
        f"{path}: SHA-256 of the decompressed data does not match the {expected.name}: "
        f"expected {expected.sha256}, got {digests['payload']}"
    )


def _header(path: Path | str, raw: bytes, kind: str) -> tuple[int, tuple[int, ...]]:
    """Header length and declared shape of an IDX ``kind`` file, checked."""
    magic, header = (IMAGE_MAGIC, 16) if kind == "images" else (LABEL_MAGIC, 8)
    if len(raw) < header:
        raise DatasetError(
            f"{path}: file too short for an IDX {kind} header ({len(raw)} < {header} bytes)"
        )
    dims = np.frombuffer(raw, dtype=">u4", count=header // 4)
    got_magic = int(dims[0])
    if got_magic != magic:
        raise DatasetError(
            f"{path}: wrong IDX magic number {got_magic} (0x{got_magic:08x}); "
            f"expected {magic} for {kind}"
        )
    shape = tuple(int(d) for d in dims[1:])
    if kind == "images" and shape[1:] != (ROWS, COLS):
        raise DatasetError(f"{path}: images are {shape[1]}x{shape[2]}, expected {ROWS}x{COLS}")
    return header, shape


def parse(path: Path | str, raw: bytes, kind: str) -> np.ndarray:
    """Parse the bytes of an IDX images (``kind='images'``) or labels file,
    strictly; ``path`` names it in messages."""
    header, shape = _header(path, raw, kind)
    expected_size = int(np.prod(shape, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected_size:
        what = "truncated" if payload < expected_size else "trailing bytes"
        raise DatasetError(
            f"{path}: payload is {payload} bytes but the header declares {shape} "
            f"= {expected_size} bytes ({what})"
        )
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()
    if kind == "labels" and arr.size and int(arr.max()) >= NUM_CLASSES:
        raise DatasetError(f"{path}: label {int(arr.max())} out of range 0..{NUM_CLASSES - 1}")
    return arr


def read(
    path: Path, kind: str, expected: Expected, f: BinaryIO | None = None
) -> tuple[np.ndarray, str]:
    """Read, verify and parse one IDX ``kind`` file (``"images"`` or
    ``"labels"``; gzip for ``*.gz``), from ``f`` when given (``path`` then
    only names it); returns the array and the SHA-256 of the file's bytes."""
    gzipped = path.name.endswith(".gz")
    want_md5 = gzipped and expected.gz_md5 is not None
    if f is None:
        with _open(path) as f:
            payload, digests = _read_payload(f, path, expected.size, gzipped, want_md5)
    else:
        payload, digests = _read_payload(f, path, expected.size, gzipped, want_md5)
    _verify_checksum(path, expected, digests)
    return parse(path, payload, kind), digests["file"]


def file_sha256(path: Path) -> str:
    """SHA-256 of the bytes of ``path`` as they are on disk."""
    h = hashlib.sha256()
    with _open(path) as f:
        for _ in _chunks(f, path, [h]):
            pass
    return h.hexdigest()


def idx_sha256(arr: np.ndarray, kind: str) -> str:
    """SHA-256 of the IDX ``kind`` file ``arr`` was parsed from (its header
    rebuilt from the shape), to check an array against a file's checksum."""
    magic = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
    h = hashlib.sha256(np.array((magic,) + arr.shape, dtype=">u4").tobytes())
    h.update(np.ascontiguousarray(arr, dtype=np.uint8))
    return h.hexdigest()


def check_splits(arrays: dict[str, np.ndarray], where: str) -> None:
    """Check that ``x_train``, ``t_train``, ``x_test`` and ``t_test`` are uint8
    28x28 images and labels in 0..9, as many labels as images per split;
    :class:`DatasetError` naming ``where`` otherwise."""
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if x.dtype != np.uint8 or t.dtype != np.uint8:
            raise DatasetError(f"{where}: {split} arrays are not uint8")
        if x.ndim != 3 or x.shape[1:] != (ROWS, COLS) or t.ndim != 1:
            raise DatasetError(f"{where}: bad {split} shapes {x.shape}, {t.shape}")
        if x.shape[0] != t.shape[0]:
            raise DatasetError(
                f"{where}: {x.shape[0]} {split} images but {t.shape[0]} {split} labels"
            )
        if t.size and int(t.max()) >= NUM_CLASSES:
            raise DatasetError(f"{where}: {split} label out of range 0..{NUM_CLASSES - 1}")
