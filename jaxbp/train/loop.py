"""Training on MNIST (book section 5.7.4): the book's loop, on one page.

The book's loop, step by step::

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)   # with replacement
        grad = network.gradient(x_batch, t_batch)                # backprop (5.7.2)
        params[key] -= learning_rate * grad[key]                 # SGD
        if i % iter_per_epoch == 0: print train/test accuracy

Here the steps between two evaluations run as one compiled program
(:mod:`jaxbp.train.step`), and :func:`fit` is the loop over those chunks
(:func:`jaxbp.train.schedule.chunk_schedule`).  The accuracies are taken at steps 0, 600, ..., 9600
(``i % iter_per_epoch == 0``, after that step's update, as the book) and once more
after the last step.

Between chunks :func:`fit` checks for a stop request (SIGINT/SIGTERM, see
:mod:`jaxbp.train.cli`) and for a non-finite loss; it saves the run after every
evaluation (:mod:`jaxbp.train.run`), so a stopped run loses nothing finished and can
be resumed bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

from jaxbp.train import runs
from jaxbp.train.config import Config
from jaxbp.train.data import load_data, prepare_data
from jaxbp.train.run import adopt_chunk, dispatch_chunk, finish_eval, save, start_eval
from jaxbp.train.run import start as start_run
from jaxbp.train.schedule import chunk_schedule

__all__ = ["fit"]


def fit(
    config: Config = Config(),  # noqa: B008 (a frozen dataclass)
    data: dict | None = None,
    out_dir: str | None = None,
    data_dir: str | None = None,
    log: Callable = print,
    progress: bool = True,
    resume: bool = False,
    should_stop: Callable[[], str | None] = lambda: None,
    on_save: Callable[[], None] = lambda: None,
) -> dict:
    """Train; returns ``{"params", "state", "metrics"}``.

    ``data``: a dict from :func:`load_data` (loaded from ``config.dataset`` when
    ``None``).  With ``out_dir`` the run (``params.npz``, ``metrics.json``, and at the
    end ``training.png``) is saved after every evaluation, and ``on_save()`` called
    after each save; ``resume=True`` continues the run saved there.  ``should_stop()``
    is asked between chunks; a non-``None`` answer (e.g. ``"SIGTERM"``) stops the run
    after saving it.  A non-finite loss raises :class:`Diverged` after saving the last
    finite state.
    """
    config.validate()
    data = load_data(config.dataset, data_dir, progress) if data is None else prepare_data(data)
    run = start_run(config, data, out_dir, resume, log, on_save)
    try:
        _loop(run, should_stop, log, progress)
        save(run, final=True)
    finally:
        if run.out_dir:
            runs.release_out_dir(run.out_dir)  # a finished run no longer holds its folder
    return run.result()


def _loop(run, should_stop: Callable[[], str | None], log: Callable, progress: bool) -> None:
    """The book's loop: chunks of steps, each followed by its evaluation, until a stop.

    The evaluation after a chunk runs while the next chunk's steps do, in a thread of
    its own, for networks whose step leaves a core idle (the registry's
    ``eval_in_background``); it is finished, logged and saved before that next chunk
    is adopted, so the lines, the numbers and the saved states are those of the plain
    order: chunk, evaluation, chunk, evaluation.
    """
    config, pending = run.config, []  # the started evaluation, while one is
    try:
        for n, eval_at in chunk_schedule(
            config.iters, run.ipe, config.evaluate, run.step, run.model.chunk_steps
        ):
            dispatched = dispatch_chunk(run, n)
            _finish(run, pending, progress)  # while the chunk runs
            stop = should_stop()  # asked once between two chunks
            if stop:  # the dispatched chunk is not adopted: the run stops where its lines say
                run.metrics.update(interrupted=True, stopped_by=stop)
                log(f"{stop}: stopping after {run.step} steps; saving the run")
                return
            adopt_chunk(run, dispatched, n)
            if eval_at is not None:
                pending.append(start_eval(run, eval_at))
            elif progress:
                log(f"step {run.step:5d}/{config.iters}  {run.rate_text()}")
        _finish(run, pending, progress)
    except KeyboardInterrupt:  # library use: Ctrl-C in a notebook
        _finish(run, pending, progress)
        run.metrics.update(interrupted=True, stopped_by="SIGINT")
        log(f"interrupted after {run.step} steps: saving what was done")


def _finish(run, pending: list, progress: bool) -> None:
    """Finish (record, log, save) the started evaluation, if there is one."""
    while pending:
        finish_eval(run, pending.pop(), progress)
