"""The data (book 3.6.1): MNIST and Fashion-MNIST as the book's ``load_mnist`` gives them.

    load     ``load_mnist``, ``load_raw``: where the files are looked for, verified (the loader)
    files    the four files' names, sizes, SHA-256s and mirrors
    idx      the IDX format, read strictly (decompression bounded, checksums checked)
    download fetching from the mirrors, verified in memory before an atomic write
    cache    the parsed ``.npz`` cache, verified before it is trusted
    synthetic  random images of MNIST's layout, for tests and rehearsals without MNIST

NumPy only: nothing here imports JAX.  :mod:`jaxbp.mnist.load` says where the files
are looked for and what is checked.
"""

from jaxbp.mnist.load import (
    DATASETS,
    FILES,
    DatasetError,
    default_cache_dir,
    find_data_dir,
    load_mnist,
    load_raw,
)

__all__ = [
    "DatasetError",
    "DATASETS",
    "FILES",
    "load_mnist",
    "load_raw",
    "default_cache_dir",
    "find_data_dir",
]
