"""Every user error of train/evaluate/graph: one line on stderr, exit status 2, no traceback."""

import gzip
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli import COMMANDS
from tests.cli.helpers import fake_mnist, idx_bytes, run_cli, write_idx, write_mnist_dir


def assert_one_line_error(status, out, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- option values


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
        (["train", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["train", "--epochs", "-3"], "argument --epochs: must be at least 1, got -3"),
        (["train", "--epochs", "ten"], "argument --epochs: expected a positive integer, got 'ten'"),
        (["train", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
        (["train", "--lr", "-1"], "argument --lr: must be a positive finite number, got -1"),
        (["train", "--lr", "0"], "argument --lr: must be a positive finite number, got 0"),
        (["train", "--lr", "nan"], "argument --lr: must be a positive finite number, got nan"),
        (["train", "--lr", "inf"], "argument --lr: must be a positive finite number, got inf"),
        (["train", "--lr", "fast"], "argument --lr: expected a positive number, got 'fast'"),
        (["train", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (["train", "--seed", "1.5"], "argument --seed: expected an integer >= 0, got '1.5'"),
        (["train", "--limit", "0"], "argument --limit: must be at least 1"),
        (["train", "--optimizer", "lion"], "argument --optimizer: invalid choice: 'lion'"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["evaluate"], "the following arguments are required: checkpoint"),
        (["evaluate", "x.safetensors", "--limit", "0"], "argument --limit: must be at least 1"),
        (["graph", "--model", "vit"], "argument --model: invalid choice: 'vit'"),
        (["graph", "--image-size", "0"], "argument --image-size: must be at least 1"),
        (["graph", "--batch-size", "x"], "argument --batch-size: expected a positive integer"),
        (["fly"], "argument COMMAND: invalid choice: 'fly'"),
    ],
)
def test_bad_option_values(capsys, argv, fragment):
    status, out, err = run_cli(capsys, *argv)
    line = assert_one_line_error(status, out, err, fragment)
    assert line.endswith("--help)")  # says where to look


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_works_on_every_command(capsys, command):
    argv = ["--help"] if command is None else [command, "--help"]
    status, out, err = run_cli(capsys, *argv)
    assert status == 0 and err == ""
    assert out.startswith("usage: python -m ember")
    if command is not None:
        assert COMMANDS[command][1] in out.replace("\n", " ").replace("  ", " ")


def test_help_lists_the_options_of_train(capsys):
    _, out, _ = run_cli(capsys, "train", "--help")
    for option in ("--model {cnn,mlp}", "--epochs", "--batch-size", "--lr", "--optimizer",
                   "--seed", "--out DIR", "--data PATH", "--limit N"):  # fmt: skip
        assert option in out


# ---------------------------------------------------------------- --data


def test_data_missing_path(tmp_path, capsys):
    missing = tmp_path / "nope"
    status, out, err = run_cli(capsys, "train", "--data", missing, "--out", tmp_path / "o")
    assert_one_line_error(status, out, err, f"--data {missing}: no such file or directory")
    assert not (tmp_path / "o").exists()  # nothing made before the data is known to be good


def test_data_directory_without_idx_files(tmp_path, capsys):
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "no train-images-idx3-ubyte[.gz]")


def test_data_images_file_without_labels_beside_it(tmp_path, capsys):
    images = write_idx(tmp_path / "train-images-idx3-ubyte", fake_mnist(10)[0])
    status, out, err = run_cli(capsys, "train", "--data", images)
    assert_one_line_error(
        status, out, err, "cannot find the labels file next to it", "train-labels-idx1-ubyte[.gz]"
    )
    other = write_idx(tmp_path / "pictures.idx", fake_mnist(10)[0])
    status, out, err = run_cli(capsys, "train", "--data", other)
    assert_one_line_error(status, out, err, "cannot find the labels file next to it")


@pytest.mark.parametrize(
    "corrupt, fragment",
    [
        (lambda b: b"\x08\x03" + b[2:], "bad magic number"),
        (lambda b: b[:2] + b"\x05" + b[3:], "unknown IDX type code 0x05"),
        (lambda b: b[: len(b) - 100], "truncated IDX file"),
        (lambda b: gzip.compress(b)[:200], "the gzip stream ends early"),
    ],
)
def test_data_corrupt_images_file(tmp_path, capsys, corrupt, fragment):
    write_mnist_dir(tmp_path, n_train=10, n_test=10, gz_train=False)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(corrupt(images.read_bytes()))
    status, out, err = run_cli(capsys, "train", "--data", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(status, out, err, f"--data {tmp_path}", fragment, str(images))


def test_data_label_count_mismatch(tmp_path, capsys):
    images, labels = fake_mnist(10)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:7])
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "10 images but labels of shape (7,)")


def test_data_wrong_shapes_and_labels(tmp_path, capsys):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 3, 5, 5), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(4))
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "expected images of shape (N, rows, columns)")
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 5, 5), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, -1, 2]), code=0x09)
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "labels must be non-negative integers")


