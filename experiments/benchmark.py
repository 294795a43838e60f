"""How fast is jaxbp, against the book's NumPy code, plain JAX and this machine's matmul peak?

    python experiments/benchmark.py --markdown BENCHMARKS.md --out experiments/results/bench.json
    python experiments/benchmark.py --quick            # tiny settings: the CI smoke test
    python experiments/benchmark.py --only jaxbp,rule-cost

What each row runs is said in BENCHMARKS.md.  How rows are run and timed:
``bench/harness.py``; the rows: ``bench/rows.py``.  The full run needs MNIST
(``JAXBP_DATA_DIR``); ``--quick`` and ``--synthetic`` use ``jaxbp.testing.synthetic_mnist``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "bench"))
from harness import run_row  # noqa: E402
from rows import flops_per_step  # noqa: E402

TRAINING = (
    "book-numpy",
    "jax-grad-step",
    "jax-grad-scan",
    "jax-grad-scan-eigen",
    "jaxbp-step",
    "jaxbp-scan",
    "jaxbp",
)
SECTIONS = ("rule-cost", "scaling", "devices", "numgrad", "conv")
MARK = "<!-- Written by hand below this line; kept when the file is regenerated. -->"


def fmt(v, spec=".3f"):
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table(hdr, rows, markdown=False):
    if markdown:
        return "\n".join(
            ["| " + " | ".join(hdr) + " |", "|---" + "|---:" * (len(hdr) - 1) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows]
        )
    w = [max(len(str(c)) for c in col) for col in zip(hdr, *rows)]
    cell = lambda i, c: str(c).rjust(w[i]) if i else str(c).ljust(w[i])
    return "\n".join(
        "  ".join(cell(i, c) for i, c in enumerate(r)) for r in [hdr, ["-" * x for x in w], *rows]
    )


def training_table(rep):
    s, peak = rep["settings"], rep["peak"]["peak_gflops"]
    hdr = [
        "row",
        "cpu matmul",
        "steps-only s",
        "steps/s",
        "GFLOP/s",
        "% peak",
        "compile s",
        "evals s",
        "train acc",
        "test acc",
        "peak RSS MiB",
    ]
    out = []
    for name in TRAINING:
        r = rep["rows"].get(name)
        if r:
            gf = flops_per_step(s["batch_size"], s["hidden_size"]) * s["iters"] / r["steps_s"] / 1e9
            out.append(
                [
                    name,
                    r["cpu_matmul"],
                    fmt(r["steps_s"]),
                    fmt(s["iters"] / r["steps_s"], ".0f"),
                    fmt(gf, ".1f"),
                    fmt(100 * gf / peak, ".1f"),
                    fmt(r["compile_s"], ".2f"),
                    fmt(r.get("eval_s"), ".2f"),
                    fmt(r["train_acc"], ".4f"),
                    fmt(r["test_acc"], ".4f"),
                    fmt(r["peak_rss_bytes"] / 2**20, ".0f"),
                ]
            )
    return hdr, out


def ratios(rep):
    """``(measured quantity, value, issue 13's target in words)``; no pass/fail here."""
    rows, rc = rep["rows"], rep.get("rule-cost")
    steps = {k: r["steps_s"] for k, r in rows.items()}
    div = lambda a, b: steps[a] / steps[b] if a in steps and b in steps else None  # noqa: E731
    j = rows.get("jaxbp", {})
    return [
        ("jax-grad-scan / jaxbp, steps only", div("jax-grad-scan", "jaxbp"), ">= 1.5"),
        ("book-numpy / jaxbp, steps only", div("book-numpy", "jaxbp"), ">= 6"),
        (
            "jaxbp evaluations / its steps (one fit run)",
            j["eval_s"] / j["eval_run_steps_s"] if j else None,
            "<= 0.25",
        ),
        (
            "rule cost: our loss / plain loss, one scan program, interleaved",
            rc["ratio"] if rc else None,
            "<= 1.02",
        ),
        (
            "jax-grad-scan / jax-grad-scan-eigen (the matmul path alone)",
            div("jax-grad-scan", "jax-grad-scan-eigen"),
            "-",
        ),
        (
            "jaxbp-scan / jax-grad-scan-eigen (separate processes)",
            div("jaxbp-scan", "jax-grad-scan-eigen"),
            "-",
        ),
    ]


def sections(rep):
    """``(title, header, rows)`` of every table after the first."""
    out, peak = [], rep["peak"]["peak_gflops"]
    out.append(
        (
            "Measured ratios and issue 13's targets",
            ["ratio", "measured", "target"],
            [[k, fmt(v), t] for k, v, t in ratios(rep)],
        )
    )
    if rep.get("rule-cost"):
        rc = rep["rule-cost"]
        out.append(
            (
                f"Custom rules, matmul path and sampling, interleaved (jaxbp chose {rc['chosen']})",
                ["program", "runs s", "median s"],
                [
                    [k, ", ".join(fmt(x) for x in v), fmt(sorted(v)[len(v) // 2])]
                    for k, v in rc["times"].items()
                ],
            )
        )
        out.append(
            (
                "Pairwise ratios of those runs (medians)",
                ["ratio", "value"],
                [[k, fmt(v)] for k, v in rc["ratios"].items()],
            )
        )
    for r in rep.get("scaling", {}).get("rows", []):
        r["gflops"] = r["flops_per_step"] * r["iters"] / r["steps_s"] / 1e9
    out.append(
        (
            "Scaling of jaxbp, steps only",
            [
                "batch",
                "hidden",
                "steps",
                "steps-only s",
                "samples/s",
                "GFLOP/s",
                "% peak",
                "compile s",
            ],
            [
                [
                    str(r["batch_size"]),
                    str(r["hidden_size"]),
                    str(r["iters"]),
                    fmt(r["steps_s"]),
                    fmt(r["batch_size"] * r["iters"] / r["steps_s"], ".3g"),
                    fmt(r["gflops"], ".1f"),
                    fmt(100 * r["gflops"] / peak, ".1f"),
                    fmt(r["compile_s"], ".2f"),
                ]
                for r in rep.get("scaling", {}).get("rows", [])
            ],
        )
    )
    out.append(
        (
            "Data parallel (jaxbp.train --devices N), forced host devices sharing the "
            "cores, batch 96",
            ["devices", "steps", "samples/s", "steps-only s", "compile s"],
            [
                [
                    str(r["devices"]),
                    str(r["iters"]),
                    fmt(r["samples_per_s"], ".0f"),
                    fmt(r["steps_s"]),
                    fmt(r["compile_s"], ".2f"),
                ]
                for r in rep.get("devices", [])
            ],
        )
    )
    ng = rep.get("numgrad")
    out.append(
        (
            "Numerical gradient, float64, all parameters, 3 images",
            [
                "parameters",
                "steady s",
                "first call s",
                "max abs diff vs backprop",
                "the book's loop s",
            ],
            [
                [
                    str(ng["n_params"]),
                    fmt(ng["steady_s"]),
                    fmt(ng["first_call_s"]),
                    fmt(ng["max_abs_diff_vs_backprop"], ".1e"),
                    fmt(ng.get("book_numpy_s"), ".2f"),
                ]
            ]
            if ng
            else [],
        )
    )
    ms = rep.get("conv", {}).get("ms_per_step", {})
    out.append(
        (
            "SimpleConvNet steps, batch 100, Adam (experiments/bench_conv.py)",
            ["row", "ms/step", "book-numpy / row"],
            [[k, fmt(v, ".2f"), fmt(ms["book-numpy"] / v, ".1f")] for k, v in ms.items()],
        )
    )
    return [(f"{title} ({rep['machine']['cpu']})", hdr, rows) for title, hdr, rows in out if rows]


def header(rep):
    m, s, pk = rep["machine"], rep["settings"], rep["peak"]
    return [
        f"CPU: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB; {m['os']}; JAX device "
        f"{m['device']}",
        f"versions: Python {m['python']}, jax {m['jax']}, jaxlib {m['jaxlib']}, numpy "
        f"{m['numpy']}, optax {m['optax']}; environment: "
        + (", ".join(f"{k}={v}" for k, v in m["env"].items()) or "no XLA_/JAX_/BLAS variables"),
        f"date {rep['date']}, wall {rep['wall_s']:.0f} s, load average {rep['load'][0]} at "
        f"the start and {rep['load'][1]} at the end",
        f"data: {rep['data']}; {s['iters']} steps of batch {s['batch_size']}, hidden "
        f"{s['hidden_size']}, lr {s['lr']}, evaluations every {s['eval_every']} steps; "
        f"JAX rows: median of {s['repeats']} runs",
        f"{flops_per_step(s['batch_size'], s['hidden_size']) / 1e6:.2f} MFLOP per step; "
        f"float32 matmul peak {pk['peak_gflops']:.0f} GFLOP/s (jax {pk['jax_gflops']:.0f}, "
        f"numpy {pk['numpy_gflops']:.0f}, {pk['n']}x{pk['n']})",
    ]


def write_markdown(path, rep):
    hand = "\n\n## Notes\n\n(none yet)\n"
    if os.path.exists(path):
        text = open(path).read()
        hand = text.split(MARK, 1)[1] if MARK in text else hand
    L = [
        "# Benchmarks",
        "",
        "Generated by `python experiments/benchmark.py "
        + " ".join(rep["argv"])
        + "` down to the hand-written notes.",
        "",
    ]
    L += [f"* {line}" for line in header(rep)]
    L += [
        "",
        f"## TwoLayerNet training ({rep['machine']['cpu']})",
        "",
        table(*training_table(rep), markdown=True),
    ]
    for title, hdr, rows in sections(rep):
        L += ["", f"## {title}", "", table(hdr, rows, markdown=True)]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n\n" + MARK + hand.rstrip() + "\n")


def settings(a):
    from jaxbp.mnist import find_data_dir

    quick, synthetic = a.quick, None
    if a.synthetic or quick or find_data_dir() is None:  # --quick: small and quick data
        if not (a.synthetic or quick):
            sys.exit("benchmark: MNIST not found (set JAXBP_DATA_DIR); use --quick or --synthetic")
        synthetic = [6000, 1000] if quick else [60000, 10000]
    n_train = synthetic[0] if synthetic else 60000
    return {
        "iters": a.iters or (100 if quick else 10000),
        "batch_size": 100,
        "hidden_size": 50,
        "lr": 0.1,
        "seed": 0,
        "eval_every": a.eval_every or (25 if quick else n_train // 100),
        "repeats": a.repeats or (1 if quick else 3),
        "warmup": not quick,
        "synthetic": synthetic,
        "peak_n": 512 if quick else 2048,
        "book_numgrad": not quick,
        "conv_steps": [5, 2] if quick else [100, 20],
        "scaling": (
            [[100, 50, 20], [1000, 200, 5]]
            if quick
            else [
                [100, 50, 10000],
                [1000, 50, 2000],
                [10000, 50, 200],
                [100, 1000, 2000],
                [1000, 1000, 300],
            ]
        ),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny settings (the CI smoke test)")
    p.add_argument("--synthetic", action="store_true", help="jaxbp.testing data instead of MNIST")
    p.add_argument("--iters", type=int, help="steps per run (default 10000; --quick 100)")
    p.add_argument("--repeats", type=int, help="timed runs per JAX row (default 3; --quick 1)")
    p.add_argument("--eval-every", type=int, help="steps between evaluations (default 600)")
    p.add_argument(
        "--only",
        help="comma-separated rows and sections: " + ",".join(("peak",) + TRAINING + SECTIONS),
    )
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench.json"))
    p.add_argument("--markdown", default="", help="write this Markdown file (BENCHMARKS.md)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per row process")
    a = p.parse_args(argv)
    t_start, load0 = time.perf_counter(), ", ".join(f"{x:.2f}" for x in os.getloadavg())
    spec = settings(a)
    only = set(a.only.split(",")) if a.only else set(TRAINING + SECTIONS)

    def go(name, env=None, **kw):
        t0 = time.perf_counter()
        print(f"  {name} {kw or ''}...", end="", flush=True)
        out = run_row(name, dict(spec, **kw), env, a.timeout)
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)
        return out

    rep = {
        "argv": argv,
        "settings": spec,
        "rows": {},
        "data": "jaxbp.testing.synthetic_mnist({}, {})".format(*spec["synthetic"])
        if spec["synthetic"]
        else "MNIST",
    }
    rep.update(go("peak"))
    # jaxbp first: its fit makes (or reads) the matmul-path decision the other rows use
    for name in ("jaxbp",) + TRAINING[:-1]:
        if name in only:
            rep["rows"][name] = go(name)
    for name in ("rule-cost", "scaling", "numgrad"):
        if name in only:
            rep[name] = go(
                name, repeats=max(spec["repeats"], 5) if name == "rule-cost" else spec["repeats"]
            )
    if "devices" in only:
        flags = os.environ.get("XLA_FLAGS", "")
        rep["devices"] = [
            go(
                "devices",
                {
                    "JAX_PLATFORMS": "cpu",
                    "XLA_FLAGS": flags + (f" --xla_force_host_platform_device_count={n}"),
                },
                devices=n,
                iters=50 if a.quick else 2000,
            )
            for n in (1, 2, 4, 8)
        ]
    if "conv" in only:
        rep["conv"] = go("conv", repeats=1 if a.quick else 5)
    rep.update(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        wall_s=time.perf_counter() - t_start,
        load=[load0, ", ".join(f"{x:.2f}" for x in os.getloadavg())],
    )

    print("\n" + "\n".join(header(rep)) + f"\n\nTwoLayerNet training ({rep['machine']['cpu']})")
    print(table(*training_table(rep)))
    for title, hdr, rows in sections(rep):
        print(f"\n{title}\n{table(hdr, rows)}")
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(rep, f, indent=1)
        print(f"\nwrote {a.out}")
    if a.markdown:
        write_markdown(a.markdown, rep)
        print(f"wrote {a.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
