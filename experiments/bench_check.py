"""How long ``python -m jaxbp.exercises check`` takes, against the cost of starting JAX.

The learner's edit-check loop wants a whole file in a few seconds and one
exercise in about two.  Measured as whole processes, interleaved round by round
(A B C A B C ...), each against the floor every JAX command pays: starting
Python, importing JAX and compiling one tiny program.

* ``file``: the project's answers, every exercise (the learner's file runs in a
  child process; the right answers are computed in the grader's own);
* ``one``: the same file, ``relu`` only;
* ``in place``: ``grade(load(file))`` in one process, as a notebook's
  ``check(globals())`` does, first (cold: the right answers are computed) and
  again (warm: they are known; the learner's programs compile again).

``python experiments/bench_check.py [--rounds 5]`` prints the medians, the
ratios to the floor, and the CPU and JAX version they were measured on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS = os.path.join(ROOT, "tests", "exercise_answers.py")
FLOOR = "import jax, jax.numpy as jnp; jax.jit(lambda x: x * 2)(jnp.ones(3)).block_until_ready()"
IN_PLACE = f"""
import time
from jaxbp.exercises import grade, load
for label in ("cold", "warm"):
    t = time.perf_counter()
    assert grade(load({ANSWERS!r}), lang="en").passed
    print(label, time.perf_counter() - t)
"""


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _seconds(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True, env=_env())
    return time.perf_counter() - start


def _in_place() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", IN_PLACE], capture_output=True, text=True,
                         env=_env(), check=True).stdout  # fmt: skip
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            info = fh.read()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "?")  # fmt: skip
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])  # fmt: skip
    isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    return f"{model}, {os.cpu_count()} cores, {isa}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    args = p.parse_args(argv)
    check = [sys.executable, "-m", "jaxbp.exercises", "check", ANSWERS]
    runs = {"floor": [sys.executable, "-c", FLOOR], "file": check, "one": [*check, "relu"]}
    times: dict[str, list[float]] = {k: [] for k in [*runs, "in place cold", "in place warm"]}
    for _ in range(args.rounds):
        for key, cmd in runs.items():
            times[key].append(_seconds(cmd))
        for label, t in _in_place().items():
            times[f"in place {label}"].append(t)
    import jax

    print(f"CPU: {_cpu()}; Python {platform.python_version()}; jax {jax.__version__}; "
          f"{args.rounds} interleaved rounds, medians")  # fmt: skip
    floor = statistics.median(times["floor"])
    for key, values in times.items():
        med = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {key:<15} {med:6.2f} s  ({spread})  {med / floor:5.2f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
