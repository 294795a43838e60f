"""MNIST / Fashion-MNIST loader, compatible with the book's ``load_mnist``.

"Deep Learning from Scratch" (Koki Saitoh) introduces ``load_mnist`` in
section 3.6.1 (``dataset/mnist.py``) and uses it again in sections 5.7.3-5.7.4
to check the backprop gradients and train the two-layer net.  This module
offers the same call signature and return layout, in NumPy only (no JAX):

    >>> (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True,
    ...                                                   one_hot_label=True)

plus :func:`load_raw`, which returns the four uint8 arrays untouched so that a
trainer can put uint8 images on the device and normalise inside a jitted step.

The loader trusts nothing it did not verify: every array it returns is either
parsed from files whose checksums it has just checked, or read from a parsed
cache whose arrays it has just checked against the same checksums.

Where the files are looked for
------------------------------
:mod:`jaxbp.mnist.find` says it: ``data_dir=`` (the trainer's ``--data-dir``),
else the dataset's environment variable (``JAXBP_DATA_DIR``,
``JAXBP_FASHION_DATA_DIR``), else the per-user cache folder and the system
folders; missing files are downloaded only into ``data_dir`` or the per-user
cache folder, and only with ``download=True``.

Integrity
---------
Every file is read by :func:`jaxbp.mnist.idx.read`: its decompressed bytes must have
the published SHA-256 (decompression stops past the expected size, so a gzip
bomb costs a few megabytes) and parse strictly as IDX; then the train and test
splits must fit together (:func:`jaxbp.mnist.idx.check_splits`).  Any failure raises
:class:`DatasetError` naming the file; partial data is never returned.  A
download (:mod:`jaxbp.mnist.download`) is verified in memory before it is written
atomically; a failed one leaves nothing behind.

Parsed cache
------------
After a verified load the four arrays are saved as an ``.npz`` in the per-user
cache folder (:mod:`jaxbp.mnist.cache`); a cache whose arrays do not reproduce
the expected SHA-256s is ignored and rebuilt, never returned.  The cache is used
only when the folder found holds files byte-identical to files already verified
(a fast hash of the ``.gz`` bytes instead of a full decompression); otherwise they
are verified in full.  It is never a source of data by itself: the files are always
looked for by the rule of :mod:`jaxbp.mnist.find`.
``JAXBP_NO_CACHE=1`` disables the cache.

Errors
------
Every expected failure (no data and ``download=False`` or no network, a folder
that does not exist or cannot be read, a missing, truncated, oversized or
corrupt file, a checksum mismatch) raises :class:`DatasetError` with a
one-line message naming the path and how to get the data.

Environment variables: ``JAXBP_DATA_DIR``, ``JAXBP_FASHION_DATA_DIR``,
``JAXBP_NO_CACHE``, ``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from jaxbp.mnist import cache as mnist_cache
from jaxbp.mnist import download as mnist_download
from jaxbp.mnist import files as mnist_files
from jaxbp.mnist import find, idx
from jaxbp.mnist.files import DATASETS, FILES
from jaxbp.mnist.idx import DatasetError

# The tables of jaxbp.mnist.files and jaxbp.mnist.download.fetch are read through
# their modules at each call, so that a test can replace them there (no network in tests).

__all__ = ["DatasetError", "DATASETS", "FILES", "load_mnist", "load_raw"]


# --------------------------------------------------------------------------
# verifying and parsing the four files (the IDX format: jaxbp.mnist.idx)
# --------------------------------------------------------------------------


def _expected(dataset: str, base: str) -> idx.Expected:
    """What the file ``base`` of ``dataset`` must be (checksum, size)."""
    return idx.Expected(
        size=mnist_files.SIZES.get(dataset, {}).get(base, idx.MAX_BYTES),
        sha256=mnist_files.SHA256.get(dataset, {}).get(base),
        gz_md5=mnist_files.GZ_MD5.get(dataset, {}).get(base),
        name=f"{dataset} file {base}",
    )


def _kind(base: str) -> str:
    return "images" if "images" in base else "labels"


def _load_file(
    path: Path, dataset: str, base: str, f: BinaryIO | None = None
) -> tuple[np.ndarray, str]:
    """:func:`jaxbp.mnist.idx.read` of the file ``base`` of ``dataset``."""
    return idx.read(path, _kind(base), _expected(dataset, base), f)


def _load_files(
    dataset: str, paths: dict[str, Path]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The four arrays, verified and parsed, and the on-disk SHA-256 of each file."""
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for key, base in FILES.items():
        arrays[key], sources[base] = _load_file(paths[base], dataset, base)
    idx.check_splits(arrays, str(paths[FILES["x_train"]].parent))
    return arrays, sources


# --------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------


