"""The tests find MNIST by README's rule and leave no temporary folder behind.

README (and the trainer) look for MNIST in ``$JAXBP_DATA_DIR``, else in
``~/.cache/jaxbp/mnist``.  ``tests/conftest.py`` moves every cache of the run to a
temporary folder; it must look for the data by the user's rule *before* that, name
the user's folders when it skips, write nothing into the user's cache, and remove its
temporary folder at the end, in each xdist worker too.

Each test runs pytest in a subprocess on a small suite that uses this conftest, with
a home folder and a ``TMPDIR`` of its own (the four MNIST files there are empty: only
their names are looked at).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
SUITE = """
import json, os
from conftest import DATA_DIR, _have_mnist
from jaxbp.mnist import default_cache_dir


def test_where():
    with open(os.environ["PROBE"] + f".{os.getpid()}", "w") as f:
        json.dump(dict(data_dir=DATA_DIR, have=_have_mnist(),
                       cache=str(default_cache_dir("mnist"))), f)


def test_needs_mnist(mnist_raw):
    pass
"""


def _home(tmp_path: Path, with_data: bool) -> Path:
    home = tmp_path / "home"
    mnist = home / ".cache" / "jaxbp" / "mnist"
    mnist.mkdir(parents=True)
    for name in NAMES if with_data else ():
        (mnist / name).write_bytes(b"")
    return home


def _run(tmp_path: Path, home: Path, *args: str) -> tuple[subprocess.CompletedProcess, list]:
    """pytest on the small suite, as a user on a fresh machine: no JAXBP_DATA_DIR, no
    XDG_CACHE_HOME, not CI.  Returns the run and what each process's probe saw."""
    suite, tmp = tmp_path / "suite", tmp_path / "tmp"
    suite.mkdir()
    tmp.mkdir()
    shutil.copy(HERE / "conftest.py", suite / "conftest.py")
    (suite / "test_probe.py").write_text(SUITE)
    (suite / "pytest.ini").write_text("[pytest]\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JAXBP_", "XDG_", "PYTEST_")) and k != "CI"
    }
    env.update(HOME=str(home), TMPDIR=str(tmp), PROBE=str(tmp_path / "probe"))
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args]
    r = subprocess.run(cmd, cwd=suite, env=env, capture_output=True, text=True, timeout=120)
    probes = [json.loads(p.read_text()) for p in tmp_path.glob("probe.*")]
    left = [n for n in os.listdir(tmp) if n.startswith("jaxbp-tests-cache-")]
    assert left == [], "the run left its cache folders behind"
    return r, probes


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_mnist_in_the_users_cache_is_found_and_nothing_is_left(tmp_path, workers):
    home = _home(tmp_path, with_data=True)
    r, probes = _run(tmp_path, home, "-k", "where", *workers)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(probes) == 1
    mnist = str(home / ".cache" / "jaxbp" / "mnist")
    assert probes[0]["data_dir"] == mnist and probes[0]["have"]
    assert not probes[0]["cache"].startswith(str(home))  # the run's caches are elsewhere
    assert sorted(os.listdir(mnist)) == sorted(NAMES)  # nothing written beside the data
    assert sorted(os.listdir(home / ".cache" / "jaxbp")) == ["mnist"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_the_skip_names_the_users_folders(tmp_path, workers):
    home = _home(tmp_path, with_data=False)
    r, _ = _run(tmp_path, home, "-k", "needs_mnist", *workers)
    assert r.returncode == 0, r.stdout + r.stderr
    (line,) = [s for s in r.stdout.splitlines() if s.startswith("SKIPPED")]
    assert str(home / ".cache" / "jaxbp" / "mnist") in line and "JAXBP_DATA_DIR" in line, line
    assert "jaxbp-tests-cache" not in line and str(tmp_path / "tmp") not in line, line
