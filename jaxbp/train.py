"""Training the TwoLayerNet on MNIST (book section 5.7.4), jitted end to end.

The book's loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # with replacement
        grad = network.gradient(x_batch, t_batch)                # backprop (5.7.2)
        params[key] -= learning_rate * grad[key]                 # SGD
        if i % iter_per_epoch == 0: print train/test accuracy

Here the same loop runs as compiled programs: the uint8 images stay resident
on the device, each step samples its minibatch with ``jax.random`` (with
replacement, as ``np.random.choice``), normalises it (``x / 255``), takes
``jax.grad`` of :func:`jaxbp.two_layer_net.loss` (which runs our hand-written
``custom_vjp`` rules) and applies ``optax.sgd``.  All the steps between two
evaluations are one ``lax.fori_loop``: the host does no per-step work.  The
accuracies are taken at steps 0, 600, ..., 9600 (``i % iter_per_epoch == 0``,
before that step's update, as the book) and once more after the last step.

Command line: ``python -m jaxbp.train --help`` (also the ``jaxbp-train``
script).  Library: :func:`fit` with a :class:`Config`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import signal
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbp import two_layer_net as net

__all__ = ["Config", "fit", "load_data", "save_checkpoint", "load_checkpoint",
           "evaluate", "main"]

_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters; the defaults are the book's (5.7.4)."""
    dataset: str = "mnist"
    iters: int = 10000
    batch_size: int = 100
    lr: float = 0.1
    hidden_size: int = 50
    weight_init_std: float = 0.01
    seed: int = 0
    eval_every: int = 0          # 0: iter_per_epoch = max(train_size // batch_size, 1)
    evaluate: bool = True        # False: steps only (benchmarks)
    dtype: str = "float32"       # compute dtype of the matmuls: float32 | bfloat16
    devices: str = "1"           # "1", an integer, or "all": data parallel over a mesh

    def validate(self):
        for name in ("iters", "batch_size", "hidden_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not (self.weight_init_std > 0 and math.isfinite(self.weight_init_std)):
            raise ValueError(f"weight_init_std must be positive, got {self.weight_init_std!r}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if self.devices != "all" and not str(self.devices).isdigit():
            raise ValueError(f"devices must be a positive integer or 'all', got {self.devices!r}")
        return self


# ---- data ---------------------------------------------------------------------
def load_data(dataset="mnist", data_dir=None, progress=True):
    """uint8 images ``(N, 784)`` and int32 labels ``(N,)``, validated once.

    Labels are range-checked here, on the host, because inside the jitted
    steps they are tracers and cannot be (see :func:`jaxbp.layers.softmax_with_loss`).
    """
    from jaxbp import mnist
    raw = mnist.load_raw(dataset=dataset, data_dir=data_dir, progress=progress)
    return prepare_data(raw)


def prepare_data(raw):
    """Flatten and check a dict ``x_train, t_train, x_test, t_test``."""
    out = {}
    for split in ("train", "test"):
        x, t = np.asarray(raw[f"x_{split}"]), np.asarray(raw[f"t_{split}"])
        if x.dtype != np.uint8:
            raise TypeError(f"x_{split} must be uint8 pixels 0..255, got {x.dtype}")
        x = x.reshape(x.shape[0], -1)
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t_{split} must have shape ({x.shape[0]},), got {t.shape}")
        if not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > 9:
            raise ValueError(f"t_{split} must be integer labels in [0, 9], got "
                             f"{t.dtype} in [{t.min()}, {t.max()}]")
        out[f"x_{split}"], out[f"t_{split}"] = x, t.astype(np.int32)
    return out


# ---- devices --------------------------------------------------------------------
def make_mesh(devices="1"):
    """A 1-D ``Mesh`` (axis ``"batch"``) over ``devices`` devices (``"all"``: all).

    In a single process these are the local devices; in a multi-process run
    (after :func:`jax.distributed.initialize`) the mesh must span every
    process's devices, so only ``"all"`` (or the global device count) is valid.
    """
    from jax.sharding import Mesh
    pool = jax.local_devices() if jax.process_count() == 1 else jax.devices()
    n = len(pool) if devices == "all" else int(devices)
    if not 1 <= n <= len(pool):
        raise ValueError(f"devices={devices!r}: this machine has {len(pool)} "
                         f"{pool[0].platform} device(s)")
    if jax.process_count() > 1 and n != len(pool):
        raise ValueError(f"devices={devices!r}: a multi-process run ({jax.process_count()} "
                         f"processes) must use all {len(pool)} devices (--devices all)")
    return Mesh(np.array(pool[:n]), ("batch",))


def data_parallel_mesh(config):
    """The mesh ``fit`` trains on, or ``None`` for the single-device path.

    One device in one process is exactly the single-device path (no mesh).
    Raises ``ValueError`` when ``config.batch_size`` does not divide over the
    devices.
    """
    if config.devices == "1":
        return None
    mesh = make_mesh(config.devices)
    if mesh.size == 1 and jax.process_count() == 1:
        return None
    if config.batch_size % mesh.size:
        n = mesh.size
        raise ValueError(f"batch_size {config.batch_size} does not divide over {n} "
                         f"devices; use a multiple of {n} (e.g. "
                         f"{-(-config.batch_size // n) * n})")
    return mesh


def _shardings(mesh):
    """``(replicated, batch-sharded)`` ``NamedSharding``s of ``mesh``."""
    from jax.sharding import NamedSharding, PartitionSpec as P
    return NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))


