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
The four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` are accepted either
gzip-compressed (``<name>.gz``, preferred when both exist) or raw.

1. ``data_dir=`` given (the trainer's ``--data-dir``): that folder and nothing
   else.  A folder that does not exist, cannot be read, or holds a corrupt
   file is a :class:`DatasetError` naming it; missing files are downloaded
   into it when ``download=True``.
2. otherwise, when the dataset's environment variable is set
   (``JAXBP_DATA_DIR`` for ``"mnist"``, ``JAXBP_FASHION_DATA_DIR`` for
   ``"fashion-mnist"``; each names the dataset's folder itself, e.g.
   ``/data/mnist``): that folder and nothing else, which must exist
   and hold all four valid files.  Nothing is ever downloaded into it (it may
   be a read-only shared copy).
3. otherwise: the per-user cache folder
   ``$XDG_CACHE_HOME/jaxbp/<dataset>`` (default ``~/.cache/jaxbp/<dataset>``),
   then for ``"fashion-mnist"`` ``/usr/share/datasets/fashion-mnist`` (Debian
   package ``dataset-fashion-mnist``); the first folder holding all four files
   is used.  When none does and ``download=True``, the missing files are
   fetched into the per-user cache folder.

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
only when the folder found (1, 2 or 3) holds files byte-identical to files already
verified (a fast hash of the ``.gz`` bytes instead of a full decompression);
otherwise they are verified in full.  It is never a source of data by itself: the
files are always looked for by the rule above.
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

from jaxbp._files import user_cache_dir
from jaxbp.mnist import cache as mnist_cache
from jaxbp.mnist import idx
from jaxbp.mnist.download import DownloadError
from jaxbp.mnist.download import fetch as _fetch
from jaxbp.mnist.download import from_mirrors as _from_mirrors
from jaxbp.mnist.files import DATASETS, FILES
from jaxbp.mnist.files import ENV_VARS as _ENV_VARS
from jaxbp.mnist.files import GZ_MD5 as _ACCEPTED_GZ_MD5
from jaxbp.mnist.files import MIRRORS as _MIRRORS
from jaxbp.mnist.files import SHA256 as _EXPECTED_SHA256
from jaxbp.mnist.files import SIZES as _EXPECTED_BYTES
from jaxbp.mnist.files import SYSTEM_DIRS as _SYSTEM_DIRS
from jaxbp.mnist.idx import DatasetError

# The tables of jaxbp.mnist.files and download.fetch are read through the names
# above, at each call, so that a test can replace them here (no network in tests).

__all__ = [
    "DatasetError",
    "DATASETS",
    "FILES",
    "load_mnist",
    "load_raw",
    "default_cache_dir",
    "find_data_dir",
]


# --------------------------------------------------------------------------
# helpers: names, folders, messages
# --------------------------------------------------------------------------


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {', '.join(DATASETS)}")
    return dataset


def default_cache_dir(dataset: str = "mnist") -> Path:
    """Per-user folder for downloads and the parsed ``.npz`` cache.

    ``$XDG_CACHE_HOME/jaxbp/<dataset>`` when ``XDG_CACHE_HOME`` is set (and
    absolute), else ``~/.cache/jaxbp/<dataset>``.
    """
    _check_dataset(dataset)
    return user_cache_dir(dataset)


def _manual_hint(dataset: str, target: Path, origin: str = "", given_as: str = "data_dir") -> str:
    """How to get the files, in the words of how the user named the folder."""
    names = ", ".join(b + ".gz" for b in FILES.values())
    put = f"Put the files {names} (gzipped or not) into {target}"
    if origin == given_as:  # the folder was named by the argument (or flag) itself
        return f"{put}, or give {given_as} the folder that holds them."
    return (
        f"{put}, or set the environment variable {_ENV_VARS[dataset]} to the folder "
        f"that holds them (or use {given_as})."
    )


def _explicit_dir(dataset: str, data_dir, given_as: str) -> tuple[Path, str] | None:
    """The folder named by ``data_dir`` or else by the dataset's environment
    variable, with where the name came from (``given_as`` or ``$VAR``); None
    when neither is given."""
    if data_dir is not None:
        return Path(data_dir), given_as
    env = os.environ.get(_ENV_VARS[dataset], "")
    if env:
        return Path(env), "$" + _ENV_VARS[dataset]
    return None


def _search_dirs(dataset: str) -> list[Path]:
    """The folders of the default search (no ``data_dir``, no variable), in order."""
    return [default_cache_dir(dataset)] + [Path(d) for d in _SYSTEM_DIRS[dataset]]


def _find_files(directory: Path) -> dict[str, Path | None] | None:
    """IDX base name -> ``<base>.gz`` (preferred) or ``<base>`` in ``directory``,
    None for a file that is in neither form; None when the folder does not exist.

    Raises :class:`DatasetError` when ``directory`` exists but cannot be listed.
    """
    try:
        names = set(os.listdir(directory))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DatasetError(f"cannot read the data folder {directory}: {idx.one_line(e)}") from e
    found: dict[str, Path | None] = {}
    for base in FILES.values():
        hits = [n for n in (base + ".gz", base) if n in names and os.path.isfile(directory / n)]
        found[base] = directory / hits[0] if hits else None
    return found


def _complete(files: dict[str, Path | None] | None) -> bool:
    return files is not None and all(p is not None for p in files.values())


def find_data_dir(dataset: str = "mnist", data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder :func:`load_raw` would read the four files from, or None.

    ``data_dir`` (or else the dataset's environment variable) when it holds
    all four files, otherwise the first folder of the default search that
    does (see the module docstring).  None means :func:`load_raw` would need
    the parsed cache or a download.  Only looks at file names: nothing is
    read or verified.  Raises :class:`DatasetError` for a folder that cannot
    be listed and ``ValueError`` for an unknown dataset.
    """
    _check_dataset(dataset)
    explicit = _explicit_dir(dataset, data_dir, "data_dir")
    for d in [explicit[0]] if explicit else _search_dirs(dataset):
        if _complete(_find_files(d)):
            return d
    return None


# --------------------------------------------------------------------------
# verifying and parsing the four files (the IDX format: jaxbp.mnist.idx)
# --------------------------------------------------------------------------


def _expected(dataset: str, base: str) -> idx.Expected:
    """What the file ``base`` of ``dataset`` must be (checksum, size)."""
    return idx.Expected(
        size=_EXPECTED_BYTES.get(dataset, {}).get(base, idx.MAX_BYTES),
        sha256=_EXPECTED_SHA256.get(dataset, {}).get(base),
        gz_md5=_ACCEPTED_GZ_MD5.get(dataset, {}).get(base),
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
    dataset: str, files: dict[str, Path]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The four arrays, verified and parsed, and the on-disk SHA-256 of each file."""
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for key, base in FILES.items():
        arrays[key], sources[base] = _load_file(files[base], dataset, base)
    idx.check_splits(arrays, str(files[FILES["x_train"]].parent))
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
            + _manual_hint(dataset, target, given_as=given_as)
        ) from e
    fname = base + ".gz"
    final = target / fname
    urls = [mirror + fname for mirror in _MIRRORS[dataset]]
    verify = lambda f: _load_file(final, dataset, base, f)
    try:
        return _from_mirrors(urls, final, verify, progress, fetch=_fetch)
    except DownloadError as e:
        raise DatasetError(
            f"could not download {fname} for {dataset} ({e}). "
            + _manual_hint(dataset, target, given_as=given_as)
        ) from None


# --------------------------------------------------------------------------
# parsed .npz cache
# --------------------------------------------------------------------------


def _cache_spec(dataset: str) -> mnist_cache.Spec:
    """The parsed cache of ``dataset``, keyed by the checksums expected now."""
    files = {
        key: mnist_cache.Source(base, _kind(base), _expected(dataset, base))
        for key, base in FILES.items()
    }
    return mnist_cache.Spec(default_cache_dir(dataset), dataset, files)


def _cache_path(dataset: str) -> Path:
    """Where the parsed cache of ``dataset`` is (or would be)."""
    return mnist_cache.cache_path(_cache_spec(dataset))


def _read_cache(dataset: str) -> tuple[dict[str, np.ndarray], dict[str, set]] | None:
    """:func:`jaxbp.mnist.cache.read`, or None when the cache is disabled."""
    return mnist_cache.read(_cache_spec(dataset)) if mnist_cache.enabled() else None


# --------------------------------------------------------------------------
# finding the four files
# --------------------------------------------------------------------------


def _explicit_files(
    dataset: str, directory: Path, origin: str, download: bool, progress: bool, given_as: str
) -> dict[str, Path]:
    """The four files in the folder named by ``data_dir`` or the variable.

    The folder must exist; a missing file is downloaded into it only for
    ``data_dir`` with ``download=True``.
    """
    files = _find_files(directory)
    if files is None:
        raise DatasetError(
            f"the {dataset} data folder {directory} (from {origin}) does not exist. "
            + _manual_hint(dataset, directory, origin, given_as)
        )
    missing = [base for base, p in files.items() if p is None]
    if missing and (origin != given_as or not download):
        why = "download=False" if origin == given_as else f"nothing is downloaded into {origin}"
        raise DatasetError(
            f"{directory} (from {origin}) lacks {', '.join(missing)} (.gz or raw); "
            f"{why}. " + _manual_hint(dataset, directory, origin, given_as)
        )
    for base in missing:
        files[base] = _download(dataset, base, directory, progress, given_as)
    return files  # type: ignore[return-value]


def _default_files(dataset: str, download: bool, progress: bool, given_as: str) -> dict[str, Path]:
    """The four files from the first complete folder of the default search,
    else downloaded (the missing ones) into the per-user cache folder."""
    dirs = _search_dirs(dataset)
    for d in dirs:
        files = _find_files(d)
        if _complete(files):
            return files  # type: ignore[return-value]
    target = dirs[0]
    files = _find_files(target) or {base: None for base in FILES.values()}
    missing = [base for base, p in files.items() if p is None]
    if not download:
        raise DatasetError(
            f"{dataset} files not found (looked in: {', '.join(str(d) for d in dirs)}); "
            f"missing in {target}: {', '.join(missing)}; download=False. "
            + _manual_hint(dataset, target, "the default search", given_as)
        )
    for base in missing:
        files[base] = _download(dataset, base, target, progress, given_as)
    return files  # type: ignore[return-value]


def _load_verified(dataset: str, files: dict[str, Path], cached) -> dict[str, np.ndarray]:
    """The arrays of ``files``: from the (verified) cache when every file is
    byte-identical to one the cache was built from, else verified and parsed
    in full, then cached."""
    if cached is not None:
        arrays, sources = cached
        if all(idx.file_sha256(p) in sources[base] for base, p in files.items()):
            return arrays
    arrays, digests = _load_files(dataset, files)
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
    download progress on stderr.  See the module docstring for the search
    order, the checks and the cache.

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
    _check_dataset(dataset)
    explicit = _explicit_dir(dataset, data_dir, given_as)
    if explicit is not None:
        files = _explicit_files(dataset, *explicit, download, progress, given_as)
    else:
        files = _default_files(dataset, download, progress, given_as)
    return _load_verified(dataset, files, _read_cache(dataset))


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
