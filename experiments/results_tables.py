"""README's result tables, from real runs: ``python experiments/results_tables.py``.

Trains, with the command users run (``python -m jaxbp.train``), the book's TwoLayerNet
at its defaults with seeds 0, 1, 2 in float32 and in bfloat16, and SimpleConvNet at
its defaults with seeds 0, 1, 2; then writes the tables between the markers
``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` of README.md and README.ko.md,
so that every number there is one a reader can reproduce.  MNIST is found as the
trainer finds it (``$JAXBP_DATA_DIR``, else the per-user cache).

    python experiments/results_tables.py [--only two_layer_net] [--keep DIR]

About 1 minute for the six TwoLayerNet runs and 8 minutes for SimpleConvNet on an idle
2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
RUNS = {  # table -> [(column label, extra flags)]
    "two_layer_net": [("float32", []), ("bfloat16", ["--dtype", "bfloat16"])],
    "simple_conv_net": [("float32", ["--model", "simple_conv_net"])],
}
HEADERS = {
    "README.md": ("seed", "train acc", "test acc", "mean"),
    "README.ko.md": ("시드", "훈련 정확도", "시험 정확도", "평균"),
}


def train(flags: list[str], seed: int, out: Path) -> dict:
    """One run of the CLI; its final metrics."""
    cmd = [sys.executable, "-m", "jaxbp.train", "--seed", str(seed), "--out-dir", str(out)]
    subprocess.run([*cmd, *flags, "--no-gradient-check", "--quiet"], check=True)
    m = json.loads((out / "metrics.json").read_text())
    return {"train": m["train_acc"][-1], "test": m["test_acc"][-1]}


def table(results: dict, headers: tuple) -> str:
    """Markdown: one row per seed, a column pair per variant, the mean last."""
    seed, tr, te, mean = headers
    variants = list(results)
    many = len(variants) > 1
    cols = [c for v in variants for c in (f"{tr} {v}" if many else tr, f"{te} {v}" if many else te)]
    lines = [f"| {seed} | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for i, s in enumerate(SEEDS):
        row = [f"{results[v][i][k]:.4f}" for v in variants for k in ("train", "test")]
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    means = [
        sum(r[k] for r in results[v]) / len(SEEDS) for v in variants for k in ("train", "test")
    ]
    lines.append(f"| {mean} | " + " | ".join(f"**{m:.4f}**" for m in means) + " |")
    return "\n".join(lines)


def write_tables(path: Path, tables: dict[str, str]) -> None:
    """Replace each marked block of ``path`` (atomically); a missing marker is an error."""
    text = path.read_text()
    for name, body in tables.items():
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path.name} has no <!-- results:{name} --> block")
        text = pattern.sub(lambda m, body=body: m[1] + body + "\n" + m[2], text)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=tuple(RUNS), action="append", help="just these tables")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temp folder)")
    args = p.parse_args(argv)
    base = Path(args.keep or tempfile.mkdtemp(prefix="jaxbp-results-"))
    results: dict[str, dict] = {}
    for name in args.only or RUNS:
        results[name] = {
            label: [train(flags, s, base / f"{name}-{label}-{s}") for s in SEEDS]
            for label, flags in RUNS[name]
        }
        print(json.dumps({name: results[name]}))
    for readme, headers in HEADERS.items():
        write_tables(ROOT / readme, {n: table(r, headers) for n, r in results.items()})
        print(f"wrote the tables of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
