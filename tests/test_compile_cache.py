"""The signed persistent compile cache (jaxbp.train.compile_cache): entries planted,
swapped or corrupted in the cache folder never change a result.

Each case runs fresh Python processes (a persistent cache is read at compile time,
once per process) with their own ``XDG_CACHE_HOME`` under ``tmp_path``.  A process
reports, as JSON on its last stdout line, its results and which cache keys it read
and whether each read was a hit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxbp.train import compile_cache

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, os, sys
import numpy as np
from jaxbp.train import compile_cache
folder = compile_cache.enable()
import jax
import jax.numpy as jnp
from jax._src import compilation_cache as cc
reads = []
_get = cc._cache.get
def _counting_get(key):
    value = _get(key)
    reads.append([key, value is not None])
    return value
cc._cache.get = _counting_get
out = {"folder": folder}
"""

PROGRAMS = """
def prog_a(x):
    return x * 0.5
def prog_b(x):
    return x * 0.1
x = np.arange(4, dtype=np.float32)
out["a"] = np.asarray(jax.jit(prog_a)(x)).tolist()
out["b"] = np.asarray(jax.jit(prog_b)(x)).tolist()
"""

TRAIN = """
from jaxbp.mnist.synthetic import synthetic_mnist
from jaxbp.train import Config, fit
result = fit(Config(iters=30, eval_every=10, lr=float(sys.argv[1])),
             data=synthetic_mnist(600, 100), log=lambda *a: None, progress=False)
np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in result["params"].items()})
"""

EPILOGUE = """
out["reads"] = reads
print(json.dumps(out))
"""


def _run(tmp_path: Path, body: str, *args: str) -> tuple[dict, list[str]]:
    """Run ``PRELUDE + body`` in a fresh process; (its JSON report, its stderr lines)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    code = textwrap.dedent(PRELUDE + body + EPILOGUE)
    p = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr.splitlines()


def _warnings(stderr: list[str]) -> list[str]:
    return [line for line in stderr if "compile cache" in line]


def _key(report: dict, prefix: str) -> str:
    (key,) = {k for k, _ in report["reads"] if k.startswith(prefix)}
    return key


def _hits(report: dict) -> dict[str, bool]:
    return dict(report["reads"])


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, dict]:
    """A cache folder after one run of ``PROGRAMS``, kept aside, and that run's report."""
    base = tmp_path_factory.mktemp("filled")
    report, err = _run(base, PROGRAMS)
    assert _warnings(err) == []
    shutil.copytree(base / "cache", base / "pristine")
    return base, report


@pytest.fixture
def run_dir(filled) -> tuple[Path, dict, compile_cache.SignedCache]:
    """The filled cache restored for this test: (XDG base, first report, the folder's store).

    Restored at the same path: JAX's cache keys depend on the cache folder's path.
    """
    base, report = filled
    shutil.rmtree(base / "cache")
    shutil.copytree(base / "pristine", base / "cache")
    return base, report, compile_cache.SignedCache(base / "cache" / "jaxbp" / "xla")


def test_first_run_misses_and_second_hits(run_dir):
    tmp_path, first, cache = run_dir
    ka, kb = _key(first, "jit_prog_a"), _key(first, "jit_prog_b")
    assert not _hits(first)[ka] and not _hits(first)[kb]  # nothing there yet
    assert (Path(cache.folder) / ".key").stat().st_mode & 0o777 == 0o600
    second, err = _run(tmp_path, PROGRAMS)
    assert second["folder"] == cache.folder
    assert _hits(second)[ka] and _hits(second)[kb]  # read from the cache
    assert second["a"] == first["a"] == [0.0, 0.5, 1.0, 1.5]
    assert second["b"] == first["b"]
    assert _warnings(err) == []


def test_swapped_entries_are_rejected(run_dir):
    tmp_path, first, cache = run_dir
    pa, pb = cache.path(_key(first, "jit_prog_a")), cache.path(_key(first, "jit_prog_b"))
    a_bytes, b_bytes = Path(pa).read_bytes(), Path(pb).read_bytes()
    Path(pa).write_bytes(b_bytes)  # each valid entry under the other's key
    Path(pb).write_bytes(a_bytes)
    second, err = _run(tmp_path, PROGRAMS)
    assert second["b"] == first["b"] != first["a"]  # B's result, never A's
    assert second["a"] == first["a"]
    assert not any(_hits(second).values())  # both were misses, then recompiled
    (line,) = _warnings(err)
    assert cache.folder in line
    third, err3 = _run(tmp_path, PROGRAMS)  # replaced with good entries
    assert all(_hits(third).values()) and _warnings(err3) == []


