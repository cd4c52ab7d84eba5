"""Collectives on tensors: all_reduce, broadcast, all_gather, reduce_scatter, send/recv, ...

A contiguous CPU tensor's NumPy array goes to mpi4py's buffer (upper-case) methods as it is,
with no copy. A CUDA tensor is staged through a host copy and written back on completion,
unless the MPI library is CUDA-aware (MPI.Query_cuda_support(), or EMBER_MPI_CUDA_AWARE=1),
in which case the device array is handed to MPI directly. Data that is only moved travels as
bytes; data that is reduced travels in an MPI type (float16 as float32, bool as uint8).
"""

from __future__ import annotations

import datetime
import os
import pickle

import numpy

from ember import _backend
from ember._dtype import is_floating
from ember._tensor import Tensor
from ember.distributed._process_group import Work, _mpi, get_group, wait_all
from ember.distributed._reduce_op import ReduceOp

_BITWISE = (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR)


def _cuda_aware() -> bool:
    flag = os.environ.get("EMBER_MPI_CUDA_AWARE")
    if flag is not None:
        return flag.lower() in ("1", "true", "yes")
    query = getattr(_mpi(), "Query_cuda_support", None)
    try:
        return bool(query()) if query is not None else False
    except Exception:  # noqa: BLE001 - an MPI without the MPIX extension
        return False


def _check_tensor(tensor, what, name="tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected {name} to be a Tensor, got {type(tensor).__name__}")


def _check_rank(rank, size, what, name):
    if not isinstance(rank, int) or not 0 <= rank < size:
        raise ValueError(f"{what}: {name}={rank!r} is not a rank of this group (0..{size - 1})")


def _is_real_cuda(array) -> bool:
    """A GPU array (not host memory MPI can read, as a NumPy-backed test device's is)."""
    return _backend.device_of(array).type == "cuda" and not isinstance(array, numpy.ndarray)


class _Staged:
    """A tensor's data as a contiguous array MPI can use, and the way back after MPI wrote it.

    `buf` is the tensor's own array when that is possible (a contiguous host array in an MPI
    type), else a host copy (or a device copy in the wire dtype) that finish() writes back.
    """

    def __init__(self, tensor, wire_dtype=None):
        array = tensor._data
        self.tensor = tensor
        self.array = array
        wire_dtype = array.dtype if wire_dtype is None else numpy.dtype(wire_dtype)
        if _backend.device_of(array).type == "cuda":
            if _is_real_cuda(array) and _cuda_aware():
                from ember import cuda

                buf = array if array.flags.c_contiguous else array.copy()
                cuda.synchronize()  # MPI reads device memory outside CuPy's stream order
            else:
                host = _backend.to_host(array)
                buf = host if host.flags.c_contiguous else numpy.ascontiguousarray(host)
        else:
            buf = array if array.flags.c_contiguous else numpy.ascontiguousarray(array)
        if buf.dtype != wire_dtype:
            buf = buf.astype(wire_dtype)
        self.buf = buf
        self.copied = buf is not array

    def finish(self):
        """Write MPI's result back into the tensor (when buf was a copy) and bump its version."""
        array = self.array
        if self.copied:
            result = self.buf
            if _backend.device_of(array).type == "cuda":
                result = _backend.to_device(result, _backend.device_of(array))
            array[...] = result.reshape(array.shape)
        self.tensor._vc[0] += 1


def _bytes(buf):
    """An mpi4py buffer spec that moves `buf` as raw bytes (any dtype, no MPI type needed)."""
    return [buf, _mpi().BYTE]


def _reduce_plan(op, dtype, what):
    """(wire dtype, MPI op, divide-by-world-size?) for reducing a tensor of numpy `dtype`."""
    if not isinstance(op, ReduceOp):
        raise ValueError(f"{what}: op must be a ReduceOp, got {op!r}")
    MPI = _mpi()
    kind = dtype.kind
    if op in _BITWISE:
        if kind not in "iub":
            raise ValueError(f"{what}: {op.name} needs an integer or bool tensor, got {dtype}")
        ops = {ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}
        return (numpy.uint8 if kind == "b" else dtype), ops[op], False
    if op is ReduceOp.AVG and not is_floating(dtype):
        raise ValueError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if kind == "b":  # PyTorch's bool reductions: SUM and MAX are any(), PRODUCT and MIN all()
        mpi_op = MPI.MAX if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.MIN
        return numpy.uint8, mpi_op, False
    ops = {
        ReduceOp.SUM: MPI.SUM,
        ReduceOp.AVG: MPI.SUM,
        ReduceOp.PRODUCT: MPI.PROD,
        ReduceOp.MIN: MPI.MIN,
        ReduceOp.MAX: MPI.MAX,
    }
    wire = numpy.float32 if dtype == numpy.float16 else dtype
    return wire, ops[op], op is ReduceOp.AVG


