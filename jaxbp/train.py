"""Training on MNIST (book section 5.7.4), jitted end to end.

The book's loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # with replacement
        grad = network.gradient(x_batch, t_batch)                # backprop (5.7.2)
        params[key] -= learning_rate * grad[key]                 # SGD
        if i % iter_per_epoch == 0: print train/test accuracy

Here the same loop runs as compiled programs: the uint8 images stay resident on the
device, each step samples its minibatch with ``jax.random`` (with replacement, as
``np.random.choice``), normalises it (``x / 255``), takes ``jax.grad`` of the
network's loss (which runs our hand-written ``custom_vjp`` rules) and applies the
optimizer.  All the steps between two evaluations are one ``lax.fori_loop``.  The
accuracies are taken at steps 0, 600, ..., 9600 (``i % iter_per_epoch == 0``, after
that step's update, as the book) and once more after the last step.

Between chunks :func:`fit` checks for a stop request (SIGINT/SIGTERM, see
:mod:`jaxbp.cli`) and for a non-finite loss; it saves the run after every
evaluation, so a stopped run loses nothing finished and can be resumed bit for bit.

Library: :func:`fit` with a :class:`Config`.  Command line: :mod:`jaxbp.cli`
(``python -m jaxbp.train``, ``jaxbp-train``).
"""

from __future__ import annotations

if __name__ == "__main__":  # the CLI: note SIGINT/SIGTERM from the first moment, even
    from jaxbp.cli import StopSignals  # during the imports below (see jaxbp.cli)

    StopSignals.install()

import dataclasses
import platform
import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbp import devices, models, run_state, saved_run, xla_options
from jaxbp.config import DTYPES, Config
from jaxbp.data import check_images, load_data, normalise, prepare_data
from jaxbp.evaluation import evaluate, make_evaluation

load_params = saved_run.load_params  # the saved run, for --evaluate and users

__all__ = [
    "Config",
    "fit",
    "load_data",
    "prepare_data",
    "evaluate",
    "chunk_schedule",
    "make_train_chunk",
    "initial_state",
    "normalise",
    "Diverged",
    "load_params",
    "check_images",
    "DTYPES",
    "main",
]


