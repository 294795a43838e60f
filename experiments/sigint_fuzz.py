"""Send SIGINT to ``python -m jaxbp.train`` at random moments and count the outcomes.

Ctrl-C during a compile or the float64 gradient check used to segfault (exit -11 in
4 of 15 tries with the CLI).  Each try starts a fresh process without the compile
cache (so every compile really runs), waits a random time in [0, --max-delay] s,
sends SIGINT and records the exit code::

    JAXBP_DATA_DIR=... python experiments/sigint_fuzz.py --tries 30

Expected: every exit code 130 (or 0 when the run finished first); 0 segfaults.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time


def one_try(delay: float, iters: int) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jaxbp.train",
                "--quiet",
                "--out-dir",
                out,
                "--iters",
                str(iters),
                "--no-compile-cache",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        text, _ = p.communicate(timeout=300)
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return p.returncode, last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=30)
    ap.add_argument(
        "--max-delay",
        type=float,
        default=8.0,
        help="seconds; covers imports, data, gradient check, compiles, steps",
    )
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not os.environ.get("JAXBP_DATA_DIR"):
        print("set JAXBP_DATA_DIR to the MNIST folder")
        return 2
    rng = random.Random(args.seed)
    counts: collections.Counter = collections.Counter()
    for i in range(args.tries):
        delay = rng.uniform(0.0, args.max_delay)
        code, last = one_try(delay, args.iters)
        counts[code] += 1
        print(
            f"try {i + 1:2d}: SIGINT after {delay:5.2f} s -> exit {code:4d}  {last[:70]}",
            flush=True,
        )
    print("outcomes:", ", ".join(f"exit {c}: {n}" for c, n in sorted(counts.items())))
    bad = sum(n for c, n in counts.items() if c not in (0, 130))
    print(
        f"segfaults (exit -11): {counts.get(-11, 0)}; other unexpected exits: "
        f"{bad - counts.get(-11, 0)}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
