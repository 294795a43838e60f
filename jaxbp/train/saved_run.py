"""A saved run: writing it, reading it back for ``--evaluate``, and ``--resume``.

The files are :mod:`jaxbp.train.checkpoint`'s (atomic, size-checked); this module knows
what a run is: the config that made it, the network behind :mod:`jaxbp.train.models`,
its parameters, batch-norm state, optimizer state, step and metrics.

A checkpoint is checked in full before anything uses it (:func:`load_params`,
:func:`check_resume`): its ``format``; its ``config`` a valid :class:`Config` whose
network has exactly the arrays the file holds (batch-norm state present exactly when
the config says ``batchnorm``); its ``step`` an integer in ``[0, iters]``; its
``metrics`` of the structure a run writes; every parameter, network-state and
optimizer-state array of the expected shape and dtype and finite, variances and
second moments ``>= 0``, integer counts integral and ``>= 0``.  Each failure is one
:class:`jaxbp.train.checkpoint.CheckpointError` line.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import re
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from jaxbp._files import write_json
from jaxbp.train import checkpoint, models

if TYPE_CHECKING:
    from jaxbp.train.config import Config

__all__ = [
    "save",
    "load_params",
    "saved_config",
    "check_resume",
    "resume",
    "check_meta",
    "with_eval_states",
    "RESUME_MUST_MATCH",
]


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
    checkpoint.save_checkpoint(
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
    """``(params, state, config, meta)`` of a saved run, checked in full before use.

    The network and its sizes come from the checkpoint's saved config (a bare
    params file is read as the book's TwoLayerNet, its hidden size from ``W1``).
    Raises :class:`jaxbp.train.checkpoint.CheckpointError`, one line.

    >>> load_params("no/such/params.npz")
    Traceback (most recent call last):
    ...
    jaxbp.train.checkpoint.CheckpointError: checkpoint not found: no/such/params.npz
    """
    meta = check_meta(checkpoint.read_checkpoint_meta(path), path)
    config = _config_from_meta(meta, path)
    if "step" in meta:
        _check_step(meta["step"], config.iters, path)
    model = models.get(config)
    a_run = "config" in meta and meta.get("format") == checkpoint.FORMAT  # with its optimizer
    opt_specs = _opt_specs(_fresh_opt_state(config, model)[0]) if a_run else []
    arrays, _ = _load_arrays(path, config, model, opt_specs)
    params, state = models.split_state(arrays, model.state_specs)
    return params, state, config, meta


def _fresh_opt_state(config: Config, model: models.Model) -> tuple[list, Any]:
    """The leaves (with their key paths) and structure of a new optimizer state, as shapes."""
    params = {k: jax.ShapeDtypeStruct(s, d) for k, (s, d) in model.param_specs.items()}
    fresh = jax.eval_shape(models.optimizer(config).init, params)
    return jax.tree_util.tree_flatten_with_path(fresh)


def _opt_specs(flat: list) -> list:
    return [(jax.tree_util.keystr(k), tuple(v.shape), np.dtype(v.dtype)) for k, v in flat]


def _config_from_meta(meta: dict, path: str | os.PathLike) -> Config:
    from jaxbp.train.config import Config

    saved = meta.get("config")
    if saved is None:  # a bare params file: TwoLayerNet, H from W1
        shape = checkpoint.array_shapes(path).get("W1")
        if shape is None or len(shape) != 2 or shape[0] != 784 or not 1 <= shape[1] <= 1 << 20:
            raise checkpoint.CheckpointError(
                f"checkpoint {path}: W1 of shape {shape} is not a TwoLayerNet's (784, hidden)"
            )
        return Config(hidden_size=int(shape[1]))
    names = {f.name for f in dataclasses.fields(Config)}
    try:
        return Config(**{k: v for k, v in saved.items() if k in names}).validate()
    except (TypeError, ValueError) as e:
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: its config is not valid: {e}"
        ) from None


# ---- the meta: format, config, step, metrics ---------------------------------------------
def check_meta(meta: dict, path: str | os.PathLike, run: bool = False) -> dict:
    """``meta`` (from :func:`jaxbp.train.checkpoint.read_checkpoint_meta`) if its structure is
    one this version writes; else :class:`jaxbp.train.checkpoint.CheckpointError`.

    ``format`` 1 (no ``format`` key: parameters, config and step only) or
    :data:`jaxbp.train.checkpoint.FORMAT`; ``config`` a dict; ``step`` an integer >= 0;
    ``metrics`` a dict of all the lists and numbers a run writes.  ``run=True`` (a resume):
    ``config``, ``step`` and ``metrics`` must all be there.

    >>> check_meta({"format": 2, "step": 199.5}, "p.npz")
    Traceback (most recent call last):
    ...
    jaxbp.train.checkpoint.CheckpointError: checkpoint p.npz: step must be an integer, got 199.5
    """
    fmt = meta.get("format", 1)
    if not meta:
        fmt = checkpoint.FORMAT
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt not in (1, checkpoint.FORMAT):
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: format {fmt!r} is not one this version reads "
            f"(1 or {checkpoint.FORMAT})"
        )
    old = fmt == 1  # its writer stored None for a missing config or step
    for key in ("config", "step", "metrics"):
        if key in meta and meta[key] is None and not old:
            raise checkpoint.CheckpointError(f"checkpoint {path}: {key} is null")
        if run and meta.get(key) is None:
            raise checkpoint.CheckpointError(
                f"checkpoint {path} holds no {key}; it is not a run that can be resumed"
            )
    if meta.get("config") is not None and not isinstance(meta["config"], dict):
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: config must be a JSON object, got {_kind(meta['config'])}"
        )
    if meta.get("step") is not None:
        _check_step(meta["step"], None, path)
    if meta.get("metrics") is not None:
        _check_metrics(meta["metrics"], meta.get("step"), path)
    return {k: v for k, v in meta.items() if v is not None}


def _kind(value) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _check_step(step, iters: int | None, path) -> None:
    if not isinstance(step, int) or isinstance(step, bool):
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: step must be an integer, got {step!r}"
        )
    if step < 0:
        raise checkpoint.CheckpointError(f"checkpoint {path}: step {step} is negative")
    if iters is not None and step > iters:
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: step {step} is not in [0, iters = {iters}]"
        )


_RUN_LISTS = {  # metrics key -> what each entry must be
    "eval_steps": "count",
    "train_acc": "fraction",
    "test_acc": "fraction",
    "loss": "loss",
    "epoch_wall_s": "seconds",
}
_EVAL_STATES = {"eval_steps_done": "count", "eval_final": "flag"}  # absent before this version
_RUN_NUMBERS = {"steps_s": "seconds", "eval_s": "seconds", "iter_per_epoch": "positive"}
_RUN_TEXT = ("device",)


def _entry_ok(value, kind: str) -> bool:
    if kind == "loss" and value is None:  # a non-finite loss, stored as null
        return True
    if kind == "flag":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if kind in ("count", "positive"):
        return isinstance(value, int) and value >= (kind == "positive")
    if kind == "fraction":
        return 0 <= value <= 1
    return value >= 0 if kind == "seconds" else True


def _check_metrics(metrics, step, path) -> None:
    """The lists and numbers of a run's metrics, each there and of its kind."""

    def bad(why: str):
        raise checkpoint.CheckpointError(f"checkpoint {path}: metrics {why}")

    if not isinstance(metrics, dict):
        bad(f"must be a JSON object, got {_kind(metrics)}")
    wanted = {**_RUN_LISTS, **_RUN_NUMBERS, **dict.fromkeys(_RUN_TEXT, "text")}
    missing = [k for k in wanted if k not in metrics]
    if missing:
        bad(f"lack {', '.join(missing)}")
    for key, kind in {**wanted, **_EVAL_STATES}.items():
        if key not in metrics:
            continue
        value = metrics[key]
        if key in _RUN_LISTS or key in _EVAL_STATES:
            if not isinstance(value, list):
                bad(f"{key} must be a list, got {_kind(value)}")
            wrong = [v for v in value if not _entry_ok(v, kind)][:1]
            if wrong:
                bad(f"{key} holds {wrong[0]!r}, not a {kind}")
        elif kind == "text" and not isinstance(value, str):
            bad(f"{key} must be a string, got {_kind(value)}")
        elif kind != "text" and not _entry_ok(value, kind):
            bad(f"{key} must be a {kind} number, got {_kind(value)}")
    _check_metric_lengths(metrics, step, bad)


