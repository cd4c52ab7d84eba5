"""The gradient reducer behind DistributedDataParallel: buckets, hooks and the finish.

See ember.nn.parallel.distributed for the design; this module holds its moving parts.
"""

from __future__ import annotations

import weakref

import numpy

from ember import _backend
from ember import distributed as dist
from ember._tensor import Tensor
from ember.autograd.graph import AccumulateGrad

UNFINISHED_REDUCTION = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss. You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `ember.nn.parallel.DistributedDataParallel`, and by "
    "making sure all `forward` function outputs participate in calculating loss. Parameters "
    "that received no gradient on rank {rank}: {names}"
)


class _Bucket:
    """One flat buffer holding several parameters' gradients, all-reduced as one message."""

    def __init__(self, indices, params, dtype, device):
        self.indices = indices
        total = sum(params[i]._data.size for i in indices)
        self.flat = _backend.to_device(numpy.zeros(total, dtype=dtype), device)
        self.tensor = Tensor._make(self.flat)
        self.views = {}
        offset = 0
        for i in indices:
            shape, size = params[i]._data.shape, params[i]._data.size
            self.views[i] = self.flat[offset : offset + size].reshape(shape)
            offset += size
        self.remaining = len(indices)
        self.work = None


# As PyTorch, the first bucket (the last layers' gradients, ready first) is small, so that
# communication starts early in backward.
FIRST_BUCKET_BYTES = 1024 * 1024


def assign_buckets(params, cap_bytes):
    """Group parameter indices into buckets: reverse order, one dtype and device per bucket,
    each at most cap_bytes (the first at most 1 MB) unless a single parameter is larger."""
    buckets = []  # (dtype, device, indices), in launch order
    open_by_key = {}  # (dtype, device) -> [indices, bytes] of the bucket still filling
    for i in reversed(range(len(params))):
        array = params[i]._data
        key = (array.dtype, _backend.device_of(array))
        current = open_by_key.get(key)
        cap = min(cap_bytes, FIRST_BUCKET_BYTES) if len(buckets) == 1 else cap_bytes
        if current is None or (current[0] and current[1] + array.nbytes > cap):
            current = open_by_key[key] = [[], 0]
            buckets.append((key[0], key[1], current[0]))
        current[0].append(i)
        current[1] += array.nbytes
    return [_Bucket(indices, params, dtype, device) for dtype, device, indices in buckets]


def _tensors_in(value, out):
    if isinstance(value, Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors_in(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors_in(v, out)
    return out


def reached_leaves(outputs):
    """ids of the leaf tensors whose gradients backward from `outputs` would reach."""
    reached = set()
    stack = []
    for t in _tensors_in(outputs, []):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            reached.add(id(t))
    seen = set(stack)
    while stack:
        node = stack.pop()
        if isinstance(node, AccumulateGrad):
            reached.add(id(node.variable))
        for nxt, _ in node._edges:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return reached


class Reducer:
    """Averages the gradients of `params` across ranks during backward (see the module doc)."""

    def __init__(self, names, params, bucket_cap_bytes, find_unused_parameters):
        self.names = names
        self.params = params
        self.find_unused = find_unused_parameters
        self.buckets = assign_buckets(params, bucket_cap_bytes)
        self.bucket_of = {}
        for b in self.buckets:
            for i in b.indices:
                self.bucket_of[i] = b
        self.armed = False  # a synced forward ran; its backward must reduce
        self.started = False  # a hook fired in the armed iteration
        self.ready = [False] * len(params)
        self.n_ready = 0
        self.unused = set()
        self.next_launch = 0
        ref = weakref.ref(self)  # the hooks must not keep the reducer alive
        self.handles = [p.register_hook(_hook(ref, i)) for i, p in enumerate(params)]

    # --- per iteration ---
    def prepare(self, outputs):
        """Arm the reducer for the backward of this forward's `outputs`."""
        self.check_finished()
        self.ready = [False] * len(self.params)
        self.n_ready = 0
        self.next_launch = 0
        for b in self.buckets:
            b.remaining = len(b.indices)
            b.work = None
        self.unused = set()
        self.armed = True
        self.started = False
        if self.find_unused:
            reached = reached_leaves(outputs)
            for i, p in enumerate(self.params):
                if id(p) not in reached:
                    self.unused.add(i)
                    self._mark_ready(i)  # its slot is filled when its bucket starts

    def disarm(self):
        """The next backward accumulates locally (no_sync, or a forward without grad)."""
        self.check_finished()
        self.armed = False

    def check_finished(self):
        """Raise PyTorch's error when the previous synced backward left parameters unreduced."""
        if not (self.armed and self.started):
            return
        missing = [self.names[i] for i, ready in enumerate(self.ready) if not ready]
        for b in self.buckets:  # every rank started these, so they complete
            if b.work is not None:
                b.work.wait()
        self.armed = self.started = False
        raise RuntimeError(UNFINISHED_REDUCTION.format(rank=dist.get_rank(), names=missing))

    # --- during backward ---
    def on_gradient(self, i, grad):
        """The hook of parameter i, called with its new gradient before it is accumulated."""
        if not self.armed:
            return None
        if self.ready[i]:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter {self.names[i]} got a "
                "second gradient in one synced iteration (a second backward through the same "
                "forward); use no_sync() for all but the last backward."
            )
        self.started = True
        param = self.params[i]
        view = self.bucket_of[i].views[i]
        if param._grad is None:
            view[...] = grad._data
        else:  # what .grad will hold: the locally accumulated gradient plus this one
            _backend.array_module(view).add(param._grad._data, grad._data, out=view)
        self._mark_ready(i)
        self._launch_ready_buckets()
        if self.n_ready == len(self.params):
            return self._finish(current=i)
        for b in self.buckets[: self.next_launch]:
            b.work.is_completed()  # lets MPI progress the started all-reduces
        return None

    def _mark_ready(self, i):
        self.ready[i] = True
        self.n_ready += 1
        self.bucket_of[i].remaining -= 1

    def _launch_ready_buckets(self):
        # In bucket order on every rank: MPI needs collectives started in the same order.
        while self.next_launch < len(self.buckets):
            b = self.buckets[self.next_launch]
            if b.remaining:
                return
            for i in b.indices:
                if i in self.unused:
                    grad = self.params[i]._grad
                    b.views[i][...] = 0 if grad is None else grad._data
            b.work = dist.all_reduce(b.tensor, op=dist.ReduceOp.AVG, async_op=True)
            self.next_launch += 1

    def _finish(self, current):
        """Wait for every bucket and write the averages into .grad; return the gradient the
        engine should accumulate for parameter `current` (whose hook is running)."""
        for b in self.buckets:
            b.work.wait()
        used_anywhere = None
        if self.find_unused:
            used = numpy.array([i not in self.unused for i in range(len(self.params))], bool)
            flags = Tensor._make(used)
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            used_anywhere = used
        self.armed = self.started = False
        result = None
        for i, param in enumerate(self.params):
            average = self.bucket_of[i].views[i]
            grad = param._grad
            if i == current:
                if grad is not None:  # the engine adds our result to it: 0 + average
                    grad._data[...] = 0
                result = Tensor._make(average.copy())
            elif grad is not None:
                grad._data[...] = average
                grad._vc[0] += 1
            elif used_anywhere is None or used_anywhere[i]:
                param._grad = Tensor._make(average.copy())
        return result


def _hook(reducer_ref, index):
    def hook(grad):
        reducer = reducer_ref()
        return None if reducer is None else reducer.on_gradient(index, grad)

    return hook
