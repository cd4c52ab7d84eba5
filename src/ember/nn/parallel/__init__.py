"""ember.nn.parallel: DistributedDataParallel over MPI processes (see ember.distributed)."""

from ember.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
