"""MNIST / Fashion-MNIST loader, compatible with the book's ``load_mnist``.

"Deep Learning from Scratch" (Koki Saitoh) introduces ``load_mnist`` in
section 3.6.1 (``dataset/mnist.py``) and uses it again in sections 5.7.3-5.7.4
to check the backprop gradients and train the two-layer net.  This module
offers the same call signature and return layout, in NumPy only (no JAX):

    >>> (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True,
    ...                                                   one_hot_label=True)

plus :func:`load_raw`, which returns the four uint8 arrays untouched so that a
trainer can put uint8 images on the device and normalise inside a jitted step.

Where the files are looked for
------------------------------
The four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` are accepted either
gzip-compressed (``<name>.gz``, preferred when both exist) or raw.  A folder is
used only when it holds all four.

* ``data_dir=`` given: that folder only (missing files are downloaded into it).
* otherwise, in order:

  1. the folder named by an environment variable: ``JAXBP_DATA_DIR`` for
     ``"mnist"`` and ``JAXBP_FASHION_DATA_DIR`` for ``"fashion-mnist"`` (each
     variable names the dataset's folder itself, e.g. ``../shared/data/mnist``);
  2. the per-user cache ``$XDG_CACHE_HOME/jaxbp/<dataset>`` (default
     ``~/.cache/jaxbp/<dataset>``);
  3. for ``"fashion-mnist"`` only, ``/usr/share/datasets/fashion-mnist``
     (Debian package ``dataset-fashion-mnist``).

  When none is complete and ``download=True``, the missing files are fetched
  into the per-user cache folder (never into the environment-variable folder,
  which may be a read-only shared copy).

Integrity
---------
Every file is checked against the SHA-256 of its *decompressed* bytes (the
``.gz`` wrapper of a recompressed copy differs while the payload is the same),
then parsed strictly: IDX magic number, declared dimensions (28x28 images),
payload size exactly equal to the product of the dimensions, labels in 0..9,
as many labels as images.  Any failure raises :class:`DatasetError` naming the
file; partial data is never returned.

Parsed cache
------------
After a verified load the four arrays are saved (atomically) as an ``.npz`` in
the per-user cache folder, keyed by the dataset and the expected SHA-256s, and
read from there next time (shapes, dtypes and label range re-checked; a corrupt
cache is ignored and rebuilt).  ``JAXBP_NO_CACHE=1`` disables it.

Environment variables: ``JAXBP_DATA_DIR``, ``JAXBP_FASHION_DATA_DIR``,
``JAXBP_NO_CACHE``, ``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = [
    "DatasetError",
    "DATASETS",
    "FILES",
    "load_mnist",
    "load_raw",
    "default_cache_dir",
]


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupt, fails its checksum or cannot be downloaded."""


# Array key -> IDX base file name (without ``.gz``).
FILES: Dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

DATASETS: Tuple[str, ...] = ("mnist", "fashion-mnist")

