"""Notebooks that carry jaxbp: ``python -m jaxbp.notebooks bundle OUT_DIR``.

The command writes every notebook under ``examples/`` with jaxbp's wheel in its first
code cell.  Checked here: which notebooks it finds, what the wheel holds (the package's
files, the installed metadata, the same bytes every time, also when written from an
installed jaxbp), one-line refusals, the SHA-256 check; and, in a fresh virtual
environment without jaxbp (its dependencies installed by pip, pinned to this
environment's versions, so they come from pip's cache), that the bundled notebooks
install jaxbp from themselves and run, and that a notebook without a wheel stops in
one line.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import nbclient
import nbformat
import pytest
from test_exercises_notebook import answer, exercise_of
from test_notebook import HIDE_JAXBP, run_cells

import jaxbp
from jaxbp import notebooks
from jaxbp.exercises.spec import NAMES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def bundle(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "jaxbp.notebooks", "bundle", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def first_code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code").source


def carried(cell: str) -> bytes:
    """The wheel a bundled install cell carries, decoded."""
    return base64.b64decode(re.search(r'^WHEEL = """\n(.*?)"""', cell, re.M | re.S)[1])


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundled")
    r = bundle(out, cwd=tmp_path_factory.mktemp("elsewhere"))  # the checkout's examples/
    assert r.returncode == 0, r.stderr
    return out


def test_every_notebook_is_written_with_the_wheel_in_its_first_cell(bundled):
    found = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*.ipynb"))
    assert Path("colab.ipynb") in found and Path("ch05/exercises.ipynb") in found
    assert sorted(p.relative_to(bundled) for p in bundled.rglob("*.ipynb")) == found
    wheel = notebooks.wheel()
    for rel in found:
        nb, original = (nbformat.read(d / rel, as_version=4) for d in (bundled, EXAMPLES))
        nbformat.validate(nb)
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        assert nb.cells[first].source == notebooks.install_cell(wheel)
        assert carried(nb.cells[first].source) == wheel.data
        assert f"WHEEL_SHA256 = {wheel.sha256!r}" in nb.cells[first].source
        assert nb.cells[first].metadata["cellView"] == "form"  # Colab folds the base64 away
        assert original.cells[first].source == notebooks.install_cell()
        others = lambda cells: [c.source for i, c in enumerate(cells) if i != first]
        assert others(nb.cells) == others(original.cells)


def test_a_new_chapters_notebook_is_found(tmp_path):
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("*.py"))
    (examples / "ch09").mkdir()
    shutil.copy(examples / "ch05" / "exercises.ipynb", examples / "ch09" / "exercises.ipynb")
    r = bundle(tmp_path / "out", "--examples", examples)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "ch09" / "exercises.ipynb").is_file()
    assert f"wrote {tmp_path / 'out' / 'ch09' / 'exercises.ipynb'}" in r.stdout


def test_a_notebook_without_the_install_cell_is_refused_in_one_line(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import jaxbp")])
    nbformat.write(nb, examples / "mine.ipynb")
    r = bundle(tmp_path / "out", "--examples", examples)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    assert r.stderr == (
        "python -m jaxbp.notebooks: error: mine.ipynb: its first code cell is not jaxbp's "
        "install cell\n"
    )
    r = bundle(tmp_path / "out", "--examples", tmp_path / "nowhere")
    assert r.returncode == 2 and r.stderr.splitlines() == [
        f"python -m jaxbp.notebooks: error: no notebooks under {tmp_path / 'nowhere'}"
    ]


def _tracked_package_files() -> list[str]:
    r = subprocess.run(["git", "ls-files", "jaxbp"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout: the package's tracked files are unknown")
    return sorted(r.stdout.split())


def test_the_wheel_holds_the_package_and_its_metadata_the_same_every_time():
    wheel = notebooks.wheel()
    assert wheel.data == notebooks.wheel().data
    z = zipfile.ZipFile(io.BytesIO(wheel.data))
    info = f"jaxbp-{jaxbp.__version__}.dist-info"
    assert sorted(n for n in z.namelist() if n.startswith("jaxbp/")) == _tracked_package_files()
    meta = z.read(f"{info}/METADATA").decode()
    installed = importlib.metadata.distribution("jaxbp").requires
    assert sorted(re.findall(r"^Requires-Dist: (.*)$", meta, re.M)) == sorted(installed)
    assert "jaxbp-train = jaxbp.train.cli:entry" in z.read(f"{info}/entry_points.txt").decode()
    for line in z.read(f"{info}/RECORD").decode().splitlines()[:-1]:  # each file's hash
        name, digest, size = line.split(",")
        data = z.read(name)
        want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={want}" and int(size) == len(data)


def test_from_an_installed_jaxbp_the_command_writes_the_same_wheel(tmp_path):
    """Installed from the wheel (no checkout to build from), the command writes it again,
    byte for byte, from the installed files."""
    wheel = notebooks.wheel()
    (tmp_path / wheel.name).write_bytes(wheel.data)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target"]
    subprocess.run([*pip, tmp_path / "site", tmp_path / wheel.name], check=True, timeout=120)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    where = "import jaxbp; print(jaxbp.__file__)"
    used = subprocess.run(
        [sys.executable, "-c", where], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert used.stdout.startswith(str(tmp_path / "site")), used.stdout + used.stderr
    r = bundle(tmp_path / "out", "--examples", EXAMPLES, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert carried(first_code(tmp_path / "out" / "colab.ipynb")) == wheel.data


def test_a_damaged_wheel_is_refused_by_its_sha256(tmp_path):
    cell = notebooks.install_cell(notebooks.Wheel("jaxbp-9.9.9-py3-none-any.whl", b"PK\x05\x06"))
    cell = re.sub(r"WHEEL_SHA256 = '[0-9a-f]+'", "WHEEL_SHA256 = '" + "0" * 64 + "'", cell)
    cells = run_cells([HIDE_JAXBP, cell], tmp_path)
    (error,) = [o for o in cells[1].outputs if o.output_type == "error"]
    assert error.traceback[0].startswith("The wheel in this notebook is damaged")
    assert len(error.traceback) == 1


# ---- a fresh virtual environment without jaxbp -----------------------------------------------
@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A venv with jaxbp's dependencies (pinned to this environment's versions) and
    ipykernel, without jaxbp; its kernel is named ``fresh`` under the returned folder."""
    root = tmp_path_factory.mktemp("fresh-venv")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    names = ["ipykernel"] + [
        re.split(r"[<>=!;\s\[]", r)[0]
        for r in importlib.metadata.distribution("jaxbp").requires
        if "extra ==" not in r
    ]
    pinned = [f"{n}=={importlib.metadata.version(n)}" for n in names]
    subprocess.run([python, "-m", "pip", "install", "-q", *pinned], check=True, timeout=600)
    spec = root / "kernels" / "kernels" / "fresh"
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps(dict(argv=argv, display_name="fresh", language="python"))
    )
    return root


