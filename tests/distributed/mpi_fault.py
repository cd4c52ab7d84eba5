"""A peer that hangs or dies: the job must end soon after the group's timeout, on every rank.

Run: mpirun -n 2 python <this> <report dir> hung|dead|ddp. Rank 1 stops answering after
init_process_group (hung: it sleeps; dead: it kills itself; ddp: it sleeps after some DDP
steps); rank 0 notes when it starts waiting, then waits in a collective with a 2 s timeout and
lets the error propagate, as a training script would. (tests/distributed/mpi_timeout.py is
the case of a peer that leaves cleanly while rank 0 catches the error.)
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import time
from pathlib import Path

import ember
import ember.distributed as dist

TIMEOUT_S = 2


def main():
    report, mode = Path(sys.argv[1]), sys.argv[2]
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=TIMEOUT_S))
    rank = dist.get_rank()
    (report / f"pid{rank}.txt").write_text(str(os.getpid()))
    if mode == "ddp":
        model = ember.nn.parallel.DistributedDataParallel(ember.nn.Linear(4, 2))
        for _ in range(3):
            model(ember.ones(8, 4)).sum().backward()
    if rank == 1:
        if mode == "dead":
            os.kill(os.getpid(), signal.SIGKILL)  # a crash: no MPI_Finalize
        time.sleep(3600)  # hung: alive, never calling the next collective
    (report / "waiting.txt").write_text(repr(time.time()))
    if mode == "ddp":
        model(ember.ones(8, 4)).sum().backward()
    else:
        dist.all_reduce(ember.ones(4))
    (report / "no-error.txt").write_text("the collective returned")


if __name__ == "__main__":
    main()
