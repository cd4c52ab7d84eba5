"""`python -m ember train`: the default run, its checkpoint and plot, options, IDX data."""

import csv
import io
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli import report
from ember.cli.models import build_model
from ember.cli.report import Progress, curves_figure, epoch_ticks, plot_curves
from ember.cli.train import single_threaded_blas
from tests.cli.helpers import fake_mnist, run_cli, run_in_terminal, write_idx, write_mnist_dir

pytest.importorskip("sklearn")  # the built-in digits data set

QUICK = ("--epochs", "1", "--limit", "120")


def accuracy(stdout):
    """The percentage on the 'test accuracy:' line."""
    return float(re.search(r"^test accuracy: ([\d.]+)%", stdout, re.M).group(1))


def test_defaults_reach_97_percent_and_evaluate_agrees(tmp_path, capsys):
    status, out, err = run_cli(capsys, "train", "--out", tmp_path)
    assert status == 0, err
    assert accuracy(out) >= 97.0
    assert "20 epochs of 45 batches of 32, Adam lr 0.003" in out
    assert re.search(r"random 80/20 split, seed 0", out)
    assert (tmp_path / "digits-cnn.png").stat().st_size <= 60_000
    train_line = re.search(r"^test accuracy: .*$", out, re.M).group(0)

    status, out, err = run_cli(capsys, "evaluate", tmp_path / "digits-cnn.safetensors")
    assert status == 0, err
    assert re.search(r"^test accuracy: .*$", out, re.M).group(0) == train_line


