"""Where the book's loop stops to evaluate (5.7.4): the chunks of steps between evaluations."""

from __future__ import annotations

__all__ = ["chunk_schedule"]


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
