"""How long tracing and the step-through page take on long graphs.

    python experiments/bench_explore.py [--sizes 100 200 500 1000] [--timeout 600]

Each size is a chain of that many operations on one float32 scalar (``sin``, ``* 1.01``,
``+ 0.1`` in turn), traced with ``jaxbp.trace.trace`` (values and the derivative on
every edge; ``trace s``) and then made into a page with ``jaxbp.explore.explore``
(which traces again, JAX's compiled operations now warm; ``explore s``).  Each size
runs in a fresh Python process (JAX's caches start empty, as a user's first call
does), cut off after ``--timeout`` seconds.  Prints the graph's node count, the
seconds of each step, and whether the derivative shown at the input is jax.grad's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from jaxbp.train.xla_options import cpu_model

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp
try:
    from jaxbp.trace import trace
except ImportError:  # before the tracer had a module of its own
    from jaxbp.drawing import trace
from jaxbp import explore as page_module

n = int(sys.argv[1])

def chain(x):
    for i in range(n):
        if i % 3 == 0:
            x = jnp.sin(x)
        elif i % 3 == 1:
            x = x * 1.01
        else:
            x = x + 0.1
    return x

t1 = time.perf_counter()
graph = trace(chain, jnp.float32(0.5))
t2 = time.perf_counter()
error = ""
try:
    page = page_module.explore(chain, jnp.float32(0.5))
    kb = len(page.html) / 1e3
except ValueError as e:
    error, kb = str(e), 0.0
t3 = time.perf_counter()
grad = float(jax.grad(chain)(jnp.float32(0.5)))
shown = float(graph.upstream("in0"))
print(json.dumps(dict(nodes=len(graph.nodes), imports=t1 - t0, trace=t2 - t1,
                      explore=t3 - t2, kb=kb, error=error, grad=grad, shown=shown)))
"""


def run(n: int, timeout: float) -> dict | None:
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode:
        raise SystemExit(f"size {n} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per size")
    a = p.parse_args(argv)
    import jax

    load = os.getloadavg()[0]
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; JAX {jax.__version__}; load {load:.1f}")
    print(f"{'operations':>10} {'nodes':>6} {'trace s':>8} {'explore s':>10} {'page kB':>8}  d/dx")
    for n in a.sizes:
        t = time.perf_counter()
        r = run(n, a.timeout)
        if r is None:
            print(f"{n:>10} {'':>6} not done after {a.timeout:.0f} s")
            continue
        agree = abs(r["shown"] - r["grad"]) <= 1e-5 * max(1.0, abs(r["grad"]))
        note = f"  explore: {r['error']}" if r["error"] else ""
        print(
            f"{n:>10} {r['nodes']:>6} {r['trace']:>8.2f} {r['explore']:>10.2f} {r['kb']:>8.0f}"
            f"  {'= jax.grad' if agree else 'differs from jax.grad'}{note}"
            f"  (whole process {time.perf_counter() - t:.1f} s)"
        )


if __name__ == "__main__":
    main()
