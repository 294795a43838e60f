"""Devices and hosts: the data-parallel mesh, shardings and ``jax.distributed``.

Data parallel: a 1-D mesh (axis ``"batch"``), each minibatch sharded along it and
everything else (images, labels, parameters, optimizer state) replicated; XLA
partitions the step and inserts the gradient all-reduce.  One device in one process
is exactly the single-device path (no mesh).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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


def make_mesh(devices: str = "1") -> Mesh:
    """A 1-D ``Mesh`` (axis ``"batch"``) over ``devices`` devices (``"all"``: all).

    In a single process these are the local devices; in a multi-process run
    (after :func:`jax.distributed.initialize`) the mesh must span every
    process's devices, so only ``"all"`` (or the global device count) is valid.
    """
    from jax.sharding import Mesh

    pool = jax.local_devices() if jax.process_count() == 1 else jax.devices()
    n = len(pool) if devices == "all" else int(devices)
    if not 1 <= n <= len(pool):
        raise ValueError(
            f"devices={devices!r}: this machine has {len(pool)} {pool[0].platform} device(s)"
        )
    if jax.process_count() > 1 and n != len(pool):
        raise ValueError(
            f"devices={devices!r}: a multi-process run ({jax.process_count()} "
            f"processes) must use all {len(pool)} devices (--devices all)"
        )
    return Mesh(np.array(pool[:n]), ("batch",))


def data_parallel_mesh(devices: str, batch_size: int) -> Mesh | None:
    """The mesh to train on, or ``None`` for the single-device path.

    Raises ``ValueError`` when ``batch_size`` does not divide over the devices.
    """
    if devices == "1":
        return None
    mesh = make_mesh(devices)
    if mesh.size == 1 and jax.process_count() == 1:
        return None
    if batch_size % mesh.size:
        n = mesh.size
        raise ValueError(
            f"batch_size {batch_size} does not divide over {n} "
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
    """``"cpu:cpu x1"``-style name of the default devices."""
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', d.platform)} x{jax.device_count()}"


def _int_env(env, name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise DeviceError(f"${name} must be an integer, got {env[name]!r}") from None


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
    Malformed numbers raise :class:`DeviceError`.
    """
    env = os.environ if env is None else env
    if env.get("JAX_COORDINATOR_ADDRESS"):
        kw = {"coordinator_address": env["JAX_COORDINATOR_ADDRESS"]}
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

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DeviceError(f"$JAX_COORDINATOR_ADDRESS must be host:port, got {address!r}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
            return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise DeviceError(
                    f"the coordinator at {address} did not answer within "
                    f"{timeout_s} s ({e.strerror or e}); is process 0 "
                    f"running?"
                ) from None
            time.sleep(0.5)


def initialize_distributed(timeout_s: int = 300, log: Callable = print) -> bool:
    """Join a multi-process run when :func:`distributed_env` finds one.

    Prints ``waiting for the coordinator at ADDR (process i of n)`` first, and
    gives up after ``timeout_s`` seconds with :class:`DeviceError`.  Must run
    before anything touches the devices.  Returns whether it joined.
    """
    kw = distributed_env()
    if kw is None:
        return False
    where = kw.get("coordinator_address", "the auto-detected coordinator")
    who = (
        f"process {kw['process_id']} of {kw['num_processes']}"
        if "process_id" in kw and "num_processes" in kw
        else "process ? of ?"
    )
    log(f"waiting for the coordinator at {where} ({who}), up to {timeout_s} s")
    if kw.get("process_id") and "coordinator_address" in kw:
        # JAX aborts the whole process (a C++ fatal error) when the coordinator never
        # answers; a plain TCP probe first turns that into a clean error.
        _wait_for_port(kw["coordinator_address"], timeout_s)
    try:
        jax.distributed.initialize(**kw, initialization_timeout=int(timeout_s))
    except TypeError:  # older JAX without initialization_timeout
        jax.distributed.initialize(**kw)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DeviceError(
            f"could not join the multi-process run at {where} within {timeout_s} s: {first}"
        ) from None
    return True