# SHA-256 of the DECOMPRESSED IDX files.
_EXPECTED_SHA256: Dict[str, Dict[str, str]] = {
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

# Also accepted: the published MD5 of the original upstream .gz wrapper (a hedge
# in case the Debian payload ever differed from the upstream download).
_ACCEPTED_GZ_MD5: Dict[str, Dict[str, str]] = {
    "mnist": {},
    "fashion-mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

_MIRRORS: Dict[str, Tuple[str, ...]] = {
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

_ENV_VARS: Dict[str, str] = {
    "mnist": "JAXBP_DATA_DIR",
    "fashion-mnist": "JAXBP_FASHION_DATA_DIR",
}

_SYSTEM_DIRS: Dict[str, Tuple[str, ...]] = {
    "mnist": (),
    "fashion-mnist": ("/usr/share/datasets/fashion-mnist",),
}

_IMAGE_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
_LABEL_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_ROWS = _COLS = 28
_NUM_CLASSES = 10
_DOWNLOAD_TIMEOUT_S = 30.0
_CACHE_FORMAT = 1


# --------------------------------------------------------------------------
# helpers: names and folders
# --------------------------------------------------------------------------

def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; known datasets: {', '.join(DATASETS)}"
        )
    return dataset


def default_cache_dir(dataset: str = "mnist") -> Path:
    """Per-user folder for downloads and the parsed ``.npz`` cache.

    ``$XDG_CACHE_HOME/jaxbp/<dataset>`` when ``XDG_CACHE_HOME`` is set (and
    absolute), else ``~/.cache/jaxbp/<dataset>``.
    """
    _check_dataset(dataset)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "jaxbp" / dataset


def _search_dirs(dataset: str, data_dir) -> List[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    dirs: List[Path] = []
    env = os.environ.get(_ENV_VARS[dataset], "")
    if env:
        dirs.append(Path(env))
    dirs.append(default_cache_dir(dataset))
    dirs.extend(Path(d) for d in _SYSTEM_DIRS[dataset])
    return dirs


def _find_file(directory: Path, base: str) -> Optional[Path]:
    for candidate in (directory / (base + ".gz"), directory / base):
        if candidate.is_file():
            return candidate
    return None


def _find_complete_dir(dirs: List[Path]) -> Optional[Dict[str, Path]]:
    for d in dirs:
        found = {base: _find_file(d, base) for base in FILES.values()}
        if all(p is not None for p in found.values()):
            return found  # type: ignore[return-value]
    return None


def _manual_hint(dataset: str, target: Path) -> str:
    names = ", ".join(b + ".gz" for b in FILES.values())
    return (
        f"Put the files {names} (gzipped or not) into {target}, "
        f"or set the environment variable {_ENV_VARS[dataset]} to the folder that "
        f"holds them (or pass data_dir=...)."
    )


# --------------------------------------------------------------------------
# reading, verifying and parsing one file
# --------------------------------------------------------------------------

def _read_bytes(path: Path, gzipped: Optional[bool] = None) -> Tuple[bytes, bytes]:
    """Return (file bytes, decompressed payload); gzip is assumed for ``*.gz``."""
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if gzipped is None:
        gzipped = path.name.endswith(".gz")
    if gzipped:
        try:
            raw = gzip.decompress(blob)
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
            raise DatasetError(
                f"{path}: truncated or corrupt gzip file ({type(e).__name__}: {e}); "
                "delete it and download it again"
            ) from e
        return blob, raw
    return blob, blob


def _verify_checksum(path: Path, dataset: str, base: str, blob: bytes, raw: bytes) -> None:
    expected = _EXPECTED_SHA256.get(dataset, {}).get(base)
    if expected is None:
        return  # no known hash: the IDX structure checks still apply
    actual = hashlib.sha256(raw).hexdigest()
    if actual == expected:
        return
    gz_md5 = _ACCEPTED_GZ_MD5.get(dataset, {}).get(base)
    if gz_md5 is not None and blob is not raw and hashlib.md5(blob).hexdigest() == gz_md5:
        return
    raise DatasetError(
        f"{path}: SHA-256 of the decompressed data does not match the {dataset} "
        f"file {base}: expected {expected}, got {actual}"
    )


def _parse_idx(path: Path, raw: bytes, kind: str) -> np.ndarray:
    """Parse an IDX images (``kind='images'``) or labels file, strictly."""
    if kind == "images":
        magic, header = _IMAGE_MAGIC, 16
    else:
        magic, header = _LABEL_MAGIC, 8
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
    if kind == "images" and shape[1:] != (_ROWS, _COLS):
        raise DatasetError(
            f"{path}: images are {shape[1]}x{shape[2]}, expected {_ROWS}x{_COLS}"
        )
    expected_size = int(np.prod(shape, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected_size:
        what = "truncated" if payload < expected_size else "trailing bytes"
        raise DatasetError(
            f"{path}: payload is {payload} bytes but the header declares {shape} "
            f"= {expected_size} bytes ({what})"
        )
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()
    if kind == "labels" and arr.size and int(arr.max()) >= _NUM_CLASSES:
        raise DatasetError(
            f"{path}: label {int(arr.max())} out of range 0..{_NUM_CLASSES - 1}"
        )
    return arr


def _load_file(path: Path, dataset: str, base: str, gzipped: Optional[bool] = None) -> np.ndarray:
    blob, raw = _read_bytes(path, gzipped)
    _verify_checksum(path, dataset, base, blob, raw)
    return _parse_idx(path, raw, "images" if "images" in base else "labels")


# --------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------

def _fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _fetch(url: str, dest: str, progress: bool) -> None:
    """Download ``url`` into the (existing, empty) file ``dest``.

    Uses urllib with a timeout; shows bytes/percent on stderr when ``progress``.
    Raises on any error (tests monkeypatch this function; no network in tests).
    """
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp, open(dest, "wb") as out:
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
                if total:
                    msg = f"\r  {name}: {_fmt_bytes(done)} / {_fmt_bytes(total)} ({100 * done // total}%)"
                else:
                    msg = f"\r  {name}: {_fmt_bytes(done)}"
                sys.stderr.write(msg)
                sys.stderr.flush()
        if progress:
            sys.stderr.write("\n")
            sys.stderr.flush()
        if total is not None and done != total:
            raise OSError(f"incomplete download: got {done} of {total} bytes")


def _download(dataset: str, base: str, target: Path, progress: bool) -> Path:
    """Fetch ``<base>.gz`` into ``target`` from the first mirror that works.

    Each attempt goes to a temporary file in ``target``, is verified (checksum
    and IDX structure), then atomically renamed; nothing is left on failure.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create {target} to download {dataset} into: {e}. "
            + _manual_hint(dataset, target)
        ) from e
    fname = base + ".gz"
    final = target / fname
    errors = []
    for mirror in _MIRRORS[dataset]:
        url = mirror + fname
        if progress:
            sys.stderr.write(f"Downloading {url}\n")
            sys.stderr.flush()
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=target)
        os.close(fd)
        try:
            _make_readable(tmp)
            _fetch(url, tmp, progress)
            _load_file(Path(tmp), dataset, base, gzipped=True)  # verify before it is visible
            os.replace(tmp, final)
            return final
        except Exception as e:  # noqa: BLE001 - any failure: try the next mirror
            errors.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetError(
        f"could not download {fname} for {dataset} from any mirror:\n  "
        + "\n  ".join(errors)
        + "\n"
        + _manual_hint(dataset, target)
    )


# --------------------------------------------------------------------------
# parsed .npz cache
# --------------------------------------------------------------------------

def _make_readable(path: str) -> None:
    """mkstemp creates 0600 files; give the final file the usual 0644 (less umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o644 & ~umask)


def _cache_enabled() -> bool:
    return os.environ.get("JAXBP_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")


def _cache_path(dataset: str) -> Path:
    h = hashlib.sha256(f"v{_CACHE_FORMAT}:{dataset}".encode())
    for base in sorted(FILES.values()):
        h.update(f"|{base}={_EXPECTED_SHA256.get(dataset, {}).get(base)}".encode())
    return default_cache_dir(dataset) / f"parsed-{h.hexdigest()[:16]}.npz"


def _check_arrays(arrays: Dict[str, np.ndarray], where: str) -> None:
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if x.dtype != np.uint8 or t.dtype != np.uint8:
            raise DatasetError(f"{where}: {split} arrays are not uint8")
        if x.ndim != 3 or x.shape[1:] != (_ROWS, _COLS) or t.ndim != 1:
            raise DatasetError(f"{where}: bad {split} shapes {x.shape}, {t.shape}")
        if x.shape[0] != t.shape[0]:
            raise DatasetError(
                f"{where}: {x.shape[0]} {split} images but {t.shape[0]} {split} labels"
            )
        if t.size and int(t.max()) >= _NUM_CLASSES:
            raise DatasetError(f"{where}: {split} label out of range 0..{_NUM_CLASSES - 1}")


def _read_cache(path: Path) -> Optional[Dict[str, np.ndarray]]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in FILES}
        _check_arrays(arrays, str(path))
        return arrays
    except Exception:  # noqa: BLE001 - corrupt or stale cache: ignore, rebuild
        return None


def _write_cache(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        _make_readable(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # the cache is an optimisation only (e.g. read-only home)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def load_raw(
    dataset: str = "mnist",
    data_dir=None,
    download: bool = True,
    progress: bool = True,
) -> Dict[str, np.ndarray]:
    """Load the four arrays of ``dataset`` unmodified, as uint8.

    Returns a dict (fresh, writable arrays)::

        {"x_train": (60000, 28, 28) uint8,  "t_train": (60000,) uint8,
         "x_test":  (10000, 28, 28) uint8,  "t_test":  (10000,) uint8}

    with pixel values 0..255 and labels 0..9.  ``dataset`` is ``"mnist"`` or
    ``"fashion-mnist"`` (same file names and IDX format).  See the module
    docstring for where files are looked for, downloading and caching.

    Raises ``ValueError`` for an unknown dataset and :class:`DatasetError` when
    the files are missing (and ``download=False`` or every mirror fails),
    corrupt, or fail their checksum.
    """
    _check_dataset(dataset)
    use_cache = _cache_enabled()
    cache_file = _cache_path(dataset)
    if use_cache:
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached

    dirs = _search_dirs(dataset, data_dir)
    found = _find_complete_dir(dirs)
    if found is None:
        target = Path(data_dir) if data_dir is not None else default_cache_dir(dataset)
        missing = [b for b in FILES.values() if _find_file(target, b) is None]
        if not download:
            searched = ", ".join(str(d) for d in dirs)
            raise DatasetError(
                f"{dataset} files not found (looked in: {searched}); "
                f"missing in {target}: {', '.join(missing)}; download=False. "
                + _manual_hint(dataset, target)
            )
        for base in missing:
            _download(dataset, base, target, progress)
        found = {b: _find_file(target, b) for b in FILES.values()}  # type: ignore[misc]

    arrays = {key: _load_file(found[base], dataset, base) for key, base in FILES.items()}
    _check_arrays(arrays, str(found[FILES["x_train"]].parent))
    if use_cache:
        _write_cache(cache_file, arrays)
    return arrays


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir=None,
    dataset: str = "mnist",
    download: bool = True,
    progress: bool = True,
):
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
        return x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, _ROWS, _COLS)

    def labels(t: np.ndarray) -> np.ndarray:
        if one_hot_label:
            out = np.zeros((t.shape[0], _NUM_CLASSES), dtype=np.float32)
            out[np.arange(t.shape[0]), t] = 1.0
            return out
        return t.astype(np.int32)

    return (
        (images(raw["x_train"]), labels(raw["t_train"])),
        (images(raw["x_test"]), labels(raw["t_test"])),
    )