def test_python_dash_m_ember_train(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ember", "train", *QUICK, "--out", str(tmp_path / "new" / "dir")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^epoch 1/1  loss [\d.]+  acc .*test acc", result.stdout, re.M)
    assert (tmp_path / "new" / "dir" / "digits-cnn.safetensors").is_file()
    assert (tmp_path / "new" / "dir" / "digits-cnn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_rebuilds_the_model(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "train", "--epochs", "2", "--limit", "150", "--out", tmp_path)
    assert status == 0
    ckpt = ember.load(tmp_path / "digits-cnn.safetensors")
    assert ckpt["config"] == {
        "model": "cnn",
        "in_channels": 1,
        "height": 8,
        "width": 8,
        "num_classes": 10,
    }
    assert ckpt["data"] == {"source": "digits", "seed": 0}
    assert ckpt["training"]["epochs"] == 2 and ckpt["training"]["limit"] == 150
    assert len(ckpt["history"]["test_acc"]) == 2
    assert ckpt["history"]["test_acc"][-1] == ckpt["test_accuracy"]
    assert abs(100 * ckpt["test_accuracy"] - accuracy(out)) < 0.006
    model = build_model(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    assert "150 training and 359 test images" in out


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, capsys):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        status, *_ = run_cli(capsys, "train", *QUICK, "--seed", seed, "--out", tmp_path / name)
        assert status == 0
    a, b, c = (ember.load(tmp_path / n / "digits-cnn.safetensors")["state_dict"] for n in "abc")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not np.array_equal(a["0.weight"].numpy(), c["0.weight"].numpy())


@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rmsprop", "nadam"])
def test_mlp_with_other_optimizers(tmp_path, capsys, optimizer):
    status, out, err = run_cli(
        capsys, "train", "--model", "mlp", "--optimizer", optimizer, "--epochs", "2",
        "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    assert accuracy(out) > 50  # two epochs of an MLP on the digits: far above chance (10%)
    ckpt = ember.load(tmp_path / "digits-mlp.safetensors")
    assert ckpt["config"]["model"] == "mlp" and ckpt["training"]["optimizer"] == optimizer


def test_lr_option_is_used(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "train", *QUICK, "--lr", "0.0123", "--out", tmp_path)
    assert status == 0 and "Adam lr 0.0123" in out
    assert ember.load(tmp_path / "digits-cnn.safetensors")["training"]["lr"] == 0.0123


def test_mnist_directory_28x28(tmp_path, capsys):
    data = write_mnist_dir(tmp_path / "mnist", n_train=60, n_test=20)
    status, out, err = run_cli(
        capsys, "train", "--data", data, "--epochs", "3", "--batch-size", "10", "--out", tmp_path
    )
    assert status == 0, err
    assert "60 training and 20 test images, 28x28, 10 classes (the files' own test set)" in out
    ckpt = ember.load(tmp_path / "mnist-cnn.safetensors")
    assert (ckpt["config"]["height"], ckpt["config"]["width"]) == (28, 28)
    assert ckpt["data"]["source"] == os.path.abspath(data)
    assert ckpt["state_dict"]["8.weight"].shape == (64, 32 * 7 * 7)  # the CNN adapted to 28x28
    assert accuracy(out) >= 80  # the fake digits are easy


def test_mnist_single_images_file_with_dotted_names(tmp_path, capsys):
    folder = tmp_path / "Fashion MNIST"
    folder.mkdir()
    images, labels = fake_mnist(50, size=12)
    write_idx(folder / "train-images.idx3-ubyte", images)
    write_idx(folder / "train-labels.idx1-ubyte", labels)
    status, out, err = run_cli(
        capsys, "train", "--data", folder / "train-images.idx3-ubyte", "--model", "mlp",
        "--epochs", "1", "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    assert "40 training and 10 test images, 12x12" in out
    assert "random 80/20 split, seed 0" in out
    assert (tmp_path / "fashion_mnist-mlp.safetensors").is_file()  # named after the folder


def test_runs_without_tqdm_and_matplotlib(tmp_path, capsys, monkeypatch):
    # None in sys.modules makes an import raise ImportError, as if not installed
    for name in [m for m in sys.modules if m.split(".")[0] in ("tqdm", "matplotlib")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, err = run_cli(capsys, "train", "--epochs", "2", "--limit", "60", "--out", tmp_path)
    assert status == 0, err
    assert "curves:     skipped (pip install matplotlib" in out
    assert not (tmp_path / "digits-cnn.png").exists()
    assert len(re.findall(r"^epoch [12]/2  loss", out, re.M)) == 2


def test_progress_bar_with_tqdm():
    pytest.importorskip("tqdm")
    buffer = io.StringIO()
    progress = Progress(epochs=2, batches=3, bar=True, file=buffer)
    for epoch in (1, 2):
        progress.start_epoch(epoch)
        for _ in range(3):
            progress.step(0.25, 0.5)
        progress.end_epoch(0.25, 0.5, 0.125, 0.75, 0.1)
    text = buffer.getvalue()
    assert "epoch 2/2 100%" in text and "3/3" in text
    assert "loss 0.2500, acc 50.0%, test acc 75.0%" in text


def test_progress_lines_without_a_terminal():
    buffer = io.StringIO()
    progress = Progress(epochs=10, batches=3, file=buffer)  # stderr is not a tty under pytest
    progress.start_epoch(3)
    progress.step(1.0, 0.1)
    progress.end_epoch(0.5, 0.9, 0.25, 0.95, 1.25)
    assert buffer.getvalue() == (
        "epoch  3/10  loss 0.5000  acc  90.0%  test loss 0.2500  test acc  95.0%  (1.2 s)\n"
    )


def test_plot_curves_writes_a_small_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = {
        "train_loss": [2.0, 0.5, 0.1],
        "test_loss": [1.5, 0.4, 0.2],
        "train_acc": [0.3, 0.8, 0.97],
        "test_acc": [0.5, 0.9, 0.95],
    }
    assert plot_curves(history, tmp_path / "c.png", "title") is True
    data = (tmp_path / "c.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 60_000


def test_training_runs_with_single_threaded_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with single_threaded_blas():
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)


def test_history_csv_beside_the_checkpoint(tmp_path, capsys):
    status, out, err = run_cli(capsys, "train", "--epochs", "2", "--limit", "90", "--out", tmp_path)
    assert status == 0, err
    assert f"history:    {tmp_path / 'digits-cnn.csv'}" in out
    with open(tmp_path / "digits-cnn.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"
    ]  # fmt: skip
    assert [r["epoch"] for r in rows] == ["1", "2"]
    history = ember.load(tmp_path / "digits-cnn.safetensors")["history"]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert [float(r[key]) for r in rows] == pytest.approx(history[key], rel=1e-5)
    # the rate each epoch trained at: cosine from 0.003 to 0 over 2 epochs
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.003, 0.0015])
    assert all(float(r["seconds"]) > 0 for r in rows)


def test_a_diverged_run_keeps_the_history_of_its_epochs(tmp_path, capsys):
    status, _, err = run_cli(
        capsys, "train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e30",
        "--epochs", "3", "--limit", "60", "--out", tmp_path,
    )  # fmt: skip
    assert status == 2 and "training diverged" in err
    lines = (tmp_path / "digits-mlp.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,") and lines[1].startswith("1,")


def test_train_prints_the_model_summary(tmp_path, capsys):
    status, out, err = run_cli(capsys, "train", *QUICK, "--out", tmp_path)
    assert status == 0, err
    assert re.search(r"^Layer \(type:depth-idx\) +Output Shape +Param #$", out, re.M)
    assert re.search(r"^├─Conv2d: 1-1 +\[32, 16, 8, 8\] +160$", out, re.M)
    assert re.search(r"^└─Linear: 1-11 +\[32, 10\] +650$", out, re.M)
    assert "Total params: 13,706" in out
    assert out.index("Total params") < out.index("training: 1 epoch")


def _tty(stream_is_terminal):
    class Stream(io.StringIO):
        def isatty(self):
            return stream_is_terminal

    return Stream()


@pytest.mark.parametrize("stdout_tty, stderr_tty", [(False, True), (True, False), (False, False)])
def test_plain_lines_unless_stdout_and_stderr_are_terminals(monkeypatch, stdout_tty, stderr_tty):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stdout", _tty(stdout_tty))
    monkeypatch.setattr(sys, "stderr", _tty(stderr_tty))
    assert Progress(epochs=2, batches=3).bar_class is None
    monkeypatch.setattr(sys, "stdout", _tty(True))
    monkeypatch.setattr(sys, "stderr", _tty(True))
    assert Progress(epochs=2, batches=3).bar_class is not None


@pytest.mark.parametrize("size", [(0, 0), (0, 24), (80, 0), (39, 24)])
def test_a_terminal_without_room_for_a_bar_gets_plain_lines(monkeypatch, size):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(report, "terminal_size", lambda stream: size)
    buffer = io.StringIO()
    progress = Progress(epochs=1, batches=2, bar=True, file=buffer)
    progress.start_epoch(1)
    progress.step(1.0, 0.5)
    progress.end_epoch(0.5, 0.9, 0.25, 0.95, 1.0)
    assert buffer.getvalue().startswith("epoch 1/1  loss 0.5000")
    assert buffer.getvalue().count("\n") == 1 and "|" not in buffer.getvalue()


# a real terminal (pseudo-terminal): what the user sees, with `python -m ember train` in it
needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
TERMINAL_RUN = ("train", "--epochs", "2", "--limit", "60")


def _shown_lines(text):
    """The lines a terminal shows: each ends at a newline, a carriage return rewrites it."""
    return [line.split("\r")[-1] for line in text.replace("\r\n", "\n").split("\n")[:-1]]


@needs_pty
def test_redirected_stdout_logs_every_epoch_while_stderr_is_a_terminal(tmp_path):
    pytest.importorskip("tqdm")
    with open(tmp_path / "log.txt", "w") as log:
        status, screen = run_in_terminal(
            [*TERMINAL_RUN, "--out", tmp_path], columns=100, lines=30, stdout=log
        )
    text = (tmp_path / "log.txt").read_text()
    assert status == 0, screen
    assert len(re.findall(r"^epoch [12]/2  loss [\d.]+  acc .*test acc.*s\)$", text, re.M)) == 2
    assert "\r" not in text and "" not in text.splitlines()
    assert screen == ""  # nothing went to the terminal: no bar, no warning


@needs_pty
@pytest.mark.parametrize("columns, lines", [(0, 0), (0, 30), (100, 0), (20, 30)])
def test_a_terminal_reporting_no_size_shows_plain_lines_never_blank(tmp_path, columns, lines):
    status, screen = run_in_terminal([*TERMINAL_RUN, "--out", tmp_path], columns, lines)
    assert status == 0, screen
    shown = _shown_lines(screen)
    assert "" not in [line.strip() for line in shown], shown
    assert len([line for line in shown if re.match(r"epoch [12]/2  loss", line)]) == 2


@needs_pty
def test_a_terminal_with_room_shows_a_bar_per_epoch(tmp_path):
    pytest.importorskip("tqdm")
    status, screen = run_in_terminal([*TERMINAL_RUN, "--out", tmp_path], columns=100, lines=30)
    assert status == 0, screen
    shown = _shown_lines(screen)
    bars = [line for line in shown if re.match(r"epoch [12]/2 100%\|█+\| 2/2 ", line)]
    assert len(bars) == 2 and all(len(line) <= 100 for line in bars)
    assert "" not in [line.strip() for line in shown]


@pytest.mark.parametrize(
    "epochs, ticks",
    [
        (1, [1]),
        (3, [1, 2, 3]),
        (8, [1, 2, 3, 4, 5, 6, 7, 8]),
        (9, [1, 2, 4, 6, 8, 9]),
        (20, [1, 5, 10, 15, 20]),
        (21, [1, 5, 10, 15, 21]),
        (100, [1, 20, 40, 60, 80, 100]),
    ],
)
def test_epoch_ticks_label_the_first_and_last_epoch(epochs, ticks):
    assert epoch_ticks(epochs) == ticks


def _readme_history(epochs=20):
    """Curves shaped like the default run's: from 30% and 59% up to 98.4% and 99.4%."""
    rise = [1 - math.exp(-i / 3) for i in range(epochs)]
    return {
        "train_loss": [2.0 * (1 - r) + 0.05 for r in rise],
        "test_loss": [1.4 * (1 - r) + 0.04 for r in rise],
        "train_acc": [0.30 + 0.684 * r for r in rise],
        "test_acc": [0.59 + 0.404 * r for r in rise],
    }


def test_curves_show_every_epoch_and_the_high_accuracies():
    pytest.importorskip("matplotlib")
    fig = curves_figure(_readme_history(), "title")
    fig.canvas.draw()
    loss_ax, acc_ax = fig.axes[:2]
    for ax in (loss_ax, acc_ax):
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels[0] == "1" and labels[-1] == "20"
        ticks = {*ax.xaxis.get_minorticklocs(), *ax.get_xticks()}  # minor skips the major
        assert sorted(ticks) == list(range(1, 21))
        assert ax.get_xlim() == (0.5, 20.5)
    # 97% and 99% lie far apart on the accuracy axis (on a 30-100% linear axis: 3% of it)
    bottom, top = acc_ax.get_ylim()
    to_axis = acc_ax.transData + acc_ax.transAxes.inverted()
    (_, y97), (_, y99) = to_axis.transform([(1, 0.97), (1, 0.99)])
    assert y99 - y97 > 0.15
    # and every point is inside the axis, the first epoch's 30% too
    values = [a for key in ("train_acc", "test_acc") for a in _readme_history()[key]]
    assert bottom < min(values) and max(values) < top
    labels = [t.get_text() for t in acc_ax.get_yticklabels()]
    assert "99%" in labels and "97%" in labels


def test_curves_with_perfect_accuracy_and_one_epoch(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"train_loss": [0.1], "test_loss": [0.2], "train_acc": [1.0], "test_acc": [0.0]}
    assert plot_curves(history, tmp_path / "c.png", "title") is True
    fig = curves_figure(history, "title")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1"]
