"""Run a learner's file in a child process, with a time and a memory limit.

:class:`Sandbox` starts ``python -m jaxbp.exercises.child`` (in a process group
of its own, so that Ctrl-C reaches only the grader), has it import the file,
then asks it, one exercise at a time, for its observations.  An exercise
that takes longer than ``timeout`` seconds, or a child that exits or dies,
becomes a :class:`Stopped` naming what was running; the next request starts
a fresh child.  The child's answers are read with
:func:`jaxbp.exercises.wire.read` (bounded, never unpickled): whatever the
learner's code writes, to its pipe or its output, is data to be judged by the
grader, never a verdict.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from jaxbp.exercises import wire

__all__ = ["Sandbox", "Stopped", "stop_all", "DEFAULT_TIMEOUT", "DEFAULT_MEMORY_MB"]

DEFAULT_TIMEOUT = 10.0  # seconds per exercise (and for importing the file)
DEFAULT_MEMORY_MB = 4096  # address space; JAX alone reserves about 1.5 GiB
_START_TIMEOUT = 120.0  # starting Python and importing JAX: not the learner's time


@dataclass
class Stopped(Exception):
    """The child did not answer: ``why`` is ``"timeout"``, ``"exited"`` or ``"died"``.

    ``fn`` is the learner's function that was running (as the child last said);
    ``how`` the exit status or signal; ``stderr`` the end of what it wrote there.
    """

    why: str
    fn: str
    how: str = ""
    stderr: str = ""


def _how(returncode: int | None) -> str:
    if returncode is None:
        return "no answer"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


_LIVE: set = set()  # the children this process has running (see stop_all)
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Kill every learner's process this process has running, from any thread.

    For a grader that runs several sandboxes at once in threads (a class's
    Ctrl-C): each sandbox's pending request ends as :class:`Stopped`.
    """
    with _LIVE_LOCK:
        children = list(_LIVE)
    for child in children:
        child.kill()


class _Child:
    """One child process and the thread that reads its answers."""

    def __init__(self, memory_mb: int):
        req_r, self._req_w = os.pipe()
        self._res_r, res_w = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        self.folder = tempfile.mkdtemp(prefix="jaxbp-learner-")  # the one it may write in
        cmd = [sys.executable, "-m", "jaxbp.exercises.child", str(req_r), str(res_w)]
        self.proc = subprocess.Popen(
            [*cmd, str(memory_mb), self.folder],
            pass_fds=(req_r, res_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
            env={**os.environ, "TMPDIR": self.folder},
        )
        os.close(req_r)
        os.close(res_w)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.requests = os.fdopen(self._req_w, "wb")
        self.answers: queue.Queue = queue.Queue()
        self.fn = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with os.fdopen(self._res_r, "rb") as stream:
            while True:
                try:
                    self.answers.put(wire.read(stream))
                except EOFError:
                    self.answers.put(("eof", None))
                    return
                except wire.WireError as e:
                    self.answers.put(("bad", str(e)))
                    return

    def send(self, header: dict, arrays=None) -> None:
        try:
            wire.write(self.requests, header, arrays)
        except (BrokenPipeError, OSError):
            pass  # the child is gone: the next wait says how

    def wait(self, timeout: float) -> tuple[dict, dict]:
        """The next answer that is not a progress note, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise Stopped("timeout", self.fn) from None
            header, arrays = item
            if header in ("eof", "bad"):
                raise self._gone(arrays if header == "bad" else "")
            if header.get("type") == "progress":
                self.fn = str(header.get("fn", ""))
                continue
            return header, arrays

    def _gone(self, bad: str) -> Stopped:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        if bad:
            return Stopped("died", self.fn, f"a malformed answer: {bad}", tail)
        return Stopped("exited" if code is not None and code >= 0 else "died", self.fn,
                       _how(code), tail)  # fmt: skip

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self.send({"type": "bye"})
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        try:
            self.requests.close()
        except OSError:
            pass
        self._stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Sandbox:
    """A learner's file, imported in a child process and asked for observations.

    ``Sandbox(path)`` starts the child at once (it imports JAX meanwhile);
    :meth:`load` waits for it and imports the file; :meth:`request` asks for
    one exercise.  Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB):  # fmt: skip
        self.path, self.timeout, self.memory_mb = os.path.abspath(path), timeout, memory_mb
        self._child: _Child | None = _Child(memory_mb)
        self._loaded = False
        self.printed = ""  # what the learner's code printed while importing
        self.writes_forbidden = False  # the child may write only in its own folder (Landlock)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def load(self) -> dict | None:
        """Import the file in the child: ``None``, or the error it raised.

        Raises :class:`Stopped` if importing it hangs, exits or dies.
        """
        if self._child is None:
            self._child = _Child(self.memory_mb)
        child = self._child
        child.fn = "<module>"
        try:
            ready, _ = child.wait(_START_TIMEOUT)  # Python and JAX are up
            self.writes_forbidden = bool(ready.get("writes_forbidden"))
        except Stopped as s:
            self._drop()
            raise Stopped(s.why, "<start>", s.how, s.stderr) from None
        child.send({"type": "load", "path": self.path})
        try:
            header, _ = child.wait(self.timeout)
        except Stopped:
            self._drop()
            raise
        self.printed = str(header.get("printed", ""))
        self._loaded = header.get("type") == "loaded"
        return None if self._loaded else dict(header.get("error") or {})

    def request(self, kind: str, name: str, cases: list) -> tuple[dict, str]:
        """Ask for ``kind`` (``"run"`` or ``"rule_check"``) of exercise ``name`` on
        ``cases``; returns the answer's payload and what the code printed.

        Raises :class:`Stopped` (and drops the child) on a timeout, an exit or a death.
        """
        if not self._loaded:
            error = self.load()
            if error is not None:
                raise Stopped("died", "<module>", error.get("msg", ""))
        child = self._child
        arrays: dict = {}
        child.fn = name
        child.send({"type": kind, "name": name, "cases": wire.pack(cases, arrays)}, arrays)
        try:
            header, answer_arrays = child.wait(self.timeout)
        except Stopped:
            self._drop()
            raise
        payload = wire.unpack(header.get("obs", header.get("check")), answer_arrays)
        return payload, str(header.get("printed", ""))

    def _drop(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.close()
        self._child, self._loaded = None, False

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None
