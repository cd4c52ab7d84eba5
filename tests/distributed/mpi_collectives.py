"""Every collective, checked value by value on every rank.

Run: mpirun -n 2 python <this> <report dir>. Writes 'CHECK <name> <rank> ok' or
'CHECK <name> <rank> FAIL <why>' per check to <report dir>/rank<r>.txt.
"""

from __future__ import annotations

import datetime
import sys
import traceback
from pathlib import Path

import numpy as np

import ember
import ember.distributed as dist
from tests import fake_cuda as fake_device

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def value(r, dtype=np.float32):
    """Rank r's contribution: distinct per rank and per element, exact in any dtype."""
    return (np.arange(6).reshape(2, 3) * (r + 1) + r + 1).astype(dtype)


def same(tensor, expected):
    got = tensor.detach().cpu().numpy()
    assert got.dtype == np.asarray(expected).dtype, (got.dtype, np.asarray(expected).dtype)
    assert np.array_equal(got, expected), f"got {got.tolist()}, expected {expected.tolist()}"


def everyone(size, dtype=np.float32):
    return np.stack([value(r, dtype) for r in range(size)])


@check
def rank_and_size(rank, size):
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    assert (dist.get_rank(), dist.get_world_size()) == (rank, size)


@check
def all_reduce_ops(rank, size):
    values = everyone(size)
    expected = {
        dist.ReduceOp.SUM: values.sum(0),
        dist.ReduceOp.AVG: values.sum(0) / size,
        dist.ReduceOp.MAX: values.max(0),
        dist.ReduceOp.MIN: values.min(0),
        dist.ReduceOp.PRODUCT: values.prod(0),
    }
    for op, want in expected.items():
        t = ember.tensor(value(rank))
        version = t._version
        assert dist.all_reduce(t, op=op) is None
        same(t, want.astype(np.float32))
        assert t._version > version, f"{op}: version not bumped"


@check
def all_reduce_dtypes(rank, size):
    t = ember.tensor(value(rank, np.int64))
    dist.all_reduce(t)
    same(t, everyone(size, np.int64).sum(0))
    t = ember.tensor(value(rank, np.float64))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    same(t, everyone(size, np.float64).max(0))
    t = ember.tensor(value(rank, np.float16))
    dist.all_reduce(t)
    same(t, everyone(size, np.float16).sum(0))
    flags = ember.tensor([rank == 0, True, False])
    dist.all_reduce(flags)  # bool SUM is any()
    same(flags, np.array([True, True, False]))
    t = ember.tensor(value(rank, np.int32))
    dist.all_reduce(t, op=dist.ReduceOp.BXOR)
    same(t, np.bitwise_xor.reduce(everyone(size, np.int32), 0))


@check
def all_reduce_view_and_scalar(rank, size):
    base = ember.tensor(value(rank))
    column = base[:, 1]  # not contiguous: staged and written back into the base
    dist.all_reduce(column)
    want = value(rank)
    want[:, 1] = everyone(size)[:, :, 1].sum(0)
    same(base, want)
    scalar = ember.tensor(float(rank + 1))
    dist.all_reduce(scalar, op=dist.ReduceOp.PRODUCT)
    same(scalar, np.array(float(np.prod(np.arange(1, size + 1))), dtype=np.float32))


@check
def all_reduce_async(rank, size):
    t = ember.tensor(value(rank))
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() is True and work.is_completed()
    same(t, everyone(size).sum(0) / size)


@check
def all_reduce_errors(rank, size):
    t = ember.tensor(value(rank, np.int64))
    for op, word in ((dist.ReduceOp.AVG, "AVG"), ("sum", "ReduceOp")):
        try:
            dist.all_reduce(t, op=op)
        except ValueError as e:
            assert word in str(e), str(e)
        else:
            raise AssertionError(f"all_reduce with {op} did not raise")
    same(t, value(rank, np.int64))  # untouched
    try:
        dist.all_reduce(value(rank))
    except TypeError as e:
        assert "Tensor" in str(e)
    else:
        raise AssertionError("all_reduce on a NumPy array did not raise")


@check
def fake_cuda_all_reduce_and_broadcast(rank, size):
    fake_device.install()
    try:
        t = ember.tensor(value(rank)).cuda()
        dist.all_reduce(t)
        assert t.is_cuda and isinstance(t._data, fake_device.FakeCudaArray)
        same(t, everyone(size).sum(0))
        t = ember.tensor(value(rank, np.int64)).cuda()
        dist.broadcast(t, src=size - 1)
        assert t.is_cuda
        same(t, value(size - 1, np.int64))
    finally:
        fake_device.remove()


