"""README's result tables, from real runs: ``python experiments/results_tables.py``.

Trains, with the command users run (``python -m jaxbp.train``), the book's TwoLayerNet
at its defaults with seeds 0, 1, 2 in float32 and in bfloat16, and SimpleConvNet at
its defaults with seeds 0, 1, 2; then writes this machine's table between the markers
``<!-- results:NAME cpu=KEY -->`` and ``<!-- /results:NAME cpu=KEY -->`` of README.md
and README.ko.md, so that every number there is one a reader can reproduce.  ``KEY`` is
the CPU's widest vector instruction set (``avx512``, ``avx2``, else the architecture):
the matmuls round differently from one to the next, and the 4th digit moves with them,
so each kind of CPU keeps a table of its own, headed by the CPU's model, instruction set,
cores and the JAX version.  A machine of a kind the README has no table for gets a new
one after the others; then the line between ``<!-- results:NAME spread -->`` markers
says how far the tables are apart.  MNIST is found as the trainer finds it
(``$JAXBP_DATA_DIR``, else the per-user cache).

    python experiments/results_tables.py [--only two_layer_net] [--keep DIR]

About 1 minute for the six TwoLayerNet runs and 8 minutes for SimpleConvNet on an idle
2-core CPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from jaxbp.train.xla_options import cpu_model

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
# how each README words a CPU's heading and the spread between CPUs
WORDS = {
    "README.md": {
        "no": "no {}",
        "cores": "{} cores",
        "spread": (
            "Between the CPUs above the same seed differs by at most {gaps}: another "
            "instruction set rounds the matmuls differently, and the 4th digit moves with them."
        ),
        "gap": "{seed} in {label} (means {mean})",
    },
    "README.ko.md": {
        "no": "{} 없음",
        "cores": "{}코어",
        "spread": (
            "위의 CPU들 사이에서 같은 시드의 정확도는 {gaps} 다릅니다. 명령어 집합이 "
            "다르면 행렬 곱의 반올림이 달라지고, 그만큼 넷째 자리가 움직입니다."
        ),
        "gap": "{label}에서 최대 {seed}(평균은 {mean})",
    },
}


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((s for s in f if s.startswith(("flags", "Features"))), "")
    except OSError:
        return set()
    return set(line.partition(":")[2].split())


def isa(flags: set[str]) -> tuple[str, list[tuple[str, bool]]]:
    """The key of this kind of CPU and its vector instruction sets, present or not.

    >>> isa({"avx", "avx2", "fma"})
    ('avx2', [('AVX2', True), ('AVX-512', False)])
    >>> isa({"avx2", "avx512f", "amx_tile"})
    ('avx512', [('AVX-512', True), ('AMX', True)])
    """
    if "avx512f" in flags:
        return "avx512", [("AVX-512", True)] + ([("AMX", True)] if "amx_tile" in flags else [])
    if "avx2" in flags:
        return "avx2", [("AVX2", True), ("AVX-512", False)]
    return platform.machine().lower() or "cpu", []


def machine() -> dict:
    """What the numbers depend on: the CPU's model, instruction sets, cores; JAX's version."""
    key, sets = isa(cpu_flags())
    version = importlib.metadata.version
    return dict(
        key=key,
        model=cpu_model(),
        sets=sets,
        cores=os.cpu_count(),
        jax=version("jax"),
        jaxlib=version("jaxlib"),
    )


def heading(m: dict, readme: str) -> str:
    """One line naming the machine, in ``readme``'s language.

    >>> m = dict(model="AMD EPYC", sets=[("AVX2", True), ("AVX-512", False)], cores=2,
    ...          jax="0.10.2", jaxlib="0.10.2")
    >>> heading(m, "README.md")
    'AMD EPYC (AVX2, no AVX-512), 2 cores, JAX 0.10.2 (jaxlib 0.10.2):'
    >>> heading(m, "README.ko.md")
    'AMD EPYC (AVX2, AVX-512 없음), 2코어, JAX 0.10.2 (jaxlib 0.10.2):'
    """
    words = WORDS[readme]
    sets = ", ".join(name if has else words["no"].format(name) for name, has in m["sets"])
    cpu = m["model"] + (f" ({sets})" if sets else "") + ", " + words["cores"].format(m["cores"])
    return f"{cpu}, JAX {m['jax']} (jaxlib {m['jaxlib']}):"


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


def _block(name: str, key: str) -> re.Pattern:
    return re.compile(
        rf"<!-- results:{name} cpu={key} -->\n.*?<!-- /results:{name} cpu={key} -->", re.S
    )


def put_block(text: str, name: str, key: str, body: str) -> str:
    """``text`` with the block of table ``name`` for CPU ``key`` holding ``body``: replaced
    where there is one, else added after the table's last block (one for another CPU).

    >>> text = "a\\n<!-- results:t cpu=x -->\\nold\\n<!-- /results:t cpu=x -->\\nb\\n"
    >>> print(put_block(text, "t", "y", "new"))
    a
    <!-- results:t cpu=x -->
    old
    <!-- /results:t cpu=x -->
    <BLANKLINE>
    <!-- results:t cpu=y -->
    new
    <!-- /results:t cpu=y -->
    b
    <BLANKLINE>
    """
    block = f"<!-- results:{name} cpu={key} -->\n{body}\n<!-- /results:{name} cpu={key} -->"
    if _block(name, key).search(text):
        return _block(name, key).sub(lambda m: block, text)
    ends = list(re.finditer(rf"<!-- /results:{name} cpu=\S+ -->", text))
    if not ends:
        raise SystemExit(f"README has no <!-- results:{name} cpu=... --> block")
    at = ends[-1].end()
    return text[:at] + "\n\n" + block + text[at:]


def numbers(text: str, name: str) -> dict[str, list[list[float]]]:
    """Each CPU's table of ``name`` in ``text`` as rows of numbers (the seeds, then the mean)."""
    found = {}
    for m in re.finditer(rf"<!-- results:{name} cpu=(\S+) -->\n(.*?)<!-- /results", text, re.S):
        rows = [line for line in m[2].splitlines() if re.match(r"\| [^-]", line)][1:]
        found[m[1]] = [[float(x) for x in re.findall(r"\d\.\d{4}", row)] for row in rows]
    return found


