"""The hand-written rules inside ``shard_map``: what works, what fails, and the recipe.

``jax.shard_map`` (default ``check_vma=True``) types every value by the mesh
axes it varies over.  A replicated parameter ``W`` is *invariant*; its
cotangent ``dW = x^T . dout`` computed from a batch shard is *varying*, and
JAX rejects a ``custom_vjp`` bwd rule whose output type differs from its
primal input's.  The recipe README documents, checked here on 4 forced CPU
devices against the single-device ``jax.grad`` of ``two_layer_net.loss``:

    def grads(params, x, t):            # in_specs=(P(), P("batch"), P("batch"))
        params = pcast(params, "batch", to="varying")   # lax.pvary on older JAX
        g = jax.grad(two_layer_net.loss)(params, x, t)
        return jax.lax.pmean(g, "batch")  # the loss is a batch mean: pmean

or ``check_vma=False`` with the same ``pmean``.  The failure without the recipe
is asserted too, with the message README quotes, so the documentation fails
with it.  Forced host devices must be set before JAX starts, so the checks
run in a subprocess: this file run as a script is the worker and prints one
JSON line.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_DEV = 4
BATCH = 32  # 8 rows per device
BWD_MESSAGE = "Custom VJP bwd rule must produce an output with the same type"
JVP_MESSAGE = "can't apply forward-mode autodiff (jvp) to a custom_vjp function"


def _shard_map_api():
    """``(shard_map, has_check_vma)``: ``jax.shard_map`` or the older experimental one."""
    import jax

    sm = getattr(jax, "shard_map", None)
    if sm is None:
        from jax.experimental.shard_map import shard_map as sm
    return sm, "check_vma" in inspect.signature(sm).parameters


def _to_varying(tree, axis):
    """Mark replicated values as varying over ``axis`` (``pcast``; ``pvary`` before it)."""
    import jax

    if hasattr(jax.lax, "pcast"):
        cast = lambda a: jax.lax.pcast(a, axis, to="varying")
    else:
        cast = lambda a: jax.lax.pvary(a, axis)
    return jax.tree_util.tree_map(cast, tree)


# ---- the worker (runs with 4 forced CPU devices) --------------------------------
def _worker():
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    from jaxbp import reference
    from jaxbp import two_layer_net as net

    shard_map, _ = _shard_map_api()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    params = net.init_params(0, 784, 50, 10, weight_init_std=0.1)
    kx, kt = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.uniform(kx, (BATCH, 784))
    t = jax.random.randint(kt, (BATCH,), 0, 10)
    want = jax.grad(net.loss)(params, x, t)
    shard_rows = []

    def run(body, **kw):
        f = shard_map(body, mesh=mesh, in_specs=(P(), P("batch"), P("batch")), out_specs=P(), **kw)
        got = jax.jit(f)(params, x, t)
        return {
            "max_abs_diff": max(float(jnp.abs(got[k] - want[k]).max()) for k in want),
            "ratio": float(jnp.vdot(got["W1"], want["W1"]) / jnp.vdot(want["W1"], want["W1"])),
        }

    def recipe(loss, cast=True, reduce=jax.lax.pmean):
        def body(p, xs, ts):
            shard_rows.append(xs.shape[0])
            g = jax.grad(loss)(_to_varying(p, "batch") if cast else p, xs, ts)
            return jax.tree_util.tree_map(lambda a: reduce(a, "batch"), g)

        return body

    out = {"device_count": jax.device_count(), "max_grad": float(jnp.abs(want["W1"]).max())}
    out["recipe"] = run(recipe(net.loss))
    out["no_check"] = run(recipe(net.loss, cast=False), check_vma=False)
    out["recipe_psum"] = run(recipe(net.loss, reduce=jax.lax.psum))
    out["reference_recipe"] = run(recipe(reference.loss))
    # plain jnp without the cast: JAX's own transpose sums the shards' gradients
    out["reference_default"] = run(lambda p, xs, ts: jax.grad(reference.loss)(p, xs, ts))
    try:
        run(recipe(net.loss, cast=False))
        out["default"] = None
    except Exception as e:  # noqa: BLE001 -- the type and message are what is checked
        out["default"] = {"type": type(e).__name__, "message": str(e)}
    out["shard_rows"] = sorted(set(shard_rows))
    print(json.dumps(out), flush=True)


# ---- the tests (run in the main pytest process) ---------------------------------
@pytest.fixture(scope="module")
def sharded():
    _, has_check_vma = _shard_map_api()
    if not has_check_vma:
        import jax

        pytest.skip(
            f"JAX {jax.__version__}'s shard_map has no check_vma (varying-axis types); "
            "the recipe and the failure it fixes are specific to JAX with it"
        )
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={N_DEV}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
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


def test_worker_sees_four_devices_and_sharded_batch(sharded):
    assert sharded["device_count"] == N_DEV
    assert sharded["shard_rows"] == [BATCH // N_DEV]
    assert sharded["max_grad"] > 1e-3  # the 1e-6 comparisons below are not of zeros


@pytest.mark.parametrize("case", ["recipe", "no_check", "reference_recipe"])
def test_recipe_matches_single_device_grad(sharded, case):
    assert sharded[case]["max_abs_diff"] < 1e-6, sharded[case]
    assert abs(sharded[case]["ratio"] - 1) < 1e-5


def test_default_checks_reject_the_rules_as_documented(sharded):
    err = sharded["default"]
    assert err is not None, "shard_map's default checks accepted the rules: update README"
    assert err["type"] == "ValueError"
    assert BWD_MESSAGE in err["message"], err["message"][:500]


def test_psum_of_mean_loss_gradients_is_n_times_too_large(sharded):
    # README: the loss is a batch mean, so the shards' gradients are averaged (pmean)
    assert abs(sharded["recipe_psum"]["ratio"] - N_DEV) < 1e-4


def test_plain_jnp_default_sums_the_shards(sharded):
    # Without custom rules JAX inserts the psum itself: the sum of the shards' mean
    # gradients, N_DEV times the full-batch gradient (README's contrast).
    assert abs(sharded["reference_default"]["ratio"] - N_DEV) < 1e-4


def test_forward_mode_of_reverse_rules_fails_as_documented():
    import jax
    import jax.numpy as jnp

    from jaxbp import layers

    x = jnp.array([-1.0, 2.0])
    with pytest.raises(TypeError, match=r"can't apply forward-mode autodiff \(jvp\)"):
        jax.jvp(layers.relu, (x,), (jnp.ones_like(x),))
    with pytest.raises(TypeError) as info:
        jax.jacfwd(layers.relu)(x)
    assert JVP_MESSAGE in str(info.value)


if __name__ == "__main__":
    _worker()
