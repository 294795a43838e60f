"""The command line: ``python -m jaxbp.train`` (also ``jaxbp-train``).

Every expected failure prints one line ``jaxbp.train: error: ...`` on stderr and
exits with its own code (``JAXBP_DEBUG=1`` shows the traceback instead):

    0 done   2 bad flags   3 the loss diverged   4 data missing or corrupt
    5 out-dir (or runs/) unusable, an out-dir holding a run without --resume, or disk full
    6 bad checkpoint or --resume conflict
    7 no such platform, out of memory, or a broken multi-process setup
    130 SIGINT   143 SIGTERM

SIGINT and SIGTERM never interrupt compiled code: they are noted, and the run
stops at the next chunk boundary (or between start-up phases), saving what it
did.  ``--resume`` continues it bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from jaxbp._files import OutputError
from jaxbp.train import runs
from jaxbp.train.signals import Stopped, StopSignals, exit_fast

if TYPE_CHECKING:  # jaxbp.train imports JAX; the CLI imports it late
    from jaxbp.train.config import Config

__all__ = [
    "main",
    "entry",
    "parser",
    "EXIT_CODES",
    "stream_lines",
]

EXIT_CODES = {
    "usage": 2,
    "diverged": 3,
    "data": 4,
    "output": 5,
    "checkpoint": 6,
    "device": 7,
    "SIGINT": 130,
    "SIGTERM": 143,
}

EPILOG = """exit codes: 0 done; 2 bad flags; 3 the loss became non-finite (the last finite
state is kept); 4 data missing or corrupt; 5 --out-dir (or runs/) unusable, an
--out-dir holding a run without --resume (or --overwrite), or disk full; 6 bad
checkpoint or --resume conflict; 7 no such platform, out of memory on the device, or
multi-process setup failed; 130 stopped by SIGINT (Ctrl-C); 143 stopped by SIGTERM.
A stopped run is saved and continues with --resume. JAXBP_DEBUG=1 shows tracebacks."""


class UsageError(ValueError):
    """Flags that cannot work together or are out of range (exit 2)."""


# ---- flags ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (:class:`UsageError`), naming the nearest flag
    for a typo, instead of the usage text and a second line."""

    def error(self, message: str) -> NoReturn:
        typed = re.match(r"unrecognized arguments: (\S+)", message)
        if typed:
            flag = typed[1].split("=")[0]
            flags = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            near = difflib.get_close_matches(flag, flags, n=1, cutoff=0.6)
            message = f"unrecognized argument {flag}"
            message += f"; did you mean {near[0]}?" if near else ""
        raise UsageError(f"{message} (see {self.prog} --help)")


def program_name(argv0: str | None = None) -> str:
    """The command as the user typed it: ``jaxbp-train`` for the console script,
    ``python -m jaxbp.train`` for the module.

    >>> program_name("/home/me/.venv/bin/jaxbp-train"), program_name("/x/jaxbp/train/__main__.py")
    ('jaxbp-train', 'python -m jaxbp.train')
    """
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "python -m jaxbp.train" if name in ("__main__.py", "", "-c") else name


def parser(prog: str = "python -m jaxbp.train") -> argparse.ArgumentParser:
    """The flags: one per :class:`jaxbp.train.Config` field, plus the run's own."""
    from jaxbp.train.config import Config
    from jaxbp.train.models import DEFAULTS

    p = _Parser(
        prog=prog,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the book's networks with hand-written backprop, jitted; the "
        "defaults are the book's settings (5.7.4 for two_layer_net; "
        + "; ".join(f"{m}: {d}" for m, d in DEFAULTS.items() if d)
        + ").",
    )
    _add_config_flags(p, Config)
    _add_run_flags(p)
    return p


