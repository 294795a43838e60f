"""The figure scripts write into an output folder, never over README's figures by default.

``examples/ch05/draw_figures.py``, ``examples/ch06/figures.py`` and
``examples/ch07/visualize_filter.py`` write into ``./figures`` (or ``--out
DIR``) and only with ``--update-docs`` into the repository's ``docs/figures``.
Each test runs a script's ``main`` with small settings in a fresh current
directory and checks that the files appear there, their paths are printed,
and ``docs/figures`` is byte-for-byte and mtime-for-mtime as before.  The
MNIST runs skip without the data (or fail in CI, as ``conftest.missing``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA_DIR, _have_mnist, missing, mnist_missing_reason

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "figures"


def _script(relpath: str):
    path = ROOT / "examples" / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ch06():
    return _script("ch06/figures.py")


@pytest.fixture
def mnist_dir():
    if not _have_mnist():
        missing(mnist_missing_reason(), "CI")
    return DATA_DIR


CH05_STEMS = ("apple", "apple_orange", "sigmoid", "two_layer_net")
# every file the three scripts can write (other tools may add their own to docs/figures)
SCRIPT_FILES = (
    "activation_histograms.png",
    "optimizers.png",
    "batch_norm.png",
    "conv_filters.png",
    *(f"{stem}.{ext}" for stem in CH05_STEMS for ext in ("svg", "png")),
    *(f"{stem}.html" for stem in CH05_STEMS[:3]),
)


def _snapshot():
    """(mtime, sha256) of each script's file in docs/figures, None where absent."""
    return {
        name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        if (p := DOCS / name).is_file()
        else None
        for name in SCRIPT_FILES
    }


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty current directory; assert docs/figures is untouched afterwards."""
    before = _snapshot()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert _snapshot() == before, "a figure script changed docs/figures without --update-docs"


def _printed(capsys, paths):
    _printed_in(capsys.readouterr().out, paths)


def _printed_in(out, paths):
    for p in paths:
        assert f"wrote {Path(p).resolve()}" in out, out


def test_ch06_histograms_default_folder(ch06, in_tmp, capsys):
    written = ch06.main(["--only", "histograms"])
    want = in_tmp / "figures" / "activation_histograms.png"
    assert [p.resolve() for p in written] == [want]
    assert want.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in in_tmp.iterdir()) == ["figures"]
    _printed(capsys, written)


def test_ch06_out_folder_is_created(ch06, in_tmp, monkeypatch):
    # the folder logic only: a stand-in for the (tested above) histogram drawing
    monkeypatch.setattr(ch06, "plot_histograms", lambda path: Path(path).write_bytes(b"png"))
    ch06.main(["--only", "histograms", "--out", "a/b"])
    assert (in_tmp / "a" / "b" / "activation_histograms.png").is_file()
    assert not (in_tmp / "figures").exists()


def test_ch06_regenerates_byte_for_byte_without_a_version_stamp(ch06, in_tmp):
    """The PNGs carried "Software: Matplotlib version3.11.2": the same figure drawn by
    another matplotlib gave other bytes.  (docs/figures' trained figures differ from this
    machine's for another reason: the CPU's instruction set rounds the training
    differently; each kind of CPU regenerates its own bytes, run after run.)"""
    a, b = (ch06.main(["--only", "histograms", "--out", d])[0].read_bytes() for d in "ab")
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b
    assert b"Matplotlib" not in a and b"Software" not in a


def test_ch07_regenerates_byte_for_byte_without_a_version_stamp(mnist_dir, in_tmp):
    main = _script("ch07/visualize_filter.py").main
    a, b = (main(["--steps", "2", "--test-images", "200", "--out", d]).read_bytes() for d in "ab")
    assert a == b and b"Matplotlib" not in a


def test_update_docs_targets_the_repository_docs(ch06):
    args = ch06.parse_args(["--update-docs", "--quick"])
    assert args.out == DOCS and (args.iters, args.epochs) == (20, 2)
    assert ch06.parse_args([]).out == Path("figures")
    with pytest.raises(SystemExit):
        ch06.parse_args(["--update-docs", "--out", "x"])
    with pytest.raises(SystemExit):
        ch06.parse_args(["--iters", "0"])


def test_figure_6_14_has_the_book_three_relu_rows(ch06):
    relu_rows = [(fig, std) for fig, _, std, act in ch06.HISTOGRAM_CASES if act is ch06.relu]
    assert relu_rows == [("6-14", 0.01), ("6-14", "xavier"), ("6-14", "he")]
    # The book's reading of figure 6-14: std 0.01 collapses towards 0, Xavier's spread
    # shrinks with depth, He keeps it (spread of the non-zero activations, layer 1 vs 5).
    spread = {}
    for std in (0.01, "xavier", "he"):
        acts = ch06.layer_activations(std, ch06.relu)
        assert len(acts) == 5 and acts[0].shape == (1000 * 100,)
        spread[std] = [float(np.std(a[a > 0])) for a in (acts[0], acts[-1])]
    assert spread[0.01][1] < 1e-3 < spread[0.01][0]
    assert spread["xavier"][1] < 0.5 * spread["xavier"][0]
    assert 0.5 < spread["he"][1] / spread["he"][0] < 2


def test_ch06_all_figures_quick(ch06, mnist_dir, in_tmp, capsys):
    # the histograms (no MNIST) are drawn in the tests above
    written = ch06.main(["--quick", "--only", "optimizers", "--only", "batch_norm"])
    names = {"optimizers.png", "batch_norm.png"}
    assert {p.name for p in written} == names
    assert {p.name for p in (in_tmp / "figures").iterdir()} == names
    _printed(capsys, written)


def test_ch07_filters_default_folder(mnist_dir, in_tmp, capsys):
    path = _script("ch07/visualize_filter.py").main(["--steps", "2", "--test-images", "200"])
    assert path.resolve() == in_tmp / "figures" / "conv_filters.png"
    assert path.is_file()
    _printed(capsys, [path])


def test_ch07_update_docs_target():
    ch07 = _script("ch07/visualize_filter.py")
    assert ch07.parse_args(["--update-docs"]).out == DOCS
    with pytest.raises(SystemExit):
        ch07.parse_args(["--test-images", "0"])


def test_default_outputs_are_ignored_by_git():
    """./figures (the scripts' default) and dist/ (python -m build) were not in .gitignore."""
    paths = ["figures/apple.svg", "examples/figures/optimizers.png", "dist/jaxbp-0.1.0.tar.gz"]
    kept = ["docs/figures/new.png"]  # README's figures stay tracked
    r = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths, *kept],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if r.returncode == 128:
        pytest.skip(f"not a git checkout: {r.stderr.strip()}")
    assert r.stdout.split() == paths