def test_poisoned_entries_are_recompiled_and_replaced(run_dir):
    tmp_path, first, cache = run_dir
    ka, kb = _key(first, "jit_prog_a"), _key(first, "jit_prog_b")
    pa, pb = Path(cache.path(ka)), Path(cache.path(kb))
    good_a = pa.read_bytes()
    pa.write_bytes(good_a[: len(good_a) // 2])  # truncated
    pb.write_bytes(os.urandom(len(pb.read_bytes())))  # random bytes
    bad = pa.read_bytes(), pb.read_bytes()
    second, err = _run(tmp_path, PROGRAMS)
    assert second["a"] == first["a"] and second["b"] == first["b"]
    assert not _hits(second)[ka] and not _hits(second)[kb]
    assert len(_warnings(err)) == 1  # one line for the run, not one per entry
    assert (pa.read_bytes(), pb.read_bytes()) != bad
    assert cache.get(ka) is not None and cache.get(kb) is not None  # valid entries again
    third, err3 = _run(tmp_path, PROGRAMS)
    assert _hits(third)[ka] and _hits(third)[kb] and _warnings(err3) == []


def test_a_key_file_readable_by_others_is_replaced(run_dir):
    tmp_path, first, cache = run_dir
    key_file = Path(cache.folder) / ".key"
    key_file.chmod(0o644)
    second, err = _run(tmp_path, PROGRAMS)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not any(_hits(second).values())  # entries signed with the old key fail
    assert second["a"] == first["a"] and len(_warnings(err)) == 1


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "unsigned", "magic only"])
def test_signed_cache_rejects_damaged_files(tmp_path, damage):
    cache = compile_cache.SignedCache(tmp_path)
    cache.put("jit_f-1", b"value of f" * 100)
    path = Path(cache.path("jit_f-1"))
    good = path.read_bytes()
    path.write_bytes(
        {
            "random": os.urandom(len(good)),
            "truncated": good[:-1],
            "empty": b"",
            "unsigned": good[len(compile_cache.MAGIC) + 32 :],
            "magic only": compile_cache.MAGIC,
        }[damage]
    )
    assert cache.get("jit_f-1") is None and not path.exists()
    assert cache.rejected == 1
    cache.put("jit_f-1", b"again")
    assert cache.get("jit_f-1") == b"again"


def test_signed_cache_entries_bound_to_key_and_secret(tmp_path):
    one = compile_cache.SignedCache(tmp_path / "one")
    other = compile_cache.SignedCache(tmp_path / "two")
    one.put("jit_a-1", b"A")
    shutil.copy(one.path("jit_a-1"), other.path("jit_a-1"))  # same key, another secret
    assert other.get("jit_a-1") is None
    shutil.copy(one.path("jit_a-1"), one.path("jit_b-2"))  # same secret, another key
    assert one.get("jit_b-2") is None and one.get("jit_a-1") == b"A"
    assert os.path.dirname(one.path("../../etc/x")) == one.folder  # no path from a key


def test_swapped_trainer_chunks_cannot_change_training(tmp_path):
    fast, _ = _run(tmp_path, TRAIN, "0.5", str(tmp_path / "fast.npz"))
    clean, err = _run(tmp_path, TRAIN, "0.1", str(tmp_path / "clean.npz"))
    assert _warnings(err) == []
    cache = compile_cache.SignedCache(fast["folder"])
    only_fast = {k for k, _ in fast["reads"]} - {k for k, _ in clean["reads"]}
    only_clean = {k for k, _ in clean["reads"]} - {k for k, _ in fast["reads"]}
    assert not any(_hits(clean)[k] for k in only_clean)  # lr 0.1's own programs: compiled
    pairs = [
        (f, c) for f in only_fast for c in only_clean if f.rsplit("-", 1)[0] == c.rsplit("-", 1)[0]
    ]
    assert pairs, "lr 0.5 and lr 0.1 compiled the same programs: nothing to swap"
    for f, c in pairs:  # every program that differs: lr 0.5's entry under lr 0.1's key
        Path(cache.path(c)).write_bytes(Path(cache.path(f)).read_bytes())
    again, err = _run(tmp_path, TRAIN, "0.1", str(tmp_path / "again.npz"))
    assert len(_warnings(err)) == 1
    assert not any(_hits(again)[c] for _, c in pairs)
    want, got = np.load(tmp_path / "clean.npz"), np.load(tmp_path / "again.npz")
    lr05 = np.load(tmp_path / "fast.npz")
    assert sorted(want.files) == sorted(got.files)
    assert all(np.array_equal(want[k], got[k]) for k in want.files)
    assert not all(np.array_equal(want[k], lr05[k]) for k in want.files)  # the swap mattered


# ---- the --cpu-matmul auto decision file ---------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        '"eigen"',
        '["eigen"]',
        "null",
        "42",
        '{"another machine": "eigen"}',
        "{MACHINE: 1}",
        '{MACHINE: "../../bin/sh"}',
        '{MACHINE: "auto"}',
        '{MACHINE: {"eigen": true}}',
        "{not json",
        "[" * 100_000,
        b"\xff\xfe\x00garbage",
    ],
)
def test_a_malformed_cpu_matmul_file_is_redecided_and_rewritten(tmp_path, monkeypatch, content):
    from jaxbp.train import xla_options

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "jaxbp" / "cpu-matmul.json"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.replace("MACHINE", json.dumps(xla_options.machine_key())))
    timed = []

    def make(options):
        timed.append(options)
        return lambda: None

    name, options = xla_options.compiler_options("auto", make)
    assert name in xla_options.PATHS and options == xla_options.PATHS[name]
    assert len(timed) == len([p for p in xla_options.PATHS if xla_options.supported(p)])
    saved = json.loads(path.read_text())
    assert saved[xla_options.machine_key()] == name
    assert xla_options.compiler_options("auto", make) == (name, options)  # now decided
    assert len(timed) == len([p for p in xla_options.PATHS if xla_options.supported(p)])
