"""The hand-written rules inside ``shard_map``, at its default checks (``check_vma=True``).

``jax.shard_map`` types every value by the mesh axes it varies over.  A replicated
parameter ``W`` is *invariant*; the cotangent ``dW = x^T . dout`` computed from a batch
shard *varies*, and JAX rejected such a backward rule ("Custom VJP bwd rule must
produce an output with the same type as the args tuple").  Now a rule's inputs enter
it marked varying alike (:func:`jaxbp._cotangents.alike`), as JAX marks an invariant
operand, and the transpose of the mark sums the shards (a ``psum``): ``jax.grad`` of a
loss built from jaxbp's layers equals ``jax.grad`` of its plain-jnp twin
(:mod:`jaxbp.reference`) there with no recipe, for every layer of chapters 5-7, with
replicated parameters (``P()``) and a sharded batch (``P("batch")``), on 4 forced CPU
devices.  A rule of one input (relu, sigmoid, max_pooling) could never mismatch: its
cotangent has its output's type, which is its input's; it is checked all the same.
The recipe an earlier README gave (``pcast`` the parameters to varying, then
``pmean``) and ``check_vma=False`` still give the single-device gradient.

Forced host devices must be set before JAX starts, so the checks run in a
subprocess: this file run as a script is the worker and prints one JSON line.
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
def _layer_cases():
    """``{name: (ours, twin, params, x, t)}``: ``loss(params, x, t)`` built from one layer
    (jaxbp's, and the plain-jnp twin), the parameters replicated, ``x`` and ``t`` a batch.

    Each layer gets a replicated input whose cotangent varies over the batch shards."""
    import jax
    import jax.numpy as jnp

    from jaxbp import conv, graph, layers, reference, techniques
    from jaxbp import two_layer_net as net

    ks = iter(jax.random.split(jax.random.PRNGKey(1), 16))
    normal = lambda *shape: jax.random.normal(next(ks), shape)
    x, t = normal(BATCH, 6), jax.random.randint(next(ks), (BATCH,), 0, 4)
    images = normal(BATCH, 2, 6, 6)
    rows = BATCH // N_DEV
    p = normal(rows, 6)  # a replicated (rows, 6) parameter, a shard's shape
    aff = {"W": normal(6, 4), "b": normal(4)}
    key = jax.random.PRNGKey(7)
    dense = lambda mod: lambda q, x, t: mod.affine(x, q["W"], q["b"])

    def with_twin(ours, twin):
        return lambda f: (f(ours), f(twin))

    plain = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b}
    cases = {}
    for name in ("mul", "add"):
        o, w = with_twin(getattr(graph, name), plain[name])(
            lambda op: lambda q, x, t: jnp.sum(jnp.tanh(op(q, x)) * x)
        )
        cases[f"graph.{name}"] = (o, w, p, x, t)
    for name in ("relu", "sigmoid"):
        o, w = with_twin(getattr(layers, name), getattr(reference, name))(
            lambda f: lambda q, x, t: jnp.sum(f(q) * x)
        )
        cases[f"layers.{name}"] = (o, w, p, x, t)
    o, w = with_twin(layers, reference)(lambda m: lambda q, x, t: jnp.sum(dense(m)(q, x, t) ** 2))
    cases["layers.affine"] = (o, w, aff, x, t)
    o, w = with_twin(layers, reference)(
        lambda m: lambda q, x, t: m.softmax_with_loss(q[:, :4], t) * jnp.sum(x)
    )
    cases["layers.softmax_with_loss"] = (o, w, p, x, t)  # replicated logits, sharded labels
    o, w = with_twin(layers, reference)(
        lambda m: lambda q, x, t: m.softmax_with_loss(q[:, :4], jax.nn.softmax(x[:, :4]))
    )
    cases["layers.softmax_with_loss soft labels"] = (o, w, p, x, t)
    o, w = with_twin(techniques, reference)(
        lambda m: (
            lambda q, x, t: jnp.sum(m.batch_norm(x, q["gamma"], q["beta"], None, True)[0] ** 3)
        )
    )
    cases["techniques.batch_norm"] = (o, w, {"gamma": normal(6), "beta": normal(6)}, x, t)
    o, w = with_twin(techniques, reference)(
        lambda m: lambda q, x, t: jnp.sum(m.dropout(q, key, 0.5) * x)
    )
    cases["techniques.dropout"] = (o, w, p, x, t)
    o, w = with_twin(techniques, reference)(
        lambda m: lambda q, x, t: m.weight_decay_loss(q, jnp.mean(x) ** 2)
    )
    cases["techniques.weight_decay_loss"] = (o, w, {"W1": normal(6, 4), "W2": normal(4, 3)}, x, t)
    o, w = with_twin(techniques, reference)(
        lambda m: lambda q, x, t: m.weight_decay_loss(q * x, 0.1)
    )
    cases["techniques.weight_decay_loss sharded weights"] = (o, w, p, x, t)
    o, w = with_twin(conv, reference)(
        lambda m: lambda q, x, t: jnp.sum(jnp.tanh(m.convolution(x, q["W"], q["b"], 1, 1)))
    )
    cases["conv.convolution"] = (o, w, {"W": normal(3, 2, 3, 3), "b": normal(3)}, images, t)
    pooled = normal(rows, 2, 6, 6)
    for name, args in (("2x2/2", (2, 2, 2)), ("3x3/1 padded", (3, 3, 1, 1))):
        o, w = with_twin(conv, reference)(
            lambda m: lambda q, x, t: jnp.sum(m.max_pooling(q * x, *args) ** 2)
        )
        cases[f"conv.max_pooling {name}"] = (o, w, pooled, images, t)
    params = net.init_params(0, 6, 5, 4, weight_init_std=0.5)
    cases["two_layer_net.loss"] = (net.loss, reference.loss, params, x, t)
    return cases


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
    shard_rows = []

    def sharded(body, *args, out_specs=None, **kw):
        in_specs, out_specs = (P(), P("batch"), P("batch")), out_specs or P()
        return jax.jit(shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=out_specs, **kw))(
            *args
        )

    def compare(got, want):
        leaves = lambda a: [np.asarray(v, np.float64) for v in jax.tree_util.tree_leaves(a)]
        scale = max(float(np.abs(v).max()) for v in leaves(want))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(leaves(got), leaves(want)))
        return {"max_abs_diff": diff, "scale": scale}

    out = {"device_count": jax.device_count(), "layers": {}}
    for name, (ours, twin, params, x, t) in _layer_cases().items():

        def grads(loss):
            def body(q, xs, ts):
                shard_rows.append(xs.shape[0])
                return jax.grad(loss, argnums=(0, 1))(q, xs, ts)

            return body

        specs = (P(), P("batch"))  # d params replicated (summed), dx sharded
        try:
            got = sharded(grads(ours), params, x, t, out_specs=specs)
        except Exception as e:  # noqa: BLE001 -- the type and message are reported
            out["layers"][name] = {"error": f"{type(e).__name__}: {str(e)[:600]}"}
            continue
        out["layers"][name] = compare(got, sharded(grads(twin), params, x, t, out_specs=specs))

    # the two-layer net on MNIST's shapes: the defaults, and the recipe of old
    params = net.init_params(0, 784, 50, 10, weight_init_std=0.1)
    kx, kt = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.uniform(kx, (BATCH, 784))
    t = jax.random.randint(kt, (BATCH,), 0, 10)
    want = jax.grad(net.loss)(params, x, t)

    def run(body, **kw):
        got = sharded(body, params, x, t, **kw)
        return {
            "max_abs_diff": max(float(jnp.abs(got[k] - want[k]).max()) for k in want),
            "ratio": float(jnp.vdot(got["W1"], want["W1"]) / jnp.vdot(want["W1"], want["W1"])),
        }

    def recipe(loss, cast=True, reduce=jax.lax.pmean):
        def body(p, xs, ts):
            g = jax.grad(loss)(_to_varying(p, "batch") if cast else p, xs, ts)
            return jax.tree_util.tree_map(lambda a: reduce(a, "batch"), g)

        return body

    out["max_grad"] = float(jnp.abs(want["W1"]).max())
    out["recipe"] = run(recipe(net.loss))
    out["no_check"] = run(recipe(net.loss, cast=False), check_vma=False)
    out["recipe_psum"] = run(recipe(net.loss, reduce=jax.lax.psum))
    mean = lambda loss: (
        lambda p, xs, ts: jax.tree_util.tree_map(lambda g: g / N_DEV, jax.grad(loss)(p, xs, ts))
    )
    try:
        out["default"] = run(mean(net.loss))  # the psum is the rules' own, as JAX's
    except Exception as e:  # noqa: BLE001
        out["default"] = {"error": f"{type(e).__name__}: {str(e)[:600]}"}
    out["reference_default"] = run(mean(reference.loss))
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
            "the typing of the cotangents is specific to JAX with it"
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
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_worker_sees_four_devices_and_sharded_batch(sharded):
    assert sharded["device_count"] == N_DEV
    assert sharded["shard_rows"] == [BATCH // N_DEV]
    assert sharded["max_grad"] > 1e-3  # the 1e-6 comparisons below are not of zeros


LAYERS = [
    "graph.mul",
    "graph.add",
    "layers.relu",
    "layers.sigmoid",
    "layers.affine",
    "layers.softmax_with_loss",
    "layers.softmax_with_loss soft labels",
    "techniques.batch_norm",
    "techniques.dropout",
    "techniques.weight_decay_loss",
    "techniques.weight_decay_loss sharded weights",
    "conv.convolution",
    "conv.max_pooling 2x2/2",
    "conv.max_pooling 3x3/1 padded",
    "two_layer_net.loss",
]


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_passes_the_default_checks_and_equals_the_twin(sharded, layer):
    """The rules' backward gave a replicated parameter a varying cotangent: ValueError
    'Custom VJP bwd rule must produce an output with the same type as the args tuple'."""
    got = sharded["layers"][layer]
    assert "error" not in got, got["error"]
    assert got["scale"] > 1e-3 and got["max_abs_diff"] <= 1e-5 * got["scale"], got


def test_the_default_sums_the_shards_as_jax_does(sharded):
    # The mean over the shards of the (summed) gradient is the full-batch mean gradient:
    # each shard's loss is the mean of its rows, so the psum gives N_DEV times it.
    for case in ("default", "reference_default"):
        assert "error" not in sharded[case], sharded[case]["error"]
        assert sharded[case]["max_abs_diff"] < 1e-6, sharded[case]
        assert abs(sharded[case]["ratio"] - 1) < 1e-5


@pytest.mark.parametrize("case", ["recipe", "no_check"])
def test_the_older_recipe_still_matches_the_single_device_grad(sharded, case):
    assert sharded[case]["max_abs_diff"] < 1e-6, sharded[case]
    assert abs(sharded[case]["ratio"] - 1) < 1e-5


def test_psum_of_mean_loss_gradients_is_n_times_too_large(sharded):
    # the loss is a batch mean, so the shards' gradients are averaged (pmean)
    assert abs(sharded["recipe_psum"]["ratio"] - N_DEV) < 1e-4


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
