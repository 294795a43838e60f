"""The process that runs a learner's file: ``python -m jaxbp.exercises.child IN OUT MB DIR``.

:mod:`jaxbp.exercises.sandbox` starts it with two pipes (``IN``: requests,
``OUT``: answers, file descriptors), a memory limit in MiB and the one folder
it may write in (:func:`jaxbp.exercises.landlock.forbid_writes`, where the OS
allows it); it is not meant to be run by hand.  It imports the learner's
file, then answers requests one at a time with :mod:`jaxbp.exercises.runner`'s
observations:

* ``load {path}``       -> ``loaded`` or ``load_error {error}``
* ``run {name, cases}`` -> ``observed {obs}``
* ``rule_check {name, case}`` -> ``checked {check}``
* ``bye``               -> the process ends

Before each learner function runs it sends ``progress {fn}``, so that the
grader can say what was running when time ran out.  What the learner's code
prints is captured and sent with each answer (``printed``).  It computes no
verdict: the grader judges the answers in its own process.
"""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import sys

__all__ = ["main"]

_PRINT_LIMIT = 4000  # characters of the learner's output sent with one answer


def _limit_memory(megabytes: int) -> None:
    """Cap the address space (where the OS allows: Linux; not macOS or Windows)."""
    try:
        import resource
    except ImportError:
        return
    limit = megabytes << 20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


class _Capture(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: keeps what is written, bounded."""

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        if self.size < _PRINT_LIMIT:
            self.parts.append(text[: _PRINT_LIMIT - self.size])
        self.size += len(text)
        return len(text)

    def take(self) -> str:
        text, extra = "".join(self.parts), self.size - _PRINT_LIMIT
        self.parts, self.size = [], 0
        return text + (f"\n... ({extra} more characters)" if extra > 0 else "")


def _load(path: str):
    """The learner's file as a fresh module (its folder first on ``sys.path``)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    name = "_jaxbp_exercise_file"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling in the learner's code need it
    spec.loader.exec_module(module)
    return module


def _snapshot() -> dict:
    """The grader's own modules as they are now, to put back after the learner's code ran
    (a file that replaces their functions breaks only its own grading, never the verdict)."""
    ours = ("jaxbp.exercises", "jaxbp.rule_check")
    mine = [m for name, m in list(sys.modules.items()) if name.startswith(ours) and m]
    return {m: dict(vars(m)) for m in mine}


def _restore(snapshot: dict, capture: _Capture) -> None:
    for module, saved in snapshot.items():
        vars(module).clear()
        vars(module).update(saved)
    sys.stdout = sys.stderr = capture


def _serve(requests, answers, capture: _Capture) -> None:
    from jaxbp.exercises import runner, spec, wire

    ns, last, saved = None, [None], _snapshot()

    def send(header: dict, arrays=None) -> None:
        wire.write(answers, header, arrays)

    def progress(fn: str) -> None:
        if fn != last[0]:
            last[0] = fn
            send({"type": "progress", "fn": fn})

    while True:
        _restore(saved, capture)
        try:
            header, arrays = wire.read(requests)
        except EOFError:
            return
        kind = header.get("type")
        if kind == "bye":
            return
        if kind == "load":
            try:
                ns = vars(_load(header["path"]))
                reply = {"type": "loaded"}
            except BaseException as e:  # noqa: BLE001 - the learner's module-level code
                reply = {"type": "load_error", "error": _load_error(e)}
            _restore(saved, capture)
        else:
            cases = wire.unpack(header["cases"], arrays)
            item = spec.item(header["name"])
            if kind == "run":
                reply = {
                    "type": "observed",
                    "obs": runner.observe(ns, item, _cases(item, cases), progress),
                }
            else:
                reply = {"type": "checked", "check": runner.rule_check(ns, item, _net_case(cases))}
            _restore(saved, capture)
        reply["printed"] = capture.take()
        out: dict = {}
        reply = wire.pack(reply, out)
        send(reply, out)


def _load_error(e: BaseException) -> dict:
    from jaxbp.exercises import errors

    if isinstance(e, SyntaxError):
        return {"exc": "SyntaxError", "cls": "syntax", "msg": e.msg, "line": e.lineno,
                "file": os.path.basename(e.filename or "")}  # fmt: skip
    return errors.describe_error(e, "<module>")


def _cases(item, cases: list) -> list:
    from jaxbp.exercises.spec import Case, Network, Steps, Update

    if isinstance(item, Network):
        return [(c["params"], c["x"], c["t"]) for c in cases]
    if isinstance(item, Update):
        return [Steps(c["params"], tuple(c["grads"]), tuple(c["hyper"])) for c in cases]
    return [Case(tuple(c["inputs"]), c["dout"], _static(c.get("static", []))) for c in cases]


def _static(value):
    """The static arguments as the grader sent them: lists back to tuples (an
    ``input_shape``), numbers as they are."""
    return tuple(_static(v) for v in value) if isinstance(value, list) else value


def _net_case(cases: list):
    c = cases[0]
    return c["params"], c["x"], c["t"]


def main(argv: list[str]) -> int:
    """Serve the grader on the pipes named in ``argv`` until it says ``bye``.

    ``argv``: the requests' and answers' file descriptors, the memory limit in
    MiB, and the one folder the learner's code may write in.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader handles Ctrl-C and ends us
    in_fd, out_fd, megabytes = (int(a) for a in argv[:3])
    _limit_memory(megabytes)
    sys.dont_write_bytecode = True  # leave no __pycache__ beside the learner's file
    requests, answers = os.fdopen(in_fd, "rb"), os.fdopen(out_fd, "wb")
    import jax

    jax.config.update("jax_enable_x64", True)
    from jaxbp import rule_check  # noqa: F401 - every module the child needs, before the file
    from jaxbp.exercises import errors, landlock, runner, spec, wire  # noqa: F401

    forbidden = landlock.forbid_writes(argv[3])  # before any of the learner's code runs
    capture = _Capture()
    sys.stdout = sys.stderr = capture
    wire.write(answers, {"type": "ready", "writes_forbidden": forbidden})
    _serve(requests, answers, capture)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
