"""PyTorch on the CPU, the peer the benchmarks time beside jaxbp (never a jaxbp dependency).

Run by :class:`TorchPeer` with the Python of an environment that has PyTorch
(``--torch-python``, e.g. a venv made with ``pip install torch numpy``).  The process
builds the book's networks once and then answers one request per line on stdin,
``ROW STEPS``, with the seconds those steps took, so the caller can interleave its own
rows with these (A B C A B C ...) and a change in the machine's load hits every row
alike.  Rows:

  two_layer_net         TwoLayerNet 784-50-10, batch 100, SGD lr 0.1, eager
  conv-eager            SimpleConvNet (7.5), batch 100, Adam lr 0.001, eager, NCHW
  conv-channels-last    the same with channels-last memory format
  conv-compile          the same under torch.compile (left out when it does not build)

Minibatches are drawn with replacement from uint8 images resident in memory and
normalised per step, as jaxbp's trainer does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def _networks(torch, x_u8, t):
    nn = torch.nn
    two = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))

    def conv_net():
        return nn.Sequential(
            nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10),
        )  # fmt: skip

    def stepper(model, opt, image, memory_format=None, compiled=False):
        loss_fn = nn.CrossEntropyLoss()

        def step(xb, tb):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()
            return loss

        step = torch.compile(step) if compiled else step

        def run(n):
            for _ in range(n):
                idx = torch.randint(0, x_u8.shape[0], (100,))
                xb = x_u8[idx].float().div_(255).reshape(100, *image)
                if memory_format is not None:
                    xb = xb.contiguous(memory_format=memory_format)
                step(xb, t[idx])

        return run

    rows = {"two_layer_net": stepper(two, torch.optim.SGD(two.parameters(), lr=0.1), (784,))}
    for name, fmt, compiled in (
        ("conv-eager", None, False),
        ("conv-channels-last", torch.channels_last, False),
        ("conv-compile", None, True),
    ):
        net = conv_net()
        if fmt is not None:
            net = net.to(memory_format=fmt)
        rows[name] = stepper(
            net, torch.optim.Adam(net.parameters(), lr=1e-3), (1, 28, 28), fmt, compiled
        )
    return rows


def serve(threads: int) -> None:
    """The child: build the rows, then answer ``ROW STEPS`` lines with ``{"s": seconds}``."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x_u8 = torch.from_numpy(rng.integers(0, 256, (60000, 784), np.uint8))
    t = torch.from_numpy(rng.integers(0, 10, 60000)).long()
    rows = _networks(torch, x_u8, t)
    for name in list(rows):  # warm up (and find out which rows build)
        try:
            rows[name](3)
        except Exception as e:  # torch.compile needs a C compiler and more
            print(json.dumps({"skip": name, "why": f"{type(e).__name__}: {e}"[:200]}), flush=True)
            del rows[name]
    print(json.dumps({"ready": list(rows), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        name, n = line.split()
        t0 = time.perf_counter()
        rows[name](int(n))
        print(json.dumps({"s": time.perf_counter() - t0}), flush=True)


class TorchPeer:
    """The PyTorch rows, in a process of the given Python; ``None`` rows where it has none."""

    def __init__(self, python: str, threads: int) -> None:
        self.proc = subprocess.Popen(
            [python, __file__, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.skipped: dict[str, str] = {}
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "skip" in msg:
                self.skipped[msg["skip"]] = msg["why"]
            else:
                self.rows, self.version = msg["ready"], msg["torch"]
                break
        else:
            raise RuntimeError(f"{python} could not start the PyTorch rows")

    def call(self, name: str, steps: int):
        """A callable for the interleaved timer: ``steps`` steps of row ``name``."""

        def run():
            self.proc.stdin.write(f"{name} {steps}\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())["s"]

        return run

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def start(python: str | None, threads: int) -> tuple[TorchPeer | None, str | None]:
    """The PyTorch rows in a process of ``python`` with ``threads`` threads, or ``None`` and why
    not (no ``python`` given, or no PyTorch in it)."""
    if not python:
        return None, "no --torch-python given (the Python of an environment with PyTorch)"
    why = has_torch(python)
    return (None, why) if why else (TorchPeer(python, threads), None)


def has_torch(python: str) -> str | None:
    """Why ``python`` cannot run the PyTorch rows, or None when it can."""
    try:
        r = subprocess.run([python, "-c", "import torch"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{python}: {e}"
    return None if r.returncode == 0 else f"no PyTorch in {python}"


if __name__ == "__main__":
    serve(int(sys.argv[1]))
