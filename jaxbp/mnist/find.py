"""Where the files of MNIST and Fashion-MNIST are looked for (nothing is read here).

:func:`find_data_dir` names the folder :func:`jaxbp.mnist.load.load_raw` would
read; :func:`locate` is the loader's own step: the folder, its four files, and
which of them are to be downloaded into it.  Both look at file names only:
verifying and parsing the files is :mod:`jaxbp.mnist.load`'s.

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

The variables and system folders are the tables of :mod:`jaxbp.mnist.files`
(:data:`~jaxbp.mnist.files.ENV_VARS`, :data:`~jaxbp.mnist.files.SYSTEM_DIRS`),
read at each call (a test may replace them there).
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxbp._files import user_cache_dir
from jaxbp.mnist import files
from jaxbp.mnist.idx import DatasetError, one_line

__all__ = ["default_cache_dir", "find_data_dir"]

Files = dict[str, Path | None]  # IDX base name -> its file in a folder, None if not there


def check_dataset(dataset: str) -> str:
    """``dataset`` if it is one of :data:`~jaxbp.mnist.files.DATASETS`, else ``ValueError``.

    >>> check_dataset("fashion-mnist")
    'fashion-mnist'
    >>> check_dataset("kmnist")
    Traceback (most recent call last):
    ...
    ValueError: unknown dataset 'kmnist'; known datasets: mnist, fashion-mnist
    """
    if dataset not in files.DATASETS:
        known = ", ".join(files.DATASETS)
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {known}")
    return dataset


def default_cache_dir(dataset: str = "mnist") -> Path:
    """Per-user folder for downloads and the parsed ``.npz`` cache.

    ``$XDG_CACHE_HOME/jaxbp/<dataset>`` when ``XDG_CACHE_HOME`` is set (and
    absolute), else ``~/.cache/jaxbp/<dataset>``.

    >>> default_cache_dir("fashion-mnist").parts[-2:]
    ('jaxbp', 'fashion-mnist')
    """
    check_dataset(dataset)
    return user_cache_dir(dataset)


def manual_hint(dataset: str, target: Path, origin: str = "", given_as: str = "data_dir") -> str:
    """How to get the files, in the words of how the user named the folder.

    >>> manual_hint("mnist", Path("data"), "--data-dir", "--data-dir")  # doctest: +ELLIPSIS
    'Put the files train-images-idx3-ubyte.gz, ... into data, or give --data-dir the folder ...'
    """
    names = ", ".join(b + ".gz" for b in files.FILES.values())
    put = f"Put the files {names} (gzipped or not) into {target}"
    if origin == given_as:  # the folder was named by the argument (or flag) itself
        return f"{put}, or give {given_as} the folder that holds them."
    return (
        f"{put}, or set the environment variable {files.ENV_VARS[dataset]} to the folder "
        f"that holds them (or use {given_as})."
    )


def _explicit_dir(dataset: str, data_dir, given_as: str) -> tuple[Path, str] | None:
    """The folder named by ``data_dir`` or else by the dataset's environment
    variable, with where the name came from (``given_as`` or ``$VAR``); None
    when neither is given."""
    if data_dir is not None:
        return Path(data_dir), given_as
    env = os.environ.get(files.ENV_VARS[dataset], "")
    if env:
        return Path(env), "$" + files.ENV_VARS[dataset]
    return None


def _search_dirs(dataset: str) -> list[Path]:
    """The folders of the default search (no ``data_dir``, no variable), in order."""
    return [default_cache_dir(dataset)] + [Path(d) for d in files.SYSTEM_DIRS[dataset]]


def _find_files(directory: Path) -> Files | None:
    """IDX base name -> ``<base>.gz`` (preferred) or ``<base>`` in ``directory``,
    None for a file that is in neither form; None when the folder does not exist.

    Raises :class:`DatasetError` when ``directory`` exists but cannot be listed.
    """
    try:
        names = set(os.listdir(directory))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DatasetError(f"cannot read the data folder {directory}: {one_line(e)}") from e
    found: Files = {}
    for base in files.FILES.values():
        hits = [n for n in (base + ".gz", base) if n in names and os.path.isfile(directory / n)]
        found[base] = directory / hits[0] if hits else None
    return found


def _complete(found: Files | None) -> bool:
    return found is not None and all(p is not None for p in found.values())


def _missing(found: Files) -> list[str]:
    return [base for base, p in found.items() if p is None]


def find_data_dir(dataset: str = "mnist", data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder :func:`~jaxbp.mnist.load.load_raw` would read the four files from, or None.

    ``data_dir`` (or else the dataset's environment variable) when it holds
    all four files, otherwise the first folder of the default search that
    does (see the module docstring).  None means :func:`~jaxbp.mnist.load.load_raw`
    would need the parsed cache or a download.  Only looks at file names: nothing is
    read or verified.  Raises :class:`DatasetError` for a folder that cannot
    be listed and ``ValueError`` for an unknown dataset.

    >>> find_data_dir("mnist", data_dir="no-such-folder") is None
    True
    """
    check_dataset(dataset)
    explicit = _explicit_dir(dataset, data_dir, "data_dir")
    for d in [explicit[0]] if explicit else _search_dirs(dataset):
        if _complete(_find_files(d)):
            return d
    return None


