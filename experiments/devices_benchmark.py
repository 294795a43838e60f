"""Training throughput against the number of data-parallel devices.

Each row trains ``iters`` steps (no evaluations) with ``Config(devices=n)``
in a fresh subprocess, because the device count is fixed when JAX starts:

* CPU rows force ``n`` host devices with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=n``.  They all share the
  same CPU cores, so they check that sharded training runs, not that it is
  faster (it is usually slower: the collectives cost, the cores do not grow);
* accelerator rows (``platform="default"``, e.g. on a GPU machine) use the
  real devices: ``counts=(1, jax.device_count())``.

    python experiments/devices_benchmark.py                  # CPU, 1 2 4 8
    python experiments/devices_benchmark.py --platform default --counts 1 all

``device_rows`` is what ``experiments/benchmark.py`` calls for its devices
column.  The batch must divide by every count (default 96 = 8 * 12; the
book's 100 does not divide by 8).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker(devices, iters, batch_size, dtype, dataset):
    import jax
    import numpy as np

    from jaxbp import train
    if dataset == "synthetic":         # throughput does not depend on the pixels
        rng = np.random.default_rng(0)
        data = {"x_train": rng.integers(0, 256, (60000, 784), dtype=np.uint8),
                "t_train": rng.integers(0, 10, 60000),
                "x_test": rng.integers(0, 256, (100, 784), dtype=np.uint8),
                "t_test": rng.integers(0, 10, 100)}
    else:
        data = train.load_data(dataset, progress=False)
    cfg = train.Config(iters=iters, batch_size=batch_size, devices=devices, dtype=dtype,
                       evaluate=False, eval_every=iters)
    m = train.fit(cfg, data=data, progress=False, log=lambda *a: None)["metrics"]
    d = jax.devices()[0]
    n = jax.device_count() if devices == "all" else int(devices)
    print(json.dumps({"devices": n, "platform": d.platform,
                      "device_kind": getattr(d, "device_kind", d.platform),
                      "batch_size": batch_size, "dtype": dtype, "iters": iters,
                      "steps_s": m["steps_s"], "compile_s": m["compile_s"],
                      "samples_per_s": iters * batch_size / max(m["steps_s"], 1e-9)}),
          flush=True)


def device_rows(iters=2000, batch_size=96, counts=(1, 2, 4, 8), platform="cpu",
                dtype="float32", dataset="synthetic", timeout=600):
    """One dict per device count: ``devices``, ``samples_per_s``, ``steps_s``
    (seconds of the training steps only, compile excluded), ``compile_s``,
    ``platform``, ``device_kind``, ``batch_size``, ``dtype``, ``iters``.

    ``platform="cpu"``: ``n`` forced host devices per row.  ``"default"``:
    JAX's default backend (GPU/TPU), real devices; a count may be ``"all"``.
    """
    rows = []
    for n in counts:
        if n != "all" and batch_size % int(n):
            raise ValueError(f"batch_size {batch_size} does not divide over {n} devices")
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for k in ("JAX_COORDINATOR_ADDRESS", "JAXBP_DISTRIBUTED"):
            env.pop(k, None)
        if platform == "cpu":
            env["JAX_PLATFORMS"] = "cpu"
            flags = [f for f in env.get("XLA_FLAGS", "").split()
                     if not f.startswith("--xla_force_host_platform_device_count")]
            env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n}"])
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(n), str(iters),
               str(batch_size), dtype, dataset]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{n} device(s) failed:\n{r.stdout[-2000:]}{r.stderr[-4000:]}")
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return rows


def format_rows(rows):
    head = f"{'devices':>8s} {'platform':>10s} {'batch':>6s} {'dtype':>9s} " \
           f"{'samples/s':>12s} {'steps s':>9s} {'compile s':>10s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['devices']:8d} {r['platform']:>10s} {r['batch_size']:6d} "
                     f"{r['dtype']:>9s} {r['samples_per_s']:12.0f} {r['steps_s']:9.2f} "
                     f"{r['compile_s']:10.2f}")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _, devices, iters, batch, dtype, dataset = argv
        return _worker(devices, int(iters), int(batch), dtype, dataset)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--platform", choices=["cpu", "default"], default="cpu",
                   help="cpu: forced host devices; default: the accelerator JAX finds")
    p.add_argument("--counts", nargs="+", default=None,
                   help="device counts (default: 1 2 4 8 on cpu, 1 all otherwise)")
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--dataset", default="synthetic",
                   choices=["synthetic", "mnist", "fashion-mnist"])
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args(argv)
    counts = a.counts or (["1", "2", "4", "8"] if a.platform == "cpu" else ["1", "all"])
    rows = device_rows(a.iters, a.batch_size, counts, a.platform, a.dtype, a.dataset)
    print(json.dumps(rows, indent=1) if a.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
