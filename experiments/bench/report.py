"""The benchmark's report: a run's results as Markdown tables, written into BENCHMARKS.md.

It states no targets and judges nothing: BENCHMARKS.md's hand-written notes state the targets.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from statistics import median

TRAINING = "book-numpy jax-grad-step jax-grad-scan jax-grad-scan-eigen jaxbp-step jaxbp-scan jaxbp"
TRAINING = tuple(TRAINING.split())
MARK = "<!-- Written by hand below this line; kept when the file is regenerated. -->"
HEADER = """\
* CPU: {m[cpu]} ({m[isa]}), {m[cores]} cores, {m[mem_gib]} GiB; {m[os]}; JAX device {m[device]}
* versions: {m[versions]}; environment: {m[env]}
* date {r[date]}, wall {r[wall_s]:.0f} s, load average {r[load][0]} at the start and
  {r[load][1]} at the end
* data: {data}; {s[iters]} steps of batch {s[batch_size]}, hidden {s[hidden_size]}, lr {s[lr]},
  evaluations every {s[eval_every]} steps; JAX rows: median of {s[repeats]} runs
* {mflop:.2f} MFLOP per step; float32 matmul peak {p[peak_gflops]:.0f} GFLOP/s
  (jax {p[jax_gflops]:.0f}, numpy {p[numpy_gflops]:.0f}, {p[n]}x{p[n]})"""


def flops_per_step(batch_size: int, hidden_size: int = 50, n_in: int = 784, n_out: int = 10):
    """Minimal FLOPs of a TwoLayerNet step: forward ``2B(n_in H + H C)``, ``dW1``
    ``2B n_in H``, ``dW2`` and ``dh`` ``2 * 2B H C`` (no input gradient)."""
    return 2 * batch_size * (2 * n_in * hidden_size + 3 * hidden_size * n_out)


def table(title: str, columns: str, rows: list) -> str:
    """A Markdown subsection; ``columns`` is ``"header:format | ..."``; ``None`` reads ``-``."""
    heads, specs = zip(*(c.partition(":")[::2] for c in columns.split(" | ")))
    lines = [f"### {title}", "", "| " + " | ".join(heads) + " |"]
    lines.append("|---" + "|---:" * (len(heads) - 1) + "|")
    for row in rows:
        cells = ("-" if v is None else format(v, spec) for v, spec in zip(row, specs))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(rep):
    """``(title, columns, rows)`` of every table, in order."""
    yield from _training_tables(rep)
    yield from _other_tables(rep)


def _gflops(rep, batch, hidden, iters, seconds):
    """GFLOP/s of TwoLayerNet steps, and the percentage of the machine's matmul peak."""
    g = flops_per_step(batch, hidden) * iters / seconds / 1e9
    return g, 100 * g / rep["peak"]["peak_gflops"]


