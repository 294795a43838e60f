"""Smoke test of experiments/benchmark.py: the --quick run must work end to end.

No timing assertions: the numbers are the benchmark's (BENCHMARKS.md).  This checks
that every row and section runs and reports positive finite numbers, so the benchmark
cannot rot.  ``--quick`` uses ``jaxbp.mnist.synthetic.synthetic_mnist``, so this runs anywhere.
"""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "benchmark.py")

TRAINING = (
    "book-numpy",
    "jax-grad-step",
    "jax-grad-scan",
    "jax-grad-scan-eigen",
    "jaxbp-step",
    "jaxbp-scan",
    "jaxbp",
)


def _positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def test_flops_per_step_is_the_minimal_count():
    from bench.report import flops_per_step

    # forward 2B(784*50 + 50*10), dW1 2B*784*50, dW2 and dh 2*2B*50*10
    assert (
        flops_per_step(100)
        == 2 * 100 * (784 * 50 + 50 * 10) + 2 * 100 * 784 * 50 + 2 * 2 * 100 * 50 * 10
        == 15_980_000
    )


def test_synthetic_mnist_is_learnable_and_reproducible():
    import numpy as np

    from jaxbp.mnist.synthetic import synthetic_mnist

    a, b = synthetic_mnist(500, 100, seed=3), synthetic_mnist(500, 100, seed=3)
    assert {k: v.shape for k, v in a.items()} == {
        "x_train": (500, 784),
        "t_train": (500,),
        "x_test": (100, 784),
        "t_test": (100,),
    }
    assert a["x_train"].dtype == np.uint8 and all(np.array_equal(a[k], b[k]) for k in a)
    block = np.arange(784) // 79
    means = np.stack([a["x_train"][:, block == c].mean(1) for c in range(10)], 1)
    assert np.array_equal(means.argmax(1), a["t_train"])  # a linear rule separates them


def test_quick_benchmark_runs_and_reports_every_row(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "BENCHMARKS.md"
    md.write_text(
        "# old\n\n<!-- Written by hand below this line; kept when the file is "
        "regenerated. -->\n\n## Notes\n\nkept by hand\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    no_torch = str(tmp_path / "no-such-python")  # PyTorch's rows: skipped, saying why
    cmd = [sys.executable, SCRIPT, "--quick", "--out", str(out), "--markdown", str(md)]
    cmd += ["--torch-python", no_torch]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]

    rep = json.loads(out.read_text())
    assert _positive(rep["peak"]["peak_gflops"]) and rep["machine"]["cpu"]
    for name in TRAINING:
        r = rep["rows"][name]
        for k in ("steps_s", "peak_rss_bytes"):
            assert _positive(r[k]), (name, k, r[k])
        assert r["compile_s"] >= 0 and math.isfinite(r["compile_s"]), (name, r)
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1, (name, r)
        assert r["cpu_matmul"], name
    assert rep["rows"]["jax-grad-scan"]["cpu_matmul"] == "xla-default"  # what plain JAX gets
    assert rep["rows"]["jaxbp"]["n_evals"] >= 1 and _positive(rep["rows"]["jaxbp"]["eval_s"])
    rc = rep["rule-cost"]
    assert _positive(rc["ratio"]) and all(_positive(v) for v in rc["ratios"].values())
    assert all(_positive(t) for ts in rc["times"].values() for t in ts)
    assert all(_positive(r["steps_s"]) for r in rep["scaling"]["rows"])
    assert [r["devices"] for r in rep["devices"]] == [1, 2, 4, 8]
    assert all(_positive(r["samples_per_s"]) for r in rep["devices"])
    ng = rep["numgrad"]
    assert ng["n_params"] == 39_760 and _positive(ng["steady_s"])
    assert ng["max_abs_diff_vs_backprop"] < 1e-6
    assert all(_positive(v) for v in rep["conv"]["ms_per_step"].values())
    assert len(rep["conv"]["ms_per_step"]) >= 3
    assert no_torch in rep["torch"]["skipped"] and no_torch in rep["conv"]["torch_skipped"]

    text = md.read_text()
    cpu = rep["machine"]["cpu"]
    assert text.startswith("# Benchmarks") and text.rstrip().endswith("kept by hand")
    for name in TRAINING:
        assert f"| {name} |" in text
    generated = text.split("<!-- Written by hand")[0]
    assert f"* PyTorch rows skipped: {no_torch}:" in generated
    assert "--torch-python PY " in generated.splitlines()[2]  # no path of this machine
    for title in (
        "TwoLayerNet training",
        "Measured ratios",
        "Custom rules, matmul path and sampling",
        "Pairwise ratios",
        "Scaling of jaxbp",
        "Data parallel",
        "Numerical gradient",
        "SimpleConvNet steps",
    ):
        assert f"## {title}" in generated, title
    assert "target" not in generated.lower()  # the targets are stated by hand, not by the code
    assert all(
        line.endswith(f"({cpu})")
        for line in text.splitlines()
        if line.startswith("## ") and "Notes" not in line
    )  # the CPU with every table


def test_pytorch_rows_beside_jaxbp(tmp_path):
    """With a Python that has PyTorch (``JAXBP_TORCH_PYTHON``), its rows run interleaved."""
    python = os.environ.get("JAXBP_TORCH_PYTHON")
    if not python:
        pytest.skip("JAXBP_TORCH_PYTHON is not set (the Python of an environment with PyTorch)")
    out, md = tmp_path / "bench.json", tmp_path / "BENCHMARKS.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    cmd = [sys.executable, SCRIPT, "--quick", "--only", "torch,conv", "--out", str(out)]
    cmd += ["--markdown", str(md), "--torch-python", python]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    rep = json.loads(out.read_text())
    assert rep["torch"]["torch"] and _positive(rep["torch"]["ratio"])
    assert all(_positive(t) for ts in rep["torch"]["times"].values() for t in ts)
    ms = rep["conv"]["ms_per_step"]
    assert {"torch-eager", "torch-channels-last"} <= ms.keys() and _positive(ms["torch-eager"])
    text = md.read_text()
    assert "beside jaxbp, TwoLayerNet" in text and "| torch-eager |" in text
    assert "SimpleConvNet step: jaxbp / best PyTorch row" in text