def _download(
    dataset: str, base: str, target: Path, progress: bool, given_as: str = "data_dir"
) -> Path:
    """Fetch ``<base>.gz`` into ``target`` from the first mirror that works
    (:func:`jaxbp.mnist.download.from_mirrors`: verified before it is written).

    When every mirror fails (e.g. offline), raises one-line
    :class:`DatasetError` saying how to get the files by hand.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create {target} to download {dataset} into: {idx.one_line(e)}. "
            + find.manual_hint(dataset, target, given_as=given_as)
        ) from e
    fname = base + ".gz"
    final = target / fname
    urls = [mirror + fname for mirror in mnist_files.MIRRORS[dataset]]
    verify = lambda f: _load_file(final, dataset, base, f)
    fetch = mnist_download.fetch  # looked up at each call: the tests replace it
    try:
        return mnist_download.from_mirrors(urls, final, verify, progress, fetch=fetch)
    except mnist_download.DownloadError as e:
        raise DatasetError(
            f"could not download {fname} for {dataset} ({e}). "
            + find.manual_hint(dataset, target, given_as=given_as)
        ) from None


def _fetch_missing(
    dataset: str, folder: Path, found: find.Files, progress: bool, given_as: str
) -> dict[str, Path]:
    """``found`` with each missing file (None) downloaded into ``folder``."""
    paths = dict(found)
    for base, path in found.items():
        if path is None:
            paths[base] = _download(dataset, base, folder, progress, given_as)
    return paths  # type: ignore[return-value]


# --------------------------------------------------------------------------
# parsed .npz cache
# --------------------------------------------------------------------------


def _cache_spec(dataset: str) -> mnist_cache.Spec:
    """The parsed cache of ``dataset``, keyed by the checksums expected now."""
    sources = {
        key: mnist_cache.Source(base, _kind(base), _expected(dataset, base))
        for key, base in FILES.items()
    }
    return mnist_cache.Spec(find.default_cache_dir(dataset), dataset, sources)


def cache_path(dataset: str) -> Path:
    """Where the parsed cache of ``dataset`` is (or would be) for the checksums expected now.

    >>> cache_path("mnist").parent == find.default_cache_dir("mnist")
    True
    """
    return mnist_cache.cache_path(_cache_spec(dataset))


def _read_cache(dataset: str) -> tuple[dict[str, np.ndarray], dict[str, set]] | None:
    """:func:`jaxbp.mnist.cache.read`, or None when the cache is disabled."""
    return mnist_cache.read(_cache_spec(dataset)) if mnist_cache.enabled() else None


def _load_verified(dataset: str, paths: dict[str, Path], cached) -> dict[str, np.ndarray]:
    """The arrays of the files ``paths``: from the (verified) cache when every file is
    byte-identical to one the cache was built from, else verified and parsed
    in full, then cached."""
    if cached is not None:
        arrays, sources = cached
        if all(idx.file_sha256(p) in sources[base] for base, p in paths.items()):
            return arrays
    arrays, digests = _load_files(dataset, paths)
    if mnist_cache.enabled():
        old = cached[1] if cached is not None else {}
        sources = {b: old.get(b, set()) | {d} for b, d in digests.items()}
        mnist_cache.write(_cache_spec(dataset), arrays, sources)
    return arrays


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def load_raw(
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    *,
    given_as: str = "data_dir",
) -> dict[str, np.ndarray]:
    """Load the four arrays of ``dataset`` unmodified, as uint8.

    Returns a dict::

        {"x_train": (60000, 28, 28) uint8,  "t_train": (60000,) uint8,
         "x_test":  (10000, 28, 28) uint8,  "t_test":  (10000,) uint8}

    with pixel values 0..255 and labels 0..9.  ``dataset`` is ``"mnist"`` or
    ``"fashion-mnist"`` (same file names and IDX format).  ``data_dir`` (else
    ``$JAXBP_DATA_DIR`` / ``$JAXBP_FASHION_DATA_DIR``) names the only folder
    used; ``download`` allows fetching missing files; ``progress`` shows
    download progress on stderr.  See :mod:`jaxbp.mnist.find` for the search
    order and the module docstring for the checks and the cache.

    Raises ``ValueError`` for an unknown dataset and :class:`DatasetError`
    (one line, naming the path) when a named folder does not exist or cannot
    be read, the files are missing (and ``download=False`` or every mirror
    fails), corrupt, or fail their checksum.  Messages name the folder's
    argument as ``given_as`` (the trainer passes ``"--data-dir"``).

    The parsed cache only saves re-verifying files it was built from: it is used
    when the folder found holds byte-identical files, and is never a source of
    data by itself (so a copy read once through ``JAXBP_DATA_DIR`` is not found
    later without it).
    """
    folder, found = find.locate(dataset, data_dir, download, given_as)
    paths = _fetch_missing(dataset, folder, found, progress, given_as)
    return _load_verified(dataset, paths, _read_cache(dataset))


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    dataset: str = "mnist",
    download: bool = True,
    progress: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Book-compatible ``load_mnist`` (section 3.6.1; used in 5.7.3-5.7.4).

    Returns ``(x_train, t_train), (x_test, t_test)`` as NumPy arrays:

    * images: ``normalize=True`` -> float32 in [0, 1] (pixel / 255);
      ``normalize=False`` -> uint8 0..255.  ``flatten=True`` -> shape
      ``(N, 784)``; ``flatten=False`` -> ``(N, 1, 28, 28)``.
    * labels: ``one_hot_label=True`` -> float32 ``(N, 10)`` one-hot;
      otherwise int32 ``(N,)`` (the book returns uint8; int32 is used here so
      that labels index and compare safely in JAX).

    N is 60000 for training and 10000 for test.  Keyword-only arguments are
    passed to :func:`load_raw` (``dataset="fashion-mnist"`` gives Fashion-MNIST).
    """
    raw = load_raw(dataset=dataset, data_dir=data_dir, download=download, progress=progress)

    def images(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / np.float32(255.0) if normalize else x
        return (
            x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, idx.ROWS, idx.COLS)
        )

    def labels(t: np.ndarray) -> np.ndarray:
        if one_hot_label:
            out = np.zeros((t.shape[0], idx.NUM_CLASSES), dtype=np.float32)
            out[np.arange(t.shape[0]), t] = 1.0
            return out
        return t.astype(np.int32)

    return (
        (images(raw["x_train"]), labels(raw["t_train"])),
        (images(raw["x_test"]), labels(raw["t_test"])),
    )
