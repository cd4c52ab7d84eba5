"""Data parallelism over MPI: W2 step time on 1 vs 2 processes, and all_reduce bandwidth.

python -m benchmarks.distributed_bench [--quick]
launches itself with mpirun (1 process, then 2) and prints one table. W2 is the MNIST-size MLP
(784-512-512-10, ReLU, cross-entropy, SGD) at a global batch of 128: one process takes all 128
rows, each of two DistributedDataParallel processes takes 64. Each process's BLAS gets
--threads threads (1 by default, so two processes use two cores and one process one core; the
"1 process, 2 threads" row gives the single process both cores; "no sync" is each process's
half-batch step without DDP, i.e. the compute alone). The bandwidth table times
ember.distributed.all_reduce (non-blocking Iallreduce, polled) against mpi4py's blocking
Allreduce on the same float32 buffer; for 2 ranks the bus bandwidth equals bytes / time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (784, 512, 512, 10)
GLOBAL_BATCH = 128
MESSAGE_BYTES = [1 << k for k in range(10, 27, 2)]  # 1 KB, 4 KB, ..., 64 MB


def _w2(batch_rows, ddp):
    """One W2 training step on `batch_rows` of the global batch (wrapped in DDP if asked)."""
    import ember
    from ember.nn.parallel import DistributedDataParallel

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((GLOBAL_BATCH, SIZES[0])).astype(np.float32)[batch_rows]
    y_np = rng.integers(0, SIZES[-1], GLOBAL_BATCH)[batch_rows]
    ember.manual_seed(0)
    layers = []
    for i in range(len(SIZES) - 1):
        layers.append(ember.nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(ember.nn.ReLU())
    model = ember.nn.Sequential(*layers)
    if ddp:
        model = DistributedDataParallel(model)
    opt = ember.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = ember.nn.CrossEntropyLoss()
    x, y = ember.from_numpy(x_np), ember.from_numpy(y_np)

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _timed(fn, rounds, inner, warmup=2):
    """Median seconds per call over `rounds`, each the slowest rank's time for `inner` calls."""
    import ember
    import ember.distributed as dist

    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        dist.barrier()
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        elapsed = ember.tensor([(time.perf_counter() - start) / inner], dtype=ember.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        samples.append(elapsed.item())
    return statistics.median(samples)


def _bandwidth(rounds):
    """{bytes: (ember all_reduce seconds, mpi4py Allreduce seconds)} on the current world."""
    from mpi4py import MPI

    import ember
    import ember.distributed as dist

    comm = MPI.COMM_WORLD
    out = {}
    for nbytes in MESSAGE_BYTES:
        t = ember.ones(nbytes // 4)
        array = t.numpy()
        inner = max(1, min(200, (4 << 20) // nbytes))

        def ours(t=t):
            dist.all_reduce(t)

        def raw(array=array):
            comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)

        out[nbytes] = (_timed(ours, rounds, inner, 1), _timed(raw, rounds, inner, 1))
    return out


def worker(args):
    """Run under mpirun: time W2 (and all_reduce on 2+ ranks); rank 0 writes JSON."""
    import ember.distributed as dist

    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    share = GLOBAL_BATCH // size
    rows = slice(rank * share, (rank + 1) * share)
    result = {"world_size": size, "threads": args.threads}
    steps = 5 if args.quick else 20
    rounds = 3 if args.quick else 7
    result["w2_plain"] = _timed(_w2(rows, ddp=False), rounds, steps)  # no sync: compute only
    result["w2_ddp"] = _timed(_w2(rows, ddp=True), rounds, steps)
    if size > 1 and not args.no_bandwidth:
        result["bandwidth"] = _bandwidth(3 if args.quick else 5)
    if rank == 0:
        Path(args.out).write_text(json.dumps(result))
    dist.destroy_process_group()


def _launch(n, threads, out, extra):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
    cmd = [mpirun, "-n", str(n)]
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version:
        cmd.append("--oversubscribe")
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    cmd += [sys.executable, "-m", "benchmarks.distributed_bench", "--worker", "--out", out]
    cmd += ["--threads", str(threads), *extra]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.run(cmd, check=True, env=env, cwd=root)
    return json.loads(Path(out).read_text())


def _fmt_bytes(n):
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    parser.add_argument("--no-bandwidth", action="store_true", help="skip the all_reduce table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    extra = (["--quick"] if args.quick else []) + (["--no-bandwidth"] if args.no_bandwidth else [])
    with tempfile.TemporaryDirectory() as tmp:
        one = _launch(1, args.threads, f"{tmp}/one.json", extra)
        one_wide = _launch(1, 2 * args.threads, f"{tmp}/one_wide.json", extra)
        two = _launch(2, args.threads, f"{tmp}/two.json", extra)
    base = one["w2_plain"]
    t = args.threads
    print(f"\nW2 MNIST MLP, global batch {GLOBAL_BATCH} (ms per step, slowest rank)")
    print(f"{'setup':<36}{'ms/step':>10}{'speedup':>10}")
    rows = [
        (f"1 process, {t} thread(s), no DDP", base),
        (f"1 process, {t} thread(s), DDP", one["w2_ddp"]),
        (f"1 process, {2 * t} threads, no DDP", one_wide["w2_plain"]),
        (f"2 processes x {t} thread(s), no sync", two["w2_plain"]),
        (f"2 processes x {t} thread(s), DDP", two["w2_ddp"]),
    ]
    for name, seconds in rows:
        print(f"{name:<36}{seconds * 1e3:>10.2f}{base / seconds:>9.2f}x")
    if "bandwidth" in two:
        print("\nall_reduce (SUM, float32) on 2 processes")
        print(f"{'size':>8}{'ember us':>12}{'ember MB/s':>12}{'mpi4py us':>12}{'mpi4py MB/s':>13}")
        for nbytes, (ours, raw) in two["bandwidth"].items():
            nbytes = int(nbytes)
            print(
                f"{_fmt_bytes(nbytes):>8}{ours * 1e6:>12.1f}{nbytes / ours / 1e6:>12.1f}"
                f"{raw * 1e6:>12.1f}{nbytes / raw / 1e6:>13.1f}"
            )
    return {"one": one, "one_wide": one_wide, "two": two}


if __name__ == "__main__":
    main()
