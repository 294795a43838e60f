"""A run in progress: its compiled programs, its arrays on the device, what it has done.

:func:`start` builds a :class:`Run` (the network, the mesh, the initial or resumed
state, the programs compiled ahead of time); :func:`dispatch_chunk` starts a chunk of
the book's steps (:mod:`jaxbp.train.step`) and :func:`adopt_chunk` waits for it and
adopts it only if every step left the loss, the parameters and the optimizer and
network state finite; :func:`start_eval` and :func:`finish_eval` take the book's
accuracies and save the run; :func:`save` writes it (:mod:`jaxbp.train.saved_run`).
:func:`jaxbp.train.fit` is the loop over these; it starts each evaluation so that it
runs while the next chunk does.
"""

from __future__ import annotations

import dataclasses
import platform
import threading
import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbp.conv import FORWARDS
from jaxbp.train import devices, models, runs, saved_run, xla_options
from jaxbp.train.config import Config, divergence_hint
from jaxbp.train.evaluation import make_evaluation
from jaxbp.train.step import initial_state, make_train_chunk

__all__ = [
    "dispatch_chunk",
    "adopt_chunk",
    "start_eval",
    "finish_eval",
    "Run",
    "Diverged",
    "start",
    "save",
]


class Diverged(RuntimeError):
    """A step made the loss, the parameters or the optimizer state non-finite;
    ``.result`` holds the last entirely finite run (saved when there is an out-dir)."""

    def __init__(self, message: str, result: dict) -> None:
        super().__init__(message)
        self.result = result


@dataclasses.dataclass
class Run:
    """A run in progress (see the module docstring)."""

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
    on_save: Callable[[], None] = lambda: None
    session_steps: int = 0
    session_s: float = 0.0

    @property
    def max_n(self) -> int:
        """The longest chunk: one compiled program serves them all (same bits on resume)."""
        return min(self.ipe, self.model.chunk_steps or self.ipe)

    def chunk_args(self, n: int) -> tuple:
        scalar = self.put(np.int32(self.step)), self.put(np.int32(n))
        x, t = self.arrays[0], self.arrays[1]
        return (self.params, self.state, self.opt_state, self.key, x, t, *scalar)

    def rate(self) -> float:
        """Steps per second of this command's chunks (a resumed run counts from its resume)."""
        return self.session_steps / self.session_s if self.session_s else 0.0

    def rate_text(self) -> str:
        """``"  7790 steps/s"``; blank until a chunk of more than one step has run (the
        first chunk is the book's single step 0, all start-up, no rate to speak of)."""
        return f"{self.rate():8.0f} steps/s" if self.session_steps > 1 else " " * 16

    def result(self) -> dict:
        return {"params": self.params, "state": self.state, "metrics": self.metrics}


