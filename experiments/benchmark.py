"""How fast is jaxbp, against the book's NumPy code, plain JAX and this machine's matmul peak?

    python experiments/benchmark.py --markdown BENCHMARKS.md --out experiments/results/bench.json
    python experiments/benchmark.py --quick     # tiny settings, synthetic data: the CI smoke test
    python experiments/benchmark.py --only jaxbp,rule-cost
    python experiments/benchmark.py --torch-python /tmp/torch/bin/python   # with PyTorch's rows
    python experiments/benchmark.py --max-isa AVX2 --markdown BENCHMARKS.md   # and pinned to AVX2

Each row runs in its own process (bench/harness.py, bench/rows.py); bench/report.py writes the
tables.  BENCHMARKS.md's hand-written notes say what the rows run and state the targets.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

from bench import report
from bench.harness import run_row

from jaxbp.mnist import find_data_dir
from jaxbp.train import xla_options

HERE = os.path.dirname(os.path.abspath(__file__))

# jaxbp first: its fit makes (or reads) the matmul-path decision that the other rows use
ORDER = (
    "jaxbp",
    "evaluation",
    "command",
    *report.TRAINING[:-1],
    *("torch", "rule-cost", "scaling", "numgrad", "devices", "conv"),
)
SCALING = [(100, 50, 10000), (1000, 50, 2000), (10000, 50, 200)]  # (batch, hidden, steps)
SCALING += [(100, 1000, 2000), (1000, 1000, 300)]
# repeats: timed runs of each training row, after an untimed one with warmup; rounds: of the
# interleaved rows (rule-cost, conv); conv_steps: per round, for the JAX rows and book-numpy
FULL = dict(iters=10000, batch_size=100, hidden_size=50, lr=0.1, seed=0, eval_every=600)
FULL.update(repeats=3, warmup=True, rounds=5, peak_n=2048, book_numgrad=True, scaling=SCALING)
FULL.update(conv_steps=[100, 20], devices_iters=2000, synthetic=None)
QUICK = dict(FULL, iters=100, eval_every=25, repeats=1, warmup=False, peak_n=512, rounds=2)
QUICK.update(book_numgrad=False, conv_steps=[5, 2], devices_iters=50, synthetic=[6000, 1000])
QUICK.update(scaling=[(100, 50, 20), (1000, 200, 5)])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny settings on synthetic data")
    p.add_argument("--synthetic", action="store_true", help="jaxbp.mnist.synthetic data, not MNIST")
    p.add_argument("--only", help="comma-separated rows and sections: " + ",".join(ORDER))
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench.json"))
    p.add_argument("--markdown", help="write this Markdown file (BENCHMARKS.md)")
    p.add_argument("--torch-python", help="a Python with PyTorch: add PyTorch's rows")
    p.add_argument("--torch-threads", type=int, default=os.cpu_count(), help="PyTorch's threads")
    p.add_argument(
        "--max-isa",
        help="also run every row with XLA_FLAGS=--xla_cpu_max_isa=ISA (e.g. AVX2), each pin a "
        "section of its own; a pin at or above this CPU's own ISA is skipped, saying so",
    )
    a = p.parse_args(argv)
    if not (a.quick or a.synthetic or find_data_dir()):
        sys.exit("benchmark: MNIST not found (set JAXBP_DATA_DIR); use --quick or --synthetic")
    spec = QUICK if a.quick else dict(FULL, synthetic=[60000, 10000] if a.synthetic else None)
    torch = {"python": a.torch_python, "threads": a.torch_threads} if a.torch_python else None
    spec = dict(spec, torch=torch)
    only = a.only.split(",") if a.only else ORDER
    flags = os.environ.get("XLA_FLAGS", "")
    reps = [run_all(argv, spec, only, flags)]
    for isa in a.max_isa.split(",") if a.max_isa else []:
        if not pin_lowers(isa):
            print(f"--max-isa {isa}: this CPU has no instruction set above {isa} "
                  f"({xla_options.cpu_isa()}): the pinned run is the run above")  # fmt: skip
            continue
        reps.append(run_all(argv, spec, only, f"{flags} --xla_cpu_max_isa={isa}".strip()))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(reps[0] if len(reps) == 1 else reps, f, indent=1)
    for rep in reps:
        print("\n" + report.markdown(rep))
        if a.markdown:
            report.write(a.markdown, rep)
    return 0


def pin_lowers(isa: str) -> bool:
    """Whether ``--xla_cpu_max_isa=isa`` takes from XLA an instruction set this CPU has:
    AVX2 or below on a CPU with AVX-512, anything below AVX2 on one without."""
    own = xla_options.cpu_isa()
    has_avx512 = "avx512f" in own.split(", ")  # "avx2, fma, no avx512f" has none
    return has_avx512 if isa.upper() == "AVX2" else not isa.upper().startswith("AVX512")


def run_all(argv: list, spec: dict, only: list, flags: str) -> dict:
    """Every row of ``only`` in processes of their own with ``XLA_FLAGS=flags``: the report."""
    loadavg = lambda: ", ".join(f"{x:.2f}" for x in os.getloadavg())
    t0, load0, env = time.perf_counter(), loadavg(), {"XLA_FLAGS": flags} if flags else {}
    rep = {"argv": argv, "settings": spec, "rows": {}, **run_row("peak", spec, env)}
    for name in (name for name in ORDER if name in only):
        if name in report.TRAINING:
            rep["rows"][name] = run_row(name, spec, env)
        elif name == "devices":  # n forced host devices, each in its own process
            count = f"{flags} --xla_force_host_platform_device_count=".strip()
            envs = {n: {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"{count}{n}"} for n in (1, 2, 4, 8)}
            rep[name] = [run_row(name, dict(spec, devices=n), envs[n]) for n in envs]
        else:
            rep[name] = run_row(name, spec, env)
    rep["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    rep["wall_s"], rep["load"] = time.perf_counter() - t0, [load0, loadavg()]
    return rep


if __name__ == "__main__":
    sys.exit(main())