def test_ch05_update_docs_target():
    ch05 = _script("ch05/draw_figures.py")
    assert ch05.output_dir(["--update-docs"]) == DOCS
    assert ch05.output_dir([]) == Path("figures")


def test_ch05_without_graphviz_writes_the_pages_and_says_what_it_skipped(
    in_tmp, capsys, monkeypatch, tmp_path_factory
):
    """Without `dot` it died at the first .svg with a traceback and wrote no page."""
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("bin-without-dot")))
    _script("ch05/draw_figures.py").main([])
    pages = {f"{stem}.html" for stem in CH05_STEMS[:3]}
    assert {p.name for p in (in_tmp / "figures").iterdir()} == pages
    out = capsys.readouterr().out
    _printed_in(out, [in_tmp / "figures" / n for n in pages])
    (line,) = [s for s in out.splitlines() if not s.startswith("wrote ")]
    assert line.startswith("skipped ") and "dot" in line and "graphviz" in line, line
    assert all(stem in line for stem in CH05_STEMS) and ".svg" in line and ".png" in line


@pytest.mark.needs_dot
def test_ch05_graphs_default_folder(in_tmp, capsys):
    _script("ch05/draw_figures.py").main([])
    names = {f"{stem}.{ext}" for stem in CH05_STEMS for ext in ("svg", "png")}
    names |= {f"{stem}.html" for stem in CH05_STEMS[:3]}  # the step-through pages
    assert {p.name for p in (in_tmp / "figures").iterdir()} == names
    _printed(capsys, [in_tmp / "figures" / n for n in names])
