"""Where one training step's time goes (evidence for BENCHMARKS.md's limits).

    python experiments/profile_step.py [--iters 2000]

Times, each in its own jitted ``fori_loop`` of ``--iters`` iterations (so
dispatch is amortised as in the trainer), the pieces of one book step at
batch 100 on this machine: the two big matmuls alone (forward ``x @ W1`` and
backward ``x^T @ dout``, 7.84 MFLOP each), the minibatch gather and
normalisation, the whole forward, and the whole step (gather + forward +
backward + SGD) with our rules and with ``jax.grad`` of the plain-jnp loss.
Each piece's GFLOP/s is on its own FLOP count; the matmul peak is a
2048x2048 float32 matmul.
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxbp import reference, two_layer_net as net


def loop_time(body, carry, iters, reps=5):
    f = jax.jit(lambda c: jax.lax.fori_loop(0, iters, body, c))
    jax.block_until_ready(f(carry))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(carry))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=2000)
    a = p.parse_args()
    B, H = 100, 50
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.integers(0, 256, (60000, 784), dtype=np.uint8))
    T = jnp.asarray(rng.integers(0, 10, 60000), jnp.int32)
    params = net.init_params(0, 784, H, 10)
    XF = jnp.asarray(rng.random((60000, 784)), jnp.float32)
    D = jnp.asarray(rng.random((60000, H)), jnp.float32)

    def rows(a, i):          # a different slice each iteration: nothing is hoisted
        return jax.lax.dynamic_slice_in_dim(a, (i * B) % (a.shape[0] - B), B)
    key = jax.random.PRNGKey(0)

    A = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    jax.block_until_ready(mm(A))
    t0 = time.perf_counter()
    for _ in range(5):
        jax.block_until_ready(mm(A))
    peak = 2 * 2048 ** 3 / ((time.perf_counter() - t0) / 5) / 1e9

    def batch(i):
        idx = jax.random.randint(jax.random.fold_in(key, i), (B,), 0, X.shape[0])
        return X[idx].astype(jnp.float32) * (1 / 255), T[idx]

    def step(loss):
        g = jax.grad(loss)

        def body(i, p):
            xb, tb = batch(i)
            return jax.tree_util.tree_map(lambda w, dw: w - 0.1 * dw, p, g(p, xb, tb))
        return body

    pieces = [
        ("x @ W1 (100x784 @ 784x50)", 2 * B * 784 * H,
         lambda i, c: c + jnp.sum(rows(XF, i) @ params["W1"]) * 1e-9, jnp.float32(0)),
        ("x^T @ dout (784x100 @ 100x50)", 2 * B * 784 * H,
         lambda i, c: c + jnp.sum(rows(XF, i).T @ rows(D, i)) * 1e-9, jnp.float32(0)),
        ("gather + normalise 100 images", 0,
         lambda i, c: c + jnp.sum(batch(i)[0]) * 1e-9, jnp.float32(0)),
        ("slice 100 float rows (the matmuls' input)", 0,
         lambda i, c: c + jnp.sum(rows(XF, i)) * 1e-9, jnp.float32(0)),
        ("forward (predict + loss)", 2 * B * (784 * H + H * 10),
         lambda i, c: c + net.loss(params, *batch(i)) * 1e-9, jnp.float32(0)),
        ("step, jaxbp rules", 15.98e6, step(net.loss), params),
        ("step, jax.grad of reference", 15.98e6, step(reference.loss), params),
    ]
    print(f"device {jax.devices()[0]}, matmul peak {peak:.0f} GFLOP/s; "
          f"{a.iters} iterations per loop")
    for name, flop, body, carry in pieces:
        t = loop_time(body, carry, a.iters)
        gf = f"{flop / t / 1e9:7.1f} GFLOP/s {100 * flop / t / 1e9 / peak:5.1f}% peak" if flop else ""
        print(f"  {name:34s} {t * 1e6:8.1f} us  {gf}")


if __name__ == "__main__":
    main()
