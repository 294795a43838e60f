"""A saved run: writing it, reading it back for ``--evaluate``, and ``--resume``.

The files are :mod:`jaxbp.train.run_state`'s (atomic, size-checked); this module knows
what a run is: the config that made it, the network behind :mod:`jaxbp.train.models`,
its parameters, batch-norm state, optimizer state, step and metrics.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from jaxbp._files import write_json
from jaxbp.train import models, run_state

if TYPE_CHECKING:
    from jaxbp.train.config import Config

__all__ = ["save", "load_params", "resume", "RESUME_MUST_MATCH"]


def save(
    out_dir: str,
    config: Config,
    step: int,
    params: dict,
    state: dict,
    opt_state: Any,
    metrics: dict,
    with_plot: bool = False,
) -> None:
    """``params.npz`` (parameters, state, optimizer leaves, config, step, metrics),
    ``metrics.json`` and, ``with_plot``, ``training.png``: one step's files."""
    host = jax.tree_util.tree_map(np.asarray, (params, state, opt_state))
    meta = {"config": dataclasses.asdict(config), "step": step, "metrics": metrics}
    run_state.save_checkpoint(
        os.path.join(out_dir, "params.npz"),
        dict(host[0], **models.flat_state(host[1])),
        jax.tree_util.tree_leaves(host[2]),
        meta,
    )
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    if with_plot:
        from jaxbp.train.plot import plot_training

        plot_training(metrics, os.path.join(out_dir, "training.png"))


def load_params(path: str | os.PathLike) -> tuple[dict, dict, Config, dict]:
    """``(params, state, config, meta)`` of a saved run, every array checked before use.

    The network and its sizes come from the checkpoint's saved config (a bare
    params file is read as the book's TwoLayerNet, its hidden size from ``W1``).
    Raises :class:`jaxbp.train.run_state.CheckpointError`, one line.
    """
    meta = run_state.read_checkpoint_meta(path)
    config = _config_from_meta(meta, path)
    model = models.get(config)
    arrays, _, _ = run_state.load_checkpoint(path, {**model.param_specs, **model.state_specs})
    params, state = models.split_state(arrays, model.state_specs)
    return params, state, config, meta


def _config_from_meta(meta: dict, path: str | os.PathLike) -> Config:
    from jaxbp.train.config import Config

    saved = meta.get("config")
    if saved is None:  # a bare params file: TwoLayerNet, H from W1
        shape = run_state.array_shapes(path).get("W1")
        if shape is None or len(shape) != 2 or shape[0] != 784 or not 1 <= shape[1] <= 1 << 20:
            raise run_state.CheckpointError(
                f"checkpoint {path}: W1 of shape {shape} is not a TwoLayerNet's (784, hidden)"
            )
        return Config(hidden_size=int(shape[1]))
    names = {f.name for f in dataclasses.fields(Config)}
    try:
        return Config(**{k: v for k, v in saved.items() if k in names}).validate()
    except (TypeError, ValueError) as e:
        raise run_state.CheckpointError(
            f"checkpoint {path}: its config is not valid: {e}"
        ) from None


RESUME_MUST_MATCH = (
    "model",
    "dataset",
    "seed",
    "lr",
    "optimizer",
    "batch_size",
    "hidden_size",
    "weight_init_std",
    "batchnorm",
    "dropout",
    "weight_decay",
    "eval_every",
    "dtype",
)


def resume(
    out_dir: str | None, config: Config, model: models.Model, opt_state: Any
) -> tuple[dict, dict, Any, int, dict]:
    """The saved run in ``out_dir``: ``(params, state, opt_state, step, metrics)``.

    ``opt_state`` is a fresh optimizer state: its structure and shapes say what the
    checkpoint must hold.  Flags that differ from the saved run's
    (:data:`RESUME_MUST_MATCH`), or an ``iters`` below the saved step, raise
    :class:`jaxbp.train.run_state.CheckpointError`.
    """
    if not out_dir:
        raise run_state.CheckpointError("--resume needs --out-dir, the folder of the run")
    path = os.path.join(out_dir, "params.npz")
    meta = run_state.read_checkpoint_meta(path)
    saved = meta.get("config") or {}
    clash = [
        f"{k} (saved {saved.get(k)!r}, now {getattr(config, k)!r})"
        for k in RESUME_MUST_MATCH
        if saved.get(k) != getattr(config, k)
    ]
    if clash:
        raise run_state.CheckpointError(
            f"--resume: the flags differ from the run saved in {out_dir}: {', '.join(clash)}"
        )
    step = int(meta.get("step", -1))
    if not 0 <= step <= config.iters:
        raise run_state.CheckpointError(
            f"--resume: the run in {out_dir} is at step {step}; "
            f"--iters {config.iters} must be at least that"
        )
    leaves, treedef = jax.tree_util.tree_flatten(opt_state)
    specs = [(np.shape(v), np.asarray(v).dtype) for v in leaves]
    arrays, opt_leaves, _ = run_state.load_checkpoint(
        path, {**model.param_specs, **model.state_specs}, opt_expected=specs
    )
    params, state = models.split_state(arrays, model.state_specs)
    opt_state = jax.tree_util.tree_unflatten(
        treedef, [np.asarray(v, s[1]) for v, s in zip(opt_leaves, specs)]
    )
    metrics = dict(
        meta.get("metrics") or {},
        config=dataclasses.asdict(config),
        interrupted=False,
        start_step=step,
    )
    metrics.pop("stopped_by", None)
    metrics["loss"] = [float("nan") if v is None else v for v in metrics.get("loss", [])]
    return params, state, opt_state, step, metrics
