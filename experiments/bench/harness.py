"""How the benchmark measures: a row per subprocess, interleaved timing, the machine.

``python experiments/bench/harness.py ROW SPEC_JSON`` is a row's own process: it runs
``rows.ROWS[ROW](spec)`` and prints one ``RESULT {...}`` line with the row's peak
resident memory added.  :func:`run_row` starts that process.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def run_row(name: str, spec: dict, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run row ``name`` in a fresh Python process (its own peak RSS, its own JAX)."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, full_env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), name, json.dumps(spec)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]), process_s=time.perf_counter() - t0)
    raise RuntimeError(
        f"row {name} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    )


def interleaved(calls: dict, repeats: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds of each ``calls[name]()`` over ``repeats`` rounds run A B C A B C ...

    A change in the machine's load during the rounds hits every program alike, so
    ratios of the medians (or medians of pairwise ratios) are fair where single
    timings on a shared machine are not.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(repeats + int(warmup)):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            if r or not warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                platform.processor() or "?",
            )
    except OSError:
        return platform.processor() or "?"


def matmul_peak(n: int = 2048, repeats: int = 7) -> dict:
    """Float32 matmul GFLOP/s of this machine: best of ``repeats`` ``n x n`` products.

    Both JAX's (jitted) and NumPy's BLAS; the peak is the larger on a CPU, JAX's
    on an accelerator (NumPy runs on the host).
    """
    import jax
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    ad = jax.device_put(a)
    mm = jax.jit(lambda x: x @ x)
    best = {}
    for name, call in (("jax", lambda: jax.block_until_ready(mm(ad))), ("numpy", lambda: a @ a)):
        call()
        best[name] = 2 * n**3 / min(interleaved({name: call}, repeats)[name]) / 1e9
    cpu = jax.default_backend() == "cpu"
    return {
        "n": n,
        **{f"{k}_gflops": v for k, v in best.items()},
        "peak_gflops": max(best.values()) if cpu else best["jax"],
    }


def machine_info() -> dict:
    """CPU model, cores, memory, versions, JAX's device, and the XLA/JAX environment."""
    import jax
    import jaxlib
    import numpy as np
    import optax

    with open("/proc/meminfo") as f:
        mem_gib = round(int(f.readline().split()[1]) / 2**20, 1)
    d = jax.devices()[0]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "mem_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "optax": optax.__version__,
        "device": f"{d.platform}:{getattr(d, 'device_kind', d.platform)} x{jax.device_count()}",
        "env": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(("XLA_", "JAX_", "OMP_", "OPENBLAS_", "MKL_"))
        },
    }


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    import rows

    name, spec = sys.argv[1], json.loads(sys.argv[2])
    t0 = time.perf_counter()
    out = rows.ROWS[name](spec)
    out.update(wall_s=time.perf_counter() - t0, peak_rss_bytes=peak_rss_bytes())
    print("RESULT " + json.dumps(out), flush=True)
