"""Messages between the grader and the process that runs a learner's code.

One message is a JSON header and a set of named NumPy arrays, framed on a
byte stream::

    b"JXBP" | header length (4 bytes) | header (UTF-8 JSON)
            | payload length (8 bytes) | payload (an .npz archive, no pickles)

The grader reads what the learner's process writes, and that process runs
untrusted code: :func:`read` never unpickles (``allow_pickle=False``), bounds
every length before reading, and raises :class:`WireError` on anything that is
not a well-formed message.  A value in a header that stands for an array is
``{"array": KEY}``; :func:`pack`/:func:`unpack` turn nested lists and dicts of
arrays into that form and back.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

__all__ = ["WireError", "write", "read", "pack", "unpack", "MAX_HEADER", "MAX_PAYLOAD"]

_MAGIC = b"JXBP"
MAX_HEADER = 1 << 20  # 1 MiB of JSON
MAX_PAYLOAD = 256 << 20  # 256 MiB of arrays: far above any exercise's inputs


class WireError(Exception):
    """A message that is not well formed (or a stream that ended inside one)."""


def pack(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` with every array replaced by ``{"array": key}`` (added to ``arrays``).

    >>> arrays = {}
    >>> pack({"out": np.ones(2), "n": 3}, arrays), list(arrays)
    ({'out': {'array': 'a0'}, 'n': 3}, ['a0'])
    """
    if isinstance(value, dict):
        return {str(k): pack(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pack(v, arrays) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array": key}
    return value


def unpack(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`pack`; a reference to a missing array is a :class:`WireError`.

    >>> unpack({"out": {"array": "a0"}}, {"a0": np.zeros(1)})
    {'out': array([0.])}
    """
    if isinstance(value, dict):
        if set(value) == {"array"}:
            try:
                return arrays[value["array"]]
            except (KeyError, TypeError):
                msg = f"the message refers to a missing array {value['array']!r}"
                raise WireError(msg) from None
        return {k: unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v, arrays) for v in value]
    return value


def write(stream: BinaryIO, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one message (``header`` must be JSON-serialisable) and flush."""
    head = json.dumps(header, allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    if arrays:
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    body = buf.getvalue()
    stream.write(_MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<Q", len(body)))
    stream.write(body)
    stream.flush()


def _exactly(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the stream ended")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read(stream: BinaryIO) -> tuple[dict, dict[str, np.ndarray]]:
    """Read one message: ``(header, arrays)``.

    Raises ``EOFError`` when the stream ends between messages (the writer is
    gone) and :class:`WireError` for anything malformed or oversized.

    >>> buf = io.BytesIO()
    >>> write(buf, {"type": "hello"}, {"x": np.arange(3)})
    >>> _ = buf.seek(0)
    >>> header, arrays = read(buf)
    >>> header, arrays["x"].tolist()
    ({'type': 'hello'}, [0, 1, 2])
    """
    start = stream.read(4)
    if not start:
        raise EOFError("the stream ended")
    try:
        if start != _MAGIC:
            raise WireError("not a grader message")
        (n_head,) = struct.unpack("<I", _exactly(stream, 4))
        if n_head > MAX_HEADER:
            raise WireError(f"a header of {n_head} bytes (the limit is {MAX_HEADER})")
        header = json.loads(_exactly(stream, n_head).decode("utf-8"))
        (n_body,) = struct.unpack("<Q", _exactly(stream, 8))
        if n_body > MAX_PAYLOAD:
            raise WireError(f"{n_body} bytes of arrays (the limit is {MAX_PAYLOAD})")
        body = _exactly(stream, n_body)
    except EOFError as e:
        raise WireError("the stream ended inside a message") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"a malformed header: {e}") from e
    if not isinstance(header, dict):
        raise WireError("a header that is not a JSON object")
    return header, _arrays(body)


def _arrays(body: bytes) -> dict[str, np.ndarray]:
    if not body:
        return {}
    try:
        unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(body)).infolist())
    except (zipfile.BadZipFile, ValueError) as e:
        raise WireError(f"malformed arrays: {e}") from e
    if unpacked > MAX_PAYLOAD:  # a compressed archive that would unpack past the bound
        raise WireError(f"{unpacked} bytes of arrays once unpacked (the limit is {MAX_PAYLOAD})")
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as e:  # noqa: BLE001 - whatever the bytes are, they are not our arrays
        raise WireError(f"malformed arrays: {type(e).__name__}: {e}") from e
