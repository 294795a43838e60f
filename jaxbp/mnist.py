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
   ``../shared/data/mnist``): that folder and nothing else, which must exist
   and hold all four valid files.  Nothing is ever downloaded into it (it may
   be a read-only shared copy).
3. otherwise: the parsed cache (below), then the per-user cache folder
   ``$XDG_CACHE_HOME/jaxbp/<dataset>`` (default ``~/.cache/jaxbp/<dataset>``),
   then for ``"fashion-mnist"`` ``/usr/share/datasets/fashion-mnist`` (Debian
   package ``dataset-fashion-mnist``); the first folder holding all four files
   is used.  When none does and ``download=True``, the missing files are
   fetched into the per-user cache folder.

Integrity
---------
Every file is read by :func:`jaxbp.idx.read`: its decompressed bytes must have
the published SHA-256 (hashed while decompressing, which stops past the
expected size, so a gzip bomb costs a few megabytes) and parse strictly as IDX
(magic number, 28x28 images, exact payload size, labels in 0..9); then the
train and test splits must have as many labels as images.  Any failure raises
:class:`DatasetError` naming the file; partial data is never returned.  A
download is verified in memory before anything is written, then written
atomically (:func:`jaxbp.run_state.atomic_write`); a failed one leaves nothing
behind.

Parsed cache
------------
After a verified load the four arrays are saved as an ``.npz`` in the per-user
cache folder, keyed by the dataset and the expected SHA-256s, together with the
SHA-256 of each array's IDX payload and of the on-disk source files it was
built from.  On every read the arrays are re-hashed and must reproduce the
expected SHA-256 of the IDX files, so a damaged or tampered cache is ignored
(and rebuilt from verified files), never returned.  With an explicit folder
(1 or 2) the cache is used only when that folder's files are byte-identical to
files already verified (a fast hash of the ``.gz`` bytes instead of a full
decompression); otherwise the folder's files are verified in full.  The cache
is written atomically (:func:`jaxbp.run_state.atomic_write`); it is an
optimisation only, and ``JAXBP_NO_CACHE=1`` disables it.

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

import hashlib
import io
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import BinaryIO

import numpy as np

from jaxbp import idx
from jaxbp.idx import DatasetError
from jaxbp.run_state import atomic_write, user_cache_dir

__all__ = [
    "DatasetError",
    "DATASETS",
    "FILES",
    "load_mnist",
    "load_raw",
    "default_cache_dir",
    "find_data_dir",
]


# Array key -> IDX base file name (without ``.gz``).
FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")

# SHA-256 of the DECOMPRESSED IDX files.
_EXPECTED_SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    # Computed from the decompressed files of Debian's dataset-fashion-mnist
    # 0.0~git20200523.55506a9-1 (upstream git snapshot; Debian recompressed the
    # .gz wrappers, so their MD5s differ from the published ones below).
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# Size in bytes of each DECOMPRESSED IDX file (header + payload); the same for
# both datasets.  Decompression stops once a file's output exceeds it.
_MNIST_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}
_EXPECTED_BYTES: dict[str, dict[str, int]] = {
    "mnist": dict(_MNIST_BYTES),
    "fashion-mnist": dict(_MNIST_BYTES),
}

# Also accepted: the published MD5 of the original upstream .gz wrapper (a hedge
# in case the Debian payload ever differed from the upstream download).
_ACCEPTED_GZ_MD5: dict[str, dict[str, str]] = {
    "mnist": {},
    "fashion-mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
}

_ENV_VARS: dict[str, str] = {
    "mnist": "JAXBP_DATA_DIR",
    "fashion-mnist": "JAXBP_FASHION_DATA_DIR",
}

_SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "mnist": (),
    "fashion-mnist": ("/usr/share/datasets/fashion-mnist",),
}

_DOWNLOAD_TIMEOUT_S = 30.0
_CACHE_FORMAT = 2
_NPY_HEADER_SLACK = 4096  # an .npy header is far smaller than this


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


def _manual_hint(dataset: str, target: Path) -> str:
    names = ", ".join(b + ".gz" for b in FILES.values())
    return (
        f"Put the files {names} (gzipped or not) into {target}, "
        f"or set the environment variable {_ENV_VARS[dataset]} to the folder that "
        f"holds them (or pass data_dir=...)."
    )


def _explicit_dir(dataset: str, data_dir) -> tuple[Path, str] | None:
    """The folder named by ``data_dir`` or else by the dataset's environment
    variable, with where the name came from; None when neither is given."""
    if data_dir is not None:
        return Path(data_dir), "data_dir"
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
    explicit = _explicit_dir(dataset, data_dir)
    for d in [explicit[0]] if explicit else _search_dirs(dataset):
        if _complete(_find_files(d)):
            return d
    return None


