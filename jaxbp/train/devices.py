"""Devices and hosts: the data-parallel mesh, shardings and ``jax.distributed``.

Data parallel: a 1-D mesh (axis ``"batch"``), each minibatch sharded along it and
everything else (images, labels, parameters, optimizer state) replicated; XLA
partitions the step and inserts the gradient all-reduce.  One device in one process
is exactly the single-device path (no mesh).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import jax
import numpy as np
from jax.typing import ArrayLike

if TYPE_CHECKING:  # jax.sharding is imported where it is used
    from jax.sharding import Mesh, NamedSharding

__all__ = [
    "DeviceError",
    "make_mesh",
    "data_parallel_mesh",
    "shardings",
    "replicate",
    "device_name",
    "check_backend",
    "check_address",
    "distributed_env",
    "initialize_distributed",
]


class DeviceError(RuntimeError):
    """No such platform, too few devices, or a broken multi-process setup."""


def check_backend() -> None:
    """Start JAX's backend now, turning a missing platform into :class:`DeviceError`.

    E.g. ``JAX_PLATFORMS=cuda`` on a machine without a GPU.
    """
    try:
        jax.devices()
    except Exception as e:  # RuntimeError, or an AssertionError inside some versions
        want = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or "default"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DeviceError(f"no usable JAX platform ({want!r}): {first}") from None


def make_mesh(devices: str = "1", name: Callable[[str], str] = str) -> Mesh:
    """A 1-D ``Mesh`` (axis ``"batch"``) over ``devices`` devices (``"all"``: all).

    ``name(field)`` names the setting in messages (the command line: its flag).

    In a single process these are the local devices; in a multi-process run
    (after :func:`jax.distributed.initialize`) the mesh must span every
    process's devices, so only ``"all"`` (or the global device count) is valid.
    """
    from jax.sharding import Mesh

    pool = jax.local_devices() if jax.process_count() == 1 else jax.devices()
    n = len(pool) if devices == "all" else int(devices)
    if not 1 <= n <= len(pool):
        raise ValueError(
            f"{name('devices')} {devices}: this machine has {len(pool)} "
            f"{pool[0].platform} device(s)"
        )
    if jax.process_count() > 1 and n != len(pool):
        raise ValueError(
            f"{name('devices')} {devices}: a multi-process run ({jax.process_count()} "
            f"processes) must use all {len(pool)} devices (--devices all)"
        )
    return Mesh(np.array(pool[:n]), ("batch",))


def data_parallel_mesh(
    devices: str, batch_size: int, name: Callable[[str], str] = str
) -> Mesh | None:
    """The mesh to train on, or ``None`` for the single-device path.

    Raises ``ValueError`` when ``batch_size`` does not divide over the devices
    (``name``: as :func:`make_mesh`).
    """
    if devices == "1":
        return None
    mesh = make_mesh(devices, name)
    if mesh.size == 1 and jax.process_count() == 1:
        return None
    if batch_size % mesh.size:
        n = mesh.size
        raise ValueError(
            f"{name('batch_size')} {batch_size} does not divide over {n} "
            f"devices; use a multiple of {n} (e.g. {-(-batch_size // n) * n})"
        )
    return mesh


def shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding]:
    """``(replicated, batch-sharded)`` ``NamedSharding``s of ``mesh``."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    return NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))


def replicate(sharding: NamedSharding) -> Callable[[ArrayLike], jax.Array]:
    """``put(a)``: a global ``jax.Array`` replicated on ``sharding``'s mesh.

    Every process holds the same host value (each loads the whole dataset), so
    each device's copy is made from the local value; this works in one process
    and across processes alike.
    """

    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    return put


def device_name() -> str:
    """The default devices as a person names them: ``"CPU x1"``, ``"NVIDIA H200 x1"``."""
    d = jax.devices()[0]
    kind = str(getattr(d, "device_kind", "") or d.platform)
    return f"{d.platform.upper() if kind.lower() == d.platform else kind} x{jax.device_count()}"