def _finish_reduced(staged, divide, size):
    def finish():
        if divide:
            staged.buf /= size
        staged.finish()

    return finish


def _run(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Same as torch.distributed.barrier; `timeout` (a timedelta) overrides the group's."""
    g = get_group("barrier", group)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"barrier: timeout must be a datetime.timedelta, got {timeout!r}")
    request = g.comm.Ibarrier()
    if async_op:
        return Work([request], "barrier")
    wait_all([request], "barrier", timeout)
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Same as torch.distributed.all_reduce: reduce `tensor` over all ranks, in place."""
    what = "all_reduce"
    _check_tensor(tensor, what)
    g = get_group(what, group)
    wire, mpi_op, divide = _reduce_plan(op, tensor._data.dtype, what)
    staged = _Staged(tensor, wire)
    request = g.comm.Iallreduce(_mpi().IN_PLACE, staged.buf, op=mpi_op)
    finish = _finish_reduced(staged, divide, g.size)
    return _run(Work([request], what, finish, staged), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Same as torch.distributed.broadcast: copy rank `src`'s tensor into every rank's."""
    what = "broadcast"
    _check_tensor(tensor, what)
    g = get_group(what, group)
    src = group_src if src is None else src
    _check_rank(src, g.size, what, "src")
    staged = _Staged(tensor)
    request = g.comm.Ibcast(_bytes(staged.buf), root=src)
    return _run(Work([request], what, staged.finish, staged), async_op)


def _check_list(tensors, like, size, what, name):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != size:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{what}: {name} must be a list of world_size={size} tensors, got {got}")
    for i, t in enumerate(tensors):
        _check_tensor(t, what, f"{name}[{i}]")
        if t.shape != like.shape or t._data.dtype != like._data.dtype:
            raise ValueError(
                f"{what}: {name}[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}, but the "
                f"tensor has shape {tuple(like.shape)} and dtype {like.dtype}"
            )


