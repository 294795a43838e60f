"""The parsed ``.npz`` cache of a dataset's four arrays, used only when it verifies.

After a verified load :mod:`jaxbp.mnist` saves the four uint8 arrays
(``x_train``, ``t_train``, ``x_test``, ``t_test``) so that the next load skips
decompressing and parsing the IDX files.  The file is ``parsed-<key>.npz`` in
the dataset's per-user cache folder; ``<key>`` hashes the cache format, the
dataset and the expected SHA-256 of each file, so changed expectations never
meet an old cache.  A JSON ``meta`` member records the dataset, the SHA-256 of
each array's IDX file and of the on-disk source files (``.gz`` or raw, up to
8 per file) it was built from, so that the loader can tell whether a folder's
files are byte-identical to files already verified.

Reading trusts nothing: each member's size is bounded before it is read (a
tampered file cannot make it allocate much), the arrays must fit together
(:func:`jaxbp.mnist.idx.check_splits`) and, re-hashed as IDX files
(:func:`jaxbp.mnist.idx.idx_sha256`), reproduce the expected SHA-256s.  A cache that
is absent, damaged, tampered with or built for other files reads as None (the
loader then rebuilds it from verified files), never as arrays.  Writing is
atomic (:func:`jaxbp._files.atomic_write`) and never raises: the cache is an
optimisation only, which ``JAXBP_NO_CACHE=1`` disables (:func:`enabled`, checked
by the loader before it reads or writes).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxbp._files import atomic_write
from jaxbp.mnist import idx

__all__ = ["Source", "Spec", "FORMAT", "enabled", "cache_path", "read", "write"]

FORMAT = 2  # changes the file name: older caches are not read
_NPY_HEADER_SLACK = 4096  # an .npy header is far smaller than this
_MAX_META_BYTES = 1 << 20
_MAX_SOURCES = 8  # on-disk digests remembered per file


class Source(NamedTuple):
    """The IDX file an array is parsed from: its base name (without ``.gz``),
    ``"images"`` or ``"labels"``, and what it must be (SHA-256 and size)."""

    base: str
    kind: str
    expected: idx.Expected


class Spec(NamedTuple):
    """Which cache: that of ``dataset`` in ``folder``, whose arrays (by key,
    ``x_train``...) are parsed from ``files``."""

    folder: Path
    dataset: str
    files: Mapping[str, Source]


def enabled() -> bool:
    """False when ``JAXBP_NO_CACHE`` is set to anything but empty, 0, false or no."""
    return os.environ.get("JAXBP_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")


def cache_path(spec: Spec) -> Path:
    """The ``.npz`` file of ``spec``, keyed by the format, dataset and expected SHA-256s."""
    h = hashlib.sha256(f"v{FORMAT}:{spec.dataset}".encode())
    for base, sha256 in sorted((s.base, s.expected.sha256) for s in spec.files.values()):
        h.update(f"|{base}={sha256}".encode())
    return spec.folder / f"parsed-{h.hexdigest()[:16]}.npz"


def _verified_digests(spec: Spec, arrays: dict[str, np.ndarray]) -> dict[str, str] | None:
    """Array key -> SHA-256 of its IDX file, when all four are the expected
    ones; else None (such arrays are never cached or returned from the cache)."""
    digests = {key: idx.idx_sha256(arrays[key], s.kind) for key, s in spec.files.items()}
    ok = all(s.expected.sha256 == digests[key] for key, s in spec.files.items())
    return digests if ok else None


def _check_sizes(z, spec: Spec) -> None:
    """Refuse an ``.npz`` member larger than its array can be, before reading it."""
    for key, s in spec.files.items():
        limit = s.expected.size
        if z.zip.getinfo(key + ".npy").file_size > limit + _NPY_HEADER_SLACK:
            raise ValueError(f"{key} is larger than {limit} bytes")
    if z.zip.getinfo("meta.npy").file_size > _MAX_META_BYTES:
        raise ValueError("meta is larger than 1 MiB")


def read(spec: Spec) -> tuple[dict[str, np.ndarray], dict[str, set]] | None:
    """The cached arrays and, per IDX base name, the on-disk SHA-256s of the
    source files they were built from; None when the cache is absent,
    damaged, or its arrays do not reproduce the expected checksums."""
    path = cache_path(spec)
    try:
        with np.load(path, allow_pickle=False) as z:
            _check_sizes(z, spec)
            arrays = {key: np.asarray(z[key]) for key in spec.files}
            meta = json.loads(str(z["meta"][()]))
        idx.check_splits(arrays, str(path))
        digests = _verified_digests(spec, arrays)
        if digests is None or meta["dataset"] != spec.dataset or meta["sha256"] != digests:
            return None
        sources = {
            s.base: {str(d) for d in meta["sources"].get(s.base, [])} for s in spec.files.values()
        }
    except Exception:  # noqa: BLE001 - absent, unreadable or damaged: ignore, rebuild
        return None
    return arrays, sources


def write(spec: Spec, arrays: dict[str, np.ndarray], sources: dict[str, set]) -> None:
    """Save verified ``arrays`` and the on-disk SHA-256s of their ``sources``
    (per IDX base name) atomically; never raises (the cache is an optimisation).
    Arrays that are not the expected ones are not saved."""
    digests = _verified_digests(spec, arrays)
    if digests is None:
        return  # e.g. accepted through the .gz MD5 only: not cached
    meta = {
        "format": FORMAT,
        "dataset": spec.dataset,
        "sha256": digests,
        "sources": {base: sorted(s)[-_MAX_SOURCES:] for base, s in sources.items()},
    }
    path = cache_path(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))
    except (OSError, ValueError):
        pass  # e.g. read-only home
