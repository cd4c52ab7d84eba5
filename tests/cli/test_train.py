"""`python -m ember train`: the default run, its checkpoint and plot, options, IDX data."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli.models import build_model
from ember.cli.report import Progress, plot_curves
from ember.cli.train import single_threaded_blas
from tests.cli.helpers import fake_mnist, run_cli, write_idx, write_mnist_dir

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
