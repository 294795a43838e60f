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

import functools
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
    "CONV_FORWARD_FILE",
    "conv_forward_key",
    "cpu_isa",
    "cpu_model",
    "fastest",
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


def cpu_isa() -> str:
    """The CPU's vector instruction sets as XLA can use them: ``"avx512f"`` (with
    ``", amx"`` where it has AMX), else ``"avx2, no avx512f"`` (or what it has), and
    ``", XLA max ISA X"`` when ``XLA_FLAGS`` pins ``--xla_cpu_max_isa=X``."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            line = next((s for s in f if s.startswith("flags")), "")
        flags = set(line.partition(":")[2].split())
    except OSError:
        pass
    if "avx512f" in flags:
        isa = "avx512f" + (", amx" if "amx_tile" in flags else "")
    elif flags:
        isa = ", ".join([f for f in ("avx2", "fma") if f in flags] + ["no avx512f"])
    else:
        isa = "flags unknown"
    pinned = [a.split("=", 1)[1] for a in os.environ.get("XLA_FLAGS", "").split()
              if a.startswith("--xla_cpu_max_isa=")]  # fmt: skip
    return isa + (f", XLA max ISA {pinned[-1]}" if pinned else "")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``"unknown cpu"``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown cpu"


def machine_key() -> str:
    """CPU model and vector ISA, core count and jaxlib version: what a decision depends on."""
    import jaxlib

    return f"{cpu_model()} ({cpu_isa()}) | {os.cpu_count()} cores | jaxlib {jaxlib.__version__}"


def _cache_file(name: str = "cpu-matmul.json") -> str:
    from jaxbp._files import user_cache_dir

    return str(user_cache_dir(name))


@functools.cache
def supported(name: str) -> bool:
    """Whether this jaxlib accepts path ``name``'s options (asked once per process)."""
    try:
        jax.jit(lambda a: a @ a).lower(jax.numpy.ones((2, 2))).compile(
            compiler_options=PATHS[name] or None
        )
        return True
    except Exception:  # JaxRuntimeError: "No such compile option"
        return False


def measure(programs: dict[str, Callable[[], None]], repeats: int = 3) -> dict:
    """Median seconds of each ``programs[name]()``, run interleaved (A B A B)."""
    times: dict[str, list] = {name: [] for name in programs}
    for _ in range(repeats):
        for name, run in programs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def read_decisions(path: str, choices=PATHS) -> dict[str, str]:
    """The valid decisions in the decision file ``path``: ``{machine key: choice}``.

    Anything malformed (not JSON, not an object, a key or value that is not a
    string, a value not in ``choices``) is left out, never an exception, so the
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
        k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, str) and v in choices
    }


def fastest(
    file: str,
    key: str,
    choices: tuple[str, ...],
    make_program: Callable[[str], Callable[[], None]] | None,
) -> str | None:
    """The choice recorded for ``key`` in the per-user decision file ``file``, else the
    fastest of ``choices`` by ``make_program(choice)()`` timed interleaved, recorded
    there (``None`` when nothing is recorded and ``make_program`` is ``None``).  So one
    machine always runs the same program; a read-only home decides again next time."""
    path = _cache_file(file)
    known = read_decisions(path, choices)
    if key in known or make_program is None:
        return known.get(key)
    timings = measure({name: make_program(name) for name in choices})
    choice = min(timings, key=timings.get)
    known[key] = choice
    try:
        from jaxbp._files import write_json

        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, known)
    except OSError:
        pass  # a read-only home: decide again next time
    return choice


CONV_FORWARD_FILE = "conv-forward.json"


def conv_forward_key(model: str, path: str) -> str:
    """The key of ``--conv-forward auto``'s decision for network ``model`` compiled with
    matmul path ``path`` on this machine (and its first device's kind)."""
    return f"{machine_key()} | {jax.devices()[0].device_kind} | {model} | cpu matmul {path}"


def _decide(make_program, program: str) -> str:
    names = tuple(name for name in PATHS if supported(name))
    run = None if make_program is None else (lambda name: make_program(PATHS[name]))
    key = machine_key() + (f" | {program}" if program != "steps" else "")
    return fastest("cpu-matmul.json", key, names, run) or "xla-default"


def compiler_options(
    choice: str = DEFAULT,
    make_program: Callable[[dict], Callable[[], None]] | None = None,
    program: str = "steps",
) -> tuple[str, dict]:
    """``(path name, compiler options)`` for ``choice`` on the default backend.

    ``make_program(options) -> run`` builds the program to time for ``"auto"``
    (the trainer passes a few hundred of its own steps, or its evaluation); without
    it, ``"auto"`` uses a decision already cached for this machine, else XLA's
    defaults.  ``program`` names what is decided: ``"steps"`` (the training steps),
    or another compiled program (``"evaluation two_layer_net"``), each decided apart.
    """
    if choice not in CHOICES:
        raise ValueError(f"cpu_matmul must be one of {list(CHOICES)}, got {choice!r}")
    if jax.default_backend() != "cpu":
        return "xla-default", {}
    name = _decide(make_program, program) if choice == "auto" else choice
    if not supported(name):
        name = "xla-default"
    return name, dict(PATHS[name])
