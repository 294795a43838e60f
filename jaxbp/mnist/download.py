"""Downloading a file from the first of its mirrors that works, verified before it is written.

:mod:`jaxbp.mnist` calls :func:`from_mirrors` for each missing file, with the
URLs of :data:`jaxbp.mnist.files.MIRRORS`.  Each attempt is fetched into memory
(:func:`fetch`: urllib with a timeout, bytes and percent on stderr when
``progress``), handed to the caller's ``verify`` (which raises to refuse it:
checksum and IDX structure) and only then written atomically under its final
name (:func:`jaxbp._files.atomic_write`), so a failed attempt leaves nothing
behind and the next mirror is tried.  When every mirror fails (e.g. offline),
:class:`DownloadError` lists each URL's error on one line.  The tests never use
the network: they replace ``jaxbp.mnist._fetch``, which the loader passes as
``fetch=``.
"""

from __future__ import annotations

import io
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from jaxbp._files import atomic_write
from jaxbp.mnist.idx import one_line

__all__ = ["DownloadError", "TIMEOUT_S", "fetch", "from_mirrors"]

TIMEOUT_S = 30.0  # per connection and per read, not for the whole file


class DownloadError(OSError):
    """Every URL failed; the message is ``<url>: <error>`` for each, joined by ``; ``."""


def _fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _show_progress(name: str, done: int, total: int | None) -> None:
    if total:
        msg = f"\r  {name}: {_fmt_bytes(done)} / {_fmt_bytes(total)} ({100 * done // total}%)"
    else:
        msg = f"\r  {name}: {_fmt_bytes(done)}"
    sys.stderr.write(msg)
    sys.stderr.flush()


def fetch(url: str, out: BinaryIO, progress: bool) -> None:
    """Download ``url`` into the open binary file ``out``.

    Uses urllib with a timeout; shows bytes/percent on stderr when ``progress``.
    Raises on any error, including fewer bytes than the server announced.
    """
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        done = 0
        name = url.rsplit("/", 1)[-1]
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if progress:
                _show_progress(name, done, total)
        if progress:
            sys.stderr.write("\n")
            sys.stderr.flush()
        if total is not None and done != total:
            raise OSError(f"incomplete download: got {done} of {total} bytes")


Fetch = Callable[[str, BinaryIO, bool], None]


def _download_one(
    url: str, final: Path, verify: Callable[[BinaryIO], object], progress: bool, fetch: Fetch
) -> Path:
    """Fetch ``url`` into memory, ``verify`` it, then write it atomically to ``final``."""
    if progress:
        sys.stderr.write(f"Downloading {url}\n")
        sys.stderr.flush()
    data = io.BytesIO()
    fetch(url, data, progress)
    data.seek(0)
    verify(data)  # before anything is written
    atomic_write(final, lambda f: f.write(data.getbuffer()))
    return final


def from_mirrors(
    urls: Sequence[str],
    final: Path,
    verify: Callable[[BinaryIO], object],
    progress: bool = True,
    fetch: Fetch = fetch,
) -> Path:
    """Download the first of ``urls`` that can be fetched and passes ``verify``
    into ``final`` (whose folder must exist); returns ``final``.

    ``verify`` gets the downloaded bytes as an open in-memory file and raises
    to refuse them.  ``fetch`` (default :func:`fetch`) does the transfer.
    Raises :class:`DownloadError` when every URL fails; nothing is left behind.
    """
    errors = []
    for url in urls:
        try:
            return _download_one(url, final, verify, progress, fetch)
        except Exception as e:  # noqa: BLE001 - any failure: try the next mirror
            errors.append(f"{url}: {one_line(e)}")
    raise DownloadError("; ".join(errors))