def _check_metric_lengths(metrics: dict, step, bad) -> None:
    names = [k for k in ("eval_steps", *_EVAL_STATES, "train_acc", "test_acc") if k in metrics]
    evals = [len(metrics[k]) for k in names]
    if len(set(evals)) > 1:
        bad(f"{', '.join(names[:-1])} and {names[-1]} differ in length ({evals})")
    if step is None:
        return
    if "loss" in metrics and len(metrics["loss"]) != step:
        bad(f"loss has {len(metrics['loss'])} entries for {step} steps")
    for key in ("eval_steps", "eval_steps_done"):
        late = [s for s in metrics.get(key, []) if s > step]
        if late:
            bad(f"{key} {late[0]} is after the saved step {step}")


def with_eval_states(metrics: dict, step: int) -> dict:
    """``metrics`` with each evaluation's state: ``eval_steps_done`` and ``eval_final``
    (:func:`jaxbp.train.run.finish_eval`), rebuilt from the labels for a run saved
    before they were recorded.

    The book's labels ``i`` are multiples of ``iter_per_epoch``, after ``i + 1`` steps;
    any other label, and one equal to the saved step, is a run's final evaluation,
    after as many steps as it says (the versions that wrote no states kept no other).

    >>> m = {"eval_steps": [0, 100, 150], "iter_per_epoch": 100}
    >>> s = with_eval_states(m, 150)
    >>> s["eval_steps_done"], s["eval_final"]
    ([1, 101, 150], [False, False, True])
    """
    if all(k in metrics for k in _EVAL_STATES):
        return metrics
    ipe = metrics["iter_per_epoch"]
    final = [at % ipe != 0 or at == step for at in metrics["eval_steps"]]
    done = [at if f else at + 1 for at, f in zip(metrics["eval_steps"], final)]
    return dict(metrics, eval_steps_done=done, eval_final=final)