def _replicate(sharding):
    """``put(a)``: a global ``jax.Array`` replicated on ``sharding``'s mesh.

    Every process holds the same host value (each loads the whole dataset), so
    each device's copy is made from the local value; this works in one process
    and across processes alike (``jax.device_put`` of host data to devices of
    other processes is not allowed in every JAX version).
    """
    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])
    return put


# ---- the compiled programs --------------------------------------------------------
def _normalise(x_uint8):
    return x_uint8.astype(jnp.float32) * (1.0 / 255.0)


def make_train_chunk(config, optimizer, batch_sharding=None):
    """``chunk(params, opt_state, key, x, t, step0, n, max_n=...) -> (params, opt_state, losses)``.

    Runs steps ``step0 .. step0 + n - 1`` in one compiled program (``n`` is a
    run-time value, so one program serves every chunk length up to the static
    ``max_n``); ``losses`` ``(max_n,)`` holds each step's minibatch loss
    (before its update) in its first ``n`` entries.

    Measured on a 2-core CPU (median of 9): unrolling the loop body 4 steps
    makes the 10000 steps ~6% faster (2.35 s vs 2.51 s) but compiles 0.1-0.5 s
    longer, more than it saves in the book's run; a ``lax.scan`` with a static
    length would need one program per chunk length (1, 600 and 399 steps).
    """
    compute_dtype = _DTYPES[config.dtype]
    B = config.batch_size
    loss_and_grad = jax.value_and_grad(
        lambda p, xb, tb: net._loss(p, xb, tb, compute_dtype=compute_dtype))

    def chunk(params, opt_state, key, x, t, step0, n, max_n):
        def one_step(i, carry):
            params, opt_state, losses = carry
            k = jax.random.fold_in(key, step0 + i)
            idx = jax.random.randint(k, (B,), 0, x.shape[0])   # with replacement
            xb, tb = _normalise(x[idx]), t[idx]
            if batch_sharding is not None:
                xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
                tb = jax.lax.with_sharding_constraint(tb, batch_sharding)
            loss, grads = loss_and_grad(params, xb, tb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, losses.at[i].set(loss)

        carry = (params, opt_state, jnp.zeros(max_n, jnp.float32))
        return jax.lax.fori_loop(0, n, one_step, carry)

    # No buffer donation: the parameters are 160 KB, and keeping the inputs
    # alive lets an interrupted chunk be dropped cleanly.
    return jax.jit(chunk, static_argnames="max_n")


def chunk_schedule(iters, iter_per_epoch, evaluate=True):
    """``[(n_steps, eval_at), ...]``: the book's loop cut at its evaluations.

    The book evaluates after the update of step ``i`` when
    ``i % iter_per_epoch == 0``; each chunk runs up to such a step and
    ``eval_at`` is that ``i`` (``iters`` for the extra evaluation after the
    last step; ``None``: no evaluation after this chunk).
    """
    out, step = [], 0
    while step < iters:
        if evaluate:
            nxt = -(-step // iter_per_epoch) * iter_per_epoch   # next i with i % ipe == 0
            end = min(nxt + 1, iters)
        else:
            end = min(step + iter_per_epoch, iters)
        at = end - 1 if evaluate and (end - 1) % iter_per_epoch == 0 else None
        out.append((end - step, at))
        step = end
    if evaluate and (iters - 1) % iter_per_epoch:
        out[-1] = (out[-1][0], iters)                          # the book forgets this one
    return out


EVAL_CHUNK = 2000


@partial(jax.jit, static_argnames="chunk")
def _count_correct(params, x, t, chunk=EVAL_CHUNK):
    """Number of correct predictions over a whole split, ``chunk`` rows at a time.

    Chunks of 2000 images (6 MB of float32 pixels) ran 20% faster than 10000
    and 2.5x faster than the whole 60000 at once on a 2-core CPU (cache).
    """
    n = x.shape[0]
    pad = (-n) % chunk
    xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, chunk, x.shape[1])
    ts = jnp.pad(t, (0, pad), constant_values=-1).reshape(-1, chunk)

    def one(xt):
        xc, tc = xt
        return jnp.sum(jnp.argmax(net.predict(params, _normalise(xc)), -1) == tc)

    return jnp.sum(jax.lax.map(one, (xs, ts)))


def evaluate(params, x, t):
    """Accuracy of ``params`` on uint8 images ``x`` ``(N, 784)``, labels ``t``."""
    return float(_count_correct(params, x, t, chunk=min(EVAL_CHUNK, x.shape[0]))) / x.shape[0]


@jax.jit
def _train_test_correct(params, x_train, t_train, x_test, t_test):
    """Both splits' correct counts in one program (one dispatch, one compile)."""
    return jnp.stack([_count_correct(params, x, t, chunk=min(EVAL_CHUNK, x.shape[0]))
                      for x, t in ((x_train, t_train), (x_test, t_test))])


# ---- checkpoints ----------------------------------------------------------------
def save_checkpoint(path, params, config=None, step=None):
    """Write ``params`` (and the config) to an ``.npz`` file atomically."""
    meta = json.dumps({"config": dataclasses.asdict(config) if config else None,
                       "step": step})
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, __meta__=np.array(meta),
             **{k: np.asarray(v) for k, v in params.items()})
    os.replace(tmp, path)