# --------------------------------------------------------------------------
# verifying and parsing the four files (the IDX format: jaxbp.idx)
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
    """:func:`jaxbp.idx.read` of the file ``base`` of ``dataset``."""
    return idx.read(path, _kind(base), _expected(dataset, base), f)


def _check_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if x.dtype != np.uint8 or t.dtype != np.uint8:
            raise DatasetError(f"{where}: {split} arrays are not uint8")
        if x.ndim != 3 or x.shape[1:] != (idx.ROWS, idx.COLS) or t.ndim != 1:
            raise DatasetError(f"{where}: bad {split} shapes {x.shape}, {t.shape}")
        if x.shape[0] != t.shape[0]:
            raise DatasetError(
                f"{where}: {x.shape[0]} {split} images but {t.shape[0]} {split} labels"
            )
        if t.size and int(t.max()) >= idx.NUM_CLASSES:
            raise DatasetError(f"{where}: {split} label out of range 0..{idx.NUM_CLASSES - 1}")


def _load_files(
    dataset: str, files: dict[str, Path]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The four arrays, verified and parsed, and the on-disk SHA-256 of each file."""
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for key, base in FILES.items():
        arrays[key], sources[base] = _load_file(files[base], dataset, base)
    _check_arrays(arrays, str(files[FILES["x_train"]].parent))
    return arrays, sources


# --------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------


def _fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _show_progress(name: str, done: int, total: int | None) -> None:
    if total:
        msg = f"\r  {name}: {_fmt_bytes(done)} / {_fmt_bytes(total)} ({100 * done // total}%)"
    else:
        msg = f"\r  {name}: {_fmt_bytes(done)}"
    sys.stderr.write(msg)
    sys.stderr.flush()


def _fetch(url: str, out: BinaryIO, progress: bool) -> None:
    """Download ``url`` into the open binary file ``out``.

    Uses urllib with a timeout; shows bytes/percent on stderr when ``progress``.
    Raises on any error (tests monkeypatch this function; no network in tests).
    """
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp:
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


def _download_one(url: str, dataset: str, base: str, final: Path, progress: bool) -> Path:
    """Fetch ``url`` into memory, verify it, then write it atomically to ``final``."""
    if progress:
        sys.stderr.write(f"Downloading {url}\n")
        sys.stderr.flush()
    data = io.BytesIO()
    _fetch(url, data, progress)
    data.seek(0)
    _load_file(final, dataset, base, f=data)  # verified before anything is written
    atomic_write(final, lambda f: f.write(data.getbuffer()))
    return final


def _download(dataset: str, base: str, target: Path, progress: bool) -> Path:
    """Fetch ``<base>.gz`` into ``target`` from the first mirror that works.

    Each attempt is verified (checksum and IDX structure) before it appears
    under its final name; nothing is left on failure.  When every mirror fails
    (e.g. offline), raises one-line :class:`DatasetError` saying how to get
    the files by hand.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create {target} to download {dataset} into: {idx.one_line(e)}. "
            + _manual_hint(dataset, target)
        ) from e
    fname = base + ".gz"
    errors = []
    for mirror in _MIRRORS[dataset]:
        url = mirror + fname
        try:
            return _download_one(url, dataset, base, target / fname, progress)
        except Exception as e:  # noqa: BLE001 - any failure: try the next mirror
            errors.append(f"{url}: {idx.one_line(e)}")
    raise DatasetError(
        f"could not download {fname} for {dataset} ({'; '.join(errors)}). "
        + _manual_hint(dataset, target)
    )


# --------------------------------------------------------------------------
# parsed .npz cache
# --------------------------------------------------------------------------


def _cache_enabled() -> bool:
    return os.environ.get("JAXBP_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")


def _cache_path(dataset: str) -> Path:
    h = hashlib.sha256(f"v{_CACHE_FORMAT}:{dataset}".encode())
    for base in sorted(FILES.values()):
        h.update(f"|{base}={_EXPECTED_SHA256.get(dataset, {}).get(base)}".encode())
    return default_cache_dir(dataset) / f"parsed-{h.hexdigest()[:16]}.npz"