def _training_tables(rep):
    s, runs, rc = rep["settings"], rep["rows"], rep.get("rule-cost")
    B, H, n = s["batch_size"], s["hidden_size"], s["iters"]
    gflops = partial(_gflops, rep)
    rows = []
    for name, r in [(name, runs[name]) for name in TRAINING if name in runs]:
        speed = (r["steps_s"], n / r["steps_s"], *gflops(B, H, n, r["steps_s"]), r["compile_s"])
        results = (r.get("eval_s"), r["train_acc"], r["test_acc"], r["peak_rss_bytes"] / 2**20)
        rows.append((name, r["cpu_matmul"], *speed, *results))
    columns = "row | cpu matmul | steps-only s:.3f | steps/s:.0f | GFLOP/s:.1f | % peak:.1f"
    columns += " | compile s:.2f | evals s:.2f | train acc:.4f | test acc:.4f | peak RSS MiB:.0f"
    yield "TwoLayerNet training", columns, rows

    steps, j = {name: r["steps_s"] for name, r in runs.items()}, runs.get("jaxbp")
    evals = j and j["eval_s"] / j["eval_run_steps_s"]  # in one fit run

    def div(a, b):  # steps-only seconds of row a / row b
        return f"{a} / {b}, steps only", steps[a] / steps[b] if {a, b} <= steps.keys() else None

    rows = [div("jax-grad-scan", "jaxbp"), div("book-numpy", "jaxbp")]
    rows.append(("jaxbp evaluations / its steps (one fit run)", evals))
    fit_ratio = j and j.get("fit_ratio")
    rows.append(("jaxbp fit with its evaluations / its steps only, interleaved", fit_ratio))
    ev, cmd = rep.get("evaluation") or {}, rep.get("command") or {}
    rows.append(("one evaluation's GFLOP/s / float32 matmul peak, interleaved", ev.get("share")))
    rows.append(("python -m jaxbp.train / its limit, interleaved", cmd.get("ratio")))
    rows.append(("rule cost: jaxbp / jax-grad, one scan program, interleaved", rc and rc["ratio"]))
    rows += [div("jax-grad-scan", "jax-grad-scan-eigen"), div("jaxbp-scan", "jax-grad-scan-eigen")]
    pt = rep.get("torch", {})
    rows.append(("PyTorch eager / jaxbp, steps only, interleaved", pt.get("ratio")))
    ms = rep.get("conv", {}).get("ms_per_step", {})
    best = min((v for k, v in ms.items() if k.startswith("torch-")), default=None)
    rows.append(("SimpleConvNet step: jaxbp / best PyTorch row", best and ms["jaxbp"] / best))
    yield "Measured ratios", "ratio | measured:.3f", rows

    if pt.get("times"):
        title = f"PyTorch {pt['torch']} ({pt['threads']} threads) beside jaxbp, TwoLayerNet"
        times = [(k, ", ".join(f"{t:.3f}" for t in v), median(v)) for k, v in pt["times"].items()]
        yield title + ", steps only, interleaved", "row | runs s | median s:.3f", times

    if rc:
        title = f"Custom rules, matmul path and sampling, interleaved (jaxbp chose {rc['chosen']})"
        times = [(k, ", ".join(f"{t:.3f}" for t in v), median(v)) for k, v in rc["times"].items()]
        yield title, "program | runs s | median s:.3f", times
        pairs = list(rc["ratios"].items())
        yield "Pairwise ratios of those runs (medians)", "ratio | value:.3f", pairs


def _whole_run_tables(rep):
    """The evaluations against the peak, and the default command against its limit."""
    ev, cmd = rep.get("evaluation") or {}, rep.get("command") or {}
    if ev:
        title = "One evaluation (every training and test image), interleaved with the peak"
        columns = "cpu matmul | trainer's | GFLOP:.2f | median s:.4f | GFLOP/s:.1f"
        columns += " | peak GFLOP/s:.0f | % peak:.1f"
        rows = []
        for path, r in ev["paths"].items():
            mine = "yes" if path == ev["chosen"] else ""
            rows.append((path, mine, ev["gflop"], median(r["s"]), r["gflops"], ev["peak_gflops"]))
            rows[-1] += (100 * r["gflops"] / ev["peak_gflops"],)
        yield title, columns, rows
    if cmd.get("rounds"):
        title = "python -m jaxbp.train against its limit (start-up + steps only + evaluations "
        title += "at the peak), interleaved, compile cache warm"
        columns = "round | command s | start-up s | steps only s | evaluations at peak s"
        columns += " | limit s:.2f | command / limit:.2f"
        rows = []
        for i, r in enumerate(cmd["rounds"], 1):
            startup = r["start-up"]["wall"] - r["start-up"]["loop"]
            at_peak = r["limit"] - startup - r["steps only"]
            cells = (r["command"]["wall"], startup, r["steps only"], at_peak)
            rows.append((i, *(f"{v:.2f}" for v in cells), r["limit"], r["ratio"]))
        rows.append(("median", f"{cmd['wall_s']:.2f}", "", "", "", cmd["limit_s"], cmd["ratio"]))
        yield title, columns, rows


