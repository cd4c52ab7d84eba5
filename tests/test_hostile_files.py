"""Crafted files (tests/hostile_files.py), each loaded in a child process under a memory limit
and a timeout: refused with one line naming ember.load (or the IDX file), no code run, memory
within ember.load's bound (MEMORY_FACTOR x the file + MEMORY_ALLOWANCE), no crash, no hang.
The command line turns the same files into one-line errors."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from ember.serialization import MEMORY_ALLOWANCE, MEMORY_FACTOR
from tests import hostile_files

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the probe forks and reads /proc (Linux)"
)

LIMIT_MB = 320  # the children's address-space headroom: above every bound below
TIMEOUT_S = 30
SLACK_MB = 16  # allocator and interpreter noise on top of the bound
SIZES = {"idx_gzip_bomb": {"mb": 400}}  # 0.4 MB of gzip: enough to break the old reader
LOADS = {"pt_memo_tuple_items"}  # many references to one list: allowed, and cheap


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    files = hostile_files.write_all(directory, sizes=SIZES)
    marker = directory / "pwned"
    files["pt_code_exec"] = (hostile_files.pt_code_exec(directory / "pt_code_exec", marker), "load")
    found = hostile_files.probe(list(files.values()), LIMIT_MB, TIMEOUT_S)
    assert not marker.exists(), "a crafted file ran code"
    return {name: (found[path.name], path) for name, (path, _) in files.items()}


ATTACKS = [*hostile_files.ATTACKS, "pt_code_exec"]


@pytest.mark.parametrize("name", ATTACKS)
def test_crafted_file_is_refused_in_bounded_memory(reports, name):
    report, path = reports[name]
    outcome, message = report["outcome"], report.get("message", "")
    if name in LOADS:
        assert outcome == "loaded", report
    else:
        expected = "UnsafeCheckpointError" if name == "pt_code_exec" else "ValueError"
        assert outcome == expected, report
        kind = hostile_files.ATTACKS.get(name, (None, "load"))[1]
        prefix = f"ember.load({str(path)!r}): " if kind == "load" else f"{path}: "
        assert message.startswith(prefix) and "\n" not in message, message
    bound = (MEMORY_FACTOR * path.stat().st_size + MEMORY_ALLOWANCE) / 2**20
    assert report["peak_mb"] <= bound + SLACK_MB, report


def test_memory_amplification_attacks_stay_small(reports):
    # 200 KB .pt files that took 460-600 MB, a 10 MB header that took 257 MB, a gzip that
    # took 1.2 GB: now a small multiple of the file at most
    peak = {name: reports[name][0]["peak_mb"] for name in reports}
    assert peak["pt_memo_size"] < 40 and peak["pt_memo_frozenset"] < 40, peak
    assert peak["st_zero_size_entries"] < 160 and peak["idx_gzip_bomb"] < 10, peak


def _one_line_cli_error(tmp_path, *argv):
    """(stderr) of `python -m ember *argv` in a child with limited memory and time."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "ember", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        env=env,
        preexec_fn=limit,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    return proc.stderr


@pytest.mark.parametrize("attack", ["pt_deep_tuple_key", "pt_memo_frozenset"])
def test_evaluate_prints_one_line_for_a_crafted_checkpoint(tmp_path, attack):
    path = hostile_files.ATTACKS[attack][0](tmp_path / "model.pt")
    err = _one_line_cli_error(tmp_path, "evaluate", path)
    assert err.startswith(f"ember evaluate: error: ember.load({str(path)!r}): "), err  # named once


def test_train_data_prints_one_line_for_a_gzip_bomb(tmp_path):
    from tests.cli.helpers import write_idx

    images = hostile_files.idx_gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", mb=64)
    write_idx(tmp_path / "train-labels-idx1-ubyte", __import__("numpy").zeros(10, "u1"))
    err = _one_line_cli_error(tmp_path, "train", "--data", images, "--out", tmp_path / "o")
    assert err.startswith("ember train: error: --data "), err
    assert "more bytes after the data of shape (10, 28, 28)" in err, err