@check
def broadcast_from_rank_1(rank, size):
    t = ember.tensor(value(rank)) if rank == 1 else ember.zeros(2, 3)
    assert dist.broadcast(t, src=1) is None
    same(t, value(1))
    t = ember.tensor(value(rank, np.int64))
    dist.broadcast(t, 1)
    same(t, value(1, np.int64))
    try:
        dist.broadcast(t, src=size)
    except ValueError as e:
        assert "src" in str(e)
    else:
        raise AssertionError("broadcast from a rank outside the group did not raise")


@check
def all_gather(rank, size):
    out = [ember.zeros(2, 3) for _ in range(size)]
    assert dist.all_gather(out, ember.tensor(value(rank))) is None
    for r, t in enumerate(out):
        same(t, value(r))
    out = [ember.zeros(size * 6, dtype=ember.float32).reshape(size, 6)]
    dist.all_gather_into_tensor(out[0], ember.tensor(value(rank)))
    same(out[0], everyone(size).reshape(size, 6))
    try:
        dist.all_gather([ember.zeros(2, 3)], ember.tensor(value(rank)))
    except ValueError as e:
        assert "world_size" in str(e)
    else:
        raise AssertionError("all_gather into a short list did not raise")


@check
def all_gather_object(rank, size):
    objects = [None] * size
    dist.all_gather_object(objects, {"rank": rank, "text": "x" * (rank * 1000), "t": (rank,)})
    for r, obj in enumerate(objects):
        assert obj == {"rank": r, "text": "x" * (r * 1000), "t": (r,)}, obj
    shared = [f"from {rank}", rank] if rank == 1 else [None, None]
    dist.broadcast_object_list(shared, src=1)
    assert shared == ["from 1", 1], shared


@check
def reduce_scatter(rank, size):
    inputs = [ember.tensor(value(rank) + 10 * j) for j in range(size)]
    out = ember.zeros(2, 3)
    assert dist.reduce_scatter(out, inputs) is None
    want = sum(value(r) + 10 * rank for r in range(size))
    same(out, want.astype(np.float32))
    out = ember.zeros(2, 3)
    dist.reduce_scatter(out, inputs, op=dist.ReduceOp.MAX)
    same(out, value(size - 1) + 10 * rank)
    out = ember.zeros(2, 3)
    dist.reduce_scatter(out, inputs, op=dist.ReduceOp.AVG)
    same(out, (want / size).astype(np.float32))


@check
def send_recv(rank, size):
    if rank == 0:
        dist.send(ember.tensor(value(0)), dst=1, tag=7)
        got = ember.zeros(2, 3, dtype=ember.int64)
        assert dist.recv(got, src=1, tag=3) == 1
        same(got, value(1, np.int64) * 2)
        try:
            dist.send(got, dst=0)
        except ValueError as e:
            assert "destination rank" in str(e)
        else:
            raise AssertionError("send to self did not raise")
    elif rank == 1:
        got = ember.zeros(2, 3)
        assert dist.recv(got, tag=7) == 0  # any source: returns the sender
        same(got, value(0))
        dist.send(ember.tensor(value(1, np.int64) * 2), dst=0, tag=3)


@check
def barrier(rank, size):
    assert dist.barrier() is None
    assert dist.barrier(timeout=datetime.timedelta(seconds=10)) is None
    dist.barrier(async_op=True).wait()


def main():
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=20))
    rank, size = dist.get_rank(), dist.get_world_size()
    try:
        dist.init_process_group("mpi")
    except RuntimeError as e:
        assert "twice" in str(e)
    with open(Path(sys.argv[1]) / f"rank{rank}.txt", "w") as report:
        for name, fn in CHECKS.items():
            try:
                fn(rank, size)
                status = "ok"
            except Exception as e:  # noqa: BLE001 - reported, the next check still runs
                status = f"FAIL {type(e).__name__}: {e} | {traceback.format_exc(limit=4)!r}"
            report.write(f"CHECK {name} {rank} {status}\n")
            report.flush()
    dist.destroy_process_group()
    assert not dist.is_initialized()


if __name__ == "__main__":
    main()