def _uninstall(venv_root: Path) -> None:
    python = venv_root / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "jaxbp"], timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import jaxbp"], cwd=venv_root, env=env, capture_output=True
    )
    assert where.returncode != 0, "jaxbp is importable in the fresh venv"


def _run_fresh(nb, venv_root: Path, cwd: Path, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(venv_root / "kernels"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="fresh", resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"notebook cell failed:\n{e}")


def _out(cell) -> str:
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


@pytest.mark.slow
def test_fresh_venv_unbundled_notebook_stops_in_one_line(fresh_venv, tmp_path, monkeypatch):
    _uninstall(fresh_venv)
    nb = nbformat.read(EXAMPLES / "colab.ipynb", as_version=4)
    with pytest.raises(pytest.fail.Exception, match="JaxbpSetupError"):
        _run_fresh(nb, fresh_venv, tmp_path, monkeypatch)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (error,) = code[0].outputs
    assert error.output_type == "error" and len(error.traceback) == 1
    assert error.traceback[0].startswith("jaxbp is not installed here")
    assert not code[1].get("outputs")  # Run all stopped there


@pytest.mark.slow
def test_fresh_venv_bundled_exercises_install_jaxbp_and_run(
    fresh_venv, bundled, tmp_path, monkeypatch
):
    _uninstall(fresh_venv)
    nb = nbformat.read(bundled / "ch05" / "exercises.ipynb", as_version=4)
    for cell in nb.cells:
        if exercise_of(cell):
            cell.source = answer(5, exercise_of(cell))
    nb.cells.append(nbformat.v4.new_code_cell("print('jaxbp at', jaxbp.__file__)"))
    _run_fresh(nb, fresh_venv, tmp_path, monkeypatch)
    first = _out(nb.cells[0])
    sha = notebooks.wheel().sha256
    assert f"Installed jaxbp {jaxbp.__version__} from the wheel in this notebook" in first
    assert f"SHA-256 {sha[:16]}... checked" in first and "설치를 마쳤습니다" in first
    assert f"at {fresh_venv / 'venv' / 'lib'}" in _out(nb.cells[-1])  # the venv's own copy
    checks = [c for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source]
    assert f"{len(NAMES)} passed, 0 failed, 0 incomplete, 0 skipped" in _out(checks[-1])
    pages = [o.data["text/html"] for o in nb.cells[-2].outputs if "text/html" in o.get("data", {})]
    assert len(pages) == 1 and "650" in html.unescape(pages[0])


@pytest.mark.slow
def test_fresh_venv_bundled_colab_installs_jaxbp_and_runs_to_the_apples(
    fresh_venv, bundled, tmp_path, monkeypatch
):
    """Its cells up to explore's page (the rest needs MNIST and trains: tests/test_notebook.py)."""
    _uninstall(fresh_venv)
    nb = nbformat.read(bundled / "colab.ipynb", as_version=4)
    upto = next(i for i, c in enumerate(nb.cells) if "explore(" in c.source)
    nb.cells = nb.cells[: upto + 1]
    _run_fresh(nb, fresh_venv, tmp_path, monkeypatch)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert f"Installed jaxbp {jaxbp.__version__} from the wheel" in _out(code[0])
    assert f"from {fresh_venv / 'venv' / 'lib'}" in _out(code[1])
    assert "price 715" in "".join(_out(c) for c in code)
    assert any("text/html" in o.get("data", {}) for o in code[-1].outputs)
