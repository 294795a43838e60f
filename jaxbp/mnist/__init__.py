"""The data (book 3.6.1): MNIST and Fashion-MNIST as the book's ``load_mnist`` gives them.

    load     ``load_mnist``, ``load_raw``: the files verified, parsed and cached (the loader)
    find     where the files are looked for: ``find_data_dir``, ``default_cache_dir``
    files    the four files' names, sizes, SHA-256s and mirrors
    idx      the IDX format, read strictly (decompression bounded, checksums checked)
    download fetching from the mirrors, verified in memory before an atomic write
    cache    the parsed ``.npz`` cache, verified before it is trusted
    synthetic  random images of MNIST's layout, for tests and rehearsals without MNIST

NumPy only: nothing here imports JAX.  :mod:`jaxbp.mnist.find` says where the files
are looked for, :mod:`jaxbp.mnist.load` what is checked.
"""

from jaxbp.mnist.find import default_cache_dir, find_data_dir
from jaxbp.mnist.load import DATASETS, FILES, DatasetError, load_mnist, load_raw

__all__ = [
    "DatasetError",
    "DATASETS",
    "FILES",
    "load_mnist",
    "load_raw",
    "default_cache_dir",
    "find_data_dir",
]