def _explicit_files(
    dataset: str, directory: Path, origin: str, download: bool, given_as: str
) -> Files:
    """The four files in the folder named by ``data_dir`` or the variable.

    The folder must exist; a missing file (None) is left to download into it
    only for ``data_dir`` with ``download=True``.
    """
    found = _find_files(directory)
    if found is None:
        raise DatasetError(
            f"the {dataset} data folder {directory} (from {origin}) does not exist. "
            + manual_hint(dataset, directory, origin, given_as)
        )
    missing = _missing(found)
    if missing and (origin != given_as or not download):
        why = "download=False" if origin == given_as else f"nothing is downloaded into {origin}"
        raise DatasetError(
            f"{directory} (from {origin}) lacks {', '.join(missing)} (.gz or raw); "
            f"{why}. " + manual_hint(dataset, directory, origin, given_as)
        )
    return found


def _default_files(dataset: str, download: bool, given_as: str) -> tuple[Path, Files]:
    """The first complete folder of the default search and its four files, else the
    per-user cache folder with the files it lacks (None) left to download into it."""
    dirs = _search_dirs(dataset)
    for d in dirs:
        found = _find_files(d)
        if _complete(found):
            return d, found  # type: ignore[return-value]
    target = dirs[0]
    found = _find_files(target) or {base: None for base in files.FILES.values()}
    if not download:
        raise DatasetError(
            f"{dataset} files not found (looked in: {', '.join(str(d) for d in dirs)}); "
            f"missing in {target}: {', '.join(_missing(found))}; download=False. "
            + manual_hint(dataset, target, "the default search", given_as)
        )
    return target, found


def locate(
    dataset: str, data_dir=None, download: bool = True, given_as: str = "data_dir"
) -> tuple[Path, Files]:
    """The folder the four files of ``dataset`` are read from, and the files there:
    IDX base name -> path, None for each file to download into that folder.

    The rule of the module docstring.  Raises ``ValueError`` for an unknown dataset
    and :class:`DatasetError` (one line, naming the folder and how to get the files,
    the folder's argument called ``given_as``) when a named folder does not exist or
    cannot be listed, or files are missing that may not be downloaded.

    >>> locate("mnist", data_dir="no-such-folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jaxbp.mnist.idx.DatasetError: the mnist data folder no-such-folder (from data_dir) does ...
    """
    check_dataset(dataset)
    explicit = _explicit_dir(dataset, data_dir, given_as)
    if explicit is None:
        return _default_files(dataset, download, given_as)
    directory, origin = explicit
    return directory, _explicit_files(dataset, directory, origin, download, given_as)
