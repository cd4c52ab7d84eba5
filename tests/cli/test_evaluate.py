"""`python -m ember evaluate`: a checkpoint reloaded gives the accuracy training printed."""

import contextlib
import io
import re
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli import main
from ember.cli.evaluate import load_checkpoint
from tests.cli.helpers import run_cli, write_mnist_dir


def accuracy_line(stdout):
    return re.search(r"^test accuracy: .*$", stdout, re.M).group(0)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A quick digits run: (checkpoint path, the accuracy line training printed)."""
    pytest.importorskip("sklearn")
    out_dir = tmp_path_factory.mktemp("run")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["train", "--epochs", "2", "--limit", "300", "--out", str(out_dir)])
    assert status == 0
    return out_dir / "digits-cnn.safetensors", accuracy_line(buffer.getvalue())


def test_evaluate_repeats_the_training_accuracy(digits_run, capsys):
    checkpoint, train_line = digits_run
    status, out, err = run_cli(capsys, "evaluate", checkpoint)
    assert status == 0, err
    assert accuracy_line(out) == train_line
    correct = int(re.search(r"\((\d+)/359 images\)", train_line).group(1))
    assert f"(training reported {100 * correct / 359:.2f}%)" in out
    assert "cnn, 2 epochs, seed 0" in out


def test_confusion_matrix_adds_up(digits_run, capsys):
    checkpoint, train_line = digits_run
    _, out, _ = run_cli(capsys, "evaluate", checkpoint)
    lines = out.split("confusion matrix (rows: true class, columns: predicted class)\n")[1]
    header, *rows = lines.splitlines()[:11]
    assert header.split() == [str(c) for c in range(10)]
    assert [int(r.split()[0]) for r in rows] == list(range(10))
    matrix = np.array([[0 if c == "." else int(c) for c in r.split()[1:]] for r in rows])
    assert matrix.shape == (10, 10) and matrix.sum() == 359
    correct = int(re.search(r"\((\d+)/359", train_line).group(1))
    assert np.trace(matrix) == correct
    off_diagonal = matrix - np.diag(np.diag(matrix))
    if off_diagonal.max():
        t, p = np.unravel_index(off_diagonal.argmax(), matrix.shape)
        assert f"most common mistake: {t} read as {p} ({off_diagonal.max()} time" in out


def test_evaluate_limit(digits_run, capsys):
    status, out, _ = run_cli(capsys, "evaluate", digits_run[0], "--limit", "50")
    assert status == 0
    assert re.search(r"^test accuracy: [\d.]+% \(\d+/50 images\)$", out, re.M)
    assert "training reported" not in out  # a different set of images: nothing to compare


def test_load_checkpoint_gives_the_trained_weights(digits_run):
    checkpoint, model = load_checkpoint(str(digits_run[0]))
    saved = ember.load(digits_run[0])["state_dict"]
    for name, tensor in model.state_dict().items():
        assert np.array_equal(tensor.numpy(), saved[name].numpy())
    assert checkpoint["format"] == "ember-train"


def test_evaluate_idx_checkpoint_with_and_without_data(tmp_path, capsys):
    data = write_mnist_dir(tmp_path / "mnist", n_train=40, n_test=20, size=16)
    status, out, err = run_cli(
        capsys, "train", "--data", data, "--model", "mlp", "--epochs", "2", "--out", tmp_path
    )
    assert status == 0, err
    train_line = accuracy_line(out)
    status, out, err = run_cli(capsys, "evaluate", tmp_path / "mnist-mlp.safetensors")
    assert status == 0, err
    assert accuracy_line(out) == train_line and "(20/20 images)" in train_line
    status, out, err = run_cli(
        capsys, "evaluate", tmp_path / "mnist-mlp.safetensors", "--data", data
    )
    assert status == 0 and accuracy_line(out) == train_line


def test_python_dash_m_ember_evaluate(digits_run):
    result = subprocess.run(
        [sys.executable, "-m", "ember", "evaluate", str(digits_run[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert accuracy_line(result.stdout) == digits_run[1]
