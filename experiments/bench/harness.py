"""How the benchmark runs a row (in a process of its own) and times the calls inside one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

EXPERIMENTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_row(name: str, spec: dict, env: dict | None = None) -> dict:
    """Row ``name``'s result, run in a fresh Python process (its own JAX, its own peak RSS)."""
    env = dict(os.environ, **(env or {}))
    # experiments/ (book_numpy, bench, bench_conv), as when a script there is run
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [EXPERIMENTS, env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "bench.rows", name, json.dumps(spec)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    raise RuntimeError(f"row {name} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr}")


def timed(call):
    """``call()``'s result, made ready (``jax.block_until_ready``), and the seconds it took."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(call())
    return out, time.perf_counter() - t0


def interleaved(
    calls: dict, repeats: int, warmup: bool = True, own_seconds: bool = False
) -> tuple[dict, dict]:
    """The seconds of each ``calls[name]()`` in ``repeats`` rounds run A B C A B C ... (after an
    untimed round with ``warmup``), and each call's last result.  A change in the machine's
    load hits every call alike, so ratios of their medians are fair on a shared machine.
    With ``own_seconds`` each call returns the seconds it measured itself (a training run's
    steps without its setup, a peer process's time without the pipe), recorded instead."""
    times, last = {name: [] for name in calls}, {}
    for r in range(repeats + warmup):
        for name, call in calls.items():
            last[name], seconds = timed(call)
            seconds = last[name] if own_seconds else seconds
            if r or not warmup:
                times[name].append(seconds)
    return times, last
