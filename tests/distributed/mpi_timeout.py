"""A rank that leaves early: the others must fail with a clear error, not hang.

Run: mpirun -n 2 python <this> <report dir>. Rank 1 leaves at once; rank 0's all_reduce times
out (2 s) and it writes what happened to <report dir>/rank0.txt.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import ember
import ember.distributed as dist


def main():
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2))
    if dist.get_rank() != 0:
        dist.destroy_process_group()
        return
    lines = []
    start = time.monotonic()
    try:
        dist.all_reduce(ember.ones(4))
        lines.append("NO ERROR")
    except RuntimeError as e:
        lines.append(f"RAISED {time.monotonic() - start:.2f} {e}")
    try:
        dist.barrier()
        lines.append("NO ERROR")
    except RuntimeError as e:
        lines.append(f"AFTER {e}")
    (Path(sys.argv[1]) / "rank0.txt").write_text("\n".join(lines) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