# ---- the arrays -----------------------------------------------------------------------
def _load_arrays(
    path, config: Config, model: models.Model, opt_specs: list | None
) -> tuple[dict, list]:
    """The parameter and state arrays (and, given ``opt_specs`` ``[(keypath, shape,
    dtype)]``, the optimizer leaves), each checked; exactly the members the config's
    network and optimizer have (``opt_specs=None``: any optimizer members, unread)."""
    expected = {**model.param_specs, **model.state_specs}
    names = set(checkpoint.array_shapes(path)) - {"__meta__"}
    opt_names = {n for n in names if n.startswith("opt_state.")}
    extra = names - set(expected) - opt_names
    if extra:
        raise checkpoint.CheckpointError(
            f"checkpoint {path} holds {_listed(extra)}, which {_network(config)} does not "
            f"have: its config and its arrays disagree"
        )
    if opt_specs is not None:
        extra_opt = opt_names - {f"opt_state.{i}" for i in range(len(opt_specs))}
        if extra_opt:
            raise checkpoint.CheckpointError(
                f"checkpoint {path} holds {_listed(extra_opt)}, more optimizer state than "
                f"{config.optimizer} keeps"
            )
    specs = [(s, d) for _, s, d in opt_specs or []]
    arrays, opt, _ = checkpoint.load_checkpoint(path, expected, opt_expected=specs)
    for name, v in arrays.items():
        if name.startswith("state.") and name.endswith("_var") and np.any(v < 0):
            raise checkpoint.CheckpointError(
                f"checkpoint {path}: {name} holds negative variances (min {v.min():g})"
            )
    leaves = [_opt_leaf(path, i, v, *spec) for i, (v, spec) in enumerate(zip(opt, opt_specs or []))]
    return arrays, leaves


def _listed(names) -> str:
    names = sorted(names)
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _network(config: Config) -> str:
    if config.model == "multi_layer_net":
        return f"a multi_layer_net with batchnorm {config.batchnorm}"
    return f"a {config.model}"


_SECOND_MOMENTS = ("v", "nu", "h")  # Adam's v, RMSprop's nu, AdaGrad's h: sums of squares


def _opt_leaf(path, i: int, v: np.ndarray, keypath: str, shape, dtype) -> np.ndarray:
    """One optimizer leaf checked against its fresh counterpart's dtype; cast to it."""
    name = f"opt_state.{i} ({keypath})"

    def bad(why: str):
        raise checkpoint.CheckpointError(f"checkpoint {path}: {name} {why}")

    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        if v.dtype.kind not in "iu":
            bad(f"has dtype {v.dtype}, expected {dtype} (an integer count)")
        info = np.iinfo(dtype)
        if v.size and (v.min() < max(info.min, 0) or v.max() > info.max):
            bad(f"holds {v.min() if v.min() < 0 else v.max()}, not a count in [0, {info.max}]")
        return v.astype(dtype)
    if v.dtype.kind != "f":
        bad(f"has dtype {v.dtype}, expected {dtype}")
    if not np.all(np.isfinite(v)):
        bad("holds non-finite values (NaN or inf); it cannot be resumed")
    fields = re.findall(r"\.(\w+)", keypath)  # ".v['W1']", "[0].nu['W1']"
    if fields and fields[-1] in _SECOND_MOMENTS and np.any(v < 0):
        bad(f"holds negative values (min {v.min():g}), impossible for a sum of squares")
    return v.astype(dtype)


