"""The Colab notebook runs headless on CPU (short settings), so it cannot rot.

``examples/colab.ipynb`` is executed with ``nbclient`` in a fresh kernel
with ``JAXBP_NOTEBOOK_QUICK=1`` (300 training steps instead of 10000).  The
install cell skips ``pip`` because ``jaxbp`` is importable from this checkout.
Needs the MNIST files (``$JAXBP_DATA_DIR`` or the cache), as the notebook does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import ipykernel  # noqa: F401  (the kernel nbclient starts; a dev dependency)
import nbclient
import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "examples", "colab.ipynb")


def _text(cell):
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
        elif o.get("output_type") == "error":
            parts.append("\n".join(o.get("traceback", [])))
    return "".join(parts)


def test_notebook_structure():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "Runtime > Change runtime type" in first.source
    assert "GPU" in first.source and "TPU" in first.source
    assert not any("setup_tpu" in c.source for c in nb.cells)  # retired from JAX
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )


def test_notebook_executes_on_cpu(tmp_path, mnist_raw):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_keep = {
        k: os.environ.get(k) for k in ("JAXBP_NOTEBOOK_QUICK", "JAX_PLATFORMS", "PYTHONPATH")
    }
    os.environ["JAXBP_NOTEBOOK_QUICK"] = "1"
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["PYTHONPATH"] = ROOT + os.pathsep + (env_keep["PYTHONPATH"] or "")
    t0 = time.perf_counter()
    try:
        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"notebook cell failed:\n{e}")
    finally:
        for k, v in env_keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    print(f"notebook executed in {wall:.1f}s")

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    out = "\n".join(_text(c) for c in code)
    assert "backend: cpu" in out
    assert "price 220" in out and "2.2 110 200" in out  # figure 5-16
    assert "price 715" in out and "110 2.2 3.3 165 650" in out  # figure 5-17
    assert "gradient check (5.7.3)" in out and "backprop-numerical" in out
    for k in ("W1", "b1", "W2", "b2"):
        assert f"  {k} " in out
    assert "final test accuracy" in out
    pngs = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2  # the training plots
    assert (tmp_path / "runs" / "colab" / "training.png").exists()


def _install_cell() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "install_jaxbp" in c.source)


def test_install_cell_uses_the_address_pyproject_publishes():
    """The cell installed from github.com/OWNER/jaxbp, an address that exists nowhere."""
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    urls = re.search(r"^\[project\.urls\]\n((?:.+\n)*)", text, re.M)
    published = re.search(r'^Repository = "([^"]+)"', urls[1], re.M)[1] if urls else ""
    assert re.search(r'^REPO = "([^"]*)"', _install_cell(), re.M)[1] == published


def test_install_cell_without_jaxbp_stops_with_one_sentence(tmp_path):
    """Unedited, with nothing to install from: one sentence saying what to do, no pip call."""
    no_jaxbp = (
        "import importlib.util, subprocess\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'jaxbp' else real(name, *a)\n"
        "subprocess.run = lambda *a, **k: (_ for _ in ()).throw(AssertionError('pip ran'))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", no_jaxbp + _install_cell()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "pip ran" not in r.stderr
    assert r.stderr.strip().startswith("jaxbp is not installed here: upload a wheel")
    assert r.stderr.strip().count("\n") == 0
