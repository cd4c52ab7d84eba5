"""A hung or dead peer ends the whole job soon after the group's timeout, on every rank."""

import os
import time

import pytest

from tests.distributed import mpi_fault
from tests.distributed._mpirun import mpirun

MARGIN_S = 8  # mpirun noticing the abort and stopping the ranks; generous for loaded CI hosts


def _alive(pid):
    """True while pid runs (an exited process nobody has reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


@pytest.mark.parametrize("mode", ["hung", "dead", "ddp"])
def test_a_lost_peer_ends_the_job_within_the_timeout(tmp_path, mode):
    code, output = mpirun("mpi_fault.py", args=[str(tmp_path), mode], timeout=60)
    ended = time.time()
    waiting = tmp_path / "waiting.txt"
    assert waiting.exists(), f"rank 0 never reached its collective (exit {code}):\n{output}"
    took = ended - float(waiting.read_text())
    assert took < mpi_fault.TIMEOUT_S + MARGIN_S, f"the job took {took:.1f} s:\n{output}"
    assert code != 0 and not (tmp_path / "no-error.txt").exists(), output
    if mode != "dead":  # a killed peer makes mpirun end the job before rank 0 times out
        assert "all_reduce timed out after 2 s on rank 0 of 2" in output, output
        assert "ending the whole job (MPI_Abort)" in output, output
    for rank in (0, 1):  # no rank is left behind
        pid = int((tmp_path / f"pid{rank}.txt").read_text())
        assert not _alive(pid), f"rank {rank} (pid {pid}) still runs"