def _other_tables(rep):
    yield from _whole_run_tables(rep)
    gflops, ng = partial(_gflops, rep), rep.get("numgrad")
    rows = []
    for r in rep.get("scaling", {}).get("rows", []):
        size = (r["batch_size"], r["hidden_size"], r["iters"])
        samples = r["batch_size"] * r["iters"] / r["steps_s"]
        rows.append((*size, r["steps_s"], samples, *gflops(*size, r["steps_s"]), r["compile_s"]))
    columns = "batch | hidden | steps | steps-only s:.3f | samples/s:.3g | GFLOP/s:.1f | % peak:.1f"
    yield "Scaling of jaxbp, steps only", columns + " | compile s:.2f", rows

    keys = ("devices", "iters", "samples_per_s", "steps_s", "compile_s")
    title = "Data parallel (jaxbp.train --devices N), forced host devices sharing the cores, "
    columns = "devices | steps | samples/s:.0f | steps-only s:.3f | compile s:.2f"
    yield title + "batch 96", columns, [[r[k] for k in keys] for r in rep.get("devices", [])]

    keys = ("n_params", "steady_s", "first_call_s", "max_abs_diff_vs_backprop", "book_numpy_s")
    columns = "parameters | steady s:.3f | first call s:.3f | max abs diff vs backprop:.1e"
    columns += " | the book's loop s:.2f"
    rows = [[ng.get(k) for k in keys]] if ng else []
    yield "Numerical gradient, float64, all parameters, 3 images", columns, rows

    conv = rep.get("conv", {})
    ms, path = conv.get("ms_per_step", {}), conv.get("cpu_matmul", "-")
    title = f"SimpleConvNet steps, batch 100, Adam, cpu matmul {path} (experiments/bench_conv.py)"
    rows = [(k, v, ms["book-numpy"] / v, v / ms["jax-grad"]) for k, v in ms.items()]
    yield title, "row | ms/step:.2f | book-numpy / row:.1f | row / jax-grad:.3f", rows


def _shown(argv: list) -> list:
    """``argv`` as the report shows it: the PyTorch Python's path (a path of the machine
    that ran it) as ``PY``."""
    shown = []
    for a in argv:
        if shown and shown[-1] == "--torch-python":
            a = "PY"
        elif a.startswith("--torch-python="):
            a = "--torch-python=PY"
        shown.append(a)
    return shown


PREAMBLE = """\
# Benchmarks

Generated by `python experiments/benchmark.py --markdown BENCHMARKS.md ...`, down to the
hand-written notes: one section per CPU, named by its model, its vector instruction sets
(AVX-512 or not; an ISA pinned with `XLA_FLAGS=--xla_cpu_max_isa=...` as well) and the JAX
version. A run replaces its own CPU's section and keeps the others."""


def section_title(machine: dict) -> str:
    """``"AMD EPYC (avx2, fma, no avx512f), jax 0.10.2"``: what a section is keyed by."""
    return f"{machine['cpu']} ({machine['isa']}), jax {machine['jax']}"


def markdown(rep) -> str:
    """This CPU's section of BENCHMARKS.md: the machine and the settings, then every table."""
    m, s = rep["machine"], rep["settings"]
    mflop = flops_per_step(s["batch_size"], s["hidden_size"]) / 1e6
    data = (
        f"jaxbp.mnist.synthetic.synthetic_mnist{tuple(s['synthetic'])}"
        if s["synthetic"]
        else "MNIST"
    )
    head = HEADER.format(r=rep, m=m, s=s, p=rep["peak"], mflop=mflop, data=data)
    skipped = (rep.get("torch", {}).get("skipped"), rep.get("conv", {}).get("torch_skipped"))
    skipped = dict.fromkeys(str(why) for why in skipped if why)  # each reason once
    if skipped:
        head += "\n* PyTorch rows skipped: " + "; ".join(skipped)
    command = "python experiments/benchmark.py " + " ".join(_shown(rep["argv"]))
    parts = [f"## {section_title(m)}", f"Generated by `{command}`.", head]
    parts += [table(t, c, rows) for t, c, rows in tables(rep) if rows]
    return "\n\n".join(parts)


def sections(generated: str) -> dict[str, str]:
    """``{title: text}`` of the ``## `` sections of a generated part, in order."""
    out, title = {}, None
    for line in generated.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            out[title] = []
        if title is not None:
            out[title].append(line)
    return {t: "\n".join(lines).rstrip() for t, lines in out.items()}


def write(path: str, rep) -> None:
    """Write ``path``: its sections for other CPUs as they were with this CPU's (re)placed
    among them, then the hand-written notes it already had."""
    old = Path(path).read_text() if Path(path).exists() else ""
    generated, _, notes = old.partition(MARK)
    kept = sections(generated) if MARK in old else {}
    kept[section_title(rep["machine"])] = markdown(rep)
    text = "\n\n".join([PREAMBLE, *kept.values()])
    Path(path).write_text(text + "\n\n" + MARK + notes.rstrip() + "\n")