def _add_config_flags(p: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per field of the Config (the hyperparameters are declared once, there)."""
    for f in dataclasses.fields(config_class):
        if not f.metadata.get("cli", True):
            continue
        flag, text = "--" + f.name.replace("_", "-"), f"{f.metadata['help']} (default {f.default})"
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind, choices = type(f.default), f.metadata.get("choices")
            p.add_argument(flag, type=kind, default=None, choices=choices, help=text)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags about this run rather than the network: where, what, how."""
    p.add_argument(
        "--data-dir",
        help="folder with the four IDX .gz files (default: "
        "$JAXBP_DATA_DIR, then the per-user cache, downloading if missing)",
    )
    p.add_argument(
        "--out-dir",
        help="where params.npz, metrics.json and training.png go (default: a new folder "
        "runs/MODEL-YYYYmmdd-HHMMSS, to which runs/latest points once it has saved "
        "something; with --resume, runs/latest; '' writes nothing). A folder holding a "
        "run is refused unless --resume or --overwrite is given",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out-dir "
        "(flags not given are the saved run's; a larger --iters extends it)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an --out-dir that holds a run, replacing it (without this "
        "flag such a folder is refused: continue it with --resume, or pick a new folder)",
    )
    p.add_argument(
        "--evaluate",
        metavar="RUN",
        help="evaluate a saved run (its folder, e.g. runs/latest, or its params.npz) on the "
        "train and test sets and exit",
    )
    p.add_argument(
        "--no-gradient-check",
        dest="gradient_check",
        action="store_false",
        help="skip the float64 three-way gradient check run before training",
    )
    p.add_argument(
        "--no-compile-cache",
        dest="compile_cache",
        action="store_false",
        help="do not keep (signed) compiled programs in the per-user cache",
    )
    p.add_argument(
        "--distributed-timeout",
        type=int,
        default=300,
        metavar="S",
        help="seconds to wait for the multi-process coordinator (default 300)",
    )
    p.add_argument("--quiet", action="store_true", help="no download progress")


def config_from_args(args: argparse.Namespace, saved: dict | None = None) -> Config:
    """The :class:`Config`: flags given, else the saved run's (``--resume``), else the
    model's defaults, else the book's.  Raises ``ValueError`` naming the flag."""
    from jaxbp.train.config import Config, as_flag
    from jaxbp.train.models import DEFAULTS

    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Config)
        if f.metadata.get("cli", True) and getattr(args, f.name) is not None
    }
    names = {f.name for f in dataclasses.fields(Config)}
    base = {k: v for k, v in (saved or {}).items() if k in names}
    model = given.get("model", base.get("model", "two_layer_net"))
    return Config(**{**DEFAULTS.get(model, {}), **base, **given}).validate(as_flag)


# ---- the run ---------------------------------------------------------------------------
def _error(message: str, code: int) -> int:
    print(f"jaxbp.train: error: {message}", file=sys.stderr)
    return code


def _classify(e: BaseException) -> str | None:
    from jaxbp.mnist import DatasetError
    from jaxbp.train.checkpoint import CheckpointError
    from jaxbp.train.devices import DeviceError
    from jaxbp.train.run import Diverged

    for kind, types in (
        ("usage", UsageError),
        ("diverged", Diverged),
        ("data", DatasetError),
        ("output", OutputError),
        ("checkpoint", CheckpointError),
        ("device", DeviceError),
    ):
        if isinstance(e, types):
            return kind
    return None