def spread(tables: dict[str, list[list[float]]], labels: list[str]) -> dict | None:
    """Per variant (a column pair each, named by ``labels``), the largest difference
    between two CPUs' tables: seed by seed, and of the means; None with one table.

    >>> a, b = [[0.9801, 0.9707], [0.97, 0.96]], [[0.9802, 0.9705], [0.97, 0.96]]
    >>> spread({"x": a, "y": b}, ["float32"])
    {'float32': (0.0002, 0.0)}
    """
    if len(tables) < 2:
        return None
    rows = list(zip(*tables.values()))  # each row: that row of every table
    gap = lambda rs, i: max(max(c) - min(c) for r in rs for c in list(zip(*r))[2 * i : 2 * i + 2])
    return {
        v: (round(gap(rows[:-1], i), 4), round(gap(rows[-1:], i), 4)) for i, v in enumerate(labels)
    }


def write_spread(text: str, name: str, words: dict) -> str:
    """The line between ``<!-- results:NAME spread -->`` markers, from the tables above it."""
    pattern = re.compile(
        rf"(<!-- results:{name} spread -->\n).*?(<!-- /results:{name} spread -->)", re.S
    )
    found = pattern.search(text) and spread(numbers(text, name), [v for v, _ in RUNS[name]])
    if not found:
        return text
    gaps = ", ".join(
        words["gap"].format(label=v, seed=f"{s:.4f}", mean=f"{m:.4f}")
        for v, (s, m) in found.items()
    )
    return pattern.sub(lambda m: m[1] + words["spread"].format(gaps=gaps) + "\n" + m[2], text)


def write_tables(path: Path, tables: dict[str, str], key: str) -> None:
    """Put each table (this CPU's, ``key``) into ``path``, atomically; then the spreads."""
    text = path.read_text()
    for name, body in tables.items():
        text = write_spread(put_block(text, name, key, body), name, WORDS[path.name])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=tuple(RUNS), action="append", help="just these tables")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temp folder)")
    args = p.parse_args(argv)
    base = Path(args.keep or tempfile.mkdtemp(prefix="jaxbp-results-"))
    here = machine()
    print(json.dumps(here))
    results: dict[str, dict] = {}
    for name in args.only or RUNS:
        results[name] = {
            label: [train(flags, s, base / f"{name}-{label}-{s}") for s in SEEDS]
            for label, flags in RUNS[name]
        }
        print(json.dumps({name: results[name]}))
    for readme, headers in HEADERS.items():
        bodies = {n: heading(here, readme) + "\n\n" + table(r, headers) for n, r in results.items()}
        write_tables(ROOT / readme, bodies, here["key"])
        print(f"wrote the tables of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
