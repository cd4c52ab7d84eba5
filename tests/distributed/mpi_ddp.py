"""DistributedDataParallel on 2 ranks against 1 process on the full batch.

Run: mpirun -n 2 python <this> <report dir>. Every rank also trains the single-process
reference itself (same seed, the whole batch), so each check compares two models in one
process. Writes 'CHECK <name> <rank> ok|FAIL ...' lines to <report dir>/rank<r>.txt.
"""

from __future__ import annotations

import datetime
import sys
import traceback
from pathlib import Path

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel
from tests import fake_cuda as fake_device

CHECKS = {}
BATCH, FEATURES, CLASSES, STEPS = 16, 6, 3, 10


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def mlp(seed, dtype=ember.float64):
    ember.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(FEATURES, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, CLASSES)
    )
    return model.to(dtype)


def batches(dtype=np.float64, steps=STEPS):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, BATCH, FEATURES)).astype(dtype)
    ys = rng.integers(0, CLASSES, (steps, BATCH))
    return [(ember.from_numpy(x), ember.from_numpy(y)) for x, y in zip(xs, ys)]


def mine(t, rank, size, parts=1, part=0):
    """This rank's share of a batch (its `part`-th of `parts` micro-batches)."""
    share = len(t) // size
    micro = share // parts
    start = rank * share + part * micro
    return t[start : start + micro]


def assert_same_params(ddp_model, reference, tol):
    got = dict(ddp_model.module.named_parameters())
    for name, p in reference.named_parameters():
        a, b = got[name].detach().numpy(), p.detach().numpy()
        assert np.allclose(a, b, rtol=tol, atol=tol), (
            f"{name}: max difference {np.abs(a - b).max():.3g}"
        )


def train_pair(rank, size, make_opt, dtype=ember.float64, bucket_cap_mb=25):
    """10 steps of DDP on half batches and of the reference on full batches."""
    np_dtype = np.float64 if dtype is ember.float64 else np.float32
    reference = mlp(100, dtype)
    ddp = DistributedDataParallel(mlp(100 + rank, dtype), bucket_cap_mb=bucket_cap_mb)
    loss_fn = nn.CrossEntropyLoss()
    opt, ref_opt = make_opt(ddp.parameters()), make_opt(reference.parameters())
    for x, y in batches(np_dtype):
        opt.zero_grad()
        loss_fn(ddp(mine(x, rank, size)), mine(y, rank, size)).backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x), y).backward()
        ref_opt.step()
    return ddp, reference


@check
def construction_broadcasts_rank0(rank, size):
    ddp = DistributedDataParallel(mlp(100 + rank), bucket_cap_mb=0.001)
    assert_same_params(ddp, mlp(100), 0)
    assert len(ddp._reducer.buckets) > 1  # the tiny cap split the parameters
    keys = list(ddp.state_dict())
    assert keys[0] == "module.0.weight" and all(k.startswith("module.") for k in keys), keys
    assert list(ddp.module.state_dict()) == [k[len("module.") :] for k in keys]
    x = ember.ones(2, FEATURES, dtype=ember.float64)
    assert np.array_equal(ddp(x).detach().numpy(), ddp.module(x).detach().numpy())


@check
def sgd_matches_full_batch(rank, size):
    def sgd(params):
        return ember.optim.SGD(params, lr=0.1, momentum=0.9)

    ddp, reference = train_pair(rank, size, sgd)
    assert_same_params(ddp, reference, 1e-10)
    start = mlp(100)[0].weight.detach().numpy()
    assert not np.allclose(reference[0].weight.detach().numpy(), start)  # it did train


@check
def sgd_small_buckets_float32(rank, size):
    def sgd(params):
        return ember.optim.SGD(params, lr=0.1)

    ddp, reference = train_pair(rank, size, sgd, ember.float32, bucket_cap_mb=0.0005)
    assert len(ddp._reducer.buckets) >= 3
    assert_same_params(ddp, reference, 1e-5)


@check
def buckets_start_during_backward(rank, size):
    ddp = DistributedDataParallel(mlp(1), bucket_cap_mb=0.001)
    reducer = ddp._reducer
    ready_at_launch = []
    launch = reducer._launch_ready_buckets

    def spy():
        before = reducer.next_launch
        launch()
        ready_at_launch.extend([reducer.n_ready] * (reducer.next_launch - before))

    reducer._launch_ready_buckets = spy
    x, y = batches(steps=1)[0]
    nn.CrossEntropyLoss()(ddp(mine(x, rank, size)), mine(y, rank, size)).backward()
    n_params = len(reducer.params)
    assert len(ready_at_launch) == len(reducer.buckets) > 2, ready_at_launch
    # every bucket but the last starts while backward still has gradients to compute
    assert ready_at_launch[-2] < n_params and ready_at_launch[-1] == n_params, ready_at_launch
    assert ready_at_launch == sorted(ready_at_launch), ready_at_launch


