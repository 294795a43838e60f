"""Data-parallel training over a device mesh (``Config(devices=...)``).

Forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``)
must be set before JAX initialises, and the other test files must keep seeing
one device, so the 8-device checks run in a subprocess: this file run as a
script (``python tests/test_sharding.py``) is the worker, and prints one JSON
line that the tests below read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_DEV = 8
BATCH = 96  # divisible by 8 (the book's 100 is not)
ITERS = 200


def _data(n_train=2000, n_test=500, seed=0):
    from jaxbp.mnist.synthetic import synthetic_mnist

    return synthetic_mnist(n_train, n_test, seed)


# ---- the worker (runs with 8 forced CPU devices) --------------------------------
def _worker():
    import re

    import jax
    import jax.numpy as jnp
    import optax

    from jaxbp import layers, train
    from jaxbp import two_layer_net as net
    from jaxbp.train import devices, models

    assert jax.device_count() == N_DEV, jax.devices()
    data = _data()
    out = {"device_count": jax.device_count()}
    quiet = dict(progress=False, log=lambda *a: None)

    def fit(devices, iters=ITERS, dtype="float32"):
        cfg = train.Config(
            iters=iters, batch_size=BATCH, devices=devices, dtype=dtype, eval_every=100
        )
        r = train.fit(cfg, data=data, **quiet)
        return (
            {k: np.asarray(v) for k, v in r["params"].items()},
            r["metrics"],
            r["params"]["W1"].sharding,
        )

    # 1. same parameters, 1 device vs 8 devices ("8" and "all")
    p1, m1, s1 = fit("1")
    p8, m8, s8 = fit("8")
    out["single_sharding"] = type(s1).__name__
    out["mesh_sharding"] = {"mesh": dict(s8.mesh.shape), "replicated": s8.is_fully_replicated}
    out["max_abs_diff"] = {k: float(np.abs(p1[k] - p8[k]).max()) for k in p1}
    out["mesh_all"] = devices.make_mesh("all").shape["batch"]
    out["max_param"] = max(float(np.abs(v).max()) for v in p1.values())
    out["loss_max_abs_diff"] = float(np.abs(np.subtract(m1["loss"], m8["loss"])).max())
    out["test_acc"] = [m1["test_acc"], m8["test_acc"]]
    out["dtypes"] = sorted({str(v.dtype) for v in p8.values()})

    # 2. the compiled 8-device program: all-reduce, per-device minibatch shards
    cfg = train.Config(iters=10, batch_size=BATCH, devices=str(N_DEV))
    mesh = devices.make_mesh(cfg.devices)
    replicated, batch = devices.shardings(mesh)
    put = devices.replicate(replicated)
    opt = optax.sgd(cfg.lr)
    params = jax.tree_util.tree_map(put, net.init_params(jax.random.PRNGKey(0), 784, 50, 10))
    chunk = train.make_train_chunk(cfg, opt, models.get(cfg), batch)
    hlo = (
        chunk.lower(
            params,
            {},
            opt.init(params),
            put(jax.random.PRNGKey(1)),
            put(data["x_train"]),
            put(data["t_train"].astype(np.int32)),
            put(np.int32(0)),
            put(np.int32(10)),
            max_n=10,
        )
        .compile()
        .as_text()
    )
    out["collectives"] = sorted(
        set(
            re.findall(
                r"\b(all-reduce|all-gather|reduce-scatter|collective-permute|all-to-all)\b", hlo
            )
        )
    )
    shard = BATCH // N_DEV
    out["shard_shapes"] = sorted(set(re.findall(rf"f32\[{shard},(?:784|50|10)\]", hlo)))

    # 3. the loss differentiated in the step is built from our custom_vjp rules
    jaxpr = str(
        jax.make_jaxpr(lambda p, x, t: net.loss(p, x, t))(
            params, jnp.zeros((BATCH, 784)), jnp.zeros(BATCH, jnp.int32)
        )
    )
    out["bwd_rules"] = sorted(set(re.findall(r"bwd=(\w+)", jaxpr)))
    out["n_custom_vjp"] = jaxpr.count("custom_vjp_call")

    # 4. observable: an affine rule whose db is zero leaves the biases at
    #    exactly 0 under sharding too (JAX's own derivative would move them)
    good_fwd, good_bwd = layers._affine_fwd, layers._affine_bwd

    def no_db_bwd(res, dout):
        dx, dW, db = good_bwd(res, dout)
        return dx, dW, jnp.zeros_like(db)

    layers._affine.defvjp(good_fwd, no_db_bwd)
    jax.clear_caches()
    try:
        w1, _, _ = fit("1", iters=20)
        w8, _, _ = fit("8", iters=20)
    finally:
        layers._affine.defvjp(good_fwd, good_bwd)
        jax.clear_caches()
    out["patched_bias_absmax"] = max(float(np.abs(w8[k]).max()) for k in ("b1", "b2"))
    w_init = net.init_params(jax.random.split(jax.random.PRNGKey(0))[0], 784, 50, 10)
    out["patched_W_moved"] = float(np.abs(w8["W2"] - np.asarray(w_init["W2"])).max())
    out["patched_max_abs_diff"] = max(float(np.abs(w1[k] - w8[k]).max()) for k in w1)

    # 5. a batch that does not divide over the devices is a clear error
    try:
        train.fit(train.Config(iters=2, batch_size=100, devices="8"), data=data, **quiet)
        out["indivisible_error"] = None
    except ValueError as e:
        out["indivisible_error"] = str(e)

    # 6. mixed precision under sharding: float32 parameters, close to 1 device
    b1, mb1, _ = fit("1", iters=100, dtype="bfloat16")
    b8, mb8, _ = fit("8", iters=100, dtype="bfloat16")
    out["bf16_dtypes"] = sorted({str(v.dtype) for v in b8.values()})
    out["bf16_max_abs_diff"] = max(float(np.abs(b1[k] - b8[k]).max()) for k in b1)
    out["bf16_finite"] = bool(np.all(np.isfinite(mb8["loss"])))
    out["bf16_max_param"] = max(float(np.abs(v).max()) for v in b1.values())
    out["bf16_loss_mean_abs_diff"] = float(np.abs(np.subtract(mb1["loss"], mb8["loss"])).mean())
    print(json.dumps(out), flush=True)


# ---- the tests ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sharded():
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={N_DEV}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    for k in ("JAX_COORDINATOR_ADDRESS", "JAXBP_DISTRIBUTED"):
        env.pop(k, None)
    r = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_eight_devices_match_one_device(sharded):
    assert sharded["device_count"] == N_DEV
    assert sharded["single_sharding"] == "SingleDeviceSharding"  # no mesh for 1 device
    assert sharded["mesh_sharding"] == {"mesh": {"batch": 8}, "replicated": True}
    diff = max(sharded["max_abs_diff"].values())
    print(
        f"8 vs 1 device, {ITERS} steps of batch {BATCH}: max |param diff| = {diff:.3g} "
        f"(params up to {sharded['max_param']:.3g}), loss diff {sharded['loss_max_abs_diff']:.3g}"
    )
    # float32 tolerance: only the order of the batch sums differs
    assert diff <= 1e-6 + 1e-5 * sharded["max_param"], sharded["max_abs_diff"]
    assert sharded["loss_max_abs_diff"] < 1e-5
    assert sharded["mesh_all"] == N_DEV  # "all": every device
    assert sharded["dtypes"] == ["float32"]
    np.testing.assert_allclose(sharded["test_acc"][0], sharded["test_acc"][1], atol=1e-3)
    assert sharded["test_acc"][1][-1] > 0.5  # it did learn


def test_compiled_program_all_reduces_sharded_batch(sharded):
    assert "all-reduce" in sharded["collectives"]  # XLA's gradient all-reduce
    # each device sees BATCH / 8 = 12 rows: images, hidden and logits
    assert sharded["shard_shapes"] == ["f32[12,10]", "f32[12,50]", "f32[12,784]"]


def test_custom_rules_run_under_sharding(sharded):
    assert sharded["n_custom_vjp"] == 4  # affine, relu, affine, softmax_with_loss
    if sharded["bwd_rules"] != ["Wrapped"]:  # older JAX prints no rule names
        assert {"_affine_bwd", "_relu_bwd"} <= set(sharded["bwd_rules"])
        assert "_softmax_with_loss_bwd" in sharded["bwd_rules"]
    # the patched rule (db = 0) is what the sharded program differentiates with
    assert sharded["patched_bias_absmax"] == 0.0
    assert sharded["patched_W_moved"] > 0.0
    assert sharded["patched_max_abs_diff"] < 1e-5


def test_indivisible_batch_is_a_clear_error(sharded):
    msg = sharded["indivisible_error"]
    assert msg and "batch_size 100" in msg and "multiple of 8" in msg


def test_bfloat16_under_sharding(sharded):
    assert sharded["bf16_dtypes"] == ["float32"] and sharded["bf16_finite"]
    # not float32-equal: each device's partial x^T dout is a bfloat16 matmul
    # output, all-reduced, so rounding differs from the one-device matmul
    # (bfloat16 keeps 8 bits); the runs stay close, not identical
    print(
        f"bfloat16 8 vs 1 device, 100 steps: max |param diff| "
        f"{sharded['bf16_max_abs_diff']:.3g} (params up to {sharded['bf16_max_param']:.3g}), "
        f"mean |loss diff| {sharded['bf16_loss_mean_abs_diff']:.3g}"
    )
    assert sharded["bf16_max_abs_diff"] < 0.05 * sharded["bf16_max_param"]
    assert sharded["bf16_loss_mean_abs_diff"] < 1e-2


def test_one_device_is_the_single_device_path():
    import jax

    from jaxbp import train
    from jaxbp.train import devices

    lines = []
    r = train.fit(
        train.Config(iters=5, batch_size=10, devices="all", eval_every=5),
        data=_data(200, 50),
        progress=False,
        log=lines.append,
    )
    if jax.device_count() == 1:
        assert "single device" in lines[0]
        assert type(r["params"]["W1"].sharding).__name__ == "SingleDeviceSharding"
    with pytest.raises(ValueError, match="device"):
        devices.make_mesh(str(jax.local_device_count() + 1))


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, None),
        (
            {
                "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": "1",
            },
            {"coordinator_address": "10.0.0.1:1234", "num_processes": 2, "process_id": 1},
        ),
        ({"JAXBP_DISTRIBUTED": "1"}, {}),
        ({"JAXBP_DISTRIBUTED": "0"}, None),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, {}),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, None),  # one task: stay local
        ({"OMPI_MCA_orte_hnp_uri": "x", "OMPI_COMM_WORLD_SIZE": "2"}, {}),
        ({"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"}, {}),  # a TPU pod slice
        ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),  # one TPU host (Colab)
    ],
)
def test_distributed_env_detection(monkeypatch, env, expected):
    from jaxbp.train import devices

    for k in list(os.environ):
        if k.startswith(
            (
                "JAX_COORDINATOR",
                "JAX_NUM_PROCESSES",
                "JAX_PROCESS_ID",
                "SLURM_",
                "OMPI_",
                "TPU_",
                "MEGASCALE_",
                "JAXBP_DISTRIBUTED",
            )
        ):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert devices.distributed_env() == expected


def test_two_processes_on_localhost():
    """Two processes x 2 CPU devices (gloo over loopback) = one 4-device mesh."""
    import multihost  # experiments/, on pytest's pythonpath

    rep = multihost.run(processes=2, local_devices=2, iters=20, batch_size=96, timeout=120)
    assert [p["process"] for p in rep["processes"]] == [0, 1]
    assert all(
        p["joined"] and p["processes"] == 2 and p["devices"] == 4 and p["local_devices"] == 2
        for p in rep["processes"]
    )
    assert rep["max_abs_diff_between_processes"] == 0.0  # one global program
    assert rep["max_abs_diff_vs_single_process"] < 1e-6  # = 4 devices, 1 process


if __name__ == "__main__":
    _worker()