def stream_lines() -> None:
    """Every line printed reaches a pipe or a file when it is printed, in order.

    Python block-buffers stdout when it is not a terminal (``| tee``, ``nohup``, a
    SLURM or CI log), so progress would arrive only at exit and after stderr's lines.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # absent on replaced streams
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def main(argv: list[str] | None = None, prog: str = "python -m jaxbp.train") -> int:
    """Run the command line; returns the exit code.  ``prog``: the command as typed."""
    stream_lines()
    stop = StopSignals.install()
    try:
        args = parser(prog).parse_args(argv)
        args.prog = prog
        return _run(args, stop)
    except Stopped as s:
        print(f"jaxbp.train: stopped by {s} before training started", file=sys.stderr)
        return EXIT_CODES[str(s)]
    except Exception as e:
        kind = _classify(e)
        if kind is None or os.environ.get("JAXBP_DEBUG", "") not in ("", "0"):
            raise
        return _error(str(e), EXIT_CODES[kind])


def entry() -> NoReturn:
    """The console script and ``python -m jaxbp.train``: :func:`main`, then :func:`exit_fast`."""
    exit_fast(main(prog=program_name()))


def _run(args, stop: StopSignals) -> int:
    """The command, in its folder: a folder this command made and a failed start left
    unsaved is removed again (:func:`jaxbp.train.runs.discard_unsaved`)."""

    saved = None
    if args.resume:
        saved = _resumed_config(args)
    try:
        config = None if args.evaluate else config_from_args(args, saved)
    except ValueError as e:
        raise UsageError(str(e)) from None
    writes = bool(args.out_dir != "" and not args.evaluate)
    args.new_run_dir = None  # a folder of runs/, which runs/latest follows once it saves
    made_root, made_dir = _out_dir(args, config) if writes else (False, False)

    def clean_up() -> None:
        if writes:
            runs.release_out_dir(args.out_dir)  # and its .lock file
        if made_dir:
            runs.discard_unsaved(args.out_dir, runs.ROOT if made_root else None)

    try:
        if writes:
            runs.prepare_out_dir(args.out_dir)  # before anything slow
            _refuse_a_run(args)  # (a folder in use said so first)
        return _start(args, config, stop, clean_up)
    finally:
        clean_up()


def _resumed_config(args) -> dict:
    """The config saved in the run ``--resume`` continues (``--out-dir``, else runs/latest)."""
    from jaxbp.train import saved_run

    if args.overwrite:
        raise UsageError("--overwrite starts a run afresh; it cannot go with --resume")
    if args.out_dir is None:
        args.out_dir = runs.latest()
        if not args.out_dir:
            raise UsageError(
                f"--resume: no {runs.ROOT}/latest here to continue; give --out-dir, "
                "the folder of the run"
            )
    if not args.out_dir:
        raise UsageError("--resume needs --out-dir, the folder of the run")
    return saved_run.saved_config(args.out_dir)  # its meta checked: one line, exit 6


def _out_dir(args, config) -> tuple[bool, bool]:
    """Settle ``args.out_dir`` (a new folder in runs/ when none is given); returns
    whether this command makes runs/ and the folder."""
    if args.out_dir is None:
        made_root = not os.path.isdir(runs.ROOT)
        args.out_dir = args.new_run_dir = runs.new_run_dir(config.model)
        return made_root, True
    return False, not os.path.lexists(args.out_dir)


def _refuse_a_run(args) -> None:
    """Never a folder holding a run (or a params.npz or metrics.json) without
    ``--resume`` or ``--overwrite``: :class:`jaxbp._files.OutputError`, exit 5."""

    held = [f for f in runs.SAVED if os.path.lexists(os.path.join(args.out_dir, f))]
    if held and not args.resume and not args.overwrite:
        raise OutputError(
            f"--out-dir {args.out_dir} already holds a run ({', '.join(held)}): continue "
            "it with --resume, or pick a new folder (--overwrite replaces it)"
        )


def _start(args, config, stop: StopSignals, clean_up: Callable[[], None]) -> int:
    from jaxbp.train import devices, saved_run
    from jaxbp.train.config import as_flag

    devices.initialize_distributed(args.distributed_timeout, on_abort=clean_up)
    devices.check_backend()
    if config is not None:
        try:
            devices.data_parallel_mesh(config.devices, config.batch_size, as_flag)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.resume:  # every array checked, before any data is loaded (after the backend starts)
        saved_run.check_resume(args.out_dir, config)
    if args.compile_cache:
        from jaxbp.train import compile_cache

        compile_cache.enable()
    stop.check()
    if args.evaluate:
        return _evaluate(args)
    return _train(args, config, stop)


def _evaluate(args) -> int:
    from jaxbp.train.data import load_data
    from jaxbp.train.evaluation import evaluate
    from jaxbp.train.saved_run import load_params

    path = runs.checkpoint_path(args.evaluate)
    params, state, config, meta = load_params(path)
    print(f"evaluating {path}: {runs.describe(config, meta.get('step'))}")
    data = load_data(config.dataset, args.data_dir, not args.quiet, "--data-dir")
    tr = evaluate(params, data["x_train"], data["t_train"], config, state)
    te = evaluate(params, data["x_test"], data["t_test"], config, state)
    print(f"{path} (step {meta.get('step')}): train acc, test acc | {tr:.4f}, {te:.4f}")
    return 0


def _train(args, config, stop: StopSignals) -> int:
    from jaxbp.train.data import load_data
    from jaxbp.train.loop import fit

    t0 = time.perf_counter()
    data = load_data(config.dataset, args.data_dir, not args.quiet, "--data-dir")
    stop.check()
    if args.resume:
        print(f"resuming {args.out_dir}: {runs.describe(config)}")
    if args.gradient_check and config.model == "two_layer_net" and not args.resume:
        from jaxbp.gradient import print_gradient_check

        print_gradient_check(data["x_train"][:3], data["t_train"][:3])
        stop.check()
    result = fit(
        config,
        data=data,
        out_dir=args.out_dir or None,
        resume=args.resume,
        should_stop=stop,
        on_save=_latest_once(args.new_run_dir),
    )
    _summary(result["metrics"], time.perf_counter() - t0, args.out_dir, args.prog)
    stopped = result["metrics"].get("stopped_by")
    return EXIT_CODES.get(stopped, 130) if result["metrics"]["interrupted"] else 0


def _latest_once(run_dir: str | None) -> Callable[[], None]:
    """After the run's first save: point runs/latest at ``run_dir`` (if not ``None``)."""
    pending = [run_dir] if run_dir else []

    def saved() -> None:
        while pending:
            warning = runs.point_latest(pending.pop())
            if warning:
                print(f"jaxbp.train: {warning}", file=sys.stderr)

    return saved


def _summary(m: dict, wall: float, out_dir: str | None, prog: str, print: Callable = print) -> None:
    """The last lines: accuracies, where the time went, where the run is, how to go on."""
    last = lambda k: f"{m[k][-1]:.4f}" if m[k] else "n/a"
    whole = "whole run: " if m.get("start_step") else ""
    print(
        f"final: train acc {last('train_acc')}, test acc {last('test_acc')} after "
        f"{m['steps_done']} steps; {whole}steps {m['steps_s']:.2f}s, evaluations "
        f"{m['eval_s']:.2f}s; this command {wall:.2f}s (compile {m['compile_s']:.2f}s)"
    )
    if out_dir:
        print(f"wrote {out_dir}/metrics.json, training.png, params.npz")
        if m.get("interrupted"):
            print(f"continue with: {prog} --out-dir {out_dir} --resume")