@check
def adam_matches_full_batch(rank, size):
    def adam(params):
        return ember.optim.Adam(params, lr=0.01)

    ddp, reference = train_pair(rank, size, adam, bucket_cap_mb=0.001)
    assert_same_params(ddp, reference, 1e-9)


@check
def no_sync_accumulation(rank, size):
    reference = mlp(7)
    ddp = DistributedDataParallel(mlp(7 + rank))
    opt = ember.optim.SGD(ddp.parameters(), lr=0.1)
    ref_opt = ember.optim.SGD(reference.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(steps=4):
        opt.zero_grad()
        with ddp.no_sync():
            loss = loss_fn(ddp(mine(x, rank, size, 2, 0)), mine(y, rank, size, 2, 0)) / 2
            loss.backward()
        local = ddp.module[0].weight.grad.numpy().copy()
        loss = loss_fn(ddp(mine(x, rank, size, 2, 1)), mine(y, rank, size, 2, 1)) / 2
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x), y).backward()
        ref_opt.step()
    # no_sync really skipped the sync: the local half-gradients differ between ranks
    others = [None] * size
    dist.all_gather_object(others, local)
    assert not np.allclose(others[0], others[1])
    assert_same_params(ddp, reference, 1e-10)


class Branchy(nn.Module):
    """`extra` is used only when asked; `never` is never used."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(FEATURES, 8)
        self.extra = nn.Linear(FEATURES, 8)
        self.never = nn.Linear(FEATURES, 8)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, x, use_extra):
        h = self.body(x)
        if use_extra:
            h = h + self.extra(x)
        return self.head(h.tanh())


def branchy(seed):
    ember.manual_seed(seed)
    return Branchy().double()


@check
def find_unused_parameters(rank, size):
    reference = branchy(3)
    ddp = DistributedDataParallel(branchy(3 + rank), find_unused_parameters=True)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(steps=3):
        ddp.zero_grad()
        loss_fn(ddp(mine(x, rank, size), use_extra=rank == 0), mine(y, rank, size)).backward()
        reference.zero_grad()
        halves = [
            loss_fn(reference(mine(x, r, size), use_extra=r == 0), mine(y, r, size))
            for r in range(size)
        ]
        (sum(halves[1:], halves[0]) / size).backward()
        for name, p in reference.named_parameters():
            got = ddp.module.get_parameter(name).grad
            if name.startswith("never"):
                assert got is None and p.grad is None, name
                continue
            assert np.allclose(got.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12), name


@check
def unused_parameter_error(rank, size):
    ddp = DistributedDataParallel(branchy(3))
    x, y = batches(steps=1)[0]
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(ddp(mine(x, rank, size), use_extra=False), mine(y, rank, size)).backward()
    try:
        ddp(mine(x, rank, size), use_extra=False)
    except RuntimeError as e:
        text = str(e)
        assert "Expected to have finished reduction" in text and "extra.weight" in text, text
        assert "never.bias" in text and "body.weight" not in text, text
    else:
        raise AssertionError("an unfinished reduction did not raise at the next forward")


@check
def eval_forward_does_not_sync(rank, size):
    ddp = DistributedDataParallel(mlp(5))
    with ember.no_grad():
        ddp(ember.ones(2, FEATURES, dtype=ember.float64))
    assert not ddp._reducer.armed
    # a backward outside any DDP forward accumulates locally, as a plain module
    ddp.module(ember.ones(1, FEATURES, dtype=ember.float64) * (rank + 1)).sum().backward()
    grads = [None] * size
    dist.all_gather_object(grads, ddp.module[0].weight.grad.numpy())
    assert not np.allclose(grads[0], grads[1])


@check
def fake_cuda_ddp(rank, size):
    fake_device.install()
    try:
        reference = mlp(11)
        ddp = DistributedDataParallel(mlp(11 + rank).cuda(), bucket_cap_mb=0.001)
        loss_fn = nn.CrossEntropyLoss()
        for x, y in batches(steps=2):
            ddp.zero_grad()
            out = ddp(mine(x, rank, size).cuda())
            loss_fn(out, mine(y, rank, size).cuda()).backward()
            reference.zero_grad()
            loss_fn(reference(x), y).backward()
            for name, p in reference.named_parameters():
                got = ddp.module.get_parameter(name).grad
                assert got.is_cuda, name
                assert np.allclose(got.cpu().numpy(), p.grad.numpy(), atol=1e-12), name
    finally:
        fake_device.remove()


def main():
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=20))
    rank, size = dist.get_rank(), dist.get_world_size()
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


if __name__ == "__main__":
    main()
