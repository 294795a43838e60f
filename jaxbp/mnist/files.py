"""What the files of MNIST and Fashion-MNIST are, and where they come from.

Data only, for :mod:`jaxbp.mnist` (which re-exports :data:`FILES` and
:data:`DATASETS`): the four IDX file names, the published SHA-256 and size of
each decompressed file, the MD5s of upstream ``.gz`` wrappers also accepted,
the size of each ``.gz`` file (the download bound), the https download
mirrors, the environment variable naming each dataset's folder and the system
folders where a distribution installs it.  Every table is keyed
by dataset name (``"mnist"``, ``"fashion-mnist"``), then by IDX base name.
"""

from __future__ import annotations

__all__ = [
    "FILES",
    "DATASETS",
    "SHA256",
    "SIZES",
    "GZ_MD5",
    "GZ_SIZES",
    "MIRRORS",
    "ENV_VARS",
    "SYSTEM_DIRS",
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
_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Computed from the decompressed files of Debian's dataset-fashion-mnist
# 0.0~git20200523.55506a9-1 (upstream git snapshot; Debian recompressed the
# .gz wrappers, so their MD5s differ from the published ones in GZ_MD5).
_FASHION_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SHA256: dict[str, dict[str, str]] = {"mnist": _MNIST_SHA256, "fashion-mnist": _FASHION_SHA256}

# Size in bytes of each DECOMPRESSED IDX file (header + payload); the same for
# both datasets.  Decompression stops once a file's output exceeds it.
_MNIST_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}
SIZES: dict[str, dict[str, int]] = {
    "mnist": dict(_MNIST_BYTES),
    "fashion-mnist": dict(_MNIST_BYTES),
}

# Also accepted: the published MD5 of the original upstream .gz wrapper (a hedge
# in case the Debian payload ever differed from the upstream download).
GZ_MD5: dict[str, dict[str, str]] = {
    "mnist": {},
    "fashion-mnist": {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# Size in bytes of each published ``.gz`` file, as the mirrors below serve it: a
# download is abandoned once it exceeds this (plus a small margin), so an endless
# or oversized response cannot fill memory.
GZ_SIZES: dict[str, dict[str, int]] = {
    "mnist": {
        "train-images-idx3-ubyte": 9_912_422,
        "train-labels-idx1-ubyte": 28_881,
        "t10k-images-idx3-ubyte": 1_648_877,
        "t10k-labels-idx1-ubyte": 4_542,
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": 26_421_880,
        "train-labels-idx1-ubyte": 29_515,
        "t10k-images-idx3-ubyte": 4_422_102,
        "t10k-labels-idx1-ubyte": 5_148,
    },
}

# URL prefixes the ``.gz`` files are downloaded from, tried in order; https only
# (jaxbp.mnist.download refuses any other network scheme).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
}

# The environment variable naming the dataset's folder (the only one then used).
ENV_VARS: dict[str, str] = {
    "mnist": "JAXBP_DATA_DIR",
    "fashion-mnist": "JAXBP_FASHION_DATA_DIR",
}

# Folders where a distribution package installs the dataset (Debian's
# dataset-fashion-mnist), searched after the per-user cache folder.
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "mnist": (),
    "fashion-mnist": ("/usr/share/datasets/fashion-mnist",),
}
