"""Training on MNIST (book section 5.7.4): the book's loop, on one page.

The book's loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # with replacement
        grad = network.gradient(x_batch, t_batch)                # backprop (5.7.2)
        params[key] -= learning_rate * grad[key]                 # SGD
        if i % iter_per_epoch == 0: print train/test accuracy

Here the steps between two evaluations run as one compiled program
(:mod:`jaxbp.train.step`), and :func:`fit` is the loop over those chunks
(:func:`chunk_schedule`).  The accuracies are taken at steps 0, 600, ..., 9600
(``i % iter_per_epoch == 0``, after that step's update, as the book) and once more
after the last step.

Between chunks :func:`fit` checks for a stop request (SIGINT/SIGTERM, see
:mod:`jaxbp.train.cli`) and for a non-finite loss; it saves the run after every
evaluation (:mod:`jaxbp.train.run`), so a stopped run loses nothing finished and can
be resumed bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

from jaxbp.train import run_state
from jaxbp.train.config import Config
from jaxbp.train.data import load_data, prepare_data
from jaxbp.train.run import record_eval, save, train_chunk
from jaxbp.train.run import start as start_run

__all__ = ["fit", "chunk_schedule"]


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
    run = start_run(config, data, out_dir, resume, log)
    try:
        _loop(run, should_stop, log, progress)
        save(run, final=True)
    finally:
        if run.out_dir:
            run_state.release_out_dir(run.out_dir)  # a finished run no longer holds its folder
    return run.result()


def _loop(run, should_stop: Callable[[], str | None], log: Callable, progress: bool) -> None:
    """The book's loop: chunks of steps, each followed by its evaluation, until a stop."""
    config = run.config
    try:
        for n, eval_at in chunk_schedule(
            config.iters, run.ipe, config.evaluate, run.step, run.model.chunk_steps
        ):
            stop = should_stop()
            if stop:
                run.metrics.update(interrupted=True, stopped_by=stop)
                log(f"{stop}: stopping after {run.step} steps; saving the run")
                return
            train_chunk(run, n)
            if eval_at is not None:
                record_eval(run, eval_at, progress)
            elif progress:
                log(f"step {run.step:5d}/{config.iters}  {run.rate_text()}")
    except KeyboardInterrupt:  # library use: Ctrl-C in a notebook
        run.metrics.update(interrupted=True, stopped_by="SIGINT")
        log(f"interrupted after {run.step} steps: saving what was done")


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