def make_train_chunk(
    config: Config,
    optimizer: optax.GradientTransformation,
    model: models.Model,
    batch_sharding: jax.sharding.Sharding | None = None,
) -> Callable[..., tuple]:
    """``chunk(params, state, opt_state, key, x, t, step0, n, max_n)`` -> ``(params,
    state, opt_state, losses)``.

    Runs steps ``step0 .. step0 + n - 1`` in one compiled program (``n`` is a run-time
    value, so one program serves every chunk length up to the static ``max_n``);
    ``losses`` ``(max_n,)`` holds each step's minibatch loss (before its update) in its
    first ``n`` entries.  Step ``i`` draws its minibatch from ``fold_in(key, i)`` (and
    its dropout masks from ``fold_in(fold_in(key, i), 1)``) alone, so chunk boundaries
    do not change a single bit.  The chunk's indices are drawn in one batched call
    before the loop: the same numbers, 0.87x the time of drawing them in each step
    (interleaved, 2-core AMD EPYC).
    """
    B = config.batch_size
    loss_and_grad = jax.value_and_grad(model.train_loss, has_aux=True)

    def chunk(params, state, opt_state, key, x, t, step0, n, max_n):
        def indices(i):  # with replacement
            return jax.random.randint(jax.random.fold_in(key, step0 + i), (B,), 0, x.shape[0])

        idx_all = jax.vmap(indices)(jnp.arange(max_n))  # the same stream, drawn at once

        def one_step(i, carry):
            params, state, opt_state, losses = carry
            idx = idx_all[i]
            model_key = jax.random.fold_in(jax.random.fold_in(key, step0 + i), 1)  # dropout
            xb, tb = normalise(x[idx]), t[idx]
            if batch_sharding is not None:
                xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
                tb = jax.lax.with_sharding_constraint(tb, batch_sharding)
            (loss, state), grads = loss_and_grad(params, state, xb, tb, model_key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return params, state, opt_state, losses.at[i].set(loss)

        carry = (params, state, opt_state, jnp.zeros(max_n, jnp.float32))
        return jax.lax.fori_loop(0, n, one_step, carry)

    return jax.jit(chunk, static_argnames="max_n")


def chunk_schedule(
    iters: int,
    iter_per_epoch: int,
    evaluate: bool = True,
    start: int = 0,
    max_steps: int | None = None,
) -> list[tuple[int, int | None]]:
    """``[(n_steps, eval_at), ...]``: the book's loop from step ``start``, cut at its evaluations.

    The book evaluates after the update of step ``i`` when ``i % iter_per_epoch == 0``;
    each chunk runs up to such a step and ``eval_at`` is that ``i`` (``iters`` for the
    extra evaluation after the last step; ``None``: no evaluation after this chunk).
    ``max_steps`` cuts longer chunks further (a stop request is seen between chunks).

    >>> chunk_schedule(1300, 600)
    [(1, 0), (600, 600), (600, 1200), (99, 1300)]
    >>> chunk_schedule(1300, 600, start=601, max_steps=250)
    [(250, None), (250, None), (100, 1200), (99, 1300)]
    """
    out, step = [], start
    while step < iters:
        if evaluate:
            nxt = -(-step // iter_per_epoch) * iter_per_epoch  # next i with i % ipe == 0
            end = min(nxt + 1, iters)
        else:
            end = min(step + iter_per_epoch, iters)
        at = end - 1 if evaluate and (end - 1) % iter_per_epoch == 0 else None
        out.append((end - step, at))
        step = end
    if out and evaluate and (iters - 1) % iter_per_epoch:
        out[-1] = (out[-1][0], iters)  # the book forgets this one
    return _cut(out, max_steps) if max_steps else out


def _cut(schedule: list, max_steps: int) -> list:
    out = []
    for n, at in schedule:
        while n > max_steps:
            out.append((max_steps, None))
            n -= max_steps
        out.append((n, at))
    return out


# ---- the loop -----------------------------------------------------------------------------
class Diverged(RuntimeError):
    """The loss became non-finite; ``.result`` holds the last finite run (saved)."""

    def __init__(self, message: str, result: dict) -> None:
        super().__init__(message)
        self.result = result


def fit(
    config: Config = Config(),  # noqa: B008 (a frozen dataclass)
    data: dict | None = None,
    out_dir: str | None = None,
    data_dir: str | None = None,
    log: Callable = print,
    progress: bool = True,
    resume: bool = False,
    should_stop: Callable[[], str | None] = lambda: None,
) -> dict:
    """Train; returns ``{"params", "state", "metrics"}``.

    ``data``: a dict from :func:`load_data` (loaded from ``config.dataset`` when
    ``None``).  With ``out_dir`` the run (``params.npz``, ``metrics.json``, and at the
    end ``training.png``) is saved after every evaluation; ``resume=True`` continues
    the run saved there.  ``should_stop()`` is asked between chunks; a non-``None``
    answer (e.g. ``"SIGTERM"``) stops the run after saving it.  A non-finite loss
    raises :class:`Diverged` after saving the last finite state.
    """
    config.validate()
    data = load_data(config.dataset, data_dir, progress) if data is None else prepare_data(data)
    run = _Run.start(config, data, out_dir, resume, log)
    try:
        for n, eval_at in chunk_schedule(
            config.iters, run.ipe, config.evaluate, run.step, run.model.chunk_steps
        ):
            stop = should_stop()
            if stop:
                run.metrics.update(interrupted=True, stopped_by=stop)
                log(f"{stop}: stopping at step {run.step}; saving the run")
                break
            run.train_chunk(n)
            if eval_at is not None:
                run.record_eval(eval_at, progress)
            elif progress:
                log(f"step {run.step:5d}/{config.iters}  {run.rate():8.0f} steps/s")
    except KeyboardInterrupt:  # library use: Ctrl-C in a notebook
        run.metrics.update(interrupted=True, stopped_by="SIGINT")
        log(f"interrupted at step {run.step}: saving what was done")
    run.save(final=True)
    return run.result()


def initial_state(model: models.Model, optimizer, seed: int) -> tuple:
    """``(params, state, opt_state, data_key)`` of a run from its seed.

    The seed's key splits into one key for the weights and one for the minibatches;
    everything after the key is one compiled program (eagerly it is about ten small
    dispatches, each traced and looked up on every start).
    """
    init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))

    def init(key):
        params, state = model.init(key)
        return params, state, optimizer.init(params)

    return (*jax.jit(init)(init_key), data_key)


