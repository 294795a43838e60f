import os

import pytest

DATA_DIR = os.environ.get("JAXBP_DATA_DIR")


def _have_mnist():
    return bool(DATA_DIR) and os.path.isfile(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))


@pytest.fixture(scope="session")
def mnist_raw():
    """The real MNIST (uint8), from JAXBP_DATA_DIR.

    Skips (with the reason) on a machine without the data; in CI (CI=true)
    the data must be there, so a missing copy fails instead of skipping.
    """
    if not _have_mnist():
        msg = f"real MNIST not found (JAXBP_DATA_DIR={DATA_DIR!r})"
        if os.environ.get("CI"):
            pytest.fail(msg + ": .ci/run must set it")
        pytest.skip(msg)
    from jaxbp.mnist import load_raw
    return load_raw(data_dir=DATA_DIR, progress=False)
