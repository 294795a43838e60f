"""A multi-process start that cannot work ends cleanly: exit 7, one line on stderr.

``python -m jaxbp.train`` as process 0 of 2 whose peer never arrives (JAX's C++
runtime would abort it with SIGABRT and a stack dump), and with a malformed
``$JAX_COORDINATOR_ADDRESS`` (JAX would fail with an ``IndexError``).  Loopback
only; every process is killed after a fixed time at the latest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxbp.train import devices

ROOT = Path(__file__).resolve().parents[1]
CMD = [sys.executable, "-m", "jaxbp.train", "--devices", "all", "--iters", "10", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JAX_", "SLURM_", "OMPI_", "TPU_", "MEGASCALE_", "JAXBP_"))
    }
    env.update(
        JAX_PLATFORMS="cpu",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        JAXBP_DATA_DIR=str(tmp_path / "no-data"),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **extra,
    )
    return env


def _run(tmp_path: Path, args: list[str], limit_s: float, **extra: str):
    t0 = time.monotonic()
    p = subprocess.run(  # in tmp_path: a run folder it might make is not the checkout's
        CMD + args,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=limit_s,
        cwd=tmp_path,
    )
    return p, time.monotonic() - t0


def test_peer_never_arrives_is_exit_7_and_one_line(tmp_path):
    port = _free_port()
    p, wall = _run(
        tmp_path,
        ["--distributed-timeout", "5"],
        90,
        JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
        JAX_COORDINATOR_BIND_ADDRESS=f"127.0.0.1:{port}",  # loopback only
        JAX_NUM_PROCESSES="2",
        JAX_PROCESS_ID="0",
    )
    assert p.returncode == 7, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("jaxbp.train: error:") and "5 s" in lines[0]
    assert "Traceback" not in p.stderr + p.stdout and "Abort" not in p.stderr
    assert 5 <= wall < 5 + 60  # not before the timeout, and well before JAX's own
    assert not (tmp_path / "runs").exists()  # a failed start leaves no run folder


@pytest.mark.parametrize("address", ["garbage", "127.0.0.1:65536", "::1:80"])
def test_malformed_coordinator_address_is_exit_7_and_one_line(tmp_path, address):
    p, _ = _run(
        tmp_path,
        ["--distributed-timeout", "5"],
        60,
        JAX_COORDINATOR_ADDRESS=address,
        JAX_NUM_PROCESSES="2",
        JAX_PROCESS_ID="0",
    )
    assert p.returncode == 7, (p.returncode, p.stderr[-2000:])
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("jaxbp.train: error:") and repr(address) in line
    assert "waiting for the coordinator" not in p.stdout  # refused before anything else
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "address,expected",
    [
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("node-7.cluster:65535", ("node-7.cluster", 65535)),
        ("[fe80::1]:8476", ("fe80::1", 8476)),
        (" 10.0.0.1:1234 ", ("10.0.0.1", 1234)),
    ],
)
def test_well_formed_addresses_pass(address, expected):
    assert devices.check_address(address) == expected


BAD = ["garbage", "a:b", "a:-1", "a b:1", "[::1:1", "a:１２", "127.0.0.1:", "h:0", ":1234"]


@pytest.mark.parametrize("address", BAD)
def test_check_address_names_the_variable(address):
    with pytest.raises(devices.DeviceError, match=r"\$JAX_COORDINATOR_ADDRESS must be host:port"):
        devices.check_address(address)
