"""DistributedDataParallel: one model replica per MPI process, gradients averaged in backward.

Design
- Construction checks that every rank has the same parameter names, shapes and dtypes, then
  broadcasts rank 0's parameters and buffers, so all replicas start equal.
- The parameters that require grad are packed, in reverse registration order (about the order
  backward produces their gradients), into flat buckets of at most `bucket_cap_mb` each (the
  first at most 1 MB, as PyTorch, so communication starts early; one dtype and device each).
- A hook on each parameter (Tensor.register_hook; on a leaf it runs just before the engine adds
  the gradient to .grad) copies the parameter's local gradient, i.e. what .grad is about to
  hold, into its slot of its bucket. A full bucket starts a non-blocking averaged all-reduce
  (MPI Iallreduce), so communication overlaps the rest of backward. Buckets start in bucket
  order on every rank, since MPI needs collectives issued in the same order everywhere. Each
  hook also tests the started requests: OpenMPI has no progress thread, and testing is what
  moves a non-blocking collective along.
- The engine has no end-of-backward callback, so the hook of the last parameter to get its
  gradient finishes the iteration: it waits for every bucket, writes the averages into the other
  parameters' .grad in place, zeroes its own parameter's .grad and returns the average as the
  gradient the engine then accumulates (0 + average). .grad is final when backward() returns;
  optimizer.step() needs nothing from DDP.
- forward arms the reducer when grad mode is on and sync is required; under no_sync() hooks
  pass gradients through untouched, they accumulate locally, and the first synced backward
  all-reduces the accumulated total (PyTorch's semantics).
- find_unused_parameters=True walks the autograd graph from forward's outputs; parameters it
  does not reach are ready at once and contribute their local .grad (zeros if None). A small
  all-reduce of used flags at the end leaves .grad None on parameters that no rank used, as
  PyTorch. Without it, a parameter that gets no gradient leaves the reduction unfinished, and
  the next forward raises PyTorch's error with the parameters' names.
- gradient_as_bucket_view is accepted for compatibility; gradients stay separate arrays.
"""

from __future__ import annotations

import contextlib

from ember import distributed as dist
from ember.autograd.grad_mode import is_grad_enabled
from ember.nn.modules.module import Module
from ember.nn.parallel._reducer import Reducer


class DistributedDataParallel(Module):
    """Same as torch.nn.parallel.DistributedDataParallel, over MPI (ember.distributed):
    gradients are averaged across ranks during backward; `module` is the wrapped model."""

    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        dim=0,
        broadcast_buffers=True,
        process_group=None,
        bucket_cap_mb=25,
        find_unused_parameters=False,
        check_reduction=False,
        gradient_as_bucket_view=False,
        static_graph=False,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}"
            )
        if process_group is not None:
            raise ValueError("DistributedDataParallel: only the default process group is supported")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any parameter "
                "that requires a gradient."
            )
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.world_size = dist.get_world_size()
        self._check_same_model()
        self._sync_module_states()
        names = [n for n, _ in named]
        params = [p for _, p in named]
        cap = int(bucket_cap_mb * 1024 * 1024)
        self._reducer = Reducer(names, params, cap, find_unused_parameters)

    def _check_same_model(self):
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in self.module.named_parameters()]
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next(
                    (f"{a} vs {b}" for a, b in zip(everyone[0], theirs) if a != b),
                    f"{len(everyone[0])} vs {len(theirs)} parameters",
                )
                raise RuntimeError(
                    "DDP expects same model across all ranks, but rank 0 and rank "
                    f"{rank} differ: {diff}"
                )

    def _sync_module_states(self):
        for _, p in self.module.named_parameters():
            dist.broadcast(p, 0)
        self._sync_buffers()

    def _sync_buffers(self):
        for buf in self.module.buffers():
            dist.broadcast(buf, 0)

    def forward(self, *inputs, **kwargs):
        """Run the wrapped module; with grad enabled, arm the gradient sync of its backward."""
        sync = is_grad_enabled() and self.require_backward_grad_sync
        self._reducer.check_finished()
        if sync and self.broadcast_buffers and self.world_size > 1:
            self._sync_buffers()
        output = self.module(*inputs, **kwargs)
        if sync:
            self._reducer.prepare(output)
        else:
            self._reducer.disarm()
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Same as DistributedDataParallel.no_sync: backward inside accumulates gradients
        locally; the first synced backward after it averages the accumulated total."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
