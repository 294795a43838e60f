"""Multi-process data-parallel training on one machine (a multi-host rehearsal).

Starts ``--processes`` Python processes on localhost (loopback only), each with
``--local-devices`` forced CPU devices.  Each process finds the usual
variables ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` /
``JAX_PROCESS_ID`` and joins the run through
:func:`jaxbp.train.devices.initialize_distributed` (``jax.distributed.initialize``;
CPU collectives over gloo), then trains with ``devices="all"``: one global
mesh over every process's devices, the minibatch sharded across all of them.
The parameters every process ends with are compared with a single-process
run over the same number of devices::

    python experiments/multihost.py                       # 2 processes x 2 devices
    python experiments/multihost.py --processes 2 --local-devices 4 --iters 100

On real hosts the same code runs unchanged; see the README ("Several hosts").
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(args):
    """One process: join (if the variables say so), train, save the params."""
    import numpy as np

    from jaxbp import train
    from jaxbp.mnist.synthetic import synthetic_mnist
    from jaxbp.train import devices

    joined = devices.initialize_distributed(log=lambda *a: None)
    import jax

    cfg = train.Config(
        iters=args.iters, batch_size=args.batch_size, devices="all", eval_every=args.iters
    )
    data = synthetic_mnist(1200, 300)  # every process builds the same
    result = train.fit(cfg, data=data, progress=False, log=lambda *a: None)
    m = result["metrics"]
    np.savez(args.out, **{k: np.asarray(v) for k, v in result["params"].items()})
    print(
        json.dumps(
            {
                "joined": joined,
                "process": jax.process_index(),
                "processes": jax.process_count(),
                "devices": jax.device_count(),
                "local_devices": jax.local_device_count(),
                "test_acc": m["test_acc"][-1],
                "loss": m["loss"][-1],
            }
        ),
        flush=True,
    )


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(local_devices, **extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "JAX_COORDINATOR",
                "JAX_NUM_PROCESSES",
                "JAX_PROCESS_ID",
                "SLURM_",
                "OMPI_",
                "JAXBP_DISTRIBUTED",
            )
        )
    }
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={local_devices}",
        PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        **extra,
    )
    return env


def _spawn(cmd: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_all(procs: list[subprocess.Popen], timeout: float) -> list[str]:
    """Each process's output; ``RuntimeError`` if one fails or all are not done in ``timeout``."""
    outs, failed = [], False
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            out = (p.communicate()[0] or "") + f"\n[timed out after {timeout}s]"
            failed = True
        outs.append(out)
        failed |= p.returncode != 0
    if failed:
        raise RuntimeError("multi-process run failed:\n" + "\n----\n".join(o[-3000:] for o in outs))
    return outs


def run(processes=2, local_devices=2, iters=50, batch_size=96, timeout=120):
    """Multi-process run and single-process reference; returns a report dict.

    Raises ``RuntimeError`` (with the processes' output) if a process fails or
    the run does not finish in ``timeout`` seconds (a hang cannot block CI).
    """
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="jaxbp_multihost_")
    port = _free_port()
    me = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--iters",
        str(iters),
        "--batch-size",
        str(batch_size),
    ]
    t0 = time.perf_counter()
    procs = [
        _spawn(
            me + ["--out", os.path.join(tmp, f"p{i}.npz")],
            _env(
                local_devices,
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_COORDINATOR_BIND_ADDRESS=f"127.0.0.1:{port}",  # loopback only
                JAX_NUM_PROCESSES=str(processes),
                JAX_PROCESS_ID=str(i),
            ),
        )
        for i in range(processes)
    ]
    procs.append(
        _spawn(me + ["--out", os.path.join(tmp, "ref.npz")], _env(processes * local_devices))
    )
    outs = _wait_all(procs, timeout)
    reports = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    params = [dict(np.load(os.path.join(tmp, f"p{i}.npz"))) for i in range(processes)]
    refp = dict(np.load(os.path.join(tmp, "ref.npz")))
    diff_between = (
        max(float(np.abs(params[0][k] - p[k]).max()) for p in params[1:] for k in refp)
        if processes > 1
        else 0.0
    )
    diff_ref = max(float(np.abs(params[0][k] - refp[k]).max()) for k in refp)
    return {
        "processes": reports[:-1],
        "reference": reports[-1],
        "max_abs_diff_between_processes": diff_between,
        "max_abs_diff_vs_single_process": diff_ref,
        "wall_s": time.perf_counter() - t0,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--local-devices", type=int, default=2)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    print(
        json.dumps(
            run(args.processes, args.local_devices, args.iters, args.batch_size, args.timeout),
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