def test_data_too_small_to_split(tmp_path, capsys):
    images, labels = fake_mnist(2)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "2 images are too few to hold out a test set")


def test_data_test_images_of_another_size(tmp_path, capsys):
    write_mnist_dir(tmp_path, n_train=10, n_test=10, size=28)
    images, labels = fake_mnist(10, size=20)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "training images are (28, 28), test images (20, 20)")


def test_data_unreadable_file(tmp_path, capsys):
    write_mnist_dir(tmp_path, n_train=10, n_test=10, gz_train=False)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte").mkdir()  # a directory where a file should be
    status, out, err = run_cli(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, out, err, "no train-images-idx3-ubyte")


def test_without_scikit_learn(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    status, out, err = run_cli(capsys, "train", "--out", tmp_path)
    assert_one_line_error(status, out, err, "needs scikit-learn (pip install scikit-learn)")


# ---------------------------------------------------------------- --out and training


def test_out_is_a_file(tmp_path, capsys):
    pytest.importorskip("sklearn")
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, out, err = run_cli(capsys, "train", "--epochs", "1", "--out", blocker)
    assert_one_line_error(status, out, err, f"--out {blocker}: cannot create the directory")


def test_training_that_diverges(tmp_path, capsys):
    pytest.importorskip("sklearn")
    status, out, err = run_cli(
        capsys, "train", "--optimizer", "sgd", "--lr", "1e300", "--epochs", "2", "--limit", "64",
        "--out", tmp_path,
    )  # fmt: skip
    assert_one_line_error(status, out, err, "training diverged", "try a smaller --lr")


# ---------------------------------------------------------------- evaluate


def test_evaluate_missing_checkpoint(tmp_path, capsys):
    status, out, err = run_cli(capsys, "evaluate", tmp_path / "none.safetensors")
    assert_one_line_error(status, out, err, "none.safetensors: no such file")


def test_evaluate_directory(tmp_path, capsys):
    status, out, err = run_cli(capsys, "evaluate", tmp_path)
    assert_one_line_error(status, out, err, "is a directory, not a checkpoint file")


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "not a valid checkpoint"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json!!!!!!}", "not valid JSON"),
        (b"\x80\x04garbage", "raw pickle"),
        (b"\xff" * 64, "not a valid checkpoint"),
    ],
)
def test_evaluate_corrupt_checkpoint(tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(status, out, err, str(path), fragment)


def test_evaluate_truncated_checkpoint(tmp_path, capsys):
    path = tmp_path / "cut.safetensors"
    ember.save({"config": {"model": "mlp"}, "w": ember.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:-100])
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(status, out, err, "cut.safetensors", "not a valid checkpoint")


def test_evaluate_other_safetensors_file(tmp_path, capsys):
    path = tmp_path / "weights.safetensors"
    ember.save({"weight": ember.zeros(3)}, path)
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(
        status, out, err, "not a checkpoint from `python -m ember train` (no config, state_dict"
    )


def test_evaluate_checkpoint_with_malformed_fields(tmp_path, capsys):
    path = _checkpoint(tmp_path / "c.safetensors", data="digits")
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(
        status, out, err, "not a checkpoint from `python -m ember train` (no data)"
    )


def _checkpoint(path, **changes):
    from ember.cli.models import build_model, model_config

    config = model_config("mlp", 1, 8, 8, 10)
    ckpt = {
        "config": config,
        "state_dict": build_model(config).state_dict(),
        "data": {"source": "digits", "seed": 0},
    }
    ckpt.update(changes)
    ember.save(ckpt, path)
    return path


def test_evaluate_unknown_model_in_checkpoint(tmp_path, capsys):
    from ember.cli.models import model_config

    path = _checkpoint(tmp_path / "c.safetensors", config=model_config("resnet", 1, 8, 8, 10))
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(status, out, err, "cannot rebuild the model", "unknown model 'resnet'")


def test_evaluate_weights_that_do_not_fit(tmp_path, capsys):
    path = _checkpoint(tmp_path / "c.safetensors", state_dict={"1.weight": ember.zeros(2, 2)})
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(status, out, err, "cannot rebuild the model")


def test_evaluate_on_data_of_another_size(tmp_path, capsys):
    path = _checkpoint(tmp_path / "c.safetensors")
    data = write_mnist_dir(tmp_path / "mnist", n_train=10, n_test=10, size=28)
    status, out, err = run_cli(capsys, "evaluate", path, "--data", data)
    assert_one_line_error(status, out, err, "the model takes 8x8 images, the data has 28x28")


def test_evaluate_on_data_with_more_classes(tmp_path, capsys):
    from ember.cli.models import build_model, model_config

    config = model_config("mlp", 1, 28, 28, 3)
    path = _checkpoint(
        tmp_path / "c.safetensors", config=config, state_dict=build_model(config).state_dict()
    )
    data = write_mnist_dir(tmp_path / "mnist", n_train=10, n_test=10, size=28)
    status, out, err = run_cli(capsys, "evaluate", path, "--data", data)
    assert_one_line_error(status, out, err, "the data has 10 classes, the model only 3")


def test_evaluate_when_the_training_data_is_gone(tmp_path, capsys):
    gone = str(tmp_path / "mnist-was-here")
    path = _checkpoint(tmp_path / "c.safetensors", data={"source": gone, "seed": 0})
    status, out, err = run_cli(capsys, "evaluate", path)
    assert_one_line_error(status, out, err, f"trained on {gone}, which is gone: pass --data PATH")


def test_evaluate_bad_data_path(tmp_path, capsys):
    path = _checkpoint(tmp_path / "c.safetensors")
    status, out, err = run_cli(capsys, "evaluate", path, "--data", tmp_path / "nope")
    assert_one_line_error(status, out, err, "no such file or directory")


# ---------------------------------------------------------------- graph


def test_graph_out_directory_missing(tmp_path, capsys):
    status, out, err = run_cli(capsys, "graph", "--out", tmp_path / "no" / "g.svg")
    assert_one_line_error(status, out, err, "does not exist")


def test_graph_out_is_a_directory(tmp_path, capsys):
    status, out, err = run_cli(capsys, "graph", "--out", tmp_path)
    assert_one_line_error(status, out, err, "cannot write it")


def test_graph_dot_without_graphviz(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    status, out, err = run_cli(capsys, "graph", "--dot", "--out", tmp_path / "g.dot")
    assert_one_line_error(status, out, err, "--dot needs the graphviz package")
    assert not (tmp_path / "g.dot").exists()


def test_graph_image_too_small_for_the_cnn(tmp_path, capsys):
    status, out, err = run_cli(capsys, "graph", "--image-size", "3", "--out", tmp_path / "g.svg")
    assert_one_line_error(status, out, err, "the cnn pools twice, it needs at least 4, got 3")


# ---------------------------------------------------------------- as a real process


def test_process_exit_status_and_stderr(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(idx_bytes(np.arange(10, dtype=np.uint8))[:-3])
    for argv in (["train", "--epochs", "0"], ["evaluate", str(tmp_path / "missing")]):
        result = subprocess.run(
            [sys.executable, "-m", "ember", *argv], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
