"""Helpers for the command-line tests: run a command in-process, write small IDX files."""

from __future__ import annotations

import gzip
import struct

import numpy as np

from ember.cli import main

# IDX type code -> big-endian NumPy dtype
IDX_CODES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `python -m ember *argv`, run in this process."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:  # argparse exits on --help and on usage errors
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def idx_bytes(array, code=0x08):
    """The IDX encoding of `array` with the given type code."""
    array = np.asarray(array)
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_CODES[code]).tobytes()


def write_idx(path, array, code=0x08, gz=False):
    """Write `array` as an IDX file (gzipped when gz); returns the path."""
    data = idx_bytes(array, code)
    with (gzip.open if gz else open)(path, "wb") as fh:
        fh.write(data)
    return path


def fake_mnist(n, size=28, seed=0):
    """n uint8 images in which class k is a bright block at a k-dependent place, and labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    cell = size // 5
    for i, k in enumerate(labels):
        row, col = divmod(int(k), 5)
        top = row * (size // 2)
        images[i, top : top + size // 2 - 1, col * cell : (col + 1) * cell] = 250
    return images, labels.astype(np.uint8)


def write_mnist_dir(directory, n_train=60, n_test=20, size=28, gz_train=True):
    """A directory laid out like MNIST's download (train gzipped, t10k plain); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    images, labels = fake_mnist(n_train, size, seed=0)
    suffix = ".gz" if gz_train else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", images, gz=gz_train)
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", labels, gz=gz_train)
    images, labels = fake_mnist(n_test, size, seed=1)
    write_idx(directory / "t10k-images-idx3-ubyte", images)
    write_idx(directory / "t10k-labels-idx1-ubyte", labels)
    return directory


def run_in_terminal(argv, columns, lines, stdout=None, timeout=300):
    """(exit status, what the terminal showed) of `python -m ember *argv` run in a
    pseudo-terminal of the given size; stdout goes to the terminal too unless given (a file).
    POSIX only."""
    import fcntl
    import os
    import pty
    import select
    import subprocess
    import sys
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "ember", *map(str, argv)],
        stdin=subprocess.DEVNULL,
        stdout=follower if stdout is None else stdout,
        stderr=follower,
    )
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 1)[0]:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        status = process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return status, b"".join(chunks).decode("utf-8", "replace")