def _verified_digests(dataset: str, arrays: dict[str, np.ndarray]) -> dict[str, str] | None:
    """Array key -> SHA-256 of its IDX file, when all four are the expected
    ones for ``dataset``; else None (such arrays are never cached or returned
    from the cache)."""
    expected = _EXPECTED_SHA256.get(dataset, {})
    digests = {key: idx.idx_sha256(arrays[key], _kind(base)) for key, base in FILES.items()}
    ok = all(expected.get(base) == digests[key] for key, base in FILES.items())
    return digests if ok else None


def _check_cache_sizes(z, dataset: str) -> None:
    """Refuse an ``.npz`` member larger than its array can be, before reading it."""
    for key, base in FILES.items():
        limit = _EXPECTED_BYTES.get(dataset, {}).get(base, idx.MAX_BYTES)
        if z.zip.getinfo(key + ".npy").file_size > limit + _NPY_HEADER_SLACK:
            raise ValueError(f"{key} is larger than {limit} bytes")
    if z.zip.getinfo("meta.npy").file_size > 1 << 20:
        raise ValueError("meta is larger than 1 MiB")


def _read_cache(dataset: str) -> tuple[dict[str, np.ndarray], dict[str, set]] | None:
    """The cached arrays and, per IDX base name, the on-disk SHA-256s of the
    source files they were built from; None when the cache is absent, damaged,
    or its arrays do not reproduce the expected checksums."""
    path = _cache_path(dataset)
    try:
        with np.load(path, allow_pickle=False) as z:
            _check_cache_sizes(z, dataset)
            arrays = {key: np.asarray(z[key]) for key in FILES}
            meta = json.loads(str(z["meta"][()]))
        _check_arrays(arrays, str(path))
        digests = _verified_digests(dataset, arrays)
        if digests is None or meta["dataset"] != dataset or meta["sha256"] != digests:
            return None
        sources = {base: {str(s) for s in meta["sources"].get(base, [])} for base in FILES.values()}
    except Exception:  # noqa: BLE001 - absent, unreadable or damaged: ignore, rebuild
        return None
    return arrays, sources


def _write_cache(dataset: str, arrays: dict[str, np.ndarray], sources: dict[str, set]) -> None:
    """Save verified ``arrays`` atomically; never raises (the cache is an optimisation)."""
    digests = _verified_digests(dataset, arrays)
    if digests is None:
        return  # e.g. accepted through the .gz MD5 only: not cached
    meta = {
        "format": _CACHE_FORMAT,
        "dataset": dataset,
        "sha256": digests,
        "sources": {base: sorted(s)[-8:] for base, s in sources.items()},
    }
    path = _cache_path(dataset)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))
    except (OSError, ValueError):
        pass  # e.g. read-only home


# --------------------------------------------------------------------------
# finding the four files
# --------------------------------------------------------------------------


def _explicit_files(
    dataset: str, directory: Path, origin: str, download: bool, progress: bool
) -> dict[str, Path]:
    """The four files in the folder named by ``data_dir`` or the variable.

    The folder must exist; a missing file is downloaded into it only for
    ``data_dir`` with ``download=True``.
    """
    files = _find_files(directory)
    if files is None:
        raise DatasetError(
            f"the {dataset} data folder {directory} (from {origin}) does not exist. "
            + _manual_hint(dataset, directory)
        )
    missing = [base for base, p in files.items() if p is None]
    if missing and (origin != "data_dir" or not download):
        why = "download=False" if origin == "data_dir" else f"nothing is downloaded into {origin}"
        raise DatasetError(
            f"{directory} (from {origin}) lacks {', '.join(missing)} (.gz or raw); "
            f"{why}. " + _manual_hint(dataset, directory)
        )
    for base in missing:
        files[base] = _download(dataset, base, directory, progress)
    return files  # type: ignore[return-value]


def _default_files(dataset: str, download: bool, progress: bool) -> dict[str, Path]:
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
            + _manual_hint(dataset, target)
        )
    for base in missing:
        files[base] = _download(dataset, base, target, progress)
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
    if _cache_enabled():
        old = cached[1] if cached is not None else {}
        _write_cache(dataset, arrays, {b: old.get(b, set()) | {d} for b, d in digests.items()})
    return arrays


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def load_raw(
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
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
    fails), corrupt, or fail their checksum.
    """
    _check_dataset(dataset)
    explicit = _explicit_dir(dataset, data_dir)
    if explicit is not None:
        files = _explicit_files(dataset, *explicit, download=download, progress=progress)
        cached = _read_cache(dataset) if _cache_enabled() else None
        return _load_verified(dataset, files, cached)
    cached = _read_cache(dataset) if _cache_enabled() else None
    if cached is not None:
        return cached[0]
    return _load_verified(dataset, _default_files(dataset, download, progress), None)


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
