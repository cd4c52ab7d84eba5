"""`mpirun -n 2 python -m ember train --distributed`: one log, one checkpoint, it learns."""

import os
import subprocess
import sys

from tests.distributed._mpirun import _launcher


def test_distributed_training_logs_and_saves_once(tmp_path):
    cmd = _launcher(2) + [
        sys.executable, "-m", "ember", "train", "--distributed", "--epochs", "4",
        "--out", str(tmp_path),
    ]  # fmt: skip
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("test accuracy:") == 1 and out.count("checkpoint:") == 1
    assert "on each of 2 processes" in out
    assert sorted(os.listdir(tmp_path)) in (
        ["digits-cnn.csv", "digits-cnn.png", "digits-cnn.safetensors"],
        ["digits-cnn.csv", "digits-cnn.safetensors"],
    )
    assert len((tmp_path / "digits-cnn.csv").read_text().splitlines()) == 1 + 4  # rank 0's
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 80.0
    evaluated = subprocess.run(
        [sys.executable, "-m", "ember", "evaluate", str(tmp_path / "digits-cnn.safetensors")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert f"test accuracy: {accuracy:.2f}%" in evaluated.stdout
