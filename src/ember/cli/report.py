"""What `python -m ember train` reports: a line (or progress bar) per epoch, a CSV of the
history and a PNG of the curves.

tqdm and matplotlib are optional. Each epoch is one plain line on stdout unless tqdm is
installed and both stdout and stderr are terminals at least MIN_BAR_COLUMNS wide; then it is a
bar on stderr. Without matplotlib the plot is skipped with a one-line note.
"""

from __future__ import annotations

import csv
import math
import os
import sys

_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
MIN_BAR_COLUMNS = 40  # narrower (or a terminal reporting 0 columns or rows): plain lines instead


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def terminal_size(stream):
    """(columns, lines) of the terminal `stream` writes to, (0, 0) where it reports no size (as
    some do); None when `stream` is not a terminal."""
    if not _is_terminal(stream):
        return None
    try:
        return tuple(os.get_terminal_size(stream.fileno()))
    except (AttributeError, ValueError, OSError):
        return (0, 0)


class Progress:
    """Per-epoch progress: a tqdm bar (`bar=True`) or one plain line per epoch.

    By default a bar only where someone watches it: stdout and stderr both terminals (so
    `train > log.txt` logs every epoch as a line) and tqdm installed. `file` is where the lines
    (stdout by default) or the bar (stderr by default) go.
    """

    def __init__(self, epochs, batches, bar=None, file=None):
        self.epochs, self.batches = epochs, batches
        self.file = file
        if bar is None:
            bar = _tqdm() is not None and _is_terminal(sys.stdout) and _is_terminal(sys.stderr)
        self.bar_class = _tqdm() if bar else None
        self._bar = None
        self._epoch = 0

    def _label(self):
        width = len(str(self.epochs))
        return f"epoch {self._epoch:>{width}}/{self.epochs}"

    def start_epoch(self, epoch):
        """Begin epoch `epoch` (counted from 1)."""
        self._epoch = epoch
        if self.bar_class is None:
            return
        file = self.file if self.file is not None else sys.stderr
        size = terminal_size(file)  # measured each epoch: follows a resized window
        if size is not None and (size[0] < MIN_BAR_COLUMNS or size[1] < 2):
            return  # this epoch is a plain line: tqdm draws blank lines where a size is 0
        self._bar = self.bar_class(
            total=self.batches,
            desc=self._label(),
            bar_format=_BAR_FORMAT,
            leave=True,
            ncols=size and size[0],  # None (not a terminal): tqdm's own width
            file=file,
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


HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")


class HistoryCSV:
    """The per-epoch history as a CSV file, one row written (and flushed) as each epoch ends,
    so an interrupted or diverged run keeps the epochs it finished. Accuracies are fractions."""

    def __init__(self, path):
        self.path = path
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(HISTORY_COLUMNS)
        self._file.flush()

    def write(self, epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds):
        """One epoch's row."""
        values = (train_loss, train_acc, test_loss, test_acc, lr)
        self._writer.writerow([epoch, *(f"{v:.6g}" for v in values), f"{seconds:.3f}"])
        self._file.flush()

    def close(self):
        """Close the file."""
        self._file.close()


def epoch_ticks(epochs):
    """Major ticks for an axis of epochs 1..epochs: the first and last epoch, and round
    multiples between them (about 5 to 8 labels, none crowding the ends)."""
    if epochs <= 8:
        return list(range(1, epochs + 1))
    step = next(s for s in _round_steps() if epochs / s <= 8)
    inner = [k for k in range(step, epochs, step) if k - 1 >= step / 2 and epochs - k >= step / 2]
    return [1, *inner, epochs]


def _round_steps():
    scale = 1
    while True:
        for mantissa in (1, 2, 5):
            yield mantissa * scale
        scale *= 10


# accuracy ticks (percent) on the logit axis, most wanted first; those inside the axis are
# kept in this order while they leave room for their labels
_ACCURACY_TICKS = (50, 90, 99, 99.9, 10, 97, 95, 80, 70, 30, 98, 99.5, 99.8, 20, 5, 2, 1, 99.95)
_ACCURACY_CLIP = 1e-4  # 0% and 100% are drawn at 0.01% and 99.99% (the logit of 0 or 1 is inf)


def curves_figure(history, title):
    """The matplotlib Figure of loss (log scale) and accuracy per epoch, train and test.

    Every epoch has a tick and the first and last are labelled. Accuracy is on a logit scale,
    which spreads the high end (97%, 98% and 99% are far apart) while keeping the first
    epochs' low accuracies in view. None without matplotlib.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    except ImportError:
        return None
    # a Figure with its own Agg canvas: no pyplot, no global backend switch
    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    n = len(history["train_loss"])
    epochs = range(1, n + 1)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, history["train_loss"], "o-", ms=3, label="train")
    loss_ax.plot(epochs, history["test_loss"], "s-", ms=3, label="test")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss", yscale="log")
    low, high = _ACCURACY_CLIP, 1 - _ACCURACY_CLIP
    accuracies = {
        key: [min(max(a, low), high) for a in history[key]] for key in ("train_acc", "test_acc")
    }
    acc_ax.plot(epochs, accuracies["train_acc"], "o-", ms=3, label="train")
    acc_ax.plot(epochs, accuracies["test_acc"], "s-", ms=3, label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%, logit scale)", title="accuracy")
    acc_ax.set_yscale("logit", nonpositive="clip")
    _fit_accuracy_axis(acc_ax, accuracies["train_acc"] + accuracies["test_acc"])
    acc_ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{100 * y:.4g}%"))
    acc_ax.yaxis.set_minor_formatter(NullFormatter())
    for ax in (loss_ax, acc_ax):
        ax.set_xlim(0.5, n + 0.5)
        ax.xaxis.set_major_locator(FixedLocator(epoch_ticks(n)))
        ax.xaxis.set_minor_locator(FixedLocator(list(epochs) if n <= 100 else []))
        ax.grid(alpha=0.3)
    loss_ax.legend(loc="upper right")
    acc_ax.legend(loc="lower right")  # the curves rise: their start is low on the left
    fig.suptitle(title, fontsize=10)
    return fig


def _fit_accuracy_axis(ax, values):
    """Limits around the data on the logit scale, with ticks from _ACCURACY_TICKS inside."""
    from matplotlib.ticker import FixedLocator

    def logit(p):
        return math.log(p / (1 - p))

    def expit(z):
        return 1 / (1 + math.exp(-z))

    lo, hi = logit(min(values)), logit(max(values))
    pad = max(0.1 * (hi - lo), 0.2)
    bottom, top = expit(lo - pad), expit(hi + pad)
    ax.set_ylim(bottom, top)
    room = (logit(top) - logit(bottom)) / 7  # labels at least a seventh of the axis apart
    kept = []
    for t in (t / 100 for t in _ACCURACY_TICKS):
        if bottom <= t <= top and all(abs(logit(t) - logit(k)) >= room for k in kept):
            kept.append(t)
    ax.yaxis.set_major_locator(FixedLocator(sorted(kept)))


def plot_curves(history, path, title):
    """Write the curves (see curves_figure) as a PNG; False without matplotlib."""
    fig = curves_figure(history, title)
    if fig is None:
        return False
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
