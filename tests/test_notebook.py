"""The Colab notebook runs headless on CPU (short settings), so it cannot rot.

``examples/colab.ipynb`` is executed with ``nbclient`` in a fresh kernel
with ``JAXBP_NOTEBOOK_QUICK=1`` (300 training steps instead of 10000).  The
install cell installs nothing because ``jaxbp`` is installed from this checkout.
Needs the MNIST files (``$JAXBP_DATA_DIR`` or the cache), as the notebook does.
"""

from __future__ import annotations

import html
import os
import time

import ipykernel  # noqa: F401  (the kernel nbclient starts; a dev dependency)
import nbclient
import nbformat
import pytest

import jaxbp
from jaxbp.notebooks import install_cell

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
    assert f"jaxbp {jaxbp.__version__} is installed here" in _text(code[0])
    pages = [
        o.data["text/html"] for c in code for o in c.outputs if "text/html" in o.get("data", {})
    ]
    assert len(pages) == 1 and pages[0].startswith("<iframe srcdoc=")  # explore's page
    assert "dout * y" in html.unescape(pages[0]) and "650" in html.unescape(pages[0])
    pngs = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2  # the training plots
    assert (tmp_path / "runs" / "colab" / "training.png").exists()


def test_the_first_code_cell_is_the_install_cell_without_a_wheel():
    """It pointed at REPO = "", an address that exists nowhere: now the notebook carries
    jaxbp itself once bundled (tests/test_bundle.py), and this copy carries nothing."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == install_cell()
    assert "WHEEL = None" in code[0].source and "://" not in code[0].source


def run_cells(sources: list[str], cwd) -> list:
    """Run ``sources`` as a notebook's cells in a fresh kernel; the executed cells, as far
    as they ran (the first error stops them, as *Run all* does)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = nbclient.NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        client.execute()
    return nb.cells


HIDE_JAXBP = (
    "import importlib.util\n"
    "real = importlib.util.find_spec\n"
    "importlib.util.find_spec = lambda name, *a, **k: (\n"
    "    None if name == 'jaxbp' else real(name, *a, **k)\n"
    ")"
)


def test_without_jaxbp_and_without_a_wheel_the_cell_stops_with_one_line(tmp_path):
    """In a real kernel: one bilingual sentence and no traceback (it was a SystemExit with
    IPython's noise around it), and Run all stops there."""
    cells = run_cells([HIDE_JAXBP, install_cell(), "print('the next cell ran')"], tmp_path)
    (error,) = [o for o in cells[1].outputs if o.output_type == "error"]
    assert error.ename == "JaxbpSetupError"
    (line,) = error.traceback  # the whole display: one line
    assert line.startswith("jaxbp is not installed here, and this notebook does not carry it")
    assert "python -m jaxbp.notebooks bundle OUT_DIR" in line and "설치되어 있지 않고" in line
    assert line.count(". / ") == 1 and "Traceback" not in line
    assert not any(o.output_type == "stream" for o in cells[1].outputs)
    assert not cells[2].get("outputs")  # Run all stopped at the install cell