def _scatter_rows(rows, tensors):
    """Copy row i of a host array into tensors[i] (on its own device), bumping versions."""
    for row, t in zip(rows, tensors):
        value = row.reshape(t.shape).astype(t._data.dtype, copy=False)
        t._data[...] = _backend.to_device(value, _backend.device_of(t._data))
        t._vc[0] += 1


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Same as torch.distributed.all_gather: tensor_list[i] gets rank i's tensor."""
    what = "all_gather"
    _check_tensor(tensor, what)
    g = get_group(what, group)
    _check_list(tensor_list, tensor, g.size, what, "tensor_list")
    send = _Staged(tensor).buf
    recv = numpy.empty((g.size,) + send.shape, dtype=send.dtype)
    request = g.comm.Iallgather(_bytes(send), _bytes(recv))
    tensors = list(tensor_list)
    work = Work([request], what, lambda: _scatter_rows(recv, tensors), (send, recv))
    return _run(work, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Same as torch.distributed.all_gather_into_tensor: ranks' inputs stacked along dim 0."""
    what = "all_gather_into_tensor"
    _check_tensor(output_tensor, what, "output_tensor")
    _check_tensor(input_tensor, what, "input_tensor")
    g = get_group(what, group)
    if (
        output_tensor._data.size != g.size * input_tensor._data.size
        or output_tensor._data.dtype != input_tensor._data.dtype
    ):
        raise ValueError(
            f"{what}: output_tensor {tuple(output_tensor.shape)} {output_tensor.dtype} must "
            f"hold world_size={g.size} copies of input_tensor {tuple(input_tensor.shape)} "
            f"{input_tensor.dtype}"
        )
    send = _Staged(input_tensor).buf
    out = _Staged(output_tensor)
    request = g.comm.Iallgather(_bytes(send), _bytes(out.buf))
    return _run(Work([request], what, out.finish, (send, out)), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Same as torch.distributed.reduce_scatter: output = the reduction of every rank's
    input_list[rank]."""
    what = "reduce_scatter"
    _check_tensor(output, what, "output")
    g = get_group(what, group)
    _check_list(input_list, output, g.size, what, "input_list")
    wire, mpi_op, divide = _reduce_plan(op, output._data.dtype, what)
    parts = [_Staged(t, wire).buf for t in input_list]
    send = _backend.array_module(parts[0]).concatenate([p.reshape(-1) for p in parts])
    staged = _Staged(output, wire)
    request = g.comm.Ireduce_scatter_block(send, staged.buf, op=mpi_op)
    finish = _finish_reduced(staged, divide, g.size)
    return _run(Work([request], what, finish, (send, staged)), async_op)


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Same as torch.distributed.isend: start sending `tensor` to rank `dst`; returns a Work."""
    what = "send"
    _check_tensor(tensor, what)
    g = get_group(what, group)
    dst = group_dst if dst is None else dst
    _check_rank(dst, g.size, what, "dst")
    if dst == g.rank:
        raise ValueError(
            "Invalid destination rank: destination rank should not be the same as the rank of "
            "the current process."
        )
    buf = _Staged(tensor).buf
    return Work([g.comm.Isend(_bytes(buf), dest=dst, tag=tag)], what, keep=buf)


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Same as torch.distributed.irecv: start receiving into `tensor` from `src` (None: any
    rank); the Work's result() is the sender's rank."""
    what = "recv"
    _check_tensor(tensor, what)
    g = get_group(what, group)
    MPI = _mpi()
    src = group_src if src is None else src
    if src is None:
        src = MPI.ANY_SOURCE
    else:
        _check_rank(src, g.size, what, "src")
    staged = _Staged(tensor)
    status = MPI.Status()
    request = g.comm.Irecv(_bytes(staged.buf), source=src, tag=tag)

    def finish():
        staged.finish()
        return status.Get_source()

    return Work([request], what, finish, staged, statuses=[status])


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Same as torch.distributed.send: send `tensor` to rank `dst` (waits until it is sent)."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Same as torch.distributed.recv: receive into `tensor`; returns the sender's rank."""
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work.result()


def _gather_bytes(g, payload, what):
    """Every rank's bytes, as a list indexed by rank (two collectives: sizes, then data)."""
    size = numpy.array([len(payload)], dtype=numpy.int64)
    sizes = numpy.empty(g.size, dtype=numpy.int64)
    wait_all([g.comm.Iallgather(size, sizes)], what)
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes)])
    send = numpy.frombuffer(payload, dtype=numpy.uint8)
    recv = numpy.empty(int(offsets[-1]), dtype=numpy.uint8)
    spec = [recv, (sizes.tolist(), offsets[:-1].tolist()), _mpi().BYTE]
    wait_all([g.comm.Iallgatherv(_bytes(send), spec)], what)
    return [recv[offsets[i] : offsets[i + 1]].tobytes() for i in range(g.size)]


def all_gather_object(object_list, obj, group=None):
    """Same as torch.distributed.all_gather_object: object_list[i] gets rank i's `obj`.

    As in PyTorch the objects are pickled, so use it only between trusted processes of one job.
    """
    what = "all_gather_object"
    g = get_group(what, group)
    if not isinstance(object_list, list) or len(object_list) != g.size:
        raise ValueError(f"{what}: object_list must be a list of world_size={g.size} entries")
    for i, payload in enumerate(_gather_bytes(g, pickle.dumps(obj), what)):
        object_list[i] = pickle.loads(payload)  # noqa: S301 - our own job's ranks


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Same as torch.distributed.broadcast_object_list: every rank's list becomes src's
    (pickled, as in PyTorch)."""
    what = "broadcast_object_list"
    g = get_group(what, group)
    src = group_src if src is None else src
    _check_rank(src, g.size, what, "src")
    payload = pickle.dumps(list(object_list)) if g.rank == src else b""
    length = numpy.array([len(payload)], dtype=numpy.int64)
    wait_all([g.comm.Ibcast(length, root=src)], what)
    data = numpy.empty(int(length[0]), dtype=numpy.uint8)
    if g.rank == src:
        data[:] = numpy.frombuffer(payload, dtype=numpy.uint8)
    wait_all([g.comm.Ibcast(_bytes(data), root=src)], what)
    if g.rank != src:
        object_list[:] = pickle.loads(data.tobytes())  # noqa: S301 - our own job's ranks
