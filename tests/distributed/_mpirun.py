"""Run a script under mpirun from a test, with a hard timeout; skip when MPI is missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ember import distributed as dist

HERE = Path(__file__).parent
INSTALL = "apt-get install openmpi-bin libopenmpi-dev && pip install mpi4py"


def require_mpi():
    """The path of mpirun; skips the test when mpirun or mpi4py is missing."""
    mpirun = shutil.which("mpirun")
    if mpirun is None or not dist.is_available():
        pytest.skip(f"needs mpirun and mpi4py ({INSTALL})")
    return mpirun


def _launcher(n):
    mpirun = require_mpi()
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    cmd = [mpirun, "-n", str(n)]
    if "Open MPI" in version or "OpenRTE" in version:
        cmd.append("--oversubscribe")  # more ranks than cores is fine for tests
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd


def mpirun(script, n=2, timeout=60, args=()):
    """Run tests/distributed/<script> on n ranks; returns (returncode, stdout + stderr)."""
    cmd = _launcher(n) + [sys.executable, str(HERE / script), *args]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # two ranks on few cores: no BLAS thread oversubscription
    root = str(HERE.parent.parent)  # the scripts import tests.fake_cuda
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # mpirun and the ranks it started
        out, _ = proc.communicate()
        pytest.fail(f"mpirun {script} did not finish within {timeout} s:\n{out}")
    return proc.returncode, out


def check_results(report_dir):
    """{(check, rank): 'ok' or the failure}, from the 'CHECK <name> <rank> <status>' lines
    that each rank wrote to <report_dir>/rank<r>.txt."""
    results = {}
    for path in sorted(Path(report_dir).glob("rank*.txt")):
        for line in path.read_text().splitlines():
            if line.startswith("CHECK "):
                _, name, rank, status = line.split(" ", 3)
                results[(name, int(rank))] = status
    return results
