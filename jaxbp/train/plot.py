"""The training figure: the book's accuracy plot (figure 4-12 style) and the loss curve.

Imported only when a figure is written, so that ``import jaxbp.train`` does not
load matplotlib.
"""

from __future__ import annotations

import io
import os

import numpy as np

from jaxbp._files import atomic_write

__all__ = ["plot_training", "preload"]


def _import_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def preload() -> None:
    """Import matplotlib in a background thread (0.3-0.4 s), while the steps run.

    The compiled steps release the GIL, so the import costs the run nothing;
    :func:`plot_training` then finds it done (the import lock makes it wait if not).
    """
    import threading

    threading.Thread(target=_import_pyplot, name="jaxbp-preload-matplotlib", daemon=True).start()


def plot_training(metrics: dict, path: str | os.PathLike) -> None:
    """Write ``path`` (PNG, atomically): accuracy per epoch, and the minibatch loss."""
    _import_pyplot()
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.asarray(metrics["eval_steps"]) / metrics["iter_per_epoch"]
    if len(epochs):
        ax1.plot(epochs, metrics["train_acc"], marker="o", label="train acc")
        ax1.plot(epochs, metrics["test_acc"], marker="s", linestyle="--", label="test acc")
        ax1.legend(loc="lower right")
    ax1.set(xlabel="epochs", ylabel="accuracy", ylim=(0, 1.0), title="accuracy")
    loss = np.asarray([np.nan if v is None else v for v in metrics["loss"]], float)
    if loss.size:
        ax2.plot(loss, lw=0.3, alpha=0.5, label="minibatch loss")
        w = min(100, loss.size)
        ax2.plot(
            np.arange(w - 1, loss.size),
            np.convolve(loss, np.ones(w) / w, "valid"),
            label=f"mean of {w}",
        )
        ax2.legend(loc="upper right")
    ax2.set(xlabel="iteration", ylabel="loss", title="loss", yscale="log")
    config = metrics["config"]
    fig.suptitle(
        f"{config.get('model', 'two_layer_net')} on {config['dataset']} ({metrics['device']})"
    )
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.86, wspace=0.22)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