def start(
    config: Config,
    data: dict,
    out_dir,
    resume: bool,
    log: Callable,
    on_save: Callable[[], None] = lambda: None,
) -> Run:
    """The run's programs and state: new from ``config.seed``, or resumed from ``out_dir``;
    ``on_save()`` is called after each save to ``out_dir``."""
    t_start = time.perf_counter()
    model, optimizer = models.get(config), models.optimizer(config)
    mesh = devices.data_parallel_mesh(config.devices, config.batch_size)
    replicated, batch_sharding = devices.shardings(mesh) if mesh else (None, None)
    put = devices.replicate(replicated) if mesh else jnp.asarray
    if mesh is not None and jax.process_index() != 0:
        out_dir = None  # process 0 writes the outputs
    if out_dir:
        runs.prepare_out_dir(out_dir)
    with devices.out_of_memory(config.batch_size):
        arrays = tuple(put(data[k]) for k in ("x_train", "t_train", "x_test", "t_test"))
        ipe = config.eval_every or max(data["x_train"].shape[0] // config.batch_size, 1)
        params, state, opt_state, data_key = initial_state(model, optimizer, config.seed)
        step, metrics = 0, _new_metrics(config, ipe, mesh)
        if resume:
            params, state, opt_state, step, metrics = saved_run.resume(
                out_dir, config, model, opt_state
            )
        tree_put = partial(jax.tree_util.tree_map, put)

        def variant(forward: str) -> tuple[models.Model, Callable]:
            """The network with Conv1's forward ``forward``, and its chunk (jitted)."""
            m = models.get(dataclasses.replace(config, conv_forward=forward))
            return m, make_train_chunk(config, optimizer, m, batch_sharding)

        run = Run(
            config,
            model,
            arrays,
            put,
            *map(tree_put, (params, state, opt_state)),
            put(data_key),
            step,
            metrics,
            make_train_chunk(config, optimizer, model, batch_sharding),
            make_evaluation(model),
            out_dir,
            log,
            ipe,
            on_save,
        )
        _compile(run, t_start, variant)
    if out_dir:
        from jaxbp.train.plot import preload

        preload()  # matplotlib's import overlaps the compiled steps
    return run


def _compile(run: Run, t_start: float, variant: Callable) -> None:
    """Compile ahead of time (on CPU with the chosen matmul path and, for a network with
    a convolution, the chosen forward path), timed on its own."""
    t0 = time.perf_counter()
    c = run.config
    lowered = run.chunk.lower(*run.chunk_args(0), max_n=run.max_n)
    path, options = xla_options.compiler_options(c.cpu_matmul, _timing(run, lowered))
    forward, lowered = _conv_forward(run, lowered, options, path, variant)
    run.chunk = lowered.compile(compiler_options=options or None)
    paths = {"cpu_matmul": path}
    if c.evaluate:
        paths["eval_matmul"] = _compile_evaluation(run)
    if forward:
        paths["conv_forward"] = forward
    run.metrics.update(
        compile_s=time.perf_counter() - t0, setup_s=time.perf_counter() - t_start, **paths
    )
    where = f"from step {run.step}" if run.step else "from the start"
    mesh = f"mesh of {run.metrics['mesh']}" if run.metrics["mesh"] else "single device"
    ev = paths.get("eval_matmul", path)
    run.log(
        f"jaxbp.train: {c.model}, {c.iters} steps of batch {c.batch_size}, "
        f"{c.optimizer} lr {c.lr}, on {run.metrics['device']} ({mesh}), dtype "
        f"{c.dtype}, seed {c.seed}, cpu matmul {path}"
        f"{f' (evaluation {ev})' if ev != path else ''}"
        f"{f', conv forward {forward}' if forward else ''}, {where}"
    )


def _compile_evaluation(run: Run) -> str:
    """Compile the evaluation with its own matmul path (``--eval-matmul``; ``auto``, the
    default: timed once per machine and network on 10000 training and 10000 test images,
    since the best path for a 2000-row product need not be the steps' for 100 rows: on a
    2-core AMD EPYC without AVX-512, XLA's default took 0.87x Eigen's time, while Eigen
    is the faster for the steps); returns the path's name."""
    c, args = run.config, (run.params, run.state, *run.arrays)

    def make(options):
        part = [a[:10000] for a in run.arrays]
        compiled = run.correct.lower(run.params, run.state, *part).compile(
            compiler_options=options or None
        )
        return lambda: np.asarray(compiled(run.params, run.state, *part))

    program = f"evaluation {c.model}"
    path, options = xla_options.compiler_options(c.eval_matmul, make, program=program)
    run.correct = run.correct.lower(*args).compile(compiler_options=options or None)
    return path


def _timing(run: Run, lowered, n: int = 300):
    """For ``--cpu-matmul auto``: ``options -> run`` of a few hundred of these steps."""
    n = min(n, run.max_n)

    def make(options):
        compiled = lowered.compile(compiler_options=options or None)
        return lambda: np.asarray(compiled(*run.chunk_args(n))[-1])

    return make


def _conv_forward(run: Run, lowered, options: dict, path: str, variant: Callable):
    """``(forward path, lowered chunk)``: ``None`` for a network without a convolution;
    ``--conv-forward auto`` takes the faster path on this machine, timed once on 30 of
    the run's steps (after the matmul path is chosen) and recorded in the per-user
    cache (``conv-forward.json``), so the machine always runs the same program."""
    c = run.config
    if "conv_forward" not in models.NETWORKS[c.model].options:
        return None, lowered
    built = FORWARDS[0] if c.conv_forward == "auto" else c.conv_forward  # models.get's
    lowered_by = {built: (run.model, lowered)}

    def lower(forward: str) -> tuple:
        if forward not in lowered_by:
            model, chunk = variant(forward)
            lowered_by[forward] = model, chunk.lower(*run.chunk_args(0), max_n=run.max_n)
        return lowered_by[forward]

    forward = c.conv_forward
    if forward == "auto":
        key = xla_options.conv_forward_key(c.model, path)
        make = lambda f: _timing(run, lower(f)[1], n=30)(options)
        forward = xla_options.fastest(xla_options.CONV_FORWARD_FILE, key, FORWARDS, make)
    if forward != built:
        run.model, lowered = lower(forward)
        run.correct = make_evaluation(run.model)
    return forward, lowered


def dispatch_chunk(run: Run, n: int) -> tuple:
    """Start ``n`` steps from the run's state; returns at once (JAX runs it meanwhile).

    A thread of its own notes when the chunk ends, so that its time is the chunk's own
    (dispatch to end), however long the loop meanwhile waits for an evaluation that
    runs beside it (:func:`finish_eval`).
    """
    with devices.out_of_memory(run.config.batch_size):
        t0 = time.perf_counter()
        out = run.chunk(*run.chunk_args(n))
    losses = out[-1]
    ended = _Background(lambda: (losses.block_until_ready(), time.perf_counter())[1])
    return t0, run.metrics["eval_s"], ended, out


def adopt_chunk(run: Run, dispatched: tuple, n: int) -> None:
    """Wait for a dispatched chunk; adopt it only if every step left everything finite.

    A step that made its loss, the parameters, the network state or the optimizer
    state non-finite has NaN in ``losses`` (:func:`jaxbp.train.step.make_train_chunk`);
    the first such step raises :class:`Diverged`, keeping the chunk's start, which the
    previous chunk (or the validated flags, or the checked checkpoint) left finite.
    """
    t0, eval_s, ended, (params, state, opt_state, losses) = dispatched
    with devices.out_of_memory(run.config.batch_size):
        losses = np.asarray(losses[:n])  # waits for the chunk
        dt = ended.result() - t0  # the chunk's own time, dispatch to end
    # The wait for the evaluation running beside the chunk (finish_eval, just after the
    # dispatch) overlapped it: only what outlasted the chunk is the evaluation's own
    # time, so that steps_s + eval_s stays the loop's wall time.
    run.metrics["eval_s"] -= min(run.metrics["eval_s"] - eval_s, dt)
    run.metrics["steps_s"] += dt
    run.session_s += dt
    run.session_steps += n
    finite = np.isfinite(losses)
    run.metrics["loss"].extend(
        float(v) for v in losses[: n if finite.all() else int(np.argmin(finite)) + 1]
    )
    if not finite.all():
        _diverged(run, run.step + int(np.argmin(finite)))
    run.params, run.state, run.opt_state = params, state, opt_state
    run.step += n
    run.metrics["epoch_wall_s"].append(dt)


def _diverged(run: Run, bad_step: int):
    run.metrics["diverged_at"] = bad_step
    del run.metrics["loss"][run.step :]  # keep the saved state's losses
    save(run, final=True)
    n = run.step
    kept = f"the last finite state (after {n} step{'s' * (n != 1)})" if n else "the initial state"
    where = (
        f"{kept[0].upper()}{kept[1:]} is saved in {run.out_dir}"
        if run.out_dir
        else f"Nothing is saved (no --out-dir; {kept} is the exception's .result)"
    )
    raise Diverged(
        f"training became non-finite at step {bad_step} with lr {run.config.lr} (the loss, "
        f"the parameters or the optimizer state); {divergence_hint(run.config)}. {where}",
        run.result(),
    )


class _Background:
    """A call running in a thread of its own; :meth:`result` waits for it.

    XLA's CPU client runs the programs dispatched from one thread one after another;
    from two threads they run at once, each on a core (a batch-100 step leaves the
    second core idle).  A daemon thread, so an exit never waits for it.
    """

    def __init__(self, fn: Callable[[], object]) -> None:
        self._out: dict = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._out["value"] = fn()
        except BaseException as e:  # handed to the thread that waits
            self._out["error"] = e

    def result(self):
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


class _Done:
    """A result already there (an evaluation run in place), with :class:`_Background`'s face."""

    def __init__(self, value) -> None:
        self._value = value

    def result(self):
        return self._value


def start_eval(run: Run, at: int) -> tuple:
    """Start the evaluation of the run's current state (labelled ``at``): in the
    background for networks whose step leaves a core idle (it returns at once, so that
    the next chunk's steps run while it does), else in place, its seconds counted in
    ``eval_s`` here, before the next chunk starts (:func:`finish_eval` counts the wait)."""
    args = (run.params, run.state, *run.arrays)
    count = lambda: np.asarray(run.correct(*args))
    if run.model.eval_in_background:
        return at, _Background(count)
    t0 = time.perf_counter()
    with devices.out_of_memory(run.config.batch_size):
        done = _Done(count())
    run.metrics["eval_s"] += time.perf_counter() - t0
    return at, done


def finish_eval(run: Run, started: tuple, progress: bool = True) -> None:
    """Wait for a started evaluation; record, log and save it.

    The run's state must still be the evaluated one (the next chunk not yet adopted),
    so what is saved beside the accuracies is the state they were measured on.  Each
    evaluation is recorded with its label ``at`` (``eval_steps``: the book's step
    index ``i``, or the run's step count for the evaluation after its last step), the
    steps its state had taken (``eval_steps_done``) and whether it was that last one
    (``eval_final``): a run extended later keeps its final evaluation, and the
    extension's evaluation under the same label is another entry, of another state.
    """
    at, counts = started
    t0 = time.perf_counter()
    with devices.out_of_memory(run.config.batch_size):
        correct = counts.result()
    tr, te = (float(c) / a.shape[0] for c, a in zip(correct, run.arrays[::2]))
    m = run.metrics
    m["eval_s"] += time.perf_counter() - t0
    m["eval_steps"].append(at)
    m["eval_steps_done"].append(run.step)
    m["eval_final"].append(at == run.step)  # the book's label i is after i + 1 steps
    m["train_acc"].append(tr)
    m["test_acc"].append(te)
    if progress:
        run.log(
            f"train acc, test acc | {tr:.4f}, {te:.4f}   step {at:5d}/{run.config.iters}"
            f"  {run.rate_text()}  [{m['device']}]"
        )
    if at >= 3 * run.ipe and tr < 2.0 / 10 and not m.get("warned_chance"):
        m["warned_chance"] = True
        run.log(
            f"warning: train accuracy {tr:.4f} is still at chance after 3 epochs "
            f"with lr {run.config.lr}; the learning rate may be too large or too small"
        )
    save(run, final=False)


def save(run: Run, final: bool) -> None:
    """Write the run to its out-dir (and, when ``final``, the figure)."""
    run.metrics["steps_done"] = run.step
    if run.out_dir:
        saved_run.save(
            run.out_dir,
            run.config,
            run.step,
            run.params,
            run.state,
            run.opt_state,
            run.metrics,
            with_plot=final,
        )
        run.on_save()


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
        "eval_steps_done": [],
        "eval_final": [],
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