def load_checkpoint(path):
    """``(params, meta)`` from :func:`save_checkpoint`'s file; clear errors."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in net.PARAM_KEYS if k not in f.files]
            if missing:
                raise ValueError(f"checkpoint {path} lacks parameters {missing}")
            params = {k: jnp.asarray(f[k]) for k in net.PARAM_KEYS}
            meta = json.loads(str(f["__meta__"])) if "__meta__" in f.files else {}
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, ValueError) and "lacks parameters" in str(e):
            raise
        raise ValueError(f"checkpoint {path} is not a readable jaxbp .npz file: {e}") from e
    return params, meta


# ---- the loop ---------------------------------------------------------------------
def _device_name():
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', d.platform)} x{jax.device_count()}"


def fit(config=Config(), data=None, progress=True, out_dir=None, data_dir=None,
        log=print):
    """Train the book's network; returns ``{"params": ..., "metrics": ...}``.

    ``data``: a dict from :func:`load_data` (uint8 ``x_*`` ``(N, 784)``, int32
    ``t_*``); loaded from ``config.dataset`` when ``None``.  With ``out_dir``,
    the parameters, ``metrics.json`` and the plot are written there after
    every evaluation, so an interrupted run (Ctrl-C) loses nothing finished.
    """
    config.validate()
    t_start = time.perf_counter()
    data = load_data(config.dataset, data_dir, progress) if data is None else prepare_data(data)
    n_train = data["x_train"].shape[0]
    iter_per_epoch = config.eval_every or max(n_train // config.batch_size, 1)

    # Data parallel: a 1-D mesh, minibatch sharded along "batch", everything
    # else (images, labels, parameters, optimizer state) replicated; XLA
    # partitions the step and inserts the gradient all-reduce.  One device in
    # one process is exactly the single-device path (no mesh).
    mesh = data_parallel_mesh(config)
    replicated = batch_sharding = None
    if mesh is not None:
        replicated, batch_sharding = _shardings(mesh)
    put = _replicate(replicated) if mesh is not None else jnp.asarray
    x_train, t_train = put(data["x_train"]), put(data["t_train"])
    x_test, t_test = put(data["x_test"]), put(data["t_test"])
    scalar = put if mesh is not None else jnp.int32   # step counters as arrays
    if mesh is not None and jax.process_index() != 0:
        out_dir = None                                  # process 0 writes the outputs

    key = jax.random.PRNGKey(config.seed)
    init_key, data_key = jax.random.split(key)
    data_key = put(data_key)
    params = jax.tree_util.tree_map(put, net.init_params(
        init_key, x_train.shape[1], config.hidden_size, 10, config.weight_init_std))
    optimizer = optax.sgd(config.lr)
    opt_state = optimizer.init(params)
    chunk = make_train_chunk(config, optimizer, batch_sharding)
    schedule = chunk_schedule(config.iters, iter_per_epoch, config.evaluate)

    metrics = {"config": dataclasses.asdict(config), "device": _device_name(),
               "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__ if hasattr(jax, "lib") else None,
                            "optax": optax.__version__, "numpy": np.__version__,
                            "python": platform.python_version()},
               "iter_per_epoch": iter_per_epoch, "eval_steps": [], "train_acc": [],
               "test_acc": [], "loss": [], "epoch_wall_s": [], "steps_s": 0.0,
               "eval_s": 0.0, "compile_s": 0.0, "interrupted": False}
    log(f"jaxbp.train: {config.iters} steps of batch {config.batch_size} on "
        f"{metrics['device']} ({'mesh of %d' % mesh.size if mesh else 'single device'}), "
        f"dtype {config.dtype}, seed {config.seed}")

    # Compile ahead of time, so that compile time is reported on its own.
    t0 = time.perf_counter()
    max_n = max(n for n, _ in schedule)
    compiled = chunk.lower(params, opt_state, data_key, x_train, t_train,
                           scalar(np.int32(0)), scalar(np.int32(max_n)), max_n=max_n).compile()
    if config.evaluate:
        accuracies = _train_test_correct.lower(params, x_train, t_train, x_test, t_test).compile()
    metrics["compile_s"] = time.perf_counter() - t0

    def record_eval(step):
        t0 = time.perf_counter()
        correct = np.asarray(accuracies(params, x_train, t_train, x_test, t_test))
        tr, te = float(correct[0] / x_train.shape[0]), float(correct[1] / x_test.shape[0])
        metrics["eval_s"] += time.perf_counter() - t0
        metrics["eval_steps"].append(step)
        metrics["train_acc"].append(tr)
        metrics["test_acc"].append(te)
        elapsed = time.perf_counter() - t_start
        rate = len(metrics["loss"]) / metrics["steps_s"] if metrics["steps_s"] else 0.0
        log(f"train acc, test acc | {tr:.4f}, {te:.4f}   step {step:5d}/{config.iters}"
            f"  {elapsed:6.1f}s  {rate:8.0f} steps/s  [{metrics['device']}]")
        if out_dir:                                     # nothing finished is lost
            write_outputs(out_dir, params, metrics, config, step, with_plot=False)

    step = 0                                   # updates done so far
    try:
        with _sigint_as_keyboard_interrupt():
            for n, eval_at in schedule:
                t0 = time.perf_counter()
                out = compiled(params, opt_state, data_key, x_train, t_train,
                               scalar(np.int32(step)), scalar(np.int32(n)))
                losses = np.asarray(out[2][:n])           # waits for the chunk
                # Only now adopt the chunk's result: a Ctrl-C while it runs leaves
                # params, step and losses consistent (the last finished chunk).
                params, opt_state = out[0], out[1]
                dt = time.perf_counter() - t0
                metrics["steps_s"] += dt
                metrics["epoch_wall_s"].append(dt)
                metrics["loss"].extend(float(v) for v in losses)
                step += n
                if eval_at is not None:
                    record_eval(eval_at)
                elif progress:
                    log(f"step {step:5d}/{config.iters}  {step / metrics['steps_s']:8.0f} steps/s")
    except KeyboardInterrupt:
        metrics["interrupted"] = True
        log(f"interrupted at step {step}: saving what was done")
    metrics["steps_done"] = step
    metrics["total_s"] = time.perf_counter() - t_start
    if not np.all(np.isfinite(metrics["loss"])):
        log("warning: the loss became non-finite (lr too large?)")
    if out_dir:
        write_outputs(out_dir, params, metrics, config, step)
    return {"params": params, "metrics": metrics}


class _sigint_as_keyboard_interrupt:
    """Make sure Ctrl-C raises KeyboardInterrupt even if a handler was replaced."""

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:          # not the main thread
            self._old = None

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# ---- outputs ------------------------------------------------------------------
def write_outputs(out_dir, params, metrics, config, step, with_plot=True):
    """``params.npz``, ``metrics.json`` and (``with_plot``) ``training.png``."""
    os.makedirs(out_dir, exist_ok=True)
    save_checkpoint(os.path.join(out_dir, "params.npz"), params, config, step)
    tmp = os.path.join(out_dir, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "metrics.json"))
    if with_plot:
        plot(metrics, os.path.join(out_dir, "training.png"))


def plot(metrics, path):
    """The book's figure 4-12 style: accuracy per epoch, plus the loss curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.asarray(metrics["eval_steps"]) / metrics["iter_per_epoch"]
    if len(epochs):
        ax1.plot(epochs, metrics["train_acc"], marker="o", label="train acc")
        ax1.plot(epochs, metrics["test_acc"], marker="s", linestyle="--", label="test acc")
        ax1.legend(loc="lower right")
    ax1.set(xlabel="epochs", ylabel="accuracy", ylim=(0, 1.0), title="accuracy")
    loss = np.asarray(metrics["loss"])
    if loss.size:
        ax2.plot(loss, lw=0.3, alpha=0.5, label="minibatch loss")
        w = min(100, loss.size)
        ax2.plot(np.arange(w - 1, loss.size), np.convolve(loss, np.ones(w) / w, "valid"),
                 label=f"mean of {w}")
        ax2.legend(loc="upper right")
    ax2.set(xlabel="iteration", ylabel="loss", title="loss", yscale="log")
    fig.suptitle(f"TwoLayerNet on {metrics['config']['dataset']} ({metrics['device']})")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