def _int_env(env, name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise DeviceError(f"${name} must be an integer, got {env[name]!r}") from None


def check_address(address: str, name: str = "$JAX_COORDINATOR_ADDRESS") -> tuple[str, int]:
    """``(host, port)`` of a ``host:port`` address, or :class:`DeviceError` (one line).

    The host is a name, an IPv4 address or a bracketed IPv6 address
    (``[::1]:1234``); the port an integer 1..65535.  Checked before JAX sees the
    address (JAX fails on a malformed one with an ``IndexError`` or an abort).

    >>> check_address("127.0.0.1:1234"), check_address("[::1]:80")
    (('127.0.0.1', 1234), ('::1', 80))
    >>> check_address("garbage")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    jaxbp.train.devices.DeviceError: ... must be host:port with a port 1..65535, got 'garbage'
    """
    host, sep, port = address.strip().rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    ok = (
        sep
        and bare
        and port.isascii()
        and port.isdigit()
        and 1 <= int(port) <= 65535
        and not any(c.isspace() or c in "/@[]" for c in bare)
        and (":" not in bare or host.startswith("["))
    )
    if not ok:
        raise DeviceError(f"{name} must be host:port with a port 1..65535, got {address!r}")
    return bare, int(port)


def distributed_env(env: Mapping[str, str] | None = None) -> dict | None:
    """Keyword arguments for :func:`jax.distributed.initialize`, or ``None``.

    A multi-process run is recognised by the usual variables:

    * ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0) with
      ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (a manual launch);
    * SLURM (``SLURM_JOB_ID`` with ``SLURM_NTASKS`` > 1) and Open MPI
      (``OMPI_COMM_WORLD_SIZE`` > 1), which JAX auto-detects;
    * a Cloud TPU pod slice (``TPU_WORKER_HOSTNAMES`` or ``TPU_PROCESS_ADDRESSES``
      listing more than one host, or ``MEGASCALE_COORDINATOR_ADDRESS``);
    * ``JAXBP_DISTRIBUTED=1``: call ``jax.distributed.initialize()`` anyway.

    A single process (one SLURM task, a single-host TPU) is left alone.
    A malformed address (:func:`check_address`) or number raises :class:`DeviceError`.

    >>> distributed_env({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
    ...                  "JAX_PROCESS_ID": "1"})
    {'coordinator_address': '10.0.0.1:1234', 'num_processes': 2, 'process_id': 1}
    """
    env = os.environ if env is None else env
    if env.get("JAX_COORDINATOR_ADDRESS"):
        check_address(env["JAX_COORDINATOR_ADDRESS"])
        kw = {"coordinator_address": env["JAX_COORDINATOR_ADDRESS"].strip()}
        if env.get("JAX_NUM_PROCESSES"):
            kw["num_processes"] = _int_env(env, "JAX_NUM_PROCESSES")
        if env.get("JAX_PROCESS_ID"):
            kw["process_id"] = _int_env(env, "JAX_PROCESS_ID")
        return kw
    if env.get("JAXBP_DISTRIBUTED", "") not in ("", "0"):
        return {}
    if "SLURM_JOB_ID" in env and env.get("SLURM_NTASKS") and _int_env(env, "SLURM_NTASKS") > 1:
        return {}
    if (
        "OMPI_MCA_orte_hnp_uri" in env
        and env.get("OMPI_COMM_WORLD_SIZE")
        and _int_env(env, "OMPI_COMM_WORLD_SIZE") > 1
    ):
        return {}
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    if "," in hosts or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return {}
    return None


def _wait_for_port(address: str, timeout_s: float) -> None:
    import socket
    import time

    host, port = check_address(address)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise DeviceError(
                    f"the coordinator at {address} did not answer within "
                    f"{timeout_s} s ({e.strerror or e}); is process 0 "
                    f"running?"
                ) from None
            time.sleep(0.5)


EXIT_DEVICE = 7  # the command line's exit code for a broken multi-process setup
_GRACE_S = 30  # JAX's own timeout is this much later, so the watchdog always fires first


def _watchdog(timeout_s: float, message: str, on_abort: Callable[[], None]):
    """A started daemon timer that, after ``timeout_s``, calls ``on_abort()`` (the
    command's clean-up: a run folder it made goes), prints one line and exits 7.

    JAX's C++ runtime aborts the process (SIGABRT, a stack dump) when the other
    processes do not arrive in time; this ends it first, cleanly.  ``.cancel()``
    it once joined.
    """
    import threading

    def fire():
        line = f"jaxbp.train: error: {message}\n".encode(errors="replace")
        try:
            on_abort()
        finally:
            try:
                os.write(2, line)
            finally:
                os._exit(EXIT_DEVICE)

    timer = threading.Timer(max(timeout_s, 0.1), fire)
    timer.daemon = True
    timer.start()
    return timer


def _join(
    kw: dict, timeout_s: float, where: str, who: str, given_s: float, on_abort: Callable
) -> None:
    """``jax.distributed.initialize(**kw)`` under a watchdog of ``timeout_s`` seconds (what
    is left of the ``--distributed-timeout`` the user gave, ``given_s``)."""
    late = (
        f"the multi-process run at {where} did not start within {given_s:g} s "
        f"(--distributed-timeout; {who}): not every process arrived"
    )
    timer = _watchdog(timeout_s, late, on_abort)
    try:
        try:
            jax.distributed.initialize(**kw, initialization_timeout=int(timeout_s) + _GRACE_S)
        except TypeError:  # older JAX without initialization_timeout
            jax.distributed.initialize(**kw)
    except Exception as e:  # RuntimeError, ValueError, or an IndexError inside some versions
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DeviceError(
            f"could not join the multi-process run at {where} within {given_s:g} s: {first}"
        ) from None
    finally:
        timer.cancel()


def initialize_distributed(
    timeout_s: int = 300, log: Callable = print, on_abort: Callable[[], None] = lambda: None
) -> bool:
    """Join a multi-process run when :func:`distributed_env` finds one.

    Prints ``waiting for the coordinator at ADDR (process i of n)`` first.  A
    malformed address is :class:`DeviceError` before JAX is called; a coordinator
    that never answers is :class:`DeviceError` after ``timeout_s`` seconds; peers
    that never arrive end the process after ``timeout_s`` seconds, after
    ``on_abort()``, with one line ``jaxbp.train: error: ...`` on stderr and exit code 7
    (JAX would abort it).
    Must run before anything touches the devices.  Returns whether it joined.

    >>> initialize_distributed(log=print)  # no multi-process variables set: nothing to do
    False
    """
    import time

    kw = distributed_env()
    if kw is None:
        return False
    start = time.monotonic()
    where = kw.get("coordinator_address", "the auto-detected coordinator")
    who = (
        f"process {kw['process_id']} of {kw['num_processes']}"
        if "process_id" in kw and "num_processes" in kw
        else "process ? of ?"
    )
    log(f"waiting for the coordinator at {where} ({who}), up to {timeout_s} s")
    if kw.get("process_id") and "coordinator_address" in kw:
        # A plain TCP probe first: a coordinator that never answers is a clean error.
        _wait_for_port(kw["coordinator_address"], timeout_s)
    _join(kw, timeout_s - (time.monotonic() - start), where, who, timeout_s, on_abort)
    return True


@contextlib.contextmanager
def out_of_memory(batch_size: int) -> Iterator[None]:
    """Turn XLA's ``RESOURCE_EXHAUSTED`` into one :class:`DeviceError` line naming
    ``--batch-size`` (the CLI's exit 7, 'device')."""
    try:
        yield
    except jax.errors.JaxRuntimeError as e:
        text = str(e)
        if "RESOURCE_EXHAUSTED" not in text:
            raise
        detail = text.split("RESOURCE_EXHAUSTED:", 1)[-1].strip().splitlines()[0][:200]
        raise DeviceError(
            f"out of memory on {device_name()} with --batch-size {batch_size} "
            f"({detail}); try a smaller --batch-size"
        ) from None