@dataclasses.dataclass
class _Run:
    """A run in progress: its programs, its device arrays, and what it has done."""

    config: Config
    model: models.Model
    arrays: tuple  # x_train, t_train, x_test, t_test on the device(s)
    put: Callable
    params: dict
    state: dict
    opt_state: object
    key: jax.Array
    step: int
    metrics: dict
    chunk: Callable
    correct: Callable
    out_dir: str | None
    log: Callable
    ipe: int
    session_steps: int = 0
    session_s: float = 0.0

    @classmethod
    def start(cls, config, data, out_dir, resume, log):
        t_start = time.perf_counter()
        model, optimizer = models.get(config), models.optimizer(config)
        mesh = devices.data_parallel_mesh(config.devices, config.batch_size)
        replicated, batch_sharding = devices.shardings(mesh) if mesh else (None, None)
        put = devices.replicate(replicated) if mesh else jnp.asarray
        if mesh is not None and jax.process_index() != 0:
            out_dir = None  # process 0 writes the outputs
        if out_dir:
            run_state.prepare_out_dir(out_dir)
        arrays = tuple(put(data[k]) for k in ("x_train", "t_train", "x_test", "t_test"))
        ipe = config.eval_every or max(data["x_train"].shape[0] // config.batch_size, 1)
        params, state, opt_state, data_key = initial_state(model, optimizer, config.seed)
        step, metrics = 0, _new_metrics(config, ipe, mesh)
        if resume:
            params, state, opt_state, step, metrics = saved_run.resume(
                out_dir, config, model, opt_state
            )
        tree_put = partial(jax.tree_util.tree_map, put)
        run = cls(
            config,
            model,
            arrays,
            put,
            tree_put(params),
            tree_put(state),
            tree_put(opt_state),
            put(data_key),
            step,
            metrics,
            make_train_chunk(config, optimizer, model, batch_sharding),
            make_evaluation(model),
            out_dir,
            log,
            ipe,
        )
        run.compile(t_start)
        if out_dir:
            from jaxbp.plot import preload

            preload()  # matplotlib's import overlaps the compiled steps
        return run

    def compile(self, t_start):
        """Compile ahead of time (on CPU with the chosen matmul path), timed on its own."""
        t0 = time.perf_counter()
        c = self.config
        lowered = self.chunk.lower(*self._chunk_args(0), max_n=self.max_n)
        path, options = xla_options.compiler_options(c.cpu_matmul, self._timing(lowered))
        self.chunk = lowered.compile(compiler_options=options or None)
        if c.evaluate:
            self.correct = self.correct.lower(self.params, self.state, *self.arrays).compile(
                compiler_options=options or None
            )
        self.metrics.update(
            compile_s=time.perf_counter() - t0,
            cpu_matmul=path,
            setup_s=time.perf_counter() - t_start,
        )
        where = f"from step {self.step}" if self.step else "from the start"
        mesh = f"mesh of {self.metrics['mesh']}" if self.metrics["mesh"] else "single device"
        self.log(
            f"jaxbp.train: {c.model}, {c.iters} steps of batch {c.batch_size}, "
            f"{c.optimizer} lr {c.lr}, on {self.metrics['device']} ({mesh}), dtype "
            f"{c.dtype}, seed {c.seed}, cpu matmul {path}, {where}"
        )

    def _timing(self, lowered):
        """For ``--cpu-matmul auto``: ``options -> run`` of a few hundred of these steps."""
        n = min(300, self.max_n)

        def make(options):
            compiled = lowered.compile(compiler_options=options or None)
            return lambda: np.asarray(compiled(*self._chunk_args(n))[-1])

        return make

    @property
    def max_n(self) -> int:
        """The longest chunk: one compiled program serves them all (same bits on resume)."""
        return min(self.ipe, self.model.chunk_steps or self.ipe)

    def _chunk_args(self, n):
        scalar = self.put(np.int32(self.step)), self.put(np.int32(n))
        return (
            self.params,
            self.state,
            self.opt_state,
            self.key,
            self.arrays[0],
            self.arrays[1],
            *scalar,
        )

    def train_chunk(self, n: int) -> None:
        """Run ``n`` steps; adopt the result only if every loss is finite."""
        t0 = time.perf_counter()
        params, state, opt_state, losses = self.chunk(*self._chunk_args(n))
        losses = np.asarray(losses[:n])  # waits for the chunk
        dt = time.perf_counter() - t0
        self.metrics["steps_s"] += dt
        self.session_s += dt
        self.session_steps += n
        finite = np.isfinite(losses)
        self.metrics["loss"].extend(
            float(v) for v in losses[: n if finite.all() else int(np.argmin(finite)) + 1]
        )
        if not finite.all():
            self._diverged(self.step + int(np.argmin(finite)))
        self.params, self.state, self.opt_state = params, state, opt_state
        self.step += n
        self.metrics["epoch_wall_s"].append(dt)

    def _diverged(self, bad_step: int):
        self.metrics["diverged_at"] = bad_step
        del self.metrics["loss"][self.step :]  # keep the saved state's losses
        self.save(final=True)
        raise Diverged(
            f"the loss became non-finite at step {bad_step} with lr "
            f"{self.config.lr}; try a smaller --lr. The last finite state "
            f"(step {self.step}) is saved",
            self.result(),
        )

    def rate(self) -> float:
        """Steps per second of this session's chunks."""
        return self.session_steps / self.session_s if self.session_s else 0.0

    def record_eval(self, at: int, progress: bool = True) -> None:
        t0 = time.perf_counter()
        correct = np.asarray(self.correct(self.params, self.state, *self.arrays))
        tr, te = (float(c) / a.shape[0] for c, a in zip(correct, self.arrays[::2]))
        m = self.metrics
        m["eval_s"] += time.perf_counter() - t0
        m["eval_steps"].append(at)
        m["train_acc"].append(tr)
        m["test_acc"].append(te)
        if progress:
            self.log(
                f"train acc, test acc | {tr:.4f}, {te:.4f}   step {at:5d}/{self.config.iters}"
                f"  {self.rate():8.0f} steps/s  [{m['device']}]"
            )
        if at >= 3 * self.ipe and tr < 2.0 / 10 and not m.get("warned_chance"):
            m["warned_chance"] = True
            self.log(
                f"warning: train accuracy {tr:.4f} is still at chance after 3 epochs "
                f"with lr {self.config.lr}; the learning rate may be too large or too small"
            )
        self.save(final=False)

    def save(self, final: bool) -> None:
        """Write the run to ``out_dir`` (and, when ``final``, the figure)."""
        self.metrics["steps_done"] = self.step
        if self.out_dir:
            saved_run.save(
                self.out_dir,
                self.config,
                self.step,
                self.params,
                self.state,
                self.opt_state,
                self.metrics,
                with_plot=final,
            )

    def result(self) -> dict:
        return {"params": self.params, "state": self.state, "metrics": self.metrics}


def _new_metrics(config: Config, ipe: int, mesh) -> dict:
    return {
        "config": dataclasses.asdict(config),
        "device": devices.device_name(),
        "mesh": mesh.size if mesh is not None else None,
        "versions": {
            "jax": jax.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "iter_per_epoch": ipe,
        "start_step": 0,
        "eval_steps": [],
        "train_acc": [],
        "test_acc": [],
        "loss": [],
        "epoch_wall_s": [],
        "steps_s": 0.0,
        "eval_s": 0.0,
        "compile_s": 0.0,
        "interrupted": False,
        "steps_done": 0,
    }


def main(argv: list[str] | None = None) -> int:
    """The command line (:func:`jaxbp.cli.main`)."""
    from jaxbp.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    from jaxbp.cli import entry

    entry()