# ---- command line -------------------------------------------------------------
def _parser():
    c = Config()
    p = argparse.ArgumentParser(
        prog="python -m jaxbp.train",
        description="Train the book's TwoLayerNet (5.7.4) with hand-written backprop, "
                    "jitted; defaults are the book's settings.")
    p.add_argument("--dataset", default=c.dataset, choices=["mnist", "fashion-mnist"],
                   help="dataset (default %(default)s)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four IDX .gz files (default: $JAXBP_DATA_DIR, "
                        "then the per-user cache, downloading if missing)")
    p.add_argument("--iters", type=int, default=c.iters, help="training steps (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=c.batch_size,
                   help="minibatch size, sampled with replacement (default %(default)s)")
    p.add_argument("--lr", type=float, default=c.lr, help="SGD learning rate (default %(default)s)")
    p.add_argument("--hidden-size", type=int, default=c.hidden_size,
                   help="hidden units (default %(default)s)")
    p.add_argument("--weight-init-std", type=float, default=c.weight_init_std,
                   help="std of the normal initial weights (default %(default)s)")
    p.add_argument("--seed", type=int, default=c.seed, help="random seed (default %(default)s)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="steps between accuracy evaluations (default: one epoch, "
                        "train_size // batch_size)")
    p.add_argument("--dtype", default=c.dtype, choices=sorted(_DTYPES),
                   help="compute dtype of the matmuls; parameters and loss stay float32")
    p.add_argument("--devices", default=c.devices,
                   help="data parallel over this many devices, or 'all': the minibatch is "
                        "sharded over a 1-D mesh, the parameters replicated; batch-size "
                        "must divide by the device count (default 1)")
    p.add_argument("--out-dir", default="runs/latest",
                   help="where metrics.json, training.png and params.npz go "
                        "(default %(default)s; '' writes nothing)")
    p.add_argument("--no-gradient-check", dest="gradient_check", action="store_false",
                   help="skip the float64 three-way gradient check run before training")
    p.add_argument("--evaluate", metavar="CHECKPOINT",
                   help="evaluate a saved params.npz on the train and test sets and exit")
    p.add_argument("--quiet", action="store_true", help="no download progress")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    _maybe_initialize_distributed()
    if args.evaluate:
        params, meta = load_checkpoint(args.evaluate)
        data = load_data(args.dataset, args.data_dir, not args.quiet)
        tr = evaluate(params, data["x_train"], data["t_train"])
        te = evaluate(params, data["x_test"], data["t_test"])
        print(f"{args.evaluate} (step {meta.get('step')}): train acc, test acc | {tr:.4f}, {te:.4f}")
        return 0
    config = Config(dataset=args.dataset, iters=args.iters, batch_size=args.batch_size,
                    lr=args.lr, hidden_size=args.hidden_size,
                    weight_init_std=args.weight_init_std, seed=args.seed,
                    eval_every=args.eval_every, dtype=args.dtype, devices=args.devices)
    try:
        config.validate()
        data_parallel_mesh(config)      # --devices: check the mesh before loading data
    except ValueError as e:
        _parser().error(str(e))
    data = load_data(args.dataset, args.data_dir, not args.quiet)
    if args.gradient_check:
        from jaxbp.gradient import print_gradient_check
        print_gradient_check(data["x_train"][:3], data["t_train"][:3])
    result = fit(config, data=data, out_dir=args.out_dir or None)
    m = result["metrics"]
    print(f"final: train acc {m['train_acc'][-1] if m['train_acc'] else float('nan'):.4f}, "
          f"test acc {m['test_acc'][-1] if m['test_acc'] else float('nan'):.4f}; "
          f"compile {m['compile_s']:.2f}s, steps {m['steps_s']:.2f}s "
          f"({m['steps_done'] / max(m['steps_s'], 1e-9):.0f} steps/s), "
          f"evaluations {m['eval_s']:.2f}s, total {m['total_s']:.2f}s")
    if args.out_dir:
        print(f"wrote {args.out_dir}/metrics.json, training.png, params.npz")
    return 130 if m["interrupted"] else 0


def _distributed_env():
    """Keyword arguments for :func:`jax.distributed.initialize`, or ``None``.

    A multi-process run is recognised by the usual variables:

    * ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0) with
      ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (a manual launch; JAX
      itself reads only the address, so the other two are passed here);
    * SLURM (``SLURM_JOB_ID`` ... with ``SLURM_NTASKS`` > 1) and Open MPI
      (``mpirun``: ``OMPI_COMM_WORLD_SIZE`` > 1), which JAX auto-detects;
    * a Cloud TPU pod slice (``TPU_WORKER_HOSTNAMES`` or
      ``TPU_PROCESS_ADDRESSES`` listing more than one host, or
      ``MEGASCALE_COORDINATOR_ADDRESS``), which JAX auto-detects;
    * ``JAXBP_DISTRIBUTED=1``: call ``jax.distributed.initialize()`` anyway
      (other clusters JAX detects, e.g. a GCE TPU VM pod via its metadata).

    A single process (one SLURM task, a single-host TPU such as Colab's v2-8)
    is left alone.
    """
    env = os.environ
    if env.get("JAX_COORDINATOR_ADDRESS"):
        kw = {"coordinator_address": env["JAX_COORDINATOR_ADDRESS"]}
        if env.get("JAX_NUM_PROCESSES"):
            kw["num_processes"] = int(env["JAX_NUM_PROCESSES"])
        if env.get("JAX_PROCESS_ID"):
            kw["process_id"] = int(env["JAX_PROCESS_ID"])
        return kw
    if env.get("JAXBP_DISTRIBUTED", "") not in ("", "0"):
        return {}
    if "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
        return {}
    if "OMPI_MCA_orte_hnp_uri" in env and int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1:
        return {}
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    if "," in hosts or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return {}
    return None


def _maybe_initialize_distributed():
    """Join a multi-process run when :func:`_distributed_env` finds one.

    Returns whether :func:`jax.distributed.initialize` was called.  Must run
    before anything touches the devices (``main`` calls it first).
    """
    kw = _distributed_env()
    if kw is None:
        return False
    jax.distributed.initialize(**kw)
    return True


if __name__ == "__main__":
    sys.exit(main())
