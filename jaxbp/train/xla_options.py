"""Which XLA CPU matmul path the compiled programs use (``--cpu-matmul``).

XLA's CPU compiler sends some dots to its YNN library fusions by default; for the
book's small matmuls (batch 100 x 784 x 50) plain Eigen dots are faster on the
CPUs measured (BENCHMARKS.md).  The paths:

    xla-default   XLA's own choice (what a plain JAX user gets)
    eigen         ``xla_cpu_experimental_ynn_fusion_type=""``: YNN dot fusions off
                  (the default: 0.62-0.64x the time of XLA's default on a 2-core Intel
                  Xeon with AVX-512, 0.8-0.87x on a 2-core AMD EPYC)
    auto          time both once on this machine (CPU model, core count, jaxlib
                  version), keep the answer in the per-user cache
                  (``cpu-matmul.json``), and use it from then on, so the same
                  machine always runs the same program; a malformed file is
                  ignored, the machine timed again and the file rewritten

GPUs and TPUs always get XLA's defaults.  An option the installed jaxlib does not
know falls back to ``xla-default``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import jax

__all__ = [
    "PATHS",
    "CHOICES",
    "DEFAULT",
    "compiler_options",
    "machine_key",
    "measure",
    "read_decisions",
]

PATHS: dict[str, dict] = {
    "xla-default": {},
    "eigen": {"xla_cpu_experimental_ynn_fusion_type": ""},
}
CHOICES = ("auto", *PATHS)
DEFAULT = "eigen"  # at least as fast on every CPU measured (BENCHMARKS.md)


def machine_key() -> str:
    """CPU model, core count and jaxlib version: what the decision depends on."""
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    import jaxlib

    return f"{model} | {os.cpu_count()} cores | jaxlib {jaxlib.__version__}"


def _cache_file() -> str:
    from jaxbp._files import user_cache_dir

    return str(user_cache_dir("cpu-matmul.json"))


def supported(name: str) -> bool:
    """Whether this jaxlib accepts path ``name``'s options."""
    try:
        jax.jit(lambda a: a @ a).lower(jax.numpy.ones((2, 2))).compile(
            compiler_options=PATHS[name] or None
        )
        return True
    except Exception:  # JaxRuntimeError: "No such compile option"
        return False


def measure(make_program: Callable[[dict], Callable[[], None]], repeats: int = 3) -> dict:
    """Median seconds of ``make_program(options)()`` per path, run interleaved (A B A B)."""
    programs = {name: make_program(opts) for name, opts in PATHS.items() if supported(name)}
    times: dict[str, list] = {name: [] for name in programs}
    for _ in range(repeats):
        for name, run in programs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def read_decisions(path: str) -> dict[str, str]:
    """The valid decisions in the ``auto`` file ``path``: ``{machine key: path name}``.

    Anything malformed (not JSON, not an object, a key or value that is not a
    string, a name not in :data:`PATHS`) is left out, never an exception, so the
    machine is timed again and the file rewritten.

    >>> import json, tempfile
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    >>> _ = f.write(json.dumps({"cpu A": "eigen", "cpu B": "../x", "cpu C": None})); f.close()
    >>> read_decisions(f.name)
    {'cpu A': 'eigen'}
    """
    try:
        with open(path, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON
        return {}
    if not isinstance(known, dict):
        return {}
    return {
        k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, str) and v in PATHS
    }


def _decide(make_program) -> str:
    key, path = machine_key(), _cache_file()
    known = read_decisions(path)
    if key in known:
        return known[key]
    if make_program is None:
        return "xla-default"
    timings = measure(make_program)
    choice = min(timings, key=timings.get)
    known[key] = choice
    try:
        from jaxbp._files import write_json

        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, known)
    except OSError:
        pass  # a read-only home: decide again next time
    return choice


def compiler_options(
    choice: str = DEFAULT, make_program: Callable[[dict], Callable[[], None]] | None = None
) -> tuple[str, dict]:
    """``(path name, compiler options)`` for ``choice`` on the default backend.

    ``make_program(options) -> run`` builds the program to time for ``"auto"``
    (the trainer passes a few hundred of its own steps); without it, ``"auto"``
    uses a decision already cached for this machine, else XLA's defaults.
    """
    if choice not in CHOICES:
        raise ValueError(f"cpu_matmul must be one of {list(CHOICES)}, got {choice!r}")
    if jax.default_backend() != "cpu":
        return "xla-default", {}
    name = _decide(make_program) if choice == "auto" else choice
    if not supported(name):
        name = "xla-default"
    return name, dict(PATHS[name])
