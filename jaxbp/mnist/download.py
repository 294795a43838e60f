"""Downloading a file from the first of its mirrors that works, verified before it is written.

:mod:`jaxbp.mnist` calls :func:`from_mirrors` for each missing file, with the
URLs of :data:`jaxbp.mnist.files.MIRRORS`.  Each attempt is fetched into memory
(:func:`fetch`: urllib with a timeout, bytes and percent on stderr when
``progress``), handed to the caller's ``verify`` (which raises to refuse it:
checksum and IDX structure) and only then written atomically under its final
name (:func:`jaxbp._files.atomic_write`), so a failed attempt leaves nothing
behind and the next mirror is tried.  When every mirror fails (e.g. offline),
:class:`DownloadError` lists each URL's error on one line.

Bounded: a response is read only up to the file's published ``.gz`` size
(:data:`jaxbp.mnist.files.GZ_SIZES`) plus a margin (:func:`limit_for`) and
abandoned beyond it, so an endless or oversized response cannot fill memory.
Network URLs must be https, redirects included (``file://`` is a local file and
allowed); plain http is accepted only for a loopback address and only when the
caller asks for it (``allow_http_loopback=True``, for tests).  The tests never
use the network: they replace :func:`fetch` here, which the loader looks up at each
call and passes as ``fetch=``, or serve files from 127.0.0.1.
"""

from __future__ import annotations

import io
import os
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from jaxbp._files import atomic_write
from jaxbp.mnist.files import GZ_SIZES
from jaxbp.mnist.idx import one_line

__all__ = ["DownloadError", "TIMEOUT_S", "fetch", "from_mirrors", "limit_for", "check_url"]

TIMEOUT_S = 30.0  # per connection and per read, not for the whole file
_LOOPBACK = ("127.0.0.1", "::1")


class DownloadError(OSError):
    """A refused or oversized download (one line naming the URL); from
    :func:`from_mirrors`: every URL failed, ``<url>: <error>`` for each, joined by ``; ``."""


def _margin(size: int) -> int:
    return max(64 * 1024, size // 100)


def limit_for(name: str) -> int:
    """Most bytes read for the file ``name`` (e.g. ``"t10k-labels-idx1-ubyte.gz"``).

    The largest published ``.gz`` size of that name over the datasets, plus
    64 KiB or 1 % (whichever is larger); a name not in the tables gets the bound
    of the largest file.

    >>> limit_for("t10k-labels-idx1-ubyte.gz")  # Fashion-MNIST's 5148 bytes + 64 KiB
    70684
    >>> limit_for("unknown.gz") == limit_for("train-images-idx3-ubyte.gz")
    True
    """
    base = name.removesuffix(".gz")
    sizes = [t[base] for t in GZ_SIZES.values() if base in t]
    size = max(sizes) if sizes else max(v for t in GZ_SIZES.values() for v in t.values())
    return size + _margin(size)


def check_url(url: str, allow_http_loopback: bool = False) -> str:
    """``url`` if it may be fetched, else :class:`DownloadError`.

    https, or ``file://`` (a local file); http only for 127.0.0.1 or ::1 and only
    with ``allow_http_loopback=True``.

    >>> check_url("https://example.org/a.gz")
    'https://example.org/a.gz'
    >>> check_url("http://example.org/a.gz")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    jaxbp.mnist.download.DownloadError: http://example.org/a.gz: refusing a non-https URL
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("https", "file"):
        return url
    if scheme == "http" and allow_http_loopback and parts.hostname in _LOOPBACK:
        return url
    raise DownloadError(f"{url}: refusing a non-https URL")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL :func:`check_url` accepts."""

    def __init__(self, allow_http_loopback: bool) -> None:
        self.allow_http_loopback = allow_http_loopback

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl, self.allow_http_loopback)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Bounded(io.BytesIO):
    """An in-memory file that refuses to grow past ``limit`` bytes (:class:`DownloadError`)."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__()
        self.url, self.limit = url, limit

    def write(self, b) -> int:
        if self.tell() + len(memoryview(b)) > self.limit:
            raise DownloadError(_too_big(self.url, self.limit))
        return super().write(b)


def _too_big(url: str, limit: int) -> str:
    return f"{url}: the response is larger than the file can be ({limit} bytes); abandoned"


def _fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _show_progress(name: str, done: int, total: int | None) -> None:
    if total:
        msg = f"\r  {name}: {_fmt_bytes(done)} / {_fmt_bytes(total)} ({100 * done // total}%)"
    else:
        msg = f"\r  {name}: {_fmt_bytes(done)}"
    sys.stderr.write(msg)
    sys.stderr.flush()


def fetch(
    url: str,
    out: BinaryIO,
    progress: bool,
    max_bytes: int | None = None,
    *,
    allow_http_loopback: bool = False,
) -> None:
    """Download ``url`` into the open binary file ``out``, at most ``max_bytes`` bytes.

    ``max_bytes`` defaults to :func:`limit_for` the URL's file name; a response
    announcing or sending more is abandoned with :class:`DownloadError` (one line
    naming the URL).  Refuses what :func:`check_url` refuses, redirects included.
    Uses urllib with a timeout; shows bytes/percent on stderr when ``progress``.
    Raises on any error, including fewer bytes than the server announced.
    """
    check_url(url, allow_http_loopback)
    name = url.rsplit("/", 1)[-1]
    limit = limit_for(name) if max_bytes is None else int(max_bytes)
    opener = urllib.request.build_opener(_HttpsOnlyRedirects(allow_http_loopback))
    with opener.open(url, timeout=TIMEOUT_S) as resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        if total is not None and total > limit:
            raise DownloadError(_too_big(url, limit))
        done = 0
        while True:
            chunk = resp.read(min(1 << 16, limit + 1 - done))
            if not chunk:
                break
            done += len(chunk)
            if done > limit:
                raise DownloadError(_too_big(url, limit))
            out.write(chunk)
            if progress:
                _show_progress(name, done, total)
        if progress:
            sys.stderr.write("\n")
            sys.stderr.flush()
        if total is not None and done != total:
            raise OSError(f"incomplete download: got {done} of {total} bytes")


Fetch = Callable[[str, BinaryIO, bool], None]


def _download_one(
    url: str,
    final: Path,
    verify: Callable[[BinaryIO], object],
    progress: bool,
    fetch: Fetch,
    limit: int,
) -> Path:
    """Fetch ``url`` into memory (at most ``limit`` bytes), ``verify`` it, then write
    it atomically to ``final``."""
    if progress:
        sys.stderr.write(f"Downloading {url}\n")
        sys.stderr.flush()
    data = _Bounded(url, limit)
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
    max_bytes: int | None = None,
) -> Path:
    """Download the first of ``urls`` that can be fetched and passes ``verify``
    into ``final`` (whose folder must exist); returns ``final``.

    ``verify`` gets the downloaded bytes as an open in-memory file and raises
    to refuse them.  ``fetch`` (default :func:`fetch`) does the transfer, into a
    buffer that holds at most ``max_bytes`` (default: :func:`limit_for`
    ``final``'s name) whatever ``fetch`` does.  Raises :class:`DownloadError`
    when every URL fails; nothing is left behind.
    """
    limit = limit_for(os.path.basename(final)) if max_bytes is None else int(max_bytes)
    errors = []
    for url in urls:
        try:
            return _download_one(url, final, verify, progress, fetch, limit)
        except Exception as e:  # noqa: BLE001 - any failure: try the next mirror
            msg = one_line(e)
            errors.append(msg if msg.startswith(url) else f"{url}: {msg}")
    raise DownloadError("; ".join(errors))