# ---- resume ------------------------------------------------------------------------------
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


def saved_config(out_dir: str | os.PathLike) -> dict:
    """The config saved in ``out_dir/params.npz`` (a dict of :class:`Config` fields),
    checked: the meta of a resumable run, and a valid config.

    For the CLI, which fills the flags not given from it before :func:`check_resume`.

    >>> saved_config("no/such/run")
    Traceback (most recent call last):
    ...
    jaxbp.train.checkpoint.CheckpointError: checkpoint not found: no/such/run/params.npz
    """
    path = os.path.join(out_dir, "params.npz")
    meta = check_meta(checkpoint.read_checkpoint_meta(path), path, run=True)
    return dataclasses.asdict(_config_from_meta(meta, path))


def check_resume(out_dir: str | None, config: Config) -> None:
    """Raise :class:`jaxbp.train.checkpoint.CheckpointError` (one line) unless the run saved
    in ``out_dir`` can be resumed with ``config``: the whole checkpoint is read and checked
    (:func:`resume`'s checks), with no data loaded and nothing compiled.

    >>> from jaxbp.train.config import Config
    >>> check_resume("", Config())
    Traceback (most recent call last):
    ...
    jaxbp.train.checkpoint.CheckpointError: --resume needs --out-dir, the folder of the run
    """
    model = models.get(config)
    flat, treedef = _fresh_opt_state(config, model)
    _load_run(out_dir, config, model, jax.tree_util.tree_unflatten(treedef, [v for _, v in flat]))


def resume(
    out_dir: str | None, config: Config, model: models.Model, opt_state: Any
) -> tuple[dict, dict, Any, int, dict]:
    """The saved run in ``out_dir``: ``(params, state, opt_state, step, metrics)``.

    ``opt_state`` is a fresh optimizer state: its structure, shapes and dtypes say what
    the checkpoint must hold.  A checkpoint that fails a check (module docstring), flags
    that differ from the saved run's (:data:`RESUME_MUST_MATCH`), or an ``iters`` below
    the saved step raise :class:`jaxbp.train.checkpoint.CheckpointError`.

    >>> from jaxbp.train.config import Config
    >>> resume(None, Config(), None, None)
    Traceback (most recent call last):
    ...
    jaxbp.train.checkpoint.CheckpointError: --resume needs --out-dir, the folder of the run
    """
    params, state, opt_state, step, metrics = _load_run(out_dir, config, model, opt_state)
    metrics = dict(
        with_eval_states(metrics, step),
        config=dataclasses.asdict(config),
        interrupted=False,
        start_step=step,
    )
    metrics.pop("stopped_by", None)
    metrics["loss"] = [float("nan") if v is None else v for v in metrics["loss"]]
    return params, state, opt_state, step, metrics


def _load_run(out_dir, config: Config, model: models.Model, opt_state: Any) -> tuple:
    from jaxbp.train.config import as_flag

    if not out_dir:
        raise checkpoint.CheckpointError("--resume needs --out-dir, the folder of the run")
    path = os.path.join(out_dir, "params.npz")
    meta = check_meta(checkpoint.read_checkpoint_meta(path), path, run=True)
    saved_config = _config_from_meta(meta, path)
    clash = [
        f"{as_flag(k)} (saved {getattr(saved_config, k)!r}, now {getattr(config, k)!r})"
        for k in RESUME_MUST_MATCH
        if getattr(saved_config, k) != getattr(config, k)
    ]
    if clash:
        raise checkpoint.CheckpointError(
            f"--resume: the flags differ from the run saved in {out_dir}: {', '.join(clash)}"
        )
    step = meta["step"]
    _check_step(step, saved_config.iters, path)
    if step > config.iters:
        raise checkpoint.CheckpointError(
            f"--resume: the run in {out_dir} is at step {step}; "
            f"--iters {config.iters} must be at least that"
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(opt_state)
    arrays, opt_leaves = _load_arrays(path, config, model, _opt_specs(flat))
    params, state = models.split_state(arrays, model.state_specs)
    opt_state = jax.tree_util.tree_unflatten(treedef, opt_leaves)
    return params, state, opt_state, step, meta["metrics"]
