"""Shared fixtures and the rule for tests that need something a machine may lack.

A fresh machine (a new clone, README's two commands) may have no Graphviz
``dot`` and no copy of MNIST.  Tests that need one of them skip, and ``-ra``
(pyproject's addopts) prints why in the summary.  CI sets variables under
which the same absence fails instead, so CI cannot pass by skipping:

* ``@pytest.mark.needs_dot``: Graphviz's ``dot`` program on PATH; required
  when ``JAXBP_REQUIRE_GRAPHVIZ=1`` (``.ci/run`` sets it).
* the ``mnist_raw`` fixture: the real MNIST, found by README's rule (the trainer's):
  ``$JAXBP_DATA_DIR``, else ``~/.cache/jaxbp/mnist``; required when ``CI`` is set
  (``.ci/run`` points ``JAXBP_DATA_DIR`` at its copy).

The run's caches (compiled programs, the parsed MNIST, the ``--cpu-matmul auto``
decision) go to a temporary folder per process, never the user's ``~/.cache``, and
the folder is removed when the process's tests end.  MNIST is looked for before the
caches move: found in the user's cache folder, it is passed on to the tests (and the
processes they start) as ``$JAXBP_DATA_DIR``, which the loader only reads from.

The tests never write into the checkout: every file a test makes goes to its own
temporary folder.  The session compares the checkout's files before and after
(:func:`checkout_files`) and fails, naming each file, if anything changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _find_users_mnist() -> None:
    """Before the caches move: look for MNIST where the user keeps it (README's rule), and
    hand a copy found in the user's cache folder on as ``$JAXBP_DATA_DIR``.  The folder
    the rule looked in is kept in ``$JAXBP_TESTS_MNIST_FOLDER`` for the skip message (an
    xdist worker inherits both, and the moved cache, from the process that started it)."""
    if "JAXBP_TESTS_MNIST_FOLDER" in os.environ:
        return
    from jaxbp.mnist import DatasetError, default_cache_dir, find_data_dir

    os.environ["JAXBP_TESTS_MNIST_FOLDER"] = str(default_cache_dir("mnist"))
    try:
        found = find_data_dir("mnist")
    except DatasetError:
        found = None
    if found is not None and not os.environ.get("JAXBP_DATA_DIR"):
        os.environ["JAXBP_DATA_DIR"] = str(found)


_find_users_mnist()
# The tests' caches go to a fresh folder, never the user's ~/.cache: a decision timed
# under a test's load must not stick to the machine.  Removed when the tests end.
_CACHE = tempfile.mkdtemp(prefix="jaxbp-tests-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
# Hypothesis's examples and constants go there too, not to .hypothesis/ in the checkout.
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(_CACHE, "hypothesis")

DATA_DIR = os.environ.get("JAXBP_DATA_DIR")


def mnist_missing_reason() -> str:
    """Why the real MNIST is not there, naming the folders README's rule looks in."""
    if DATA_DIR:
        return f"real MNIST not found: $JAXBP_DATA_DIR ({DATA_DIR}) lacks the four *-ubyte.gz files"
    return (
        f"real MNIST not found: JAXBP_DATA_DIR is not set and "
        f"{os.environ['JAXBP_TESTS_MNIST_FOLDER']} lacks the four *-ubyte.gz files "
        "(put them there, or set JAXBP_DATA_DIR to a folder holding them)"
    )


DOT_HINT = (
    "Graphviz's `dot` is not on PATH (apt-get install graphviz; "
    "JAXBP_REQUIRE_GRAPHVIZ=1 makes this a failure)"
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def missing(reason: str, required_by: str) -> None:
    """Skip the running test for ``reason``, or fail it when ``$required_by`` is set."""
    if _flag(required_by):
        pytest.fail(f"{reason} (required because {required_by} is set)")
    pytest.skip(reason)


def have_dot() -> bool:
    return shutil.which("dot") is not None


#: The test files that take long (whole training runs in subprocesses, real signals,
#: notebooks, the browser, several processes): ``python -m pytest -q -m "not slow"``
#: leaves them out, for a quick check while working; CI runs everything.
SLOW = {
    "test_cli.py",
    "test_conftest.py",
    "test_train.py",
    "test_sharding.py",
    "test_shard_map.py",
    "test_benchmark.py",
    "test_notebook.py",
    "test_exercises_notebook.py",
    "test_explore.py",
    "test_compile_cache.py",
    "test_distributed_start.py",
    "test_figure_scripts.py",
    "test_checkpoints.py",
    "test_simple_conv_net.py",
    "test_multi_layer_net.py",
    "test_gradient_truth.py",
    "test_rule_check.py",
    "test_layers.py",
    "test_two_layer_net.py",
    "test_forward.py",
    "test_exercises.py",
    "test_exercises_ch67.py",
    "test_corpus_ch67.py",
    "test_conv.py",
    "test_techniques.py",
    "test_validation.py",
    "test_optimizer.py",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_dot: renders with Graphviz's dot; skips without it unless JAXBP_REQUIRE_GRAPHVIZ=1",
    )
    config.addinivalue_line("markers", "slow: a long test file (see tests/conftest.py SLOW)")


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
    # A skip mark (rather than pytest.skip in a hook) so that -ra names each test.
    if have_dot() or _flag("JAXBP_REQUIRE_GRAPHVIZ"):
        return
    skip = pytest.mark.skip(reason=DOT_HINT)
    for item in items:
        if item.get_closest_marker("needs_dot"):
            item.add_marker(skip)


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_dot") and not have_dot():
        missing(DOT_HINT, "JAXBP_REQUIRE_GRAPHVIZ")


def _mnist_dir():
    """Where MNIST is by the loader's own rule (the trainer and the notebook use it too):
    ``$JAXBP_DATA_DIR`` (set above when the user's cache folder holds it); None when
    it is not there."""
    from jaxbp.mnist import DatasetError, find_data_dir

    try:
        return find_data_dir("mnist")
    except DatasetError:
        return None


@pytest.fixture(scope="session")
def mnist_raw():
    """The real MNIST (uint8), found as the trainer finds it (never downloaded here).

    Skips (with the reason) on a machine without the data; in CI (CI=true)
    the data must be there, so a missing copy fails instead of skipping.
    """
    found = _mnist_dir()
    if found is None:
        missing(mnist_missing_reason(), "CI")
    from jaxbp.mnist import load_raw

    return load_raw(data_dir=found, download=False, progress=False)


def _have_mnist() -> bool:
    return _mnist_dir() is not None


@pytest.fixture
def jax_config_kept():
    """JAX's global float64 switch as it was, after a test that imports a student's file in
    this process (a student may turn it on at the top of the file, as one in the corpus does)."""
    import jax

    saved = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", saved)


# ---- the checkout stays as it was -----------------------------------------------------
#: What the checkout may gain while the tests run: bytecode and the tools' caches.
NOT_THE_TESTS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


def checkout_root() -> Path | None:
    """The git checkout these tests are in, or None (an unpacked sdist, no git)."""
    here = Path(__file__).resolve().parents[1]
    try:
        r = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None


def checkout_files(root: Path) -> dict[str, tuple]:
    """``{relative path: (kind, size, mtime_ns or link target)}`` of everything in the
    checkout, ignored files included (``runs/`` is ignored by git), less
    :data:`NOT_THE_TESTS` and virtual environments (a folder with ``pyvenv.cfg``)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in NOT_THE_TESTS and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
        ]
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if os.path.islink(path):
                entry = ("link", 0, os.readlink(path))
            elif name in dirs:
                entry = ("folder", 0, 0)
            else:
                entry = ("file", st.st_size, st.st_mtime_ns)
            found[os.path.relpath(path, root)] = entry
    return found


def checkout_changes(before: dict, after: dict) -> list[str]:
    """One line per path added, removed or changed between two :func:`checkout_files`."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in before:
            lines.append(f"added {path}")
        elif path not in after:
            lines.append(f"removed {path}")
        elif before[path] != after[path]:
            lines.append(f"changed {path}")
    return lines


def _controller(config) -> bool:
    return not hasattr(config, "workerinput")  # pytest-xdist's workers have it


def pytest_sessionstart(session):
    if _controller(session.config):
        root = checkout_root()
        session.config.stash[_CHECKOUT] = (root, checkout_files(root) if root else None)


def pytest_sessionfinish(session, exitstatus):
    # the cache folder goes here, not only at unconfigure: an xdist worker reports its end
    # after this hook and may be stopped before it unconfigures
    shutil.rmtree(_CACHE, ignore_errors=True)
    if not _controller(session.config) or _CHECKOUT not in session.config.stash:
        return
    root, before = session.config.stash[_CHECKOUT]
    if root is None:
        report = ["skipped: not in a git checkout, so there is no checkout to keep unchanged"]
    else:
        changes = checkout_changes(before, checkout_files(root))
        report = [f"{root} unchanged by the tests"]
        if changes:
            report = [f"FAILED: the tests changed {root}:", *changes[:20]]
            report += [f"... and {len(changes) - 20} more"] if len(changes) > 20 else []
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[_REPORT] = report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = config.stash.get(_REPORT, None)
    if report:
        terminalreporter.write_sep("-", "checkout check")
        for line in report:
            terminalreporter.write_line(line)


_CHECKOUT = pytest.StashKey[tuple]()
_REPORT = pytest.StashKey[list]()
