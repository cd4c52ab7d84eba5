"""What `python -m ember train` shows: a progress bar per epoch and a PNG of the curves.

tqdm and matplotlib are optional: without tqdm (or when stderr is not a terminal) each epoch
is one plain line; without matplotlib the plot is skipped with a one-line note.
"""

from __future__ import annotations

import sys

_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Per-epoch progress: a tqdm bar (`bar=True`) or one plain line per epoch."""

    def __init__(self, epochs, batches, bar=None, file=None):
        self.epochs, self.batches = epochs, batches
        self.file = file
        if bar is None:  # a bar only where someone watches it
            bar = _tqdm() is not None and sys.stderr.isatty()
        self.bar_class = _tqdm() if bar else None
        self._bar = None
        self._epoch = 0

    def _label(self):
        width = len(str(self.epochs))
        return f"epoch {self._epoch:>{width}}/{self.epochs}"

    def start_epoch(self, epoch):
        """Begin epoch `epoch` (counted from 1)."""
        self._epoch = epoch
        if self.bar_class is not None:
            self._bar = self.bar_class(
                total=self.batches,
                desc=self._label(),
                bar_format=_BAR_FORMAT,
                leave=True,
                dynamic_ncols=True,
                file=self.file if self.file is not None else sys.stderr,
            )

    def step(self, loss, accuracy):
        """One batch done: the epoch's running mean loss and accuracy so far."""
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {loss:.4f}, acc {accuracy:.1%}", refresh=False)
            self._bar.update(1)

    def end_epoch(self, train_loss, train_acc, test_loss, test_acc, seconds):
        """Epoch done: its mean training loss and accuracy and the test set's."""
        if self._bar is not None:  # the bar stays on screen: keep it short
            self._bar.set_postfix_str(
                f"loss {train_loss:.4f}, acc {train_acc:.1%}, test acc {test_acc:.1%}",
                refresh=False,
            )
            self._bar.close()
            self._bar = None
        else:
            print(
                f"{self._label()}  loss {train_loss:.4f}  acc {train_acc:6.1%}  "
                f"test loss {test_loss:.4f}  test acc {test_acc:6.1%}  ({seconds:.1f} s)",
                file=self.file,
                flush=True,
            )


def plot_curves(history, path, title):
    """Write loss and accuracy per epoch (train and test) as a PNG; False without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    # a Figure with its own Agg canvas: no pyplot, no global backend switch
    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    epochs = range(1, len(history["train_loss"]) + 1)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, history["train_loss"], "o-", ms=3, label="train")
    loss_ax.plot(epochs, history["test_loss"], "s-", ms=3, label="test")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss", yscale="log")
    acc_ax.plot(epochs, [100 * a for a in history["train_acc"]], "o-", ms=3, label="train")
    acc_ax.plot(epochs, [100 * a for a in history["test_acc"]], "s-", ms=3, label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    _save_small_png(fig, path)
    return True


def _save_small_png(fig, path):
    """Save as a 256-colour PNG: a third of the bytes of matplotlib's RGBA, same look."""
    try:
        from PIL import Image  # a dependency of matplotlib, checked all the same
    except ImportError:
        fig.savefig(path, format="png")
        return
    fig.canvas.draw()
    image = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba())
    image.convert("RGB").quantize(colors=256).save(path, format="PNG", optimize=True)
