"""ember.distributed: processes that train together over MPI, with torch.distributed's API.

Launch with `mpirun -n N python script.py`; each process calls init_process_group("mpi") and
gets its rank and the world size from the launcher. mpi4py is imported on first use, so ember
imports fine without it (is_available() then says False).
"""

from ember.distributed._collectives import (
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    irecv,
    isend,
    recv,
    reduce_scatter,
    send,
)
from ember.distributed._process_group import (
    Work,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)
from ember.distributed._reduce_op import ReduceOp

__all__ = [
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "default_pg_timeout",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "irecv",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "isend",
    "recv",
    "reduce_scatter",
    "send",
]
