"""Smoke test of experiments/benchmark.py: the --quick run must work end to end.

No timing assertions here: the numbers come from the benchmark itself
(BENCHMARKS.md).  This only checks that every row runs and reports positive
finite numbers, so the benchmark cannot rot.  Without the MNIST files the
benchmark's --quick mode falls back to synthetic data, so this runs anywhere.
"""
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "benchmark.py")
sys.path.insert(0, os.path.join(ROOT, "experiments"))


def _positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_flops_per_step_is_the_minimal_count():
    import benchmark
    # forward 2B(784*50 + 50*10), dW1 2B*784*50, dW2 and dh 2*2B*50*10
    assert benchmark.flops_per_step(100) == 2 * 100 * (784 * 50 + 50 * 10) \
        + 2 * 100 * 784 * 50 + 2 * 2 * 100 * 50 * 10 == 15_980_000


def test_quick_benchmark_runs_and_reports_every_row(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "BENCHMARKS.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(out), "--markdown", str(md)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert "targets:" in p.stdout

    report = json.loads(out.read_text())
    rows = report["rows"]
    for name in ("book-numpy", "jax-grad-step", "jax-grad-scan", "jaxbp-step", "jaxbp"):
        assert name in rows, name
        r = rows[name]
        for k in ("steps_s", "steps_per_s", "total_s", "gflops", "pct_peak", "peak_rss_bytes"):
            assert _positive(r[k]), (name, k, r[k])
        assert r["total_s"] >= r["steps_s"] * 0.5, (name, r)
        assert r["compile_s"] >= 0 and math.isfinite(r["compile_s"]), (name, r["compile_s"])
        assert 0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1, (name, r)
        assert r["devices"] == 1
        assert r["n_evals"] >= 1
    assert _positive(report["peak"]["peak_gflops"])
    assert report["flops_per_step"] == 15_980_000
    assert report["scaling"]["rows"] and all(_positive(r["steps_s"]) for r in report["scaling"]["rows"])
    ng = report["numgrad"]
    assert ng["n_params"] == 39_760 and _positive(ng["steady_s"])
    assert ng["max_abs_diff_vs_backprop"] < 1e-6
    assert report["targets"] and all("met" in t for t in report["targets"])
    rc = report["rule_cost"]
    assert _positive(rc["ratio"]) and all(_positive(v) for v in rc["median_s"].values())
    dv = report["devices"]                       # issue 5's devices column
    assert [r["devices"] for r in dv] == [1, 2, 4, 8]
    assert all(_positive(r["samples_per_s"]) for r in dv)

    text = md.read_text()
    assert text.startswith("# Benchmarks")
    for name in ("book-numpy", "jax-grad-scan", "jaxbp"):
        assert f"| {name} |" in text
    assert "## Targets" in text and "## Scaling" in text and "## Data parallel" in text
